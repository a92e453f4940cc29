//! KRPC decoder: never panics; whatever decodes re-encodes to bytes that decode to the same
//! message, and canonical encodings are a fixed point.
#![no_main]

use freshet_dht::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let bytes = m.to_bytes();
        let again = Message::decode(&bytes).expect("our own encoding must decode");
        assert_eq!(again, m);
        assert_eq!(again.to_bytes(), bytes);
    }
});

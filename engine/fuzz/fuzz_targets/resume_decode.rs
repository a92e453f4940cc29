//! Resume records are read from disk and may be corrupt: decoding never panics, and whatever
//! decodes re-encodes to something that decodes to the same record.
#![no_main]

use freshet_engine::ResumeRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ResumeRecord::decode(data) {
        let again = ResumeRecord::decode(&r.encode()).expect("re-encoded record decodes");
        assert_eq!(again, r);
    }
});

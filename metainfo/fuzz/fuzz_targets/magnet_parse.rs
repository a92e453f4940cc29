//! Fuzz `Magnet::parse`: never panics; whatever parses formats and parses back identically.
#![no_main]

use freshet_metainfo::Magnet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Magnet::parse(text) {
        let uri = m.to_uri();
        let back = Magnet::parse(&uri).expect("formatted magnet parses");
        assert_eq!(back, m);
        assert_eq!(back.to_uri(), uri);
    }
});

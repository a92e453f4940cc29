//! Fuzz `Metainfo::from_bytes`: never panics; every accepted torrent keeps the invariants
//! (safe paths, contiguous offsets, piece count, re-loadable info dict).
#![no_main]

use freshet_metainfo::Metainfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Metainfo::from_bytes(data) else {
        return;
    };
    let mut offset = 0u64;
    for f in &m.info.files {
        assert_eq!(f.offset, offset);
        offset += f.length;
        assert!(!f.path.is_empty());
        for e in &f.path {
            assert!(!e.is_empty() && e != "." && e != "..");
            assert!(!e.contains('/') && !e.contains('\\') && !e.contains('\0'));
        }
    }
    assert_eq!(offset, m.info.total_length);
    assert_eq!(m.info.piece_count, m.info.total_length.div_ceil(m.info.piece_length));
    let again = Metainfo::from_info_bytes(&m.info_bytes).expect("accepted info dict reloads");
    assert_eq!(again.info, m.info);
    let _ = m.magnet().to_uri();
});

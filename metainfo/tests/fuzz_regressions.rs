//! Runs the committed fuzz regression corpora (`fuzz/regressions/{torrent_parse,magnet_parse}/`)
//! through the same invariants as the fuzz targets, on stable, so CI exercises them without
//! nightly. Also pins which hostile torrents must be rejected.

use freshet_metainfo::{Magnet, Metainfo};

/// Every committed regression input of `target`, as (file name, bytes).
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("directory entry").path();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "{}: too few regression inputs",
        dir.display()
    );
    out
}

#[test]
fn torrent_regressions_keep_fuzz_invariants() {
    let mut accepted = 0;
    for (name, data) in regressions("torrent_parse") {
        eprintln!("checking {name}");
        let ok = check_torrent(&data);
        accepted += usize::from(ok);
        // Hostile layouts committed by name must never be accepted with an unsafe path;
        // `check_torrent` asserts that. These ones must be refused outright.
        for bad in [
            "length-2p63",
            "negative-length",
            "zero-piece-length",
            "huge-length",
            "garbage",
            "empty",
        ] {
            if name.ends_with(&format!("/{bad}.torrent")) {
                assert!(!ok, "{name} must be rejected");
            }
        }
    }
    assert!(accepted >= 3, "only {accepted} torrents parsed");
}

#[test]
fn magnet_regressions_keep_fuzz_invariants() {
    let mut accepted = 0;
    for (name, data) in regressions("magnet_parse") {
        eprintln!("checking {name}");
        accepted += usize::from(check_magnet(&data));
    }
    assert!(accepted >= 2, "only {accepted} magnets parsed");
}

/// The `torrent_parse` fuzz target's body; returns whether the torrent was accepted.
fn check_torrent(data: &[u8]) -> bool {
    let Ok(m) = Metainfo::from_bytes(data) else {
        return false;
    };
    let mut offset = 0u64;
    for f in &m.info.files {
        assert_eq!(f.offset, offset);
        offset += f.length;
        assert!(!f.path.is_empty());
        for e in &f.path {
            assert!(
                !e.is_empty() && e != "." && e != "..",
                "unsafe element {e:?}"
            );
            assert!(
                !e.contains('/') && !e.contains('\\') && !e.contains('\0'),
                "unsafe element {e:?}"
            );
        }
    }
    assert_eq!(offset, m.info.total_length);
    assert_eq!(
        m.info.piece_count,
        m.info.total_length.div_ceil(m.info.piece_length)
    );
    let again = Metainfo::from_info_bytes(&m.info_bytes).expect("accepted info dict reloads");
    assert_eq!(again.info, m.info);
    let _ = m.magnet().to_uri();
    true
}

/// The `magnet_parse` fuzz target's body; returns whether the magnet was accepted.
fn check_magnet(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(m) = Magnet::parse(text) else {
        return false;
    };
    let uri = m.to_uri();
    let back = Magnet::parse(&uri).expect("formatted magnet parses");
    assert_eq!(back, m);
    assert_eq!(back.to_uri(), uri);
    true
}

//! Property tests: magnet format/parse round trip, create → parse round trip, and parser
//! robustness on mutated real torrents.

use std::path::PathBuf;

use freshet_metainfo::{InfoHashV1, InfoHashV2, InfoHashes, Magnet, Metainfo, TorrentBuilder};
use proptest::prelude::*;

fn magnet_strategy() -> impl Strategy<Value = Magnet> {
    (
        proptest::option::of(any::<[u8; 20]>()),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of(".{0,20}"),
        proptest::collection::vec(".{1,30}", 0..4),
        proptest::collection::vec(".{1,30}", 0..3),
        proptest::collection::vec("[a-z0-9.:]{1,20}", 0..3),
        proptest::collection::vec((0u32..100, 0u32..5), 0..4),
        proptest::option::of(any::<u64>()),
    )
        .prop_filter("needs a hash", |t| t.0.is_some() || t.1.is_some())
        .prop_map(|(v1, v2, dn, tr, ws, pe, so, xl)| Magnet {
            info_hashes: InfoHashes {
                v1: v1.map(InfoHashV1),
                v2: v2.map(InfoHashV2),
            },
            display_name: dn,
            trackers: tr,
            web_seeds: ws,
            peers: pe,
            select_only: so.into_iter().map(|(a, d)| (a, a + d)).collect(),
            exact_length: xl,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn magnet_format_then_parse_is_identity(m in magnet_strategy()) {
        let text = m.to_uri();
        let back = Magnet::parse(&text).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_uri(), text);
    }

    #[test]
    fn magnet_parse_never_panics(s in ".{0,200}") {
        let _ = Magnet::parse(&s);
        let _ = Magnet::parse(&format!("magnet:?{s}"));
    }

    #[test]
    fn mutated_real_torrents_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let files = [
            "libtorrent/test_torrents/v2_multipiece_file.torrent",
            "libtorrent/test_torrents/symlink2.torrent",
            "aria2/test.torrent",
            "libtorrent/test_torrents/v2_symlinks.torrent",
        ];
        let mut bytes = std::fs::read(testdata().join(files[which])).unwrap();
        for (pos, b) in flips {
            let i = pos % bytes.len();
            bytes[i] = b;
        }
        let cut = cut % (bytes.len() + 1);
        if let Ok(m) = Metainfo::from_bytes(&bytes[..cut.max(1)]) {
            check_invariants(&m);
        }
        if let Ok(m) = Metainfo::from_bytes(&bytes) {
            check_invariants(&m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn create_then_parse_round_trips(
        files in proptest::collection::btree_map("[a-z]{1,6}(/[a-z]{1,6})?", 0usize..70_000, 1..5),
        piece_shift in 14u32..17,
        hybrid in any::<bool>(),
        private in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("payload");
        std::fs::create_dir_all(&root).unwrap();
        let mut written = Vec::new();
        for (i, (name, len)) in files.iter().enumerate() {
            let path = root.join(name);
            // A name used both as file and directory cannot exist on disk: skip it.
            if std::fs::create_dir_all(path.parent().unwrap()).is_err() || path.is_dir() {
                continue;
            }
            let data: Vec<u8> = (0..*len).map(|j| (j as u64 * 2654435761 + i as u64) as u8).collect();
            if std::fs::write(&path, &data).is_ok() {
                written.push((name.clone(), *len as u64));
            }
        }
        let total: u64 = written.iter().map(|w| w.1).sum();
        prop_assume!(total > 0);
        let created = TorrentBuilder::new(&root)
            .piece_length(1 << piece_shift)
            .hybrid(hybrid)
            .private(private)
            .tracker("http://127.0.0.1:1/announce")
            .build()
            .unwrap();
        let m = Metainfo::from_bytes(&created.bytes).unwrap();
        check_invariants(&m);
        prop_assert_eq!(m.info_hashes, created.info_hashes);
        prop_assert_eq!(m.info_hashes.v2.is_some(), hybrid);
        prop_assert_eq!(m.info.private, private);
        prop_assert_eq!(m.info.payload_length(), total);
        let mut got: Vec<(String, u64)> = m
            .info
            .files
            .iter()
            .filter(|f| !f.attributes.padding)
            .map(|f| (f.path[1..].join("/"), f.length))
            .collect();
        got.sort();
        written.sort();
        prop_assert_eq!(got, written);
        let report = freshet_metainfo::verify(&m, tmp.path(), 2, &|_, _| {}).unwrap();
        prop_assert!(report.is_complete(), "{:?}", report);
        // Loading the info dict alone (as from ut_metadata) gives the same info.
        let alone = Metainfo::from_info_bytes(&m.info_bytes).unwrap();
        prop_assert_eq!(alone.info, m.info);
    }
}

fn check_invariants(m: &Metainfo) {
    let mut offset = 0;
    for f in &m.info.files {
        assert_eq!(f.offset, offset);
        offset += f.length;
        assert!(!f.path.is_empty());
        for e in &f.path {
            assert!(!e.is_empty() && e != "." && e != "..", "{:?}", f.path);
            assert!(
                !e.contains('/') && !e.contains('\\') && !e.contains('\0'),
                "{:?}",
                f.path
            );
        }
    }
    assert_eq!(offset, m.info.total_length);
    assert!(m.info.total_length > 0);
    assert_eq!(
        m.info.piece_count,
        m.info.total_length.div_ceil(m.info.piece_length)
    );
}

fn testdata() -> PathBuf {
    if let Some(dir) = std::env::var_os("FRESHET_TESTDATA") {
        return PathBuf::from(dir);
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../shared/testdata"),
        manifest.join("../shared/testdata"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .expect("shared/testdata not found (set FRESHET_TESTDATA)")
}

//! Unit-level checks on real fixtures: the facts the upstream test suites assert, the error
//! kind of every rejected libtorrent torrent, magnet strings, and verification of the
//! webtorrent payloads.

use std::path::{Path, PathBuf};

use freshet_metainfo::{
    DhtNode, ErrorKind, Magnet, Metainfo, PieceState, Version, merkle::MerkleHash,
};

fn testdata() -> PathBuf {
    if let Some(dir) = std::env::var_os("FRESHET_TESTDATA") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../shared/testdata"),
        manifest.join("../shared/testdata"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .expect("shared/testdata not found (set FRESHET_TESTDATA)")
}

fn load(rel: &str) -> Metainfo {
    let bytes = std::fs::read(testdata().join(rel)).unwrap();
    Metainfo::from_bytes(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn reject(rel: &str) -> ErrorKind {
    let bytes = std::fs::read(testdata().join(rel)).unwrap();
    match Metainfo::from_bytes(&bytes) {
        Ok(_) => panic!("{rel} must be rejected"),
        Err(e) => e.kind().clone(),
    }
}

const LT: &str = "libtorrent/test_torrents/";

#[test]
fn info_hash_is_over_the_raw_bytes_not_a_re_encoding() {
    let m = load(&format!("{LT}unordered.torrent"));
    assert_eq!(
        m.info_hashes.v1.unwrap().to_hex(),
        "1e44709a0ec082a6a5ea4837e450ae08d3f4394e"
    );
    let m = load("transmission/libtransmission/assets/unordered-info-dict.torrent");
    assert_eq!(
        m.info_hashes.v1.unwrap().to_hex(),
        "e44a814ac5ed962f9181638d1136a6aface3f734"
    );
    let android = load("transmission/libtransmission/assets/Android-x86 8.1 r6 iso.torrent");
    assert_eq!(android.info_bytes.len(), 26_583);
    assert_eq!(android.info.version, Version::Hybrid);
}

#[test]
fn libtorrent_field_facts() {
    let m = load(&format!("{LT}whitespace_url.torrent"));
    assert_eq!(m.trackers[0][0], "udp://test.com/announce");
    let m = load(&format!("{LT}creation_date.torrent"));
    assert_eq!(m.creation_date, Some(1_234_567));
    assert_eq!(
        load(&format!("{LT}no_creation_date.torrent")).creation_date,
        None
    );
    assert_eq!(
        load(&format!("{LT}url_seed_multi_space.torrent")).web_seeds,
        ["http://test.com/test%20file/foo%20bar/"]
    );
    assert_eq!(
        load(&format!("{LT}url_seed_multi_single_file.torrent")).web_seeds,
        ["http://test.com/file/temp/foo/bar.txt"]
    );
    assert_eq!(
        load(&format!("{LT}duplicate_web_seeds.torrent"))
            .web_seeds
            .len(),
        3
    );
    let m = load(&format!("{LT}invalid_name2.torrent"));
    assert_eq!(m.info.name, "b61560c2918f463768cd122b6d2fdd47b77bdb35");
    assert_eq!(
        load(&format!("{LT}invalid_name3.torrent")).info.name,
        "foobar "
    );
    assert_eq!(
        load(&format!("{LT}large_piece_size.torrent"))
            .info
            .piece_length,
        32767 * 16384
    );
    let m = load(&format!("{LT}dht_nodes.torrent"));
    assert_eq!(
        m.nodes,
        [
            DhtNode {
                host: "127.0.0.1".into(),
                port: 6881
            },
            DhtNode {
                host: "192.168.1.1".into(),
                port: 6881
            }
        ]
    );
    let similar = [0x61u8; 20];
    assert_eq!(load(&format!("{LT}similar.torrent")).similar[0].0, similar);
    assert_eq!(load(&format!("{LT}similar2.torrent")).similar[0].0, similar);
    assert_eq!(
        load(&format!("{LT}collection.torrent")).collections,
        ["bar", "foo"]
    );
    assert_eq!(
        load(&format!("{LT}collection2.torrent")).collections,
        ["bar", "foo"]
    );
}

#[test]
fn symlinks_point_inside_the_torrent_with_sanitised_targets() {
    let m = load(&format!("{LT}symlink1.torrent"));
    let f = &m.info.files[1];
    assert!(f.attributes.symlink);
    assert_eq!(f.length, 0);
    assert_eq!(f.symlink_target.as_ref().unwrap().join("/"), "temp/a/b/bar");
    let m = load(&format!("{LT}symlink_filtered_path.torrent"));
    assert_eq!(m.info.files[0].path_string(), "temp/a/_/bar");
    assert_eq!(
        m.info.files[1].symlink_target.as_ref().unwrap().join("/"),
        "temp/a/_/bar"
    );
    let m = load(&format!("{LT}symlink2.torrent"));
    assert_eq!(
        m.info.files[0].symlink_target.as_ref().unwrap().join("/"),
        "Some.framework/Versions/A/SDL2"
    );
    assert_eq!(
        m.info.files[4].symlink_target.as_ref().unwrap().join("/"),
        "Some.framework/Versions/A"
    );
    let m = load(&format!("{LT}v2_symlinks.torrent"));
    assert_eq!(
        m.info.files[0].symlink_target.as_ref().unwrap().join("/"),
        "SDL2.framework/Versions/Current/Headers"
    );
}

#[test]
fn v2_roots_and_piece_layers() {
    let m = load(&format!("{LT}v2.torrent"));
    assert_eq!(
        m.info.files[0].pieces_root.unwrap().to_hex(),
        "60aae9c7b428f87e0713e88229e18f0adf12cd7b22a0dd8a92bb2485eb7af242"
    );
    let m = load(&format!("{LT}v2_multipiece_file.torrent"));
    let root = m.info.files[0].pieces_root.unwrap();
    assert_eq!(
        root.to_hex(),
        "515ea9181744b817744ded9d2e8e9dc6a8450c0b0c52e24b5077f302ffbd9008"
    );
    assert_eq!(m.piece_layers[&root].len(), 16);
    let m = load(&format!("{LT}v2_only.torrent"));
    assert_eq!(m.info.version, Version::V2);
    assert!(m.info_hashes.v1.is_none());
    assert_eq!(
        m.info_hashes.v2.unwrap().to_hex(),
        "95e04d0c4bad94ab206efa884666fd89777dbe4f7bd9945af1829037a85c6192"
    );
    assert!(
        load(&format!("{LT}v2_no_piece_layers.torrent"))
            .piece_layers
            .is_empty()
    );
    let m = load(&format!("{LT}v2_incomplete_piece_layer.torrent"));
    assert_eq!(m.piece_layers.len(), 2);
    let m = load("anacrolix-torrent/testdata/bittorrent-v2-test.torrent");
    assert_eq!(m.info.piece_count, 371);
    for f in m
        .info
        .files
        .iter()
        .filter(|f| f.length > m.info.piece_length)
    {
        assert!(m.piece_layers.contains_key(&f.pieces_root.unwrap()));
    }
    assert!(!MerkleHash::ZERO.to_hex().is_empty());
}

#[test]
fn rejected_torrents_fail_with_the_libtorrent_error_kind() {
    use ErrorKind as K;
    type Check = fn(&ErrorKind) -> bool;
    let cases: &[(&str, Check)] = &[
        ("missing_piece_len", |k| matches!(k, K::Missing)),
        ("invalid_piece_len", |k| matches!(k, K::WrongType { .. })),
        ("negative_piece_len", |k| {
            matches!(k, K::InvalidPieceLength(-16384))
        }),
        ("no_name", |k| matches!(k, K::MissingName)),
        ("bad_name", |k| matches!(k, K::MissingName | K::Bencode(_))),
        ("invalid_name", |k| matches!(k, K::MissingName)),
        ("invalid_info", |k| matches!(k, K::WrongType { .. })),
        ("string", |k| matches!(k, K::NotADictionary)),
        ("negative_size", |k| matches!(k, K::InvalidLength(-425))),
        ("negative_file_size", |k| matches!(k, K::InvalidLength(-45))),
        ("invalid_path_list", |k| matches!(k, K::WrongType { .. })),
        ("missing_path_list", |k| matches!(k, K::MissingName)),
        ("invalid_pieces", |k| matches!(k, K::WrongType { .. })),
        ("unaligned_pieces", |k| {
            matches!(k, K::PiecesLength { found: 24, .. })
        }),
        ("invalid_file_size", |k| matches!(k, K::InvalidLength(_))),
        ("invalid_symlink", |k| matches!(k, K::WrongType { .. })),
        ("many_pieces", |k| matches!(k, K::TooManyPieces { .. })),
        ("no_files", |k| matches!(k, K::NoFiles)),
        ("zero", |k| matches!(k, K::ZeroTotalLength)),
        ("zero2", |k| matches!(k, K::ZeroTotalLength)),
        ("v2_mismatching_metadata", |k| {
            matches!(k, K::InconsistentFiles(_))
        }),
        ("v2_no_power2_piece", |k| {
            matches!(k, K::InvalidPieceLength(32767))
        }),
        ("v2_invalid_file", |k| {
            matches!(k, K::MissingPiecesRoot | K::FileTree(_))
        }),
        ("v2_deep_recursion", |k| matches!(k, K::Bencode(_))),
        ("v2_non_multiple_piece_layer", |k| {
            matches!(k, K::InvalidPieceLayer(_))
        }),
        ("v2_piece_layer_invalid_file_hash", |k| {
            matches!(k, K::InvalidPieceLayer(_))
        }),
        ("v2_invalid_piece_layer", |k| {
            matches!(k, K::InvalidPieceLayer(_))
        }),
        ("v2_invalid_piece_layer_root", |k| {
            matches!(k, K::InvalidPieceLayer(_))
        }),
        ("v2_unknown_piece_layer_entry", |k| {
            matches!(k, K::InvalidPieceLayer(_))
        }),
        ("v2_invalid_piece_layer_size", |k| {
            matches!(k, K::InvalidPieceLayer(_))
        }),
        ("v2_bad_file_alignment", |k| {
            matches!(k, K::InconsistentFiles(_))
        }),
        ("v2_unordered_files", |k| matches!(k, K::NonCanonical)),
        ("v2_overlong_integer", |k| matches!(k, K::Bencode(_))),
        ("v2_missing_file_root_invalid_symlink", |k| {
            matches!(k, K::MissingPiecesRoot)
        }),
        ("v2_large_file", |k| matches!(k, K::InvalidLength(_))),
        ("v2_large_offset", |k| matches!(k, K::TooManyPieces { .. })),
        ("v2_piece_size", |k| matches!(k, K::InvalidPieceLength(_))),
        ("v2_invalid_pad_file", |k| matches!(k, K::PadFileInV2)),
        ("v2_zero_root", |k| matches!(k, K::MissingPiecesRoot)),
        ("v2_zero_root_small", |k| matches!(k, K::MissingPiecesRoot)),
        ("v2_empty_filename", |k| matches!(k, K::FileTree(_))),
        ("duplicate_files2", |k| {
            matches!(k, K::TooManyDuplicateNames)
        }),
        ("v2_invalid_root_hash", |k| {
            matches!(k, K::InvalidPieceLayer(_))
        }),
    ];
    for (name, ok) in cases {
        let kind = reject(&format!("{LT}{name}.torrent"));
        assert!(ok(&kind), "{name}: unexpected error kind {kind:?}");
    }
}

#[test]
fn transmission_and_aria2_facts() {
    let m = load("transmission/utils/assets/bitcomet.utf-8.special.torrent");
    assert_eq!(m.info.name, "modified test-utf8");
    assert_eq!(
        m.info.files[0].path_string(),
        "modified test-utf8/別の世界f1.txt"
    );
    assert_eq!(
        load("transmission/libtransmission/assets/webseed-getright-string.torrent").web_seeds,
        ["http://www.webseed-one.com/"]
    );
    let m = load("transmission/libtransmission/assets/debian-11.2.0-amd64-DVD-1.iso.torrent");
    assert_eq!(m.http_seeds.len(), 2);
    assert!(m.http_seeds[0].contains("/release/11.2.0//srv/"));
    assert!(m.web_seeds.is_empty());
    let m = load("aria2/utf8.torrent");
    assert_eq!(m.info.name, "name in utf-8");
    assert_eq!(m.comment.as_deref(), Some("This is utf8 comment."));
    let m = load("aria2/test.torrent");
    assert!(!m.info.private, "top-level private does not count");
    assert!(
        load("rqbit/librqbit_core/src/resources/test/private.torrent")
            .info
            .private
    );
    assert!(
        !load(
            "anacrolix-torrent/metainfo/testdata/23516C72685E8DB0C8F15553382A927F185C4F01.torrent"
        )
        .info
        .private
    );
    assert!(matches!(
        reject("transmission/libtransmission/assets/dup-pieces-key.torrent"),
        ErrorKind::Bencode(_)
    ));
    assert!(matches!(
        reject("anacrolix-torrent/metainfo/testdata/minimal-trailing-newline.torrent"),
        ErrorKind::Missing
    ));
}

#[test]
fn anacrolix_nodes_and_exact_magnet_strings() {
    let m = load("anacrolix-torrent/metainfo/testdata/issue_65a.torrent");
    let nodes: Vec<String> = m
        .nodes
        .iter()
        .map(|n| format!("{}:{}", n.host, n.port))
        .collect();
    assert_eq!(
        nodes,
        [
            "185.34.3.132:5680",
            "185.34.3.103:12340",
            "94.209.253.165:47232",
            "78.46.103.11:34319",
            "195.154.162.70:55011",
            "185.34.3.137:3732"
        ]
    );
    assert!(
        load("anacrolix-torrent/metainfo/testdata/trackerless.torrent")
            .nodes
            .is_empty()
    );
    for (file, expected) in [
        (
            "SKODAOCTAVIA336x280_archive.torrent",
            "magnet:?xt=urn:btih:d4b197dff199aad447a9a352e31528adbbd97922&tr=http%3A%2F%2Fbt1.archive.org%3A6969%2Fannounce&tr=http%3A%2F%2Fbt2.archive.org%3A6969%2Fannounce&ws=https%3A%2F%2Farchive.org%2Fdownload%2F&ws=http%3A%2F%2Fia601600.us.archive.org%2F26%2Fitems%2F&ws=http%3A%2F%2Fia801600.us.archive.org%2F26%2Fitems%2F",
        ),
        (
            "flat-url-list.torrent",
            "magnet:?xt=urn:btih:9da24e606e4ed9c7b91c1772fb5bf98f82bd9687&tr=http%3A%2F%2Fbt1.archive.org%3A6969%2Fannounce&tr=http%3A%2F%2Fbt2.archive.org%3A6969%2Fannounce&ws=https%3A%2F%2Farchive.org%2Fdownload%2F",
        ),
    ] {
        let m = load(&format!("anacrolix-torrent/metainfo/testdata/{file}"));
        let mut magnet = m.magnet();
        magnet.display_name = None; // anacrolix's expected strings carry no dn
        assert_eq!(magnet.to_uri(), expected);
        assert_eq!(Magnet::parse(expected).unwrap(), magnet);
    }
    let m = load("anacrolix-torrent/testdata/sintel.torrent");
    let magnet = Magnet::parse(&m.magnet().to_uri()).unwrap();
    assert_eq!(magnet.info_hashes, m.info_hashes);
    assert_eq!(magnet.display_name.as_deref(), Some("Sintel"));
    let m = load("anacrolix-torrent/testdata/bootstrap.dat.torrent");
    assert_eq!(m.info.piece_count, 10_761);
}

#[test]
fn webtorrent_payloads_verify_piece_by_piece() {
    let fixtures = testdata().join("webtorrent-fixtures/fixtures");
    for (torrent, pieces) in [
        ("alice.torrent", 10),
        ("leaves.torrent", 23),
        ("folder.torrent", 1),
        ("numbers.torrent", 1),
        ("lots-of-numbers.torrent", 1),
    ] {
        let m = load(&format!("webtorrent-fixtures/fixtures/{torrent}"));
        let report = freshet_metainfo::verify(&m, &fixtures, 2, &|_, _| {}).unwrap();
        assert_eq!(report.pieces.len(), pieces, "{torrent}");
        assert!(report.is_complete(), "{torrent}: {report:?}");
    }
    // Missing data is reported as missing, not as an error.
    let m = load("webtorrent-fixtures/fixtures/bunny.torrent");
    let report = freshet_metainfo::verify(&m, &fixtures, 2, &|_, _| {}).unwrap();
    assert_eq!(report.count(PieceState::Missing), 830);
    assert!(!report.is_complete());
}

#[test]
fn writing_reproduces_libtorrents_round_trip_files_byte_for_byte() {
    // libtorrent's write_torrent_file round-trip list, minus similar.torrent and
    // collection.torrent whose top-level BEP 38 keys are not written.
    let names = "base empty_path parent_path hidden_parent_path single_multi_file slash_path \
        slash_path2 slash_path3 backslash_path long_name duplicate_files pad_file creation_date \
        no_creation_date url_seed url_seed_multi_single_file empty_path_multi invalid_name2 \
        invalid_name3 symlink1 symlink2 unordered symlink_zero_size pad_file_no_path large \
        absolute_filename invalid_filename invalid_filename2 invalid_directory_name \
        overlapping_symlinks v2 v2_multipiece_file v2_only v2_invalid_filename \
        v2_multiple_files v2_symlinks v2_hybrid empty-files-1 empty-files-2 empty-files-3 \
        empty-files-4 empty-files-5 collection2 similar2 dht_nodes";
    let mut n = 0;
    for name in names.split_whitespace() {
        let rel = format!("{LT}{name}.torrent");
        let mut original = std::fs::read(testdata().join(&rel)).unwrap();
        while original.last() == Some(&b'\n') {
            original.pop();
        }
        assert_eq!(load(&rel).to_bytes(), original, "{rel}");
        n += 1;
    }
    assert_eq!(n, 45);
}

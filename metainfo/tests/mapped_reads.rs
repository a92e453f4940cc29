//! `ReadMode::Mapped` (bounded memory-mapped windows) must give byte-identical torrents and
//! identical verification reports to `ReadMode::Read` (positional reads).

use std::path::Path;

use freshet_metainfo::{Metainfo, PieceState, ReadMode, TorrentBuilder, verify_with_mode};

/// Deterministic, non-repeating bytes (xorshift), so a misplaced chunk changes a hash.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn build(path: &Path, piece_length: u64, hybrid: bool, mode: ReadMode) -> Vec<u8> {
    TorrentBuilder::new(path)
        .piece_length(piece_length)
        .hybrid(hybrid)
        .threads(2)
        .read_mode(mode)
        .build()
        .unwrap()
        .bytes
}

/// Builds with both modes, asserts identical bytes, and returns the parsed torrent.
fn same_torrent(path: &Path, piece_length: u64, hybrid: bool) -> Metainfo {
    let read = build(path, piece_length, hybrid, ReadMode::Read);
    let mapped = build(path, piece_length, hybrid, ReadMode::Mapped);
    assert!(
        read == mapped,
        "{} piece {piece_length} hybrid {hybrid}: mapped torrent differs",
        path.display()
    );
    Metainfo::from_bytes(&mapped).unwrap()
}

#[test]
fn single_file_torrents_are_identical_in_both_modes() {
    let tmp = tempfile::tempdir().unwrap();
    // Larger than two 4 MiB windows, not a multiple of 16 KiB.
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, data(9 * 1024 * 1024 + 123, 1)).unwrap();
    // Smaller than one window and than one piece.
    let small = tmp.path().join("small.bin");
    std::fs::write(&small, data(1000, 2)).unwrap();
    for hybrid in [false, true] {
        // 16 MiB pieces: one piece spans three windows; 16 KiB pieces: many per window.
        for pl in [16 << 20, 16 << 10, 1 << 20] {
            let m = same_torrent(&big, pl, hybrid);
            assert_eq!(m.info.total_length, 9 * 1024 * 1024 + 123);
            let m = same_torrent(&small, pl, hybrid);
            assert_eq!(m.info.piece_count, 1);
        }
    }
}

#[test]
fn directory_torrents_with_small_and_empty_files_are_identical_in_both_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    let files: [(&str, usize); 6] = [
        ("a-empty", 0),
        ("b-tiny", 10),
        ("c-100k", 100_000),
        ("sub/d-5m", 5 * 1024 * 1024 + 7),
        ("sub/deeper/e-empty", 0),
        ("sub/deeper/f-64k", 65_536),
    ];
    for (i, (name, len)) in files.iter().enumerate() {
        std::fs::write(root.join(name), data(*len, i as u64 + 10)).unwrap();
    }
    for hybrid in [false, true] {
        for pl in [16 << 10, 64 << 10, 8 << 20] {
            let m = same_torrent(&root, pl, hybrid);
            let payload: u64 = files.iter().map(|(_, l)| *l as u64).sum();
            assert_eq!(m.info.payload_length(), payload);
        }
    }
}

#[test]
fn verify_reports_are_identical_in_both_modes_for_good_and_corrupt_data() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("one"), data(3 * 1024 * 1024 + 5, 7)).unwrap();
    std::fs::write(root.join("two"), data(70_000, 8)).unwrap();
    std::fs::write(root.join("zero"), b"").unwrap();
    for hybrid in [false, true] {
        let meta = same_torrent(&root, 256 << 10, hybrid);
        let check = |mode| verify_with_mode(&meta, tmp.path(), 2, mode, &|_, _| {}).unwrap();
        let good = check(ReadMode::Mapped);
        assert!(good.is_complete(), "hybrid {hybrid}");
        assert_eq!(good, check(ReadMode::Read));

        // Flip one byte inside the second piece of "one": exactly that piece turns bad.
        let path = root.join("one");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[300_000] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let bad = check(ReadMode::Mapped);
        assert_eq!(bad, check(ReadMode::Read));
        assert_eq!(bad.count(PieceState::Bad), 1, "hybrid {hybrid}");
        assert_eq!(bad.pieces[1], PieceState::Bad);
        bytes[300_000] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
    }
}

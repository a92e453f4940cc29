//! Runs the committed fuzz regression corpora (`fuzz/regressions/{resume_decode,peer_messages}/`)
//! through the same invariants as the fuzz targets, on stable, so CI exercises them without
//! nightly.

#[path = "../fuzz/invariants.rs"]
mod invariants;

use freshet_engine::{PieceIndex, PieceSet, ResumeRecord, UnfinishedPiece};
use invariants::{check_peer_messages, check_resume};

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
fn resume_regressions_keep_fuzz_invariants() {
    for (name, data) in regressions("resume_decode") {
        eprintln!("checking {name}");
        check_resume(&data);
    }
}

#[test]
fn every_prefix_and_bit_flip_of_a_real_record_is_safe() {
    let mut pieces = PieceSet::new(10);
    pieces.insert(PieceIndex(3));
    let record = ResumeRecord {
        info_hash: None,
        pieces,
        files: vec![None, None],
        unfinished: vec![UnfinishedPiece {
            piece: PieceIndex(4),
            blocks: vec![0, 2],
        }],
        uploaded: 7,
        downloaded: 9,
        added_time: 1_700_000_000,
        completed_time: None,
    };
    let bytes = record.encode();
    assert!(check_resume(&bytes), "a fresh record must decode");
    for end in 0..bytes.len() {
        assert!(
            !check_resume(&bytes[..end]),
            "prefix of {end} bytes decoded"
        );
    }
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            check_resume(&b);
        }
    }
}

#[test]
fn peer_message_regressions_keep_fuzz_invariants() {
    for (name, data) in regressions("peer_messages") {
        eprintln!("checking {name}");
        check_peer_messages(&data);
    }
}

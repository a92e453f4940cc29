//! Runs the committed fuzz regression corpora (`fuzz/regressions/{resume_decode,peer_messages}/`)
//! through the same invariants as the fuzz targets, on stable, so CI exercises them without
//! nightly.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use freshet_engine::{
    Action, Config, FastExtension, FileSpec, Geometry, MemoryStorage, PeerInfo, PeerKey,
    PieceHashes, PieceIndex, PieceSet, ResumeRecord, Start, Torrent, UnfinishedPiece, run_job,
};
use freshet_peerwire::MessageDecoder;

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

/// The `resume_decode` fuzz target's body; returns whether the record decoded.
fn check_resume(data: &[u8]) -> bool {
    let Ok(r) = ResumeRecord::decode(data) else {
        return false;
    };
    let again = ResumeRecord::decode(&r.encode()).expect("re-encoded record decodes");
    assert_eq!(again, r);
    true
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

/// The `peer_messages` fuzz target's body: two peers' bytes (chunks split at 0xfe) fed to a
/// torrent; no panic, and a disconnected peer is never named again.
fn check_peer_messages(data: &[u8]) {
    let g = Arc::new(
        Geometry::new(
            32768,
            vec![
                FileSpec::new(&["a"], 50000),
                FileSpec::padding(15536),
                FileSpec::new(&["b"], 40000),
            ],
            PieceHashes {
                v1: Some(vec![[0; 20]; 4]),
                v2: None,
            },
        )
        .expect("geometry"),
    );
    let st = MemoryStorage::with_data(Arc::clone(&g), Bytes::from(vec![0u8; 105_536]));
    let mut cfg = Config::default();
    cfg.rng_seed = Some([0; 32]);
    // An opaque base instant for the sans-I/O torrent; time then advances synthetically.
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut set = PieceSet::new(4);
    set.insert(PieceIndex(1));
    let mut t = Torrent::new(Arc::clone(&g), cfg, Start::Verified(set), now);
    let info = |fast| PeerInfo {
        fast,
        ..PeerInfo::default()
    };
    let keys = [
        t.add_peer(now, info(FastExtension::Enabled)).expect("peer"),
        t.add_peer(now, info(FastExtension::Disabled))
            .expect("peer"),
    ];
    let mut gone = BTreeSet::new();
    let mut dec = MessageDecoder::default();
    dec.set_piece_count(4);
    for (i, chunk) in data.split(|b| *b == 0xfe).enumerate() {
        let peer = keys[i % 2];
        let mut buf = BytesMut::from(chunk);
        while let Ok(Some(m)) = dec.decode(&mut buf) {
            t.handle_message(now, peer, m);
            drain(&mut t, &st, &g, now, &mut gone);
        }
        now += Duration::from_millis(700);
        t.handle_timeout(now);
        drain(&mut t, &st, &g, now, &mut gone);
    }
}

fn drain(
    t: &mut Torrent,
    st: &MemoryStorage,
    g: &Arc<Geometry>,
    now: Instant,
    gone: &mut BTreeSet<PeerKey>,
) {
    for _ in 0..100_000 {
        let Some(a) = t.poll_action() else { return };
        match a {
            Action::Disk(job) => {
                let c = run_job(st, g, job);
                t.handle_disk(now, c);
            }
            Action::Send { peer, .. } => assert!(!gone.contains(&peer), "send after disconnect"),
            Action::Disconnect { peer, .. } => {
                assert!(gone.insert(peer), "disconnected twice");
            }
            _ => {}
        }
    }
    panic!("actions never ran dry");
}

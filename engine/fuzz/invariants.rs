//! The invariants the `resume_decode` and `peer_messages` fuzz targets check, shared with the
//! stable regression test `tests/fuzz_regressions.rs` so both run exactly the same checks.
// Each fuzz target uses only its own checks.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use freshet_engine::{
    Action, Config, FastExtension, FileSpec, Geometry, MemoryStorage, PeerInfo, PeerKey,
    PieceHashes, PieceIndex, PieceSet, ResumeRecord, Start, Torrent, run_job,
};
use freshet_peerwire::MessageDecoder;

/// The `resume_decode` fuzz target: decoding never panics and what decodes re-encodes to the same
/// record; returns whether the record decoded.
pub fn check_resume(data: &[u8]) -> bool {
    let Ok(r) = ResumeRecord::decode(data) else {
        return false;
    };
    let again = ResumeRecord::decode(&r.encode()).expect("re-encoded record decodes");
    assert_eq!(again, r);
    true
}

/// The `peer_messages` fuzz target: two peers' bytes (chunks split at 0xfe) fed to a
/// torrent; no panic, and a disconnected peer is never named again.
pub fn check_peer_messages(data: &[u8]) {
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

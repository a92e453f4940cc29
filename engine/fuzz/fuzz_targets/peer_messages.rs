//! Arbitrary bytes from two peers (one seed-like, one leech-like) are decoded and fed to a
//! torrent; every disk job is run. The engine must never panic, and a peer the engine
//! disconnected must never be named by a later action.
#![no_main]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use freshet_engine::{
    Action, Config, FastExtension, FileSpec, Geometry, MemoryStorage, PeerInfo, PieceHashes,
    Start, Torrent, run_job,
};
use freshet_peerwire::MessageDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let g = Arc::new(
        Geometry::new(
            32768,
            vec![FileSpec::new(&["a"], 50000), FileSpec::padding(15536), FileSpec::new(&["b"], 40000)],
            PieceHashes { v1: Some(vec![[0; 20]; 4]), v2: None },
        )
        .expect("geometry"),
    );
    let st = MemoryStorage::with_data(Arc::clone(&g), Bytes::from(vec![0u8; 105536]));
    let mut cfg = Config::default();
    cfg.rng_seed = Some([0; 32]);
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut set = freshet_engine::PieceSet::new(4);
    set.insert(freshet_engine::PieceIndex(1));
    let mut t = Torrent::new(Arc::clone(&g), cfg, Start::Verified(set), now);
    let info = |fast| PeerInfo { fast, ..PeerInfo::default() };
    let keys = [
        t.add_peer(now, info(FastExtension::Enabled)).expect("peer"),
        t.add_peer(now, info(FastExtension::Disabled)).expect("peer"),
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
});

fn drain(
    t: &mut Torrent,
    st: &MemoryStorage,
    g: &Arc<Geometry>,
    now: Instant,
    gone: &mut BTreeSet<freshet_engine::PeerKey>,
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

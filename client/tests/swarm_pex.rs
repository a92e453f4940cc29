//! Peer exchange (BEP 11) between Freshet clients on 127.0.0.1, no tracker.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use component_util::{add, make_torrent, tree, wait_added, wait_complete};
use freshet_client::{ClientHandle, Config, Event, Request, TorrentClient, TorrentId};

const TICK: Duration = Duration::from_millis(200);

fn pex_client(interval: Duration, upload_limit: u64) -> ClientHandle {
    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK);
    config.pex_interval = interval;
    config.max_upload_rate = upload_limit;
    TorrentClient::spawn(config).unwrap()
}

/// The peer addresses in a fresh detailed status of `id` (other events are skipped).
fn peer_addrs(c: &ClientHandle, id: TorrentId) -> Vec<SocketAddr> {
    c.send(Request::Details { id }).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left) {
            Ok(Event::Status(s)) if s.id == id && !s.files.is_empty() => {
                return s.peer_list.iter().filter_map(|p| p.addr).collect();
            }
            Ok(_) => {}
            Err(e) => panic!("no detailed status: {e}"),
        }
    }
}

#[test]
fn two_leechers_that_only_know_the_seed_find_each_other_via_pex() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "pex.bin", &[("", 6_000_000)], 65536, false);
    let interval = Duration::from_secs(1);
    // A seeds slowly (1 MB/s) so B and C are still leechers when they learn of each other.
    let a = pex_client(interval, 1_000_000);
    add(&a, 1, &bytes, &src, &[]);
    let aid = wait_added(&a);
    wait_complete(&a, aid);
    let a_addr = a.listen_addrs()[0];

    let (b, c) = (pex_client(interval, 0), pex_client(interval, 0));
    let (b_addr, c_addr) = (b.listen_addrs()[0], c.listen_addrs()[0]);
    add(&b, 1, &bytes, &dir.path().join("b"), &[a_addr]);
    add(&c, 1, &bytes, &dir.path().join("c"), &[a_addr]);
    let (bid, cid) = (wait_added(&b), wait_added(&c));

    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    let (b_peers, c_peers) = loop {
        let (bp, cp) = (peer_addrs(&b, bid), peer_addrs(&c, cid));
        // Connected both ways is one connection: B dialled C (C's listen address in B's
        // list) or C dialled B.
        if bp.contains(&c_addr) || cp.contains(&b_addr) {
            break (bp, cp);
        }
        assert!(
            Instant::now() < deadline,
            "B and C never connected: B sees {bp:?}, C sees {cp:?} (A {a_addr}, B {b_addr}, C {c_addr})"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    println!(
        "B and C connected via PEX after {:.2} s (interval {interval:?}); B sees {b_peers:?}, C sees {c_peers:?}",
        start.elapsed().as_secs_f64()
    );
    assert!(b_peers.contains(&a_addr) && c_peers.contains(&a_addr));
    assert!(b_peers.len() >= 2, "B: A and C");
    assert!(c_peers.len() >= 2, "C: A and B");
    wait_complete(&b, bid);
    wait_complete(&c, cid);
    assert_eq!(tree(&dir.path().join("b")), tree(&src));
    for x in [b, c, a] {
        x.join();
    }
}

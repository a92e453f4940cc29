//! Listening and dialling: IPv6, several listeners, connection limits, peers added later.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{add, make_torrent, tree, wait_added, wait_complete, wait_for};
use freshet_client::{Config, Event, TorrentClient};

const TICK: Duration = Duration::from_millis(50);

#[test]
fn listens_on_ipv4_and_ipv6_and_downloads_over_ipv6() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "six.bin", &[("", 300_000)], 16384, false);
    let mut config = Config::default().with_tick(TICK);
    config.listen = vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
    let seed = TorrentClient::spawn(config).unwrap();
    let addrs = seed.listen_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6(), "{addrs:?}");
    assert_ne!(addrs[0].port(), 0);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);

    let leech = TorrentClient::spawn(
        Config::default()
            .listen_on("[::1]:0".parse().unwrap())
            .with_tick(TICK),
    )
    .unwrap();
    let dl = dir.path().join("dl");
    add(&leech, 1, &bytes, &dl, &[addrs[1]]);
    let id = wait_added(&leech);
    wait_complete(&leech, id);
    assert_eq!(tree(&dl), tree(&src));
    leech.join();
    seed.join();
}

#[test]
fn global_connection_limit_is_kept_across_torrents() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let one = make_torrent(&src, "g1.bin", &[("", 1_000_000)], 32768, false);
    let two = make_torrent(&src, "g2.bin", &[("", 1_000_000)], 32768, false);
    let seeds: Vec<_> = (0..2)
        .map(|_| {
            let s = component_util::client(TICK);
            add(&s, 1, &one, &src, &[]);
            add(&s, 2, &two, &src, &[]);
            let a = wait_added(&s);
            let b = wait_added(&s);
            component_util::wait_all_complete(&s, &[a, b]);
            s
        })
        .collect();
    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK);
    config.max_connections = 2;
    let leech = TorrentClient::spawn(config).unwrap();
    let dl = dir.path().join("dl");
    let peers: Vec<_> = seeds.iter().map(|s| s.listen_addrs()[0]).collect();
    add(&leech, 1, &one, &dl, &peers);
    add(&leech, 2, &two, &dl, &peers);
    let a = wait_added(&leech);
    let b = wait_added(&leech);
    let mut done = Vec::new();
    let mut peers_now = std::collections::BTreeMap::new();
    let mut most = 0;
    while done.len() < 2 {
        match wait_for(&leech, "completed", |e| {
            matches!(e, Event::Status(_) | Event::Completed { .. })
        }) {
            Event::Status(s) => {
                peers_now.insert(s.id, s.peers);
                // A tick sends both statuses in id order: sum once the tick's last one is in.
                if s.id == b {
                    most = most.max(peers_now.values().sum::<u32>());
                }
            }
            Event::Completed { id } => done.push(id),
            _ => {}
        }
    }
    done.sort();
    assert_eq!(done, vec![a, b]);
    assert!(most <= 2, "{most} peers connected with a global limit of 2");
    assert_eq!(tree(&dl), tree(&src));
    leech.join();
    for s in seeds {
        s.join();
    }
}

#[test]
fn per_torrent_connection_limit_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "lim.bin", &[("", 2_000_000)], 32768, false);
    let seeds: Vec<_> = (0..3)
        .map(|_| {
            let s = component_util::client(TICK);
            add(&s, 1, &bytes, &src, &[]);
            let id = wait_added(&s);
            wait_complete(&s, id);
            s
        })
        .collect();
    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK);
    config.max_connections_per_torrent = 1;
    let leech = TorrentClient::spawn(config).unwrap();
    let dl = dir.path().join("dl");
    let peers: Vec<_> = seeds.iter().map(|s| s.listen_addrs()[0]).collect();
    add(&leech, 1, &bytes, &dl, &peers);
    let id = wait_added(&leech);
    let mut most = 0;
    wait_for(&leech, "completed", |e| match e {
        Event::Status(s) => {
            most = most.max(s.peers);
            false
        }
        Event::Completed { id: i } => *i == id,
        _ => false,
    });
    assert!(most <= 1, "{most} peers connected with a limit of 1");
    assert_eq!(tree(&dl), tree(&src));
    leech.join();
    for s in seeds {
        s.join();
    }
}

#[test]
fn a_port_in_use_is_a_spawn_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err =
        TorrentClient::spawn(Config::default().listen_on(taken.local_addr().unwrap())).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn silent_peers_get_keep_alives_and_are_dropped_when_idle() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "ka.bin", &[("", 50_000)], 16384, false);
    let meta = freshet_metainfo::Metainfo::from_bytes(&bytes).unwrap();
    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK);
    config.keepalive_interval = Duration::from_millis(500);
    config.peer_idle_timeout = Duration::from_secs(3);
    let seed = TorrentClient::spawn(config).unwrap();
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);

    // A peer that handshakes and then never sends another byte.
    let mut s = std::net::TcpStream::connect(seed.listen_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let hs = freshet_peerwire::Handshake::new(
        freshet_peerwire::Reserved::NONE,
        meta.info_hashes.wire_id().unwrap(),
        freshet_peerwire::PeerId::azureus(*b"-XX0001-", [9; 12]),
    );
    s.write_all(&hs.to_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let keepalive = [0u8, 0, 0, 0];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no keep-alive or close within 30 s: {e}"),
        }
    };
    assert!(closed);
    // Handshake (68 bytes) and bitfield first, then at least one 4-byte keep-alive at the end.
    assert!(got.len() > 68 + 4, "{} bytes", got.len());
    assert!(got.ends_with(&keepalive), "{:?}", &got[got.len() - 8..]);
    seed.join();
}

/// Back-pressure never deadlocks: with the receive budget and the upload read budget at their
/// floor (one block each), socket reads pause and upload reads wait on nearly every block, and
/// the download still completes with the right bytes.
#[test]
fn download_completes_with_one_block_disk_budgets() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "budget.bin", &[("", 3_000_000)], 65536, false);
    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK);
    config.max_queued_receive_bytes = 0;
    config.max_queued_read_bytes = 0;
    let seed = TorrentClient::spawn(config.clone()).unwrap();
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let leech = TorrentClient::spawn(config).unwrap();
    let dl = dir.path().join("dl");
    add(&leech, 1, &bytes, &dl, &[seed.listen_addrs()[0]]);
    let id = wait_added(&leech);
    wait_complete(&leech, id);
    assert_eq!(tree(&dl), tree(&src));
    leech.join();
    seed.join();
}

//! The client's DHT on 127.0.0.1: a 20-client network where a magnet link with no tracker and
//! no peer finds its seeder; the routing table surviving a restart; garbage and a `get_peers`
//! flood at a client's DHT socket. Every node bootstraps from a loopback node: nothing here
//! sends a packet beyond 127.0.0.1.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use component_util::{
    Reaped, add, have_python_libtorrent, make_torrent, rss_kib, sample_bytes, tree, v1_hash,
    wait_added, wait_complete, wait_for,
};
use freshet_client::{
    AddOptions, ClientHandle, Config, DhtConfig, DhtStatus, Event, Request, RequestId,
    TorrentClient, TorrentSource, UseTrackers,
};
use freshet_metainfo::Metainfo;

/// A client on 127.0.0.1 whose DHT bootstraps from `bootstrap` only.
///
/// Every node of these networks shares the IP 127.0.0.1, so the per-IP query budget (meant for
/// one host flooding us) is raised; the hostile test keeps the default.
fn dht_client(bootstrap: Option<SocketAddr>, state_dir: Option<&Path>) -> ClientHandle {
    let mut dht = DhtConfig::default().with_bootstrap(bootstrap.iter().map(ToString::to_string));
    dht.retry_interval = Duration::from_secs(2);
    dht.max_queries_per_ip = 1_000_000;
    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(Duration::from_secs(1))
        .with_dht(Some(dht));
    config.disk_threads = 1;
    config.hash_threads = 1;
    if let Some(d) = state_dir {
        config = config.with_state_dir(d);
        config.resume_interval = Duration::from_secs(1);
    }
    TorrentClient::spawn(config).unwrap()
}

/// Asks for the DHT status (other events are skipped).
fn dht_status(c: &ClientHandle) -> DhtStatus {
    c.send(Request::DhtStatus).unwrap();
    match wait_for(c, "dht status", |e| matches!(e, Event::Dht(_))) {
        Event::Dht(Some(s)) => s,
        other => panic!("DHT off: {other:?}"),
    }
}

/// Polls the DHT status until `pred` holds; panics after 60 s. Other events are skipped, so
/// call it only while no other event is awaited.
fn wait_dht(c: &ClientHandle, what: &str, pred: impl Fn(&DhtStatus) -> bool) -> DhtStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = dht_status(c);
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "DHT never reached {what}: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A loopback DHT with a seeder in it: a router node, `extra` clients bootstrapped from it,
/// and a seeder that holds the torrent (`bytes`) and has announced it.
struct SeededDht {
    router_addr: SocketAddr,
    _router: ClientHandle,
    _others: Vec<ClientHandle>,
    _seeder: ClientHandle,
}

impl SeededDht {
    /// Starts the network and the seeder of `bytes` (data in `src`); returns once the seeder
    /// announced the torrent to at least one node.
    fn start(bytes: &[u8], src: &Path, extra: usize) -> Self {
        let router = dht_client(None, None);
        let router_addr = router.dht_addrs()[0];
        let others: Vec<ClientHandle> = (0..extra)
            .map(|_| dht_client(Some(router_addr), None))
            .collect();
        for n in &others {
            wait_dht(n, "a bootstrapped table", |s| s.lookups_done >= 1);
        }
        let seeder = dht_client(Some(router_addr), None);
        add(&seeder, 1, bytes, src, &[]);
        let sid = wait_added(&seeder);
        wait_complete(&seeder, sid);
        wait_dht(&seeder, "an announce", |s| {
            s.last_lookup.is_some_and(|l| l.announced_to > 0)
        });
        Self {
            router_addr,
            _router: router,
            _others: others,
            _seeder: seeder,
        }
    }
}

#[test]
fn magnet_with_no_tracker_finds_its_seeder_through_a_20_client_dht() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "dht-data",
        &[("", 3 * 1024 * 1024 + 77)],
        256 * 1024,
        false,
    );
    let info_hash = v1_hash(&bytes);

    // Node 0 is the bootstrap node; 17 more join through it, then a seeder and a leecher.
    let router = dht_client(None, None);
    let router_addr = router.dht_addrs()[0];
    assert!(router_addr.ip().is_loopback());
    let mut nodes = vec![router];
    for _ in 0..17 {
        nodes.push(dht_client(Some(router_addr), None));
    }
    for n in &nodes[1..] {
        wait_dht(n, "a bootstrapped table", |s| {
            s.table.good >= 1 && s.lookups_done >= 1
        });
    }
    let seeder = dht_client(Some(router_addr), None);
    let dl = dir.path().join("dl");

    // The seeder announces itself once its data is checked.
    seeder
        .send(Request::AddTorrent {
            request_id: Some(RequestId(1)),
            source: TorrentSource::Bytes(bytes.clone()),
            options: AddOptions::save_to(&src).with_trackers(UseTrackers::Never),
        })
        .unwrap();
    let sid = wait_added(&seeder);
    wait_complete(&seeder, sid);
    let announced = wait_dht(&seeder, "an announce", |s| {
        s.last_lookup.is_some_and(|l| l.announced_to > 0)
    });
    println!("seeder announce: {:?}", announced.last_lookup);
    // The leecher joins after the announce, so the peer is not stored at its own node: its
    // lookup has to walk the network.
    let leecher = dht_client(Some(router_addr), None);
    wait_dht(&leecher, "a bootstrapped table", |s| s.lookups_done >= 1);

    // The leecher has only the info-hash: no tracker, no peer address.
    let magnet = format!("magnet:?xt=urn:btih:{}", info_hash.to_hex());
    let started = Instant::now();
    leecher
        .send(Request::AddTorrent {
            request_id: Some(RequestId(2)),
            source: TorrentSource::Magnet(magnet),
            options: AddOptions::save_to(&dl),
        })
        .unwrap();
    let lid = wait_added(&leecher);
    wait_complete(&leecher, lid);
    let took = started.elapsed();
    let status = dht_status(&leecher);
    let first = status
        .last_lookup
        .expect("the leecher ran a lookup")
        .to_owned();
    println!(
        "20-client DHT: lookup {} hops, {} queries, first peer after {:?}, lookup took {:?}; \
         magnet to complete {took:?}; leecher {status}",
        first.hops, first.queries, first.first_peer_after, first.took
    );
    assert!(status.peers_found >= 1);
    assert!(
        first.hops >= 1,
        "the peer came from the network, not the leecher's own store"
    );
    assert_eq!(tree(&dl), tree(&src), "downloaded data differs");
    for n in nodes {
        n.join();
    }
}

#[test]
fn routing_table_survives_a_restart_with_no_bootstrap() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let router = dht_client(None, None);
    let router_addr = router.dht_addrs()[0];
    let others: Vec<ClientHandle> = (0..5)
        .map(|_| dht_client(Some(router_addr), None))
        .collect();
    for n in &others {
        wait_dht(n, "a bootstrapped table", |s| s.lookups_done >= 1);
    }

    let a = dht_client(Some(router_addr), Some(&state));
    let before = wait_dht(&a, "five good nodes", |s| s.table.good >= 5);
    // Saved with the periodic resume data (so a crash loses little), not only on shutdown.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.join("dht.state").is_file() {
        assert!(Instant::now() < deadline, "no dht.state before shutdown");
        std::thread::sleep(Duration::from_millis(100));
    }
    a.join();
    let saved = std::fs::metadata(state.join("dht.state")).unwrap().len();
    println!("saved {saved} bytes: {before}");

    // Same state directory, no bootstrap node: the saved contacts are all it has.
    let a = dht_client(None, Some(&state));
    let after = wait_dht(&a, "its old contacts back", |s| s.table.good >= 5);
    println!("after restart: {after}");
    assert_eq!(after.node_id, before.node_id, "the node id is kept");
    a.join();
    router.join();
}

#[test]
fn garbage_and_a_get_peers_flood_leave_the_client_working() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "flooded", &[("", 2 * 1024 * 1024)], 64 * 1024, false);
    // The victim keeps the default per-IP budget.
    let victim = TorrentClient::spawn(
        Config::default()
            .listen_on("127.0.0.1:0".parse().unwrap())
            .with_tick(Duration::from_secs(1)),
    )
    .unwrap();
    let target = victim.dht_addrs()[0];
    add(&victim, 1, &bytes, &src, &[]);
    let vid = wait_added(&victim);
    wait_complete(&victim, vid);

    let rss_before = rss_kib();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = 0u64;
    let noise = sample_bytes(64 * 1024, 99);
    for i in 0..20_000usize {
        // Garbage: random bytes, truncated bencode, a huge string length, deep nesting.
        let junk: Vec<u8> = match i % 4 {
            0 => noise[i % 60_000..i % 60_000 + 1 + i % 1400].to_vec(),
            1 => b"d1:ad2:id20:".to_vec(),
            2 => b"d1:t2:aa1:y1:q1:q9:get_peers1:ad2:id999999999:x".to_vec(),
            _ => {
                let mut v = vec![b'l'; 1000];
                v.extend(vec![b'e'; 1000]);
                v
            }
        };
        if attacker.send_to(&junk, target).is_ok() {
            sent += 1;
        }
        // A get_peers query with a fresh id and info-hash every time.
        let id = &noise[i % 60_000..i % 60_000 + 20];
        let hash = &noise[(i * 7) % 60_000..(i * 7) % 60_000 + 20];
        let mut q = b"d1:ad2:id20:".to_vec();
        q.extend_from_slice(id);
        q.extend_from_slice(b"9:info_hash20:");
        q.extend_from_slice(hash);
        q.extend_from_slice(b"e1:q9:get_peers1:t2:");
        q.extend_from_slice(&u16::try_from(i % 65_536).unwrap().to_be_bytes());
        q.extend_from_slice(b"1:y1:qe");
        if attacker.send_to(&q, target).is_ok() {
            sent += 1;
        }
    }
    let status = dht_status(&victim);
    let rss_after = rss_kib();
    println!(
        "flood: {sent} datagrams sent, {} read, {} answered; RSS {rss_before} -> {rss_after} KiB; {status}",
        status.packets_in, status.packets_out
    );
    assert!(status.packets_in > 0, "the flood never reached the node");
    // One source IP gets 100 answers per 10 s window; the flood lasts a window or two.
    assert!(
        status.packets_out <= 400,
        "answered {} queries from one IP",
        status.packets_out
    );
    // One address, one contact, however many ids it claims.
    assert!(
        status.table.good + status.table.questionable + status.table.bad <= 1,
        "the flood filled the routing table: {status}"
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 64 * 1024,
        "RSS grew by {} KiB",
        rss_after - rss_before
    );

    // And it still serves a download.
    let leecher = TorrentClient::spawn(
        Config::default()
            .listen_on("127.0.0.1:0".parse().unwrap())
            .with_tick(Duration::from_secs(1)),
    )
    .unwrap();
    let dl = dir.path().join("dl");
    add(&leecher, 2, &bytes, &dl, &[victim.listen_addrs()[0]]);
    let lid = wait_added(&leecher);
    wait_complete(&leecher, lid);
    assert_eq!(tree(&dl), tree(&src));
}

#[test]
fn freshet_finds_a_libtorrent_seeder_through_the_dht_from_a_magnet() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    if !have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "lt-dht",
        &[("", 2 * 1024 * 1024 + 5)],
        64 * 1024,
        false,
    );
    let info_hash = v1_hash(&bytes);
    let torrent = dir.path().join("lt-dht.torrent");
    std::fs::write(&torrent, &bytes).unwrap();

    // A small Freshet DHT: a bootstrap node and four more (libtorrent never puts the router
    // it bootstraps from into its own routing table, so it needs other nodes to announce to).
    let router = dht_client(None, None);
    let router_addr = router.dht_addrs()[0];
    let others: Vec<ClientHandle> = (0..4)
        .map(|_| dht_client(Some(router_addr), None))
        .collect();
    for n in &others {
        wait_dht(n, "a bootstrapped table", |s| s.lookups_done >= 1);
    }

    let mut seeder = Reaped(
        Command::new("/usr/bin/python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/dht_interop_lt.py"
            ))
            .arg("seed")
            .arg(&torrent)
            .arg(&src)
            .arg(router_addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(seeder.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    let lt_port = v["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("libtorrent seeder: {first}"));
    // libtorrent announced once one of our nodes stores its peer.
    let lt_peer: SocketAddr = format!("127.0.0.1:{lt_port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    'announced: loop {
        for n in std::iter::once(&router).chain(&others) {
            if dht_status(n).table.stored_torrents > 0 {
                break 'announced;
            }
        }
        assert!(
            Instant::now() < deadline,
            "libtorrent never announced to our nodes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The Freshet leecher knows only the info-hash.
    let leecher = dht_client(Some(router_addr), None);
    wait_dht(&leecher, "a bootstrapped table", |s| s.lookups_done >= 1);
    let dl = dir.path().join("dl");
    let started = Instant::now();
    leecher
        .send(Request::AddTorrent {
            request_id: Some(RequestId(1)),
            source: TorrentSource::Magnet(format!("magnet:?xt=urn:btih:{}", info_hash.to_hex())),
            options: AddOptions::save_to(&dl),
        })
        .unwrap();
    let lid = wait_added(&leecher);
    // Poll the DHT status for the first peer while watching for `Completed` (which may come
    // first under load: both are read from the one outbox, so neither may be skipped).
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut to_first_peer, mut took, mut lookup) = (None, None, None);
    leecher.send(Request::DhtStatus).unwrap();
    while to_first_peer.is_none() || took.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match leecher.next_event(left) {
            Ok(Event::Dht(Some(s))) if to_first_peer.is_none() => {
                if s.peers_found >= 1 {
                    to_first_peer = Some(started.elapsed());
                    lookup = s.last_lookup;
                } else {
                    std::thread::sleep(Duration::from_millis(10));
                    leecher.send(Request::DhtStatus).unwrap();
                }
            }
            Ok(Event::Completed { id }) if id == lid => took = Some(started.elapsed()),
            Ok(Event::Error { id, what, .. }) if id == lid => panic!("torrent error: {what}"),
            Ok(_) => {}
            Err(e) => panic!("no first peer and completion within 60 s: {e}"),
        }
    }
    println!(
        "libtorrent via DHT: first peer after {to_first_peer:?} (lookup: {lookup:?}), magnet \
         to complete {took:?}; lt peer {lt_peer}"
    );
    assert_eq!(tree(&dl), tree(&src), "downloaded data differs");
    drop(seeder.0.stdin.take());
}

#[test]
fn peers_swap_dht_ports_and_private_torrents_stay_off_the_dht() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("secret.bin"), sample_bytes(300_000, 5)).unwrap();
    let bytes = freshet_metainfo::TorrentBuilder::new(src.join("secret.bin"))
        .piece_length(64 * 1024)
        .private(true)
        .no_creation_date()
        .build()
        .unwrap()
        .bytes;
    // Neither node has a bootstrap node: the BEP 5 `port` message is how they meet.
    let seeder = dht_client(None, None);
    let leecher = dht_client(None, None);
    add(&seeder, 1, &bytes, &src, &[]);
    let sid = wait_added(&seeder);
    wait_complete(&seeder, sid);
    let dl = dir.path().join("dl");
    add(&leecher, 2, &bytes, &dl, &[seeder.listen_addrs()[0]]);
    let lid = wait_added(&leecher);
    wait_complete(&leecher, lid);
    assert_eq!(tree(&dl), tree(&src));

    let leecher_dht = leecher.dht_addrs()[0];
    let s = wait_dht(&seeder, "the leecher's node from its port message", |s| {
        s.table.good >= 1
    });
    let l = wait_dht(&leecher, "the seeder's node from its port message", |s| {
        s.table.good >= 1
    });
    println!("seeder {s}\nleecher {l} ({leecher_dht})");
    // BEP 27: a private torrent is never looked up or announced.
    for st in [&s, &l] {
        assert_eq!(st.torrents, 0, "a private torrent used the DHT: {st}");
        assert_eq!(st.lookups_done, 0, "{st}");
    }
}

#[test]
fn freshet_download_of_a_bare_magnet_finds_peers_through_dht_bootstrap() {
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "cli-dht", &[("", 1024 * 1024 + 3)], 64 * 1024, false);
    let info_hash = v1_hash(&bytes);
    let net = SeededDht::start(&bytes, &src, 3);
    let router_addr = net.router_addr;

    let dl = dir.path().join("dl");
    let started = Instant::now();
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_freshet"))
            .arg("download")
            .arg(format!("magnet:?xt=urn:btih:{}", info_hash.to_hex()))
            .arg("-o")
            .arg(&dl)
            .args(["--listen", "127.0.0.1:0", "--json"])
            .args(["--dht-bootstrap", &router_addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "freshet download did not finish in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("freshet download via DHT: {:?}", started.elapsed());
    assert!(status.success(), "freshet download failed: {status}");
    assert_eq!(tree(&dl), tree(&src), "downloaded data differs");
}

#[test]
fn freshet_show_fetch_of_a_bare_magnet_finds_the_metadata_through_dht_bootstrap() {
    use std::process::Command;

    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "show-dht", &[("", 300_000)], 16 * 1024, false);
    let original = Metainfo::from_bytes(&bytes).unwrap();
    let info_hash = original.info_hashes.v1.unwrap();
    let net = SeededDht::start(&bytes, &src, 3);
    let router_addr = net.router_addr;

    // A bare magnet: no tracker, no x.pe, no --peer; only the DHT can find the seeder.
    let saved = dir.path().join("fetched.torrent");
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .arg("show")
        .arg(format!("magnet:?xt=urn:btih:{}", info_hash.to_hex()))
        .args(["--fetch", "--json", "--timeout", "60"])
        .args(["--dht-bootstrap", &router_addr.to_string()])
        .arg("--save")
        .arg(&saved)
        .output()
        .unwrap();
    println!("freshet show --fetch via DHT: {:?}", started.elapsed());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "show --fetch failed: {err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "show-dht", "{v}");
    assert_eq!(v["info_hash"], info_hash.to_hex(), "{v}");
    let fetched = Metainfo::from_bytes(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(fetched.info_bytes, original.info_bytes);
}

#[test]
fn magnet_finds_its_seeder_over_an_ipv6_dht_on_loopback() {
    let v6 = |bootstrap: Option<SocketAddr>| {
        let mut dht =
            DhtConfig::default().with_bootstrap(bootstrap.iter().map(ToString::to_string));
        dht.retry_interval = Duration::from_secs(2);
        dht.max_queries_per_ip = 1_000_000;
        let mut config = Config::default()
            .listen_on("[::1]:0".parse().unwrap())
            .with_tick(Duration::from_secs(1))
            .with_dht(Some(dht));
        config.disk_threads = 1;
        config.hash_threads = 1;
        TorrentClient::spawn(config)
    };
    let Ok(router) = v6(None) else {
        println!("SKIPPED: no IPv6 loopback");
        return;
    };
    let router_addr = router.dht_addrs()[0];
    assert!(router_addr.is_ipv6());
    let helpers: Vec<ClientHandle> = (0..3).map(|_| v6(Some(router_addr)).unwrap()).collect();
    for n in &helpers {
        wait_dht(n, "a bootstrapped table", |s| s.lookups_done >= 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "v6", &[("", 500_000)], 64 * 1024, false);
    let info_hash = v1_hash(&bytes);
    let seeder = v6(Some(router_addr)).unwrap();
    add(&seeder, 1, &bytes, &src, &[]);
    let sid = wait_added(&seeder);
    wait_complete(&seeder, sid);
    wait_dht(&seeder, "an announce", |s| {
        s.last_lookup.is_some_and(|l| l.announced_to > 0)
    });
    let leecher = v6(Some(router_addr)).unwrap();
    wait_dht(&leecher, "a bootstrapped table", |s| s.lookups_done >= 1);
    let dl = dir.path().join("dl");
    leecher
        .send(Request::AddTorrent {
            request_id: Some(RequestId(2)),
            source: TorrentSource::Magnet(format!("magnet:?xt=urn:btih:{}", info_hash.to_hex())),
            options: AddOptions::save_to(&dl),
        })
        .unwrap();
    let lid = wait_added(&leecher);
    wait_complete(&leecher, lid);
    println!("IPv6 DHT: {}", dht_status(&leecher));
    assert_eq!(tree(&dl), tree(&src));
}

#[test]
fn freshet_dht_runs_a_standalone_node_and_prints_its_table() {
    let router = dht_client(None, None);
    let router_addr = router.dht_addrs()[0];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args([
            "dht",
            "--listen",
            "127.0.0.1:0",
            "--seconds",
            "2",
            "--every",
            "1",
        ])
        .args(["--bootstrap", &router_addr.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    println!("freshet dht: {lines:?}");
    assert!(lines.len() >= 2, "a line a second, one at the end");
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "dht");
    assert!(last["good"].as_u64().unwrap() >= 1, "{last}");
    assert!(last["addrs"][0].as_str().unwrap().starts_with("127.0.0.1:"));
    // The router learned the node too.
    assert!(dht_status(&router).table.questionable + dht_status(&router).table.good >= 1);
}

#[test]
fn libtorrent_finds_a_freshet_seeder_through_the_dht_from_a_magnet() {
    if !have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "to-lt", &[("", 1024 * 1024 + 9)], 64 * 1024, false);
    let info_hash = v1_hash(&bytes);
    let net = SeededDht::start(&bytes, &src, 4);
    let router_addr = net.router_addr;

    let dl = dir.path().join("dl");
    let mut leecher = Reaped(
        std::process::Command::new("/usr/bin/python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/dht_interop_lt.py"
            ))
            .arg("magnet")
            .arg(format!("magnet:?xt=urn:btih:{}", info_hash.to_hex()))
            .arg(&dl)
            .arg(router_addr.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut out = String::new();
    std::io::Read::read_to_string(leecher.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    let status = leecher.0.wait().unwrap();
    println!("libtorrent leecher via DHT: {}", out.trim());
    assert!(status.success(), "libtorrent did not complete: {out}");
    assert_eq!(tree(&dl), tree(&src), "downloaded data differs");
}

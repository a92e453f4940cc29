//! Issue 9, load: one client with many torrents (mixed sizes: mostly small single files, every
//! tenth with 50 files, every fifth seeded from data already on disk, the rest without data)
//! and many peer connections must stay responsive on its inbox. Half the connections are a
//! second Freshet client downloading seeded torrents (rate-limited so the transfers last
//! through the measurement); the other half are raw TCP peers on 127.0.0.1 that complete the
//! handshake for one torrent each and then stay idle.
//!
//! Latency is measured from `send` on the inbox to the correlated event on the outbox:
//! `Status` and `Details` (answered by a status event, `Details` with its file list), `Pause`
//! (a status event saying paused) and `Resume` (one saying not paused). The tick is set to a
//! minute so no unrequested status event can be mistaken for a reply. Memory per idle torrent
//! is the growth of this process's RSS while the torrents are added and checked, divided by
//! their number; memory per idle connection likewise while the raw peers connect.
//!
//! The reduced version runs in CI (100 torrents, 50 peers, 400 requests; p99 must be under
//! 1 s so a busy CI machine cannot fail it falsely). `cargo xtask reliability` runs the issue's
//! figures (500 torrents, 200 peers) with `FRESHET_RELIABILITY_STRICT=1`, which asserts the
//! issue's p99 < 50 ms. Knobs: `FRESHET_RELIABILITY_TORRENTS`, `FRESHET_RELIABILITY_PEERS`,
//! `FRESHET_RELIABILITY_REQUESTS`, `FRESHET_RELIABILITY_SEED`.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use component_util::{WAIT, rss_kib, wait_for};
use freshet_client::{
    Activity, AddOptions, ClientHandle, Config, Event, Request, RequestId, TorrentClient,
    TorrentId, TorrentSource, UseTrackers,
};
use freshet_metainfo::{InfoHashV1, Metainfo, TorrentBuilder};
use freshet_peerwire::{Handshake, PeerId, Reserved};

#[test]
fn a_client_with_many_torrents_and_peers_answers_its_inbox_quickly() {
    let torrents: usize = env_or("FRESHET_RELIABILITY_TORRENTS", 100);
    let peers: usize = env_or("FRESHET_RELIABILITY_PEERS", 50);
    let requests: usize = env_or("FRESHET_RELIABILITY_REQUESTS", 400);
    let seed: u64 = env_or("FRESHET_RELIABILITY_SEED", 1);
    let strict = std::env::var("FRESHET_RELIABILITY_STRICT").is_ok_and(|v| v == "1");
    let dir = tempfile::tempdir().unwrap();

    // Build every torrent first, so the RSS growth below is the client's.
    let made: Vec<(Vec<u8>, InfoHashV1, bool)> =
        (0..torrents).map(|i| make(dir.path(), i)).collect();

    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(Duration::from_secs(60));
    config.max_connections = config.max_connections.max(peers + 10);
    let c = TorrentClient::spawn(config).unwrap();
    let rss_before = rss_kib();
    let started = Instant::now();
    for (i, (bytes, _, seeded)) in made.iter().enumerate() {
        let save = if *seeded {
            dir.path().join("src")
        } else {
            dir.path().join("dl")
        };
        c.send(Request::AddTorrent {
            request_id: Some(RequestId(i as u64)),
            source: TorrentSource::Bytes(bytes.clone()),
            options: AddOptions::save_to(save).with_trackers(UseTrackers::Never),
        })
        .unwrap();
    }
    let mut ids = vec![TorrentId(0); torrents];
    let mut added = 0;
    let mut checked = 0;
    let seeded = made.iter().filter(|m| m.2).count();
    while added < torrents || checked < seeded {
        match wait_for(&c, "add replies and checks", |e| {
            matches!(
                e,
                Event::TorrentAdded { .. } | Event::StartFailed { .. } | Event::Checked { .. }
            )
        }) {
            Event::TorrentAdded { request_id, id, .. } => {
                ids[request_id.unwrap().0 as usize] = id;
                added += 1;
            }
            // Torrents without data report an incomplete check; a seeded one that does not
            // check makes this loop time out.
            Event::Checked { complete, .. } => checked += usize::from(complete),
            other => panic!("add failed: {other}"),
        }
    }
    let add_time = started.elapsed();
    let rss_added = rss_kib();
    // Half the peers (at most one per seeded torrent) are a second client downloading the
    // seeded torrents from this one, slowly enough (about 100 KiB/s each) that the transfers
    // last through the measurement; the others are raw peers.
    let active = seeded.min(peers / 2);
    let seeded_bytes: Vec<Vec<u8>> = made
        .iter()
        .filter(|m| m.2)
        .take(active)
        .map(|m| m.0.clone())
        .collect();
    let hashes: Vec<InfoHashV1> = made.into_iter().map(|m| m.1).collect();

    // Raw peers: each completes the handshake for one torrent and stays connected, idle.
    let listen = c.listen_addrs()[0];
    let raw = peers - active;
    let mut conns = Vec::new();
    for j in 0..raw {
        let info_hash = hashes[(j * 7) % torrents];
        if let Some(s) = raw_peer(listen, info_hash, j) {
            conns.push(s);
        }
    }
    connected_peers(&c, raw);
    let rss_raw = rss_kib();

    let mut leech_config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(Duration::from_secs(60));
    leech_config.max_download_rate = active as u64 * 100 * 1024;
    let leech = TorrentClient::spawn(leech_config).unwrap();
    for (i, bytes) in seeded_bytes.iter().enumerate() {
        leech
            .send(Request::AddTorrent {
                request_id: Some(RequestId(i as u64)),
                source: TorrentSource::Bytes(bytes.clone()),
                options: AddOptions::save_to(dir.path().join("leech"))
                    .with_trackers(UseTrackers::Never)
                    .with_peer(listen),
            })
            .unwrap();
    }
    let client_peers = connected_peers(&c, peers);
    let leech_before = downloaded(&leech, active);
    let measuring = Instant::now();

    // Inbox latency.
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut lat = Vec::with_capacity(requests);
    let mut paused = None;
    for i in 0..requests {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let id = ids[(rng % torrents as u64) as usize];
        let t0 = Instant::now();
        match i % 4 {
            0 => {
                c.send(Request::Status { id: Some(id) }).unwrap();
                wait_for(
                    &c,
                    "status",
                    |e| matches!(e, Event::Status(s) if s.id == id),
                );
            }
            1 => {
                c.send(Request::Details { id }).unwrap();
                wait_for(
                    &c,
                    "details",
                    |e| matches!(e, Event::Status(s) if s.id == id && !s.files.is_empty()),
                );
            }
            2 => {
                c.send(Request::Pause { id }).unwrap();
                wait_for(
                    &c,
                    "paused",
                    |e| matches!(e, Event::Status(s) if s.id == id && s.activity == Activity::Paused),
                );
                paused = Some(id);
            }
            _ => {
                let id = paused.take().unwrap_or(id);
                c.send(Request::Resume { id }).unwrap();
                wait_for(
                    &c,
                    "resumed",
                    |e| matches!(e, Event::Status(s) if s.id == id && s.activity != Activity::Paused),
                );
            }
        }
        lat.push(t0.elapsed());
    }
    let measured_for = measuring.elapsed();
    let leech_during = downloaded(&leech, active) - leech_before;
    lat.sort();
    let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)];
    let (p50, p99, max) = (pct(50), pct(99), lat[lat.len() - 1]);
    let still_open = conns.iter().filter(|s| is_open(s)).count();
    let per_torrent = rss_added.saturating_sub(rss_before) as f64 / torrents as f64;
    let per_peer = rss_raw.saturating_sub(rss_added) as f64 / raw.max(1) as f64;
    eprintln!(
        "RELIABILITY load: {torrents} torrents ({seeded} seeded from disk) added and checked \
         in {:.2} s; {} raw peers handshaken + {active} torrents being downloaded by a second \
         client = {client_peers} peers per the client, {still_open} raw still open at the \
         end; {requests} inbox requests in {:.2} s, while the second client downloaded \
         {leech_during} B: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; RSS {rss_before} -> {rss_added} KiB with \
         the torrents ({per_torrent:.1} KiB per idle torrent) -> {rss_raw} KiB with the raw \
         peers ({per_peer:.1} KiB per idle connection)",
        add_time.as_secs_f64(),
        conns.len(),
        measured_for.as_secs_f64(),
        ms(p50),
        ms(p99),
        ms(max),
    );
    assert_eq!(conns.len(), raw, "every raw peer got a handshake back");
    assert_eq!(still_open, raw, "the raw peers stay connected");
    assert!(leech_during > 0, "the transfers ran during the measurement");
    assert_eq!(client_peers, peers, "the client kept every peer");
    let limit = if strict {
        Duration::from_millis(50)
    } else {
        Duration::from_secs(1)
    };
    assert!(p99 < limit, "p99 inbox latency {p99:?} (limit {limit:?})");
    drop(conns);
    leech.join();
    c.join();
}

/// Torrent `i`: every tenth has 50 files of 4 KiB, every fifth (of the others) is a 1 MiB file
/// kept under `src/` (seeded), the rest are 16–256 KiB single files whose data is absent.
fn make(root: &Path, i: usize) -> (Vec<u8>, InfoHashV1, bool) {
    let src = root.join("src");
    let name = format!("t{i:04}");
    let (seeded, top) = if i % 10 == 0 {
        let top = src.join(&name);
        for f in 0..50 {
            std::fs::create_dir_all(&top).unwrap();
            std::fs::write(
                top.join(format!("f{f:02}.dat")),
                component_util::sample_bytes(4096, (i * 100 + f) as u64),
            )
            .unwrap();
        }
        (false, top)
    } else {
        let len = if i % 5 == 1 {
            1 << 20
        } else {
            (16 * 1024) << (i % 5)
        };
        std::fs::create_dir_all(&src).unwrap();
        let top = src.join(&name);
        std::fs::write(&top, component_util::sample_bytes(len, i as u64)).unwrap();
        (i % 5 == 1, top)
    };
    let bytes = TorrentBuilder::new(&top)
        .piece_length(16384)
        .no_creation_date()
        .build()
        .unwrap()
        .bytes;
    let info_hash = Metainfo::from_bytes(&bytes)
        .unwrap()
        .info_hashes
        .wire_id()
        .unwrap();
    (bytes, info_hash, seeded)
}

/// Connects, sends a handshake for `info_hash` and reads the client's; `None` if refused.
fn raw_peer(addr: std::net::SocketAddr, info_hash: InfoHashV1, j: usize) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(WAIT)).ok()?;
    let mut id = [0u8; 12];
    id[..8].copy_from_slice(&(j as u64).to_le_bytes());
    let hs = Handshake::new(Reserved::NONE, info_hash, PeerId::azureus(*b"-XX0001-", id));
    s.write_all(&hs.to_bytes()).ok()?;
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs).ok()?;
    Some(s)
}

/// Whether the client still holds the connection (no EOF or reset waiting).
fn is_open(mut s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// The client's own count of connected peers over all torrents, once it reaches `want` (or
/// whatever it is after a bounded wait).
fn connected_peers(c: &ClientHandle, want: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        c.send(Request::Status { id: None }).unwrap();
        // One status per torrent comes back; sum until a quiet gap.
        let mut total = 0usize;
        while let Ok(e) = c.next_event(Duration::from_millis(200)) {
            if let Event::Status(s) = e {
                total += s.peers as usize;
            }
        }
        if total >= want || Instant::now() > deadline {
            return total;
        }
    }
}

/// Payload bytes downloaded in this session by the `n` torrents of `c` (one fresh status each).
fn downloaded(c: &ClientHandle, n: usize) -> u64 {
    while c.outbox().try_recv().is_ok() {}
    c.send(Request::Status { id: None }).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < n {
        if let Event::Status(s) = wait_for(c, "status", |e| matches!(e, Event::Status(_))) {
            seen.insert(s.id, s.downloaded);
        }
    }
    seen.values().sum()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

//! A magnet download hands its metadata connection over to the torrent: the seeder sees exactly
//! one connection from the leecher, for the metadata and the data. Closing and redialling
//! instead raced python3-libtorrent's duplicate-peer check (it dropped the new connection while
//! the old one was still open; the download then waited 2–3 s for the next attempt).
//!
//! Each seeder sits behind a loopback TCP relay that counts the connections it accepts. Runs on
//! 127.0.0.1 only; libtorrent has DHT, LSD, UPnP, NAT-PMP off (`swarm_interop_lt.py`).
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use component_util::{
    add, client, have_python_libtorrent, make_torrent, tree, wait_added, wait_complete, wait_for,
};
use freshet_client::{AddOptions, Event, Request, RequestId, TorrentSource, UseTrackers};
use freshet_metainfo::Metainfo;

const TICK: Duration = Duration::from_millis(100);
/// Magnet downloads per seeder (the reconnect race showed in about one run in two).
const RUNS: usize = 10;
/// Connections a relay accepts before it stops listening (bounds its thread).
const RELAY_MAX: usize = 64;

/// A loopback TCP relay to `target` counting the connections it accepted.
struct Relay {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Relay {
    fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for down in listener.incoming().take(RELAY_MAX) {
                let Ok(down) = down else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(up) = TcpStream::connect(target) else {
                    continue;
                };
                pipe(down.try_clone().unwrap(), up.try_clone().unwrap());
                pipe(up, down);
            }
        });
        Self { addr, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` on a thread until `from` ends, then ends `to`'s write side.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
        let _ = from.shutdown(Shutdown::Read);
    });
}

/// Downloads `bytes`' magnet (its only peer: `relay`) with a fresh Freshet client, `RUNS`
/// times; asserts each run completed over exactly one accepted connection and returns the
/// add → complete times.
fn magnet_runs(seeder: &str, bytes: &[u8], src: &Path, relay: &Relay, work: &Path) -> Vec<f64> {
    let mut magnet = Metainfo::from_bytes(bytes).unwrap().magnet();
    magnet.peers = vec![relay.addr.to_string()];
    let uri = magnet.to_uri();
    let mut times = Vec::new();
    for run in 0..RUNS {
        let dl = work.join(format!("dl{run}"));
        let before = relay.accepted();
        let c = client(TICK);
        let start = Instant::now();
        c.send(Request::AddTorrent {
            request_id: Some(RequestId(1)),
            source: TorrentSource::Magnet(uri.clone()),
            options: AddOptions::save_to(&dl).with_trackers(UseTrackers::Never),
        })
        .unwrap();
        let id = wait_added(&c);
        wait_for(
            &c,
            "metadata",
            |e| matches!(e, Event::MetadataReceived { id: i, .. } if *i == id),
        );
        wait_complete(&c, id);
        let took = start.elapsed().as_secs_f64();
        let connections = relay.accepted() - before;
        c.join();
        println!(
            "{seeder} run {run}: add -> complete {took:.3} s over {connections} connection(s)"
        );
        assert_eq!(
            connections, 1,
            "run {run}: the {seeder} seeder saw {connections} connections from the leecher"
        );
        assert_eq!(tree(&dl), tree(src), "run {run}: downloaded data differs");
        times.push(took);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{seeder}: add -> complete over {RUNS} runs: min {:.3} s, median {:.3} s, max {:.3} s",
        times[0],
        times[RUNS / 2],
        times[RUNS - 1]
    );
    times
}

#[test]
fn magnet_from_a_freshet_seeder_keeps_its_metadata_connection() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "handover", &[("", 1024 * 1024 + 3)], 64 * 1024, false);
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let relay = Relay::start(seed.listen_addrs()[0]);
    magnet_runs("freshet", &bytes, &src, &relay, dir.path());
    seed.join();
}

#[test]
fn magnet_from_a_libtorrent_seeder_keeps_its_metadata_connection() {
    if !have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "handover-lt",
        &[("", 1024 * 1024 + 3)],
        64 * 1024,
        false,
    );
    let torrent = dir.path().join("handover-lt.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let (_seeder, port) = component_util::libtorrent_seeder(&torrent, &src);
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], port)));
    magnet_runs("libtorrent", &bytes, &src, &relay, dir.path());
}

//! Interop with real clients on 127.0.0.1 (DHT, LSD, UPnP, NAT-PMP off; CI runs these inside
//! `unshare --net`): Freshet downloads from python3-libtorrent and transmission-cli seeders;
//! aria2c and libtorrent download from a Freshet seeder. Data is compared by SHA-256.
//! A test skips (printing `SKIPPED:`) only when its Debian package is not installed.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use component_util::{
    LT_SCRIPT, add, client, make_torrent_with, wait_added, wait_complete, wait_for,
};
use freshet_client::tracker_server::{TrackerServer, TrackerServerOptions};
use freshet_client::{AddOptions, Event, Request, RequestId, TorrentSource};
use sha2::{Digest, Sha256};

const TICK: Duration = Duration::from_millis(200);

/// Kills (by PID, via the handle) and reaps a child process when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have_python_libtorrent() -> bool {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import libtorrent"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!(
            "SKIPPED: python3-libtorrent is not installed (apt-get install python3-libtorrent)"
        );
    }
    ok
}

fn have_tool(tool: &str, package: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIPPED: {tool} is not installed (apt-get install {package})");
    }
    ok
}

/// SHA-256 of every regular file under `dir` (relative path → digest), skipping `.freshet`.
fn digests(dir: &Path) -> Vec<(PathBuf, [u8; 32])> {
    component_util::tree(dir)
        .into_iter()
        .filter(|(p, _)| !p.to_string_lossy().contains(".aria2"))
        .map(|(p, b)| (p, Sha256::digest(&b).into()))
        .collect()
}

fn sample_torrent(dir: &Path, trackers: &[String]) -> (PathBuf, PathBuf, Vec<u8>) {
    let src = dir.join("src");
    let bytes = make_torrent_with(
        &src,
        "interop",
        &[
            ("one.bin", 3_000_000),
            ("two/three.bin", 777_777),
            ("four.txt", 10),
        ],
        65536,
        false,
        trackers,
    );
    let path = dir.join("interop.torrent");
    std::fs::write(&path, &bytes).unwrap();
    (src, path, bytes)
}

fn tracker() -> (TrackerServer, String) {
    let t = TrackerServer::spawn(
        TrackerServerOptions::new(Some("127.0.0.1:0".parse().unwrap()), None).with_interval(2),
    )
    .unwrap();
    let url = format!("http://{}/announce", t.local_addrs().http.unwrap());
    (t, url)
}

#[test]
fn freshet_downloads_from_a_libtorrent_seeder() {
    if !have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, torrent, bytes) = sample_torrent(dir.path(), &[]);
    let (_seeder, port) = component_util::libtorrent_seeder(&torrent, &src);
    let dl = dir.path().join("dl");
    let c = client(TICK);
    add(
        &c,
        1,
        &bytes,
        &dl,
        &[format!("127.0.0.1:{port}").parse().unwrap()],
    );
    let id = wait_added(&c);
    wait_complete(&c, id);
    assert_eq!(digests(&dl), digests(&src));
    c.join();
}

#[test]
fn libtorrent_downloads_from_a_freshet_seeder() {
    if !have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, torrent, bytes) = sample_torrent(dir.path(), &[]);
    let c = client(TICK);
    add(&c, 1, &bytes, &src, &[]);
    let id = wait_added(&c);
    wait_complete(&c, id);
    let dl = dir.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let mut leech = Reaped(
        Command::new("/usr/bin/python3")
            .args([LT_SCRIPT, "leech"])
            .arg(&torrent)
            .arg(&dl)
            .arg(c.listen_addrs()[0].to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let status = leech.0.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut leech.0.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "libtorrent leecher: {out}");
    assert_eq!(digests(&dl), digests(&src));
    c.join();
}

#[test]
fn aria2_downloads_from_a_freshet_seeder() {
    if !have_tool("aria2c", "aria2") {
        return;
    }
    let (tracker, url) = tracker();
    let dir = tempfile::tempdir().unwrap();
    let (src, torrent, bytes) = sample_torrent(dir.path(), &[url]);
    let c = client(TICK);
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::Bytes(bytes),
        options: AddOptions::save_to(&src),
    })
    .unwrap();
    let id = wait_added(&c);
    wait_complete(&c, id);
    let dl = dir.path().join("dl");
    let port = free_port();
    let mut aria = Reaped(
        Command::new("aria2c")
            .args([
                "--no-conf=true",
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--disable-ipv6=true",
                "--interface=127.0.0.1",
                &format!("--listen-port={port}"),
                "--seed-time=0",
                "--summary-interval=0",
                "--console-log-level=warn",
                "--bt-stop-timeout=100",
            ])
            .arg(format!("--dir={}", dl.display()))
            .arg(&torrent)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let status = wait_child(&mut aria.0, Duration::from_secs(120));
    assert!(status, "aria2c did not finish in time or failed");
    assert_eq!(digests(&dl), digests(&src));
    c.join();
    tracker.stop().unwrap();
}

#[test]
fn freshet_downloads_from_a_transmission_seeder() {
    if !have_tool("transmission-cli", "transmission-cli") {
        return;
    }
    let (tracker, url) = tracker();
    let dir = tempfile::tempdir().unwrap();
    let (src, torrent, bytes) = sample_torrent(dir.path(), &[url]);
    let cfg = dir.path().join("transmission");
    std::fs::create_dir_all(&cfg).unwrap();
    let port = free_port();
    std::fs::write(
        cfg.join("settings.json"),
        serde_json::json!({
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            "port-forwarding-enabled": false,
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "peer-port": port,
            "peer-port-random-on-start": false,
            "rpc-enabled": false,
            "message-level": 1,
        })
        .to_string(),
    )
    .unwrap();
    let _transmission = Reaped(
        Command::new("transmission-cli")
            .arg("--config-dir")
            .arg(&cfg)
            .arg("--download-dir")
            .arg(&src)
            .args(["--port", &port.to_string(), "--no-portmap"])
            .arg(&torrent)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Transmission never dials 127.x peers: Freshet learns of it from the tracker and dials.
    let dl = dir.path().join("dl");
    let c = client(TICK);
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::Bytes(bytes),
        options: AddOptions::save_to(&dl),
    })
    .unwrap();
    let id = wait_added(&c);
    wait_complete(&c, id);
    assert_eq!(digests(&dl), digests(&src));
    c.join();
    tracker.stop().unwrap();
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Waits for the child to exit successfully, at most `limit`.
fn wait_child(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(s)) => return s.success(),
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn libtorrent_fetches_metadata_from_a_freshet_seeder_with_a_magnet() {
    if !have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, _torrent, bytes) = sample_torrent(dir.path(), &[]);
    let magnet = freshet_metainfo::Metainfo::from_bytes(&bytes)
        .unwrap()
        .magnet()
        .to_uri();
    let c = client(TICK);
    add(&c, 1, &bytes, &src, &[]);
    let id = wait_added(&c);
    wait_complete(&c, id);
    let dl = dir.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    let mut leech = Reaped(
        Command::new("/usr/bin/python3")
            .args([LT_SCRIPT, "magnet", &magnet])
            .arg(&dl)
            .arg(c.listen_addrs()[0].to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let status = leech.0.wait().unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut leech.0.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "libtorrent magnet leecher: {out}");
    assert_eq!(digests(&dl), digests(&src));
    c.join();
}

#[test]
fn freshet_downloads_a_magnet_link_from_a_libtorrent_seeder() {
    if !have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (src, torrent, bytes) = sample_torrent(dir.path(), &[]);
    let (_seeder, port) = component_util::libtorrent_seeder(&torrent, &src);
    let mut magnet = freshet_metainfo::Metainfo::from_bytes(&bytes)
        .unwrap()
        .magnet();
    magnet.peers = vec![format!("127.0.0.1:{port}")];
    let dl = dir.path().join("dl");
    let c = client(TICK);
    let start = Instant::now();
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::from_arg(&magnet.to_uri()),
        options: AddOptions::save_to(&dl),
    })
    .unwrap();
    let id = wait_added(&c);
    let got = wait_for(
        &c,
        "metadata",
        |e| matches!(e, Event::MetadataReceived { id: i, .. } if *i == id),
    );
    let fetched_in = start.elapsed();
    let Event::MetadataReceived { torrent, .. } = got else {
        unreachable!()
    };
    let info = freshet_metainfo::Metainfo::from_bytes(&bytes)
        .unwrap()
        .info_bytes;
    assert_eq!(
        freshet_metainfo::Metainfo::from_bytes(&torrent)
            .unwrap()
            .info_bytes,
        info
    );
    println!(
        "metadata ({} bytes) fetched from libtorrent in {:.3} s",
        info.len(),
        fetched_in.as_secs_f64()
    );
    wait_complete(&c, id);
    assert_eq!(digests(&dl), digests(&src));
    c.join();
}

/// Metadata in several 16 KiB pieces (a 25 MB torrent in 16 KiB pieces: 1 526 hashes, a
/// 30 KB info dictionary) fetched from libtorrent, stopping once it is in (nothing downloaded).
#[test]
fn freshet_fetches_multi_piece_metadata_from_a_libtorrent_seeder() {
    if !have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent_with(&src, "multi", &[("", 25_000_000)], 16384, false, &[]);
    let torrent = dir.path().join("multi.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let meta = freshet_metainfo::Metainfo::from_bytes(&bytes).unwrap();
    assert!(meta.info_bytes.len() > 16384, "{}", meta.info_bytes.len());
    let (_seeder, port) = component_util::libtorrent_seeder(&torrent, &src);
    let mut magnet = meta.magnet();
    magnet.peers = vec![format!("127.0.0.1:{port}")];
    let c = client(TICK);
    let start = Instant::now();
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::from_arg(&magnet.to_uri()),
        options: AddOptions::save_to(dir.path().join("dl"))
            .with_after_metadata(freshet_client::AfterMetadata::Stop),
    })
    .unwrap();
    let id = wait_added(&c);
    let got = wait_for(
        &c,
        "metadata",
        |e| matches!(e, Event::MetadataReceived { id: i, .. } if *i == id),
    );
    let fetched_in = start.elapsed();
    let Event::MetadataReceived { torrent, .. } = got else {
        unreachable!()
    };
    assert_eq!(
        freshet_metainfo::Metainfo::from_bytes(&torrent)
            .unwrap()
            .info_bytes,
        meta.info_bytes
    );
    println!(
        "metadata ({} bytes, {} pieces) fetched from libtorrent in {:.3} s",
        meta.info_bytes.len(),
        meta.info_bytes.len().div_ceil(16384),
        fetched_in.as_secs_f64()
    );
    wait_for(&c, "closed", |e| *e == Event::Closed { id });
    assert!(!dir.path().join("dl").exists(), "nothing is written");
    c.join();
}

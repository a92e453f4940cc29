//! Helpers shared by the component and swarm tests: sample data, torrents, bounded event waits.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use freshet_client::{
    AddOptions, ClientHandle, Config, Event, Request, RequestId, TorrentClient, TorrentId,
    TorrentSource, UseTrackers,
};
use freshet_metainfo::TorrentBuilder;

/// Longest wait for any single expected event.
pub const WAIT: Duration = Duration::from_secs(60);

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
pub fn sample_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `files` (relative path, length) under `root/name` and returns the torrent bytes.
/// One file with an empty relative path makes a single-file torrent named `name`.
pub fn make_torrent(
    root: &Path,
    name: &str,
    files: &[(&str, usize)],
    piece_length: u64,
    hybrid: bool,
) -> Vec<u8> {
    make_torrent_with(root, name, files, piece_length, hybrid, &[])
}

/// [`make_torrent`] with tracker URLs (one tier each).
pub fn make_torrent_with(
    root: &Path,
    name: &str,
    files: &[(&str, usize)],
    piece_length: u64,
    hybrid: bool,
    trackers: &[String],
) -> Vec<u8> {
    let top = root.join(name);
    if files.len() == 1 && files[0].0.is_empty() {
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(&top, sample_bytes(files[0].1, 1)).unwrap();
    } else {
        for (i, (rel, len)) in files.iter().enumerate() {
            let p = top.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, sample_bytes(*len, i as u64 + 7)).unwrap();
        }
    }
    let mut b = TorrentBuilder::new(&top);
    for t in trackers {
        b = b.tracker(t.clone());
    }
    b.piece_length(piece_length)
        .hybrid(hybrid)
        .no_creation_date()
        .build()
        .unwrap()
        .bytes
}

/// A client on 127.0.0.1 with an ephemeral port and the given tick.
pub fn client(tick: Duration) -> ClientHandle {
    TorrentClient::spawn(
        Config::default()
            .listen_on("127.0.0.1:0".parse().unwrap())
            .with_tick(tick),
    )
    .unwrap()
}

/// Sends an add request for `bytes` saving into `dir`, with manual peers and no trackers.
pub fn add(
    c: &ClientHandle,
    request: u64,
    bytes: &[u8],
    dir: &Path,
    peers: &[std::net::SocketAddr],
) {
    let mut options = AddOptions::save_to(dir).with_trackers(UseTrackers::Never);
    for p in peers {
        options = options.with_peer(*p);
    }
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(request)),
        source: TorrentSource::Bytes(bytes.to_vec()),
        options,
    })
    .unwrap();
}

/// Waits for the first event matching `pred`, skipping others; panics after [`WAIT`].
pub fn wait_for(c: &ClientHandle, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match c.next_event(left) {
            Ok(e) if pred(&e) => return e,
            Ok(_) => {}
            Err(e) => panic!("no {what} event within {WAIT:?}: {e}"),
        }
    }
}

/// Waits for the add reply and returns the torrent id.
pub fn wait_added(c: &ClientHandle) -> TorrentId {
    match wait_for(c, "add reply", |e| {
        matches!(
            e,
            Event::TorrentAdded { .. }
                | Event::StartFailed { .. }
                | Event::AlreadyDownloading { .. }
        )
    }) {
        Event::TorrentAdded { id, .. } => id,
        other => panic!("add failed: {other}"),
    }
}

/// Waits for `Completed` (or a `Checked` that found everything) for `id`.
pub fn wait_complete(c: &ClientHandle, id: TorrentId) {
    wait_for(c, "completed", |e| match e {
        Event::Completed { id: i } => *i == id,
        Event::Checked {
            id: i,
            complete: true,
            ..
        } => *i == id,
        Event::Error { id: i, what, .. } if *i == id => panic!("torrent error: {what}"),
        _ => false,
    });
}

/// Every regular file under `dir`, relative, sorted, with contents (skipping `.freshet`).
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == ".freshet") {
                continue;
            }
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Waits until every torrent in `ids` is complete (`Completed`, or `Checked` complete).
pub fn wait_all_complete(c: &ClientHandle, ids: &[TorrentId]) {
    let mut left: Vec<TorrentId> = ids.to_vec();
    while !left.is_empty() {
        let e = wait_for(c, "completed", |e| {
            matches!(
                e,
                Event::Completed { .. }
                    | Event::Checked { complete: true, .. }
                    | Event::Error { .. }
            )
        });
        if let Event::Error { what, .. } = &e {
            panic!("torrent error: {what}");
        }
        if let Some(id) = e.torrent() {
            left.retain(|&i| i != id);
        }
    }
}

/// Kills (by PID, via the handle) and reaps a child process when dropped.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `/usr/bin/python3` can import libtorrent; prints a SKIPPED line if not.
pub fn have_python_libtorrent() -> bool {
    let ok = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import libtorrent"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!(
            "SKIPPED: python3-libtorrent is not installed (apt-get install python3-libtorrent)"
        );
    }
    ok
}

/// Resident memory of this test process in KiB (Linux `/proc/self/status`; 0 if unreadable).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The python3-libtorrent driver script shared by the interop tests.
pub const LT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/swarm_interop_lt.py");

/// Starts a python3-libtorrent seeder (`LT_SCRIPT seed TORRENT SRC`) on 127.0.0.1 and
/// returns it (killed when dropped) with the port it listens on, read from its first line.
pub fn libtorrent_seeder(torrent: &Path, src: &Path) -> (Reaped, u16) {
    use std::io::BufRead;
    let mut seeder = Reaped(
        std::process::Command::new("/usr/bin/python3")
            .args([LT_SCRIPT, "seed"])
            .arg(torrent)
            .arg(src)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start /usr/bin/python3"),
    );
    let stdout = seeder.0.stdout.take().expect("piped stdout");
    let first = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .expect("libtorrent seeder printed nothing")
        .expect("read libtorrent seeder output");
    let v: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("libtorrent seeder: {first}: {e}"));
    let port = v["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("libtorrent seeder: {first}"));
    (seeder, port)
}

/// How a raw peer's connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The client closed it (end of stream, or a reset).
    Closed,
    /// Still open when the socket's read timeout passed.
    StillOpen,
}

/// Reads and discards what the client sends until it closes the connection, or until the
/// socket's read timeout (set by the caller) passes with nothing read.
pub fn wait_end(s: &mut impl std::io::Read) -> End {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return End::Closed,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return End::StillOpen;
            }
            Err(_) => return End::Closed,
        }
    }
}

/// The v1 info-hash of the torrent `bytes` (a v1 or hybrid torrent).
pub fn v1_hash(bytes: &[u8]) -> freshet_metainfo::InfoHashV1 {
    freshet_metainfo::Metainfo::from_bytes(bytes)
        .unwrap()
        .info_hashes
        .v1
        .unwrap()
}

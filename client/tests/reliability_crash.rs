//! Issue 9, crashes and resume: the `freshet download` process is killed with SIGKILL at
//! random moments and restarted with the same command until it finishes.
//!
//! The seeder is an in-process Freshet client; its `uploaded` counter is the reliable measure
//! of what crossed the wire (a killed leecher cannot report its last bytes). After every kill
//! the test compares the leecher's file with the source piece by piece, so it knows which
//! pieces survived the crash, and checks that every piece the resume record claims is really
//! on disk. The bytes lost at each kill (sent during that run but not part of a piece that
//! survived it) must stay within what the client could have had unverified:
//!
//! `in-flight bound = ceil(pipeline / blocks per piece) + 1 + 3 pieces`. The pipeline is the
//! most requests the leecher keeps outstanding to one peer (the engine's `max_pipeline`, 500,
//! which is also the seeder's advertised `reqq`); the picker requests every block of a started
//! piece before it starts another, so those requests cover at most `ceil(500 / 16) + 1`
//! pieces. The `3` allows for whole pieces received but not yet written and verified: the disk
//! and hash queues are not bounded by configuration, but at these rates (hashing runs at about
//! 1 GB/s) they hold at most a piece or two. Pieces valid on disk but missing from a stale
//! resume record are rechecked on restart, not downloaded again (a piece downloaded twice
//! would show up as loss).
//!
//! The sizes come from the environment so `cargo xtask reliability` can run the heavy version
//! (256 MiB, 5 kills): `FRESHET_RELIABILITY_SIZE_MIB` (default 32), `FRESHET_RELIABILITY_KILLS`
//! (3), `FRESHET_RELIABILITY_SEED` (1), `FRESHET_RELIABILITY_MAX_DOWN` (leecher `--max-down`,
//! default `16M`, so a run lasts long enough for the kill moments to land).
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use component_util::{add, client, make_torrent, wait_added, wait_complete, wait_for};
use freshet_client::{ClientHandle, Event, Request, TorrentId, TorrentStatus};
use sha2::{Digest, Sha256};

const PIECE: u64 = 256 * 1024;
const BLOCK: u64 = 16 * 1024;
/// The engine's `max_pipeline` default (and the seeder's advertised `reqq`).
const PIPELINE: u64 = 500;
/// Allowance for whole pieces received but not yet written and verified (queued for the disk
/// and hash pools).
const DISK_QUEUE: u64 = 3;
const TICK: Duration = Duration::from_millis(50);

#[test]
fn sigkill_at_random_moments_then_resume_finishes_with_bounded_waste() {
    let size_mib: u64 = env_or("FRESHET_RELIABILITY_SIZE_MIB", 32);
    let kills: usize = env_or("FRESHET_RELIABILITY_KILLS", 3);
    let seed: u64 = env_or("FRESHET_RELIABILITY_SEED", 1);
    let max_down: String = env_or("FRESHET_RELIABILITY_MAX_DOWN", "16M".to_string());
    let size = size_mib * 1024 * 1024;
    let pieces = size.div_ceil(PIECE);

    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let bytes = make_torrent(&full, "data.bin", &[("", size as usize)], PIECE, false);
    let torrent = dir.path().join("data.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let source = std::fs::read(full.join("data.bin")).unwrap();
    let dl = dir.path().join("dl");

    let seeder = client(TICK);
    add(&seeder, 1, &bytes, &full, &[]);
    let sid = wait_added(&seeder);
    wait_complete(&seeder, sid);
    let seed_addr = seeder.listen_addrs()[0];

    // Kill moments: ascending fractions of the torrent, drawn from a seeded xorshift.
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut fractions: Vec<f64> = (0..kills)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            0.05 + 0.9 * (rng >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    fractions.sort_by(f64::total_cmp);

    let bpp = PIECE / BLOCK;
    let bound_pieces = PIPELINE.div_ceil(bpp) + 1 + DISK_QUEUE;
    let mut valid_before: Vec<u64> = Vec::new();
    let mut sent_before = seeder_status(&seeder, sid).uploaded;
    let start_sent = sent_before;
    let mut lost = Vec::new();
    let started = Instant::now();
    'kills: for (k, f) in fractions.iter().enumerate() {
        // Progress = pieces that survived earlier kills + what this run received. A moment
        // already passed (the previous run overshot it) fires once this run got 2 pieces.
        let have: u64 = valid_before.iter().map(|&p| piece_len(p, size)).sum();
        if size - have < 8 * PIECE {
            eprintln!(
                "kills {}..: skipped, the download is nearly complete",
                k + 1
            );
            break;
        }
        let mut leech = spawn_leecher(&torrent, &dl, seed_addr, &max_down);
        let target = ((f * size as f64) as u64)
            .saturating_sub(have)
            .max(2 * PIECE);
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let s = seeder_status(&seeder, sid);
            if s.uploaded - sent_before >= target {
                break;
            }
            if let Some(st) = leech.child.try_wait().unwrap() {
                // A busy machine can delay the kill past the end of the download.
                assert!(st.success(), "run {}: {st}; {:?}", k + 1, leech.lines());
                eprintln!("kills {}..: skipped, the run finished first", k + 1);
                sent_before = settled_upload(&seeder, sid);
                valid_before = valid_pieces(&source, &dl.join("data.bin"));
                break 'kills;
            }
            assert!(
                Instant::now() < deadline,
                "kill {k} at {f:.3} never reached"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        leech.child.kill().unwrap(); // SIGKILL
        leech.child.wait().unwrap();
        let last = leech.last_status();
        let sent = settled_upload(&seeder, sid);
        let valid = valid_pieces(&source, &dl.join("data.bin"));
        let record = check_resume_record(&dl, &source);
        let lost_pieces: Vec<&u64> = valid_before.iter().filter(|p| !valid.contains(p)).collect();
        assert!(
            lost_pieces.is_empty(),
            "pieces {lost_pieces:?} were valid before kill {k} and are not now"
        );
        let new_bytes: u64 = valid
            .iter()
            .filter(|p| valid_before.binary_search(p).is_err())
            .map(|&p| piece_len(p, size))
            .sum();
        let valid_count = valid.len() as u64;
        let run_sent = sent - sent_before;
        let loss = run_sent.saturating_sub(new_bytes);
        eprintln!(
            "kill {} at {:.1}% of the torrent: run sent {} B, {} pieces valid on disk \
             (+{}), resume record claims {} pieces, leecher's last status: {}; lost {} B \
             = {:.1} pieces (bound {bound_pieces})",
            k + 1,
            f * 100.0,
            run_sent,
            valid_count,
            valid_count - valid_before.len() as u64,
            record,
            last,
            loss,
            loss as f64 / PIECE as f64,
        );
        lost.push(loss);
        valid_before = valid;
        sent_before = sent;
    }
    // The last run, left alone, must finish.
    let mut leech = spawn_leecher(&torrent, &dl, seed_addr, &max_down);
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(st) = leech.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "the final run did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "final run: {status}; {:?}", leech.lines());
    let sent = settled_upload(&seeder, sid);
    let missing: u64 = size
        - valid_before
            .iter()
            .map(|&p| piece_len(p, size))
            .sum::<u64>();
    let final_extra = (sent - sent_before).saturating_sub(missing);
    let total = sent - start_sent;
    let got = Sha256::digest(std::fs::read(dl.join("data.bin")).unwrap());
    assert_eq!(got, Sha256::digest(&source), "sha256 of the download");
    let done = lost.len();
    let bound = size + done as u64 * bound_pieces * PIECE;
    eprintln!(
        "RELIABILITY crash: {size_mib} MiB, {pieces} pieces of {} KiB, {done} of {kills} SIGKILLs \
         (seed {seed}, --max-down {max_down}) in {:.1} s: sha256 ok; seeder sent {total} B = \
         size + {} B ({:.2}%); lost per kill {:?} pieces; last run extra {final_extra} B; \
         bound size + {done} x {bound_pieces} pieces = {bound} B",
        PIECE / 1024,
        started.elapsed().as_secs_f64(),
        total - size.min(total),
        (total as f64 / size as f64 - 1.0) * 100.0,
        lost.iter()
            .map(|l| format!("{:.1}", *l as f64 / PIECE as f64))
            .collect::<Vec<_>>(),
    );
    assert!(
        total >= size,
        "the seeder sent less than the torrent: {total}"
    );
    assert!(
        total <= bound,
        "re-downloaded too much: {total} B sent for {size} B (bound {bound} B)"
    );
    for (k, l) in lost.iter().enumerate() {
        assert!(
            *l <= bound_pieces * PIECE,
            "kill {}: {l} B lost, more than the {bound_pieces} pieces in flight",
            k + 1
        );
    }
    drop(leech);
    seeder.join();
}

/// A `freshet download --json` child and the lines it printed.
struct Leecher {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Leecher {
    fn lines(&mut self) -> &[String] {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        &self.seen
    }

    /// `have_bytes`/`downloaded` of the last JSON status line, for the report.
    fn last_status(&mut self) -> String {
        self.lines()
            .iter()
            .rev()
            .find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["event"] == "status").then(|| {
                    format!(
                        "have {} B, downloaded {} B",
                        v["have_bytes"], v["downloaded"]
                    )
                })
            })
            .unwrap_or_else(|| "none".into())
    }
}

impl Drop for Leecher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_leecher(torrent: &Path, dl: &Path, seed: std::net::SocketAddr, max_down: &str) -> Leecher {
    let mut child = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .arg("download")
        .arg(torrent)
        .arg("-o")
        .arg(dl)
        .args(["--listen", "127.0.0.1:0", "--json", "--max-down", max_down])
        .arg("--peer")
        .arg(seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Leecher {
        child,
        lines: rx,
        seen: Vec::new(),
    }
}

/// The seeder's status, asked for now. Queued events (tick statuses) are dropped first, so
/// the reply is not an old one.
fn seeder_status(c: &ClientHandle, id: TorrentId) -> TorrentStatus {
    while c.outbox().try_recv().is_ok() {}
    c.send(Request::Status { id: Some(id) }).unwrap();
    match wait_for(c, "status", |e| matches!(e, Event::Status(s) if s.id == id)) {
        Event::Status(s) => s,
        _ => unreachable!(),
    }
}

/// The seeder's upload total once the killed leecher's connection is gone (nothing more can
/// be sent to it).
fn settled_upload(c: &ClientHandle, id: TorrentId) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = seeder_status(c, id);
        if s.peers == 0 {
            return s.uploaded;
        }
        assert!(Instant::now() < deadline, "the seeder keeps a dead peer");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Length of piece `p` of a torrent of `size` bytes.
fn piece_len(p: u64, size: u64) -> u64 {
    PIECE.min(size - p * PIECE)
}

/// Indices of the pieces whose bytes on disk equal the source.
fn valid_pieces(source: &[u8], file: &Path) -> Vec<u64> {
    let disk = std::fs::read(file).unwrap_or_default();
    source
        .chunks(PIECE as usize)
        .enumerate()
        .filter(|(i, want)| {
            let at = i * PIECE as usize;
            disk.get(at..at + want.len()) == Some(*want)
        })
        .map(|(i, _)| i as u64)
        .collect()
}

/// Parses the resume record (if the leecher wrote one yet) and checks that every piece it
/// claims is correct on disk. Returns how many pieces it claims.
fn check_resume_record(dl: &Path, source: &[u8]) -> u64 {
    let Some(path) = resume_file(dl) else {
        return 0;
    };
    let bytes = std::fs::read(&path).unwrap();
    let record = freshet_engine::ResumeRecord::decode(&bytes)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    let valid = valid_pieces(source, &dl.join("data.bin"));
    for p in record.pieces.iter() {
        assert!(
            valid.binary_search(&u64::from(p.0)).is_ok(),
            "the resume record claims piece {p}, which is not on disk"
        );
    }
    u64::from(record.pieces.count())
}

fn resume_file(dl: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dl.join(".freshet"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "resume"))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

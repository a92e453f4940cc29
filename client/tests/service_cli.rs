//! `freshet download` with the service flags: `--only`, `--sequential`, `--max-down`,
//! `--state-dir`, `--seed-ratio`, against an in-process seed on 127.0.0.1.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use component_util::{add, client, make_torrent, wait_added, wait_complete};

const TICK: Duration = Duration::from_millis(200);

/// Runs `freshet` with `args`, killed after 60 s.
fn freshet(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn download_only_one_file_sequentially_with_limits_and_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // 16 KiB pieces; file 1 ends mid-piece, so only its last piece's bytes may appear.
    let bytes = make_torrent(
        &src,
        "pack",
        &[("a.bin", 400_000), ("b.bin", 300_000), ("c.bin", 50_000)],
        16384,
        false,
    );
    let torrent = dir.path().join("pack.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let peer = seed.listen_addrs()[0].to_string();

    let out_dir = dir.path().join("out");
    let state = dir.path().join("state");
    let started = Instant::now();
    let out = freshet(&[
        "download",
        "--offline", // no DHT: nothing may leave 127.0.0.1
        torrent.to_str().unwrap(),
        "-o",
        out_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--peer",
        &peer,
        "--only",
        "2",
        "--sequential",
        "--max-down",
        "1M",
        "--max-up",
        "500K",
        "--state-dir",
        state.to_str().unwrap(),
        "--json",
    ]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(out_dir.join("pack/b.bin")).unwrap(),
        std::fs::read(src.join("pack/b.bin")).unwrap()
    );
    // Unwanted files: absent, or holding only the bytes of pieces shared with b.bin.
    let a_len = std::fs::metadata(out_dir.join("pack/a.bin")).map_or(0, |m| m.len());
    let a_nonzero = std::fs::read(out_dir.join("pack/a.bin"))
        .map(|d| d.iter().filter(|&&b| b != 0).count())
        .unwrap_or(0);
    assert!(
        a_nonzero <= 16384,
        "a.bin has {a_nonzero} bytes (len {a_len})"
    );
    let c_nonzero = std::fs::read(out_dir.join("pack/c.bin"))
        .map(|d| d.iter().filter(|&&b| b != 0).count())
        .unwrap_or(0);
    assert!(c_nonzero <= 16384, "c.bin has {c_nonzero} bytes");
    // The state directory holds the session.
    let names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with(".options.json")),
        "{names:?}"
    );
    eprintln!("download of 300 kB at 1M took {took:?}");
    seed.join();
}

#[test]
fn bad_rates_and_indexes_are_rejected() {
    for args in [
        &["download", "x.torrent", "--max-down", "fast"][..],
        &["download", "x.torrent", "--only", "0"][..],
        &["download", "x.torrent", "--only", "3-1"][..],
        &["download", "x.torrent", "--seed-ratio", "-1"][..],
    ] {
        let out = freshet(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

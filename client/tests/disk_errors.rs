//! Disk errors (issue 7; issue 9 "Full disk and I/O errors"), with real sockets on 127.0.0.1
//! and Freshet seeders:
//! - a small tmpfs fills up: the torrent stops with a "no space" error naming the file, the
//!   other torrent of the same client completes, no verified piece is lost, and `Resume`
//!   completes it once the tmpfs is grown;
//! - a read-only save directory: a clear error, then `Resume` completes once it is writable;
//! - a file deleted under a seeding torrent: an error naming the file; `Recheck` finds the
//!   pieces gone and the leecher finishes from a second seeder.
//!
//! The mount tests need root (CI runs as root). Each runs in a child process of this test
//! binary inside its own mount namespace (`unshare --mount --propagation private`), so its
//! tmpfs vanishes with the child even if it panics; a drop guard unmounts it too. Without
//! root they print a loud SKIPPED line.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use component_util::{WAIT, add, make_torrent, wait_added, wait_for};
use freshet_client::{
    Activity, ClientHandle, Config, Event, Request, TorrentClient, TorrentId, TorrentStatus,
};
use sha2::{Digest, Sha256};

/// Set in the child that runs a mount test inside its own mount namespace.
const NS_ENV: &str = "FRESHET_DISK_ERRORS_MOUNT_NS";
const PIECE: u64 = 65536;

/// Whether to run the body of mount test `name` here: true in the namespaced child. In the
/// parent, runs the child (asserting it passed) or skips without root, and returns false.
fn in_mount_namespace(name: &str) -> bool {
    if std::env::var(NS_ENV).is_ok_and(|v| v == name) {
        return true;
    }
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        eprintln!("SKIPPED {name}: needs root to mount a tmpfs (CI runs as root)");
        return false;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(NS_ENV, name)
        .status()
        .expect("run unshare");
    assert!(status.success(), "{name} failed in its mount namespace");
    false
}

/// A tmpfs mounted on a fresh directory; unmounted on drop (even on panic).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        mount(&["-t", "tmpfs", "-o", options, "tmpfs"], dir.path());
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, options: &str) {
        mount(&["-o", &format!("remount,{options}")], self.path());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

fn mount(args: &[&str], dir: &Path) {
    let st = Command::new("mount").args(args).arg(dir).status().unwrap();
    assert!(st.success(), "mount {args:?} {} failed", dir.display());
}

fn client_with(tick: Duration, resume_dir: &Path) -> ClientHandle {
    TorrentClient::spawn(
        Config::default()
            .listen_on("127.0.0.1:0".parse().unwrap())
            .with_tick(tick)
            .with_resume_dir(resume_dir),
    )
    .unwrap()
}

fn sha256(path: &Path) -> [u8; 32] {
    Sha256::digest(std::fs::read(path).unwrap()).into()
}

/// Asks for `id`'s status and returns it.
fn status(c: &ClientHandle, id: TorrentId) -> TorrentStatus {
    c.send(Request::Status { id: Some(id) }).unwrap();
    match wait_for(c, "status", |e| matches!(e, Event::Status(s) if s.id == id)) {
        Event::Status(s) => s,
        _ => unreachable!(),
    }
}

/// A seeding client for single-file torrents (name, size) written under `dir` (the same
/// bytes for the same size); returns it, the torrent bytes and their ids.
fn seeder(dir: &Path, torrents: &[(&str, usize)]) -> (ClientHandle, Vec<Vec<u8>>, Vec<TorrentId>) {
    let c = component_util::client(Duration::from_millis(50));
    let mut all = Vec::new();
    let mut ids = Vec::new();
    for (i, (name, size)) in torrents.iter().enumerate() {
        let bytes = make_torrent(dir, name, &[("", *size)], PIECE, false);
        add(&c, i as u64, &bytes, dir, &[]);
        ids.push(wait_added(&c));
        wait_for(&c, "seed check", |e| {
            matches!(e, Event::Checked { complete: true, .. })
        });
        all.push(bytes);
    }
    (c, all, ids)
}

/// Decodes the resume record of `info_hash` in `dir`: the number of verified pieces. The
/// record is written by the client's resume writer thread, so it waits (up to 30 s) for it.
fn resume_pieces(dir: &Path, hash_hex: &str) -> u32 {
    let path = dir.join(format!("{hash_hex}.resume"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let bytes = std::fs::read(&path).unwrap();
    freshet_engine::ResumeRecord::decode(&bytes)
        .unwrap()
        .pieces
        .count()
}

fn added(c: &ClientHandle) -> (TorrentId, String) {
    match wait_for(c, "add reply", |e| matches!(e, Event::TorrentAdded { .. })) {
        Event::TorrentAdded { id, info_hash, .. } => (id, info_hash.to_hex()),
        _ => unreachable!(),
    }
}

#[test]
fn disk_full_stops_one_torrent_and_resume_completes_it_after_space_is_freed() {
    if !in_mount_namespace(
        "disk_full_stops_one_torrent_and_resume_completes_it_after_space_is_freed",
    ) {
        return;
    }
    const SIZE: usize = 2 << 20;
    let seed_dir = tempfile::tempdir().unwrap();
    let (seed, torrents, _) = seeder(seed_dir.path(), &[("full.bin", SIZE), ("other.bin", SIZE)]);
    let small = Tmpfs::mount("size=512k");
    let other_dir = tempfile::tempdir().unwrap();
    let resume_dir = tempfile::tempdir().unwrap();
    let leech = client_with(Duration::from_millis(50), resume_dir.path());
    let peers = [seed.listen_addrs()[0]];
    let started = Instant::now();
    add(&leech, 10, &torrents[0], small.path(), &peers);
    let (full, full_hash) = added(&leech);
    add(&leech, 11, &torrents[1], other_dir.path(), &peers);
    let (other, _) = added(&leech);

    // Until the error: the most verified bytes any status showed.
    let mut best_before = 0;
    let mut error = None;
    let mut other_done = false;
    let deadline = Instant::now() + WAIT;
    while error.is_none() || !other_done {
        let left = deadline.saturating_duration_since(Instant::now());
        match leech
            .next_event(left)
            .expect("error and completion within the bound")
        {
            Event::Status(s) if s.id == full => {
                assert!(s.have_bytes >= best_before, "verified bytes dropped");
                best_before = s.have_bytes;
            }
            Event::Error { id, what, location } if id == full && error.is_none() => {
                error = Some((what, location, started.elapsed()));
            }
            Event::Error { id, what, .. } if id == other => panic!("other torrent: {what}"),
            Event::Completed { id } if id == other => other_done = true,
            Event::Completed { id } if id == full => panic!("completed on a full disk"),
            _ => {}
        }
    }
    let (what, location, took) = error.unwrap();
    println!("error after {took:?}: {what} ({location})");
    assert!(what.contains("no space left on device"), "{what}");
    assert_eq!(Path::new(&location), small.path().join("full.bin"));
    assert_eq!(
        sha256(&other_dir.path().join("other.bin")),
        sha256(&seed_dir.path().join("other.bin")),
        "the other torrent completed intact"
    );

    let s = status(&leech, full);
    assert_eq!(s.activity, Activity::Error);
    assert!(s.error.as_deref().is_some_and(|e| e.contains("no space")));
    assert_eq!(s.peers, 0, "peers of the stopped torrent are disconnected");
    assert!(
        s.have_bytes >= best_before,
        "verified bytes dropped: {best_before} -> {}",
        s.have_bytes
    );
    // Pieces fully written before the error may still verify after it; nothing drops.
    std::thread::sleep(Duration::from_millis(300));
    let s2 = status(&leech, full);
    assert_eq!(s2.activity, Activity::Error);
    assert!(s2.have_bytes >= s.have_bytes);
    let saved = u64::from(resume_pieces(resume_dir.path(), &full_hash)) * PIECE;
    println!(
        "verified: last periodic status {best_before} B, then {} B, \
         300 ms later {} B, in the resume record {saved} B",
        s.have_bytes, s2.have_bytes
    );
    assert!(
        saved <= s2.have_bytes && saved >= best_before,
        "resume data lists only verified pieces"
    );

    small.remount("size=8m");
    let resumed = Instant::now();
    leech.send(Request::Resume { id: full }).unwrap();
    wait_for(&leech, "completion after resume", |e| match e {
        Event::Completed { id } => *id == full,
        Event::Error { id, what, .. } if *id == full => panic!("error after resume: {what}"),
        _ => false,
    });
    println!("completed {:?} after resume", resumed.elapsed());
    assert_eq!(
        sha256(&small.path().join("full.bin")),
        sha256(&seed_dir.path().join("full.bin"))
    );
    assert_eq!(status(&leech, full).activity, Activity::Seeding);
}

#[test]
fn read_only_save_dir_errors_and_resume_completes_once_writable() {
    if !in_mount_namespace("read_only_save_dir_errors_and_resume_completes_once_writable") {
        return;
    }
    const SIZE: usize = 1 << 20;
    let seed_dir = tempfile::tempdir().unwrap();
    let (seed, torrents, _) = seeder(seed_dir.path(), &[("ro.bin", SIZE)]);
    let ro = Tmpfs::mount("size=4m");
    ro.remount("ro");
    let resume_dir = tempfile::tempdir().unwrap();
    let leech = client_with(Duration::from_millis(50), resume_dir.path());
    let started = Instant::now();
    add(
        &leech,
        1,
        &torrents[0],
        ro.path(),
        &[seed.listen_addrs()[0]],
    );
    let (id, _) = added(&leech);
    let (what, location) = match wait_for(&leech, "error", |e| {
        matches!(e, Event::Error { .. } | Event::Completed { .. })
    }) {
        Event::Error { what, location, .. } => (what, location),
        other => panic!("expected an error, got {other}"),
    };
    println!("error after {:?}: {what} ({location})", started.elapsed());
    assert!(what.contains("read-only file system"), "{what}");
    assert_eq!(Path::new(&location), ro.path().join("ro.bin"));
    let s = status(&leech, id);
    assert_eq!((s.activity, s.peers), (Activity::Error, 0));

    ro.remount("rw");
    leech.send(Request::Resume { id }).unwrap();
    wait_for(&leech, "completion after resume", |e| match e {
        Event::Completed { id: i } => *i == id,
        Event::Error { what, .. } => panic!("error after resume: {what}"),
        _ => false,
    });
    assert_eq!(
        sha256(&ro.path().join("ro.bin")),
        sha256(&seed_dir.path().join("ro.bin"))
    );
}

#[test]
fn file_deleted_under_a_seed_errors_and_recheck_finds_the_pieces_gone() {
    const SIZE: usize = 2 << 20;
    let seed_dir = tempfile::tempdir().unwrap();
    let (seed, torrents, ids) = seeder(seed_dir.path(), &[("gone.bin", SIZE)]);
    let seed_id = ids[0];
    assert_eq!(status(&seed, seed_id).activity, Activity::Seeding);
    let leech_dir = tempfile::tempdir().unwrap();
    let leech = component_util::client(Duration::from_millis(50));
    // Slow enough that the file goes away in the middle of the download.
    leech
        .send(Request::SetRateLimits {
            id: None,
            down: 256 * 1024,
            up: 0,
        })
        .unwrap();
    add(
        &leech,
        1,
        &torrents[0],
        leech_dir.path(),
        &[seed.listen_addrs()[0]],
    );
    let (lid, _) = added(&leech);
    wait_for(
        &leech,
        "some progress",
        |e| matches!(e, Event::Status(s) if s.id == lid && s.have_bytes >= 4 * PIECE),
    );
    let file: PathBuf = seed_dir.path().join("gone.bin");
    std::fs::remove_file(&file).unwrap();
    let deleted = Instant::now();
    let Event::Error { what, location, .. } =
        wait_for(&seed, "seed error", |e| matches!(e, Event::Error { .. }))
    else {
        unreachable!()
    };
    println!(
        "seed error {:?} after the delete: {what} ({location})",
        deleted.elapsed()
    );
    assert!(what.contains("no such file or directory"), "{what}");
    assert_eq!(Path::new(&location), file);
    let s = status(&seed, seed_id);
    assert_eq!((s.activity, s.fraction_done), (Activity::Error, 1.0));

    seed.send(Request::Recheck { id: seed_id }).unwrap();
    let Event::Checked {
        have_bytes: have, ..
    } = wait_for(&seed, "recheck", |e| matches!(e, Event::Checked { .. }))
    else {
        unreachable!()
    };
    let s = status(&seed, seed_id);
    println!(
        "after recheck the seed has {have} B, fraction {}, activity {}",
        s.fraction_done, s.activity
    );
    assert_eq!(have, 0, "the deleted file's pieces are gone");
    // It may already be fetching pieces back from the leecher.
    assert_eq!(s.activity, Activity::Downloading);
    assert!(s.fraction_done < 1.0);

    // The leecher gets the rest from a second seeder.
    let seed2_dir = tempfile::tempdir().unwrap();
    let (seed2, _, _) = seeder(seed2_dir.path(), &[("gone.bin", SIZE)]);
    leech
        .send(Request::SetRateLimits {
            id: None,
            down: 0,
            up: 0,
        })
        .unwrap();
    leech
        .send(Request::AddPeer {
            id: lid,
            addr: seed2.listen_addrs()[0],
        })
        .unwrap();
    component_util::wait_complete(&leech, lid);
    assert_eq!(
        sha256(&leech_dir.path().join("gone.bin")),
        sha256(&seed2_dir.path().join("gone.bin"))
    );
}

#[test]
fn disk_full_then_recheck_keeps_the_verified_pieces_and_completes() {
    if !in_mount_namespace("disk_full_then_recheck_keeps_the_verified_pieces_and_completes") {
        return;
    }
    const SIZE: usize = 1 << 20;
    let seed_dir = tempfile::tempdir().unwrap();
    let (seed, torrents, _) = seeder(seed_dir.path(), &[("again.bin", SIZE)]);
    let small = Tmpfs::mount("size=256k");
    let resume_dir = tempfile::tempdir().unwrap();
    let leech = client_with(Duration::from_millis(50), resume_dir.path());
    add(
        &leech,
        1,
        &torrents[0],
        small.path(),
        &[seed.listen_addrs()[0]],
    );
    let (id, _) = added(&leech);
    let Event::Error { what, .. } = wait_for(&leech, "error", |e| {
        matches!(e, Event::Error { .. } | Event::Completed { .. })
    }) else {
        panic!("completed on a full disk")
    };
    assert!(what.contains("no space left on device"), "{what}");
    let verified = status(&leech, id).have_bytes;
    assert!(verified > 0);

    small.remount("size=4m");
    leech.send(Request::Recheck { id }).unwrap();
    let Event::Checked { have_bytes, .. } =
        wait_for(&leech, "recheck", |e| matches!(e, Event::Checked { .. }))
    else {
        unreachable!()
    };
    println!("verified before the error {verified} B, found again by the recheck {have_bytes} B");
    assert!(
        have_bytes >= verified,
        "the recheck found {have_bytes} B of the {verified} B verified before the error"
    );
    component_util::wait_complete(&leech, id);
    assert_eq!(
        sha256(&small.path().join("again.bin")),
        sha256(&seed_dir.path().join("again.bin"))
    );
}

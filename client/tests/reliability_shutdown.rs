//! Issue 9, clean shutdown while writing: `Control::Shutdown` arrives while blocks are being
//! written; once `ShutdownComplete` is on the signal box, the data and the resume record must
//! be durable.
//!
//! A second run also saves resume data every 300 ms during the download; each record written
//! after new data must follow a data fsync made after the previous record.
//!
//! The download runs in a child process (this test binary again) under
//! `strace -f -y -e trace=pwrite64,fdatasync,fsync,rename,unlink`, so the order of the real
//! system calls is checked: for every data file, its last write comes before its last fsync,
//! every such fsync comes before the resume record is renamed into place, and that rename
//! comes before the child saw the signal (it then unlinks a marker path, which strace shows).
//! The torrent has more files than `FileStorage` keeps open (32), so files whose handle was
//! closed must be fsynced too. After the signal the child also checks that the resume record
//! parses and that every piece it claims is correct on disk. Without a working `strace`, the
//! scenario runs in-process and only those last checks are made.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use component_util::{WAIT, add, client, make_torrent, wait_added, wait_complete, wait_for};
use freshet_client::{Config, Event, TorrentClient};

const TICK: Duration = Duration::from_millis(50);
const PIECE: u64 = 64 * 1024;
const FILES: usize = 40;
const FILE_LEN: usize = 320 * 1024;
const CHILD_ENV: &str = "FRESHET_SHUTDOWN_CHILD_DIR";
const MARKER: &str = "signal-received.marker";

/// Only the final save: files whose handle the cache closed must still be fsynced.
#[test]
fn shutdown_while_writing_makes_data_and_resume_record_durable_before_the_signal() {
    traced(
        "shutdown_while_writing_makes_data_and_resume_record_durable_before_the_signal",
        None,
    );
}

/// With periodic saves every 300 ms during the download as well.
#[test]
fn periodic_resume_saves_follow_a_data_fsync() {
    traced(
        "periodic_resume_saves_follow_a_data_fsync",
        Some(Duration::from_millis(300)),
    );
}

/// Runs [`scenario`] in a child process (this test, `name`, again) under strace and checks the
/// trace; without strace, runs it in-process.
fn traced(name: &str, resume_interval: Option<Duration>) {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // The child: run the scenario where the parent's strace sees it.
        scenario(Path::new(&dir), resume_interval);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    if !strace_works() {
        eprintln!("strace is not usable here: only the post-signal checks run");
        scenario(dir.path(), resume_interval);
        return;
    }
    let log = dir.path().join("strace.log");
    let status = Command::new("strace")
        .args(["-f", "-y", "-qq", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=pwrite64,fdatasync,fsync,rename,renameat,renameat2,unlink",
        ])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "the child failed: {status}");
    let log = std::fs::read_to_string(&log).unwrap();
    check_order(&log, &dir.path().join("dl").canonicalize().unwrap());
}

/// Seeds a 40-file torrent in-process, downloads it at 4 MiB/s with a second client, and shuts
/// that client down once 85% is verified, while blocks are still arriving.
fn scenario(dir: &Path, resume_interval: Option<Duration>) {
    let full = dir.join("full");
    let files: Vec<(String, usize)> = (0..FILES)
        .map(|i| (format!("f{i:02}.bin"), FILE_LEN))
        .collect();
    let refs: Vec<(&str, usize)> = files.iter().map(|(n, l)| (n.as_str(), *l)).collect();
    let bytes = make_torrent(&full, "multi", &refs, PIECE, false);
    let seed = client(TICK);
    add(&seed, 1, &bytes, &full, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);

    let dl = dir.join("dl");
    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK);
    config.max_download_rate = 4 * 1024 * 1024;
    if let Some(every) = resume_interval {
        config.resume_interval = every;
    }
    let leech = TorrentClient::spawn(config).unwrap();
    add(&leech, 1, &bytes, &dl, &[seed.listen_addrs()[0]]);
    let id = wait_added(&leech);
    let total = (FILES * FILE_LEN) as u64;
    // Late enough that more files than the handle cache holds (32) have data.
    let Event::Status(s) = wait_for(
        &leech,
        "85% done",
        |e| matches!(e, Event::Status(s) if s.id == id && s.have_bytes >= total * 85 / 100),
    ) else {
        unreachable!()
    };
    assert!(s.have_bytes < total, "shut down while still downloading");
    leech.shutdown().unwrap();
    leech.signal().recv_timeout(WAIT).expect("shutdown signal");
    // A syscall strace records: everything before it happened before the signal arrived.
    let _ = std::fs::remove_file(dir.join(MARKER));

    let resume = std::fs::read_dir(dl.join(".freshet"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "resume"))
        .expect("a resume record after a clean shutdown");
    let record = freshet_engine::ResumeRecord::decode(&std::fs::read(&resume).unwrap())
        .expect("the resume record parses");
    let source: Vec<u8> = files
        .iter()
        .flat_map(|(n, _)| std::fs::read(full.join("multi").join(n)).unwrap())
        .collect();
    let disk: Vec<u8> = files
        .iter()
        .flat_map(|(n, l)| {
            let mut b = std::fs::read(dl.join("multi").join(n)).unwrap_or_default();
            b.resize(*l, 0);
            b
        })
        .collect();
    let claimed = record.pieces.count();
    assert!(
        u64::from(claimed) * PIECE >= total * 85 / 100,
        "the record claims {claimed} pieces"
    );
    for p in record.pieces.iter() {
        let at = p.0 as usize * PIECE as usize;
        let end = (at + PIECE as usize).min(source.len());
        assert!(
            disk[at..end] == source[at..end],
            "piece {p} is claimed by the resume record but wrong on disk"
        );
    }
    eprintln!(
        "clean shutdown at {} of {total} B: resume record claims {claimed} pieces, all correct \
         on disk",
        s.have_bytes
    );
    drop(leech);
    seed.join();
}

/// One traced system call: the trace lines where it started and where it returned (strace
/// splits a call into `<unfinished ...>` and `<... resumed>` lines when threads interleave).
struct Call<'a> {
    start: usize,
    end: usize,
    /// The first line (name and arguments).
    text: &'a str,
    failed: bool,
}

fn calls(log: &str) -> Vec<Call<'_>> {
    let mut open: std::collections::HashMap<&str, (usize, &str)> = Default::default();
    let mut out = Vec::new();
    for (i, line) in log.lines().enumerate() {
        let pid = line.split_whitespace().next().unwrap_or("");
        if line.ends_with("<unfinished ...>") {
            open.insert(pid, (i, line));
        } else if line.contains(" resumed>") {
            if let Some((start, text)) = open.remove(pid) {
                out.push(Call {
                    start,
                    end: i,
                    text,
                    failed: line.contains("= -1"),
                });
            }
        } else {
            out.push(Call {
                start: i,
                end: i,
                text: line,
                failed: line.contains("= -1"),
            });
        }
    }
    out.sort_by_key(|c| c.start);
    out
}

/// Checks the order of the child's system calls (see the module docs).
fn check_order(log: &str, dl: &Path) {
    let calls = calls(log);
    let find = |pred: &dyn Fn(&str) -> bool| -> Vec<&Call<'_>> {
        calls.iter().filter(|c| !c.failed && pred(c.text)).collect()
    };
    // The marker does not exist: its unlink fails with ENOENT.
    let marker = calls
        .iter()
        .find(|c| c.text.contains("unlink(") && c.text.contains(MARKER))
        .expect("the marker unlink is in the trace");
    // The leecher's record only (the seeder writes its own when it stops, later).
    let record_dir = format!("{}/.freshet/", dl.display());
    let renames =
        find(&|l| l.contains("rename") && l.contains(".resume.tmp") && l.contains(&record_dir));
    let last_rename = *renames.last().expect("a resume record rename in the trace");
    assert!(
        last_rename.end < marker.start,
        "the resume record was renamed after the signal"
    );
    // Every record written (periodic saves and the final one) after data was written follows
    // a data fsync made after the previous record.
    let data_dir = format!("<{}/multi/", dl.display());
    let is_sync = |l: &str| l.contains("fdatasync(") || l.contains("fsync(");
    let syncs = find(&|l| is_sync(l) && l.contains(&data_dir));
    let writes = find(&|l| l.contains("pwrite64(") && l.contains(&data_dir));
    let mut prev = 0;
    for r in &renames {
        let wrote = writes.iter().any(|w| w.end > prev && w.end < r.start);
        assert!(
            !wrote || syncs.iter().any(|x| x.start > prev && x.end < r.start),
            "the resume record at trace line {} was not preceded by a data fsync",
            r.start
        );
        prev = r.end;
    }
    let data_files = data_files(dl);
    assert!(
        data_files.len() > 32,
        "only {} files got data: the handle cache (32) was not exceeded",
        data_files.len()
    );
    for f in &data_files {
        let tag = format!("<{}>", f.display());
        let last_write = writes
            .iter()
            .filter(|c| c.text.contains(&tag))
            .map(|c| c.end)
            .max();
        let file_syncs: Vec<&&Call<'_>> = syncs.iter().filter(|c| c.text.contains(&tag)).collect();
        let (Some(last_write), Some(last_sync)) = (last_write, file_syncs.last()) else {
            panic!("{}: no write or no fsync in the trace", f.display());
        };
        assert!(
            last_write < last_sync.start,
            "{}: written after its last fsync began",
            f.display()
        );
        assert!(
            last_sync.end < last_rename.start,
            "{}: fsynced only after the resume record was written",
            f.display()
        );
    }
    eprintln!(
        "strace: {} resume records written, each after a data fsync; {} data files, each \
         written then fsynced before the last record rename (line {}), which precedes the \
         signal (line {}) of {} traced calls",
        renames.len(),
        data_files.len(),
        last_rename.start,
        marker.start,
        calls.len()
    );
}

fn data_files(dl: &Path) -> Vec<PathBuf> {
    let dir = dl.join("multi");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "bin"));
    v.sort();
    v
}

fn strace_works() -> bool {
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

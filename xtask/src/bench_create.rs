//! `cargo xtask bench create`: torrent-creation throughput, side by side.
//!
//! 1. Writes a pseudo-random test file (default 1 GiB) to `/var/tmp`, on the disk's file
//!    system where torrent data normally lives; it stays in the page cache after it is written,
//!    so the disk is not what is measured. `--dir DIR` puts it elsewhere, e.g. `/dev/shm`
//!    (tmpfs). freshet maps pages in place, so the page cache's folio size matters: tmpfs has
//!    4 KiB pages unless shmem huge pages are enabled, ext4 and XFS on Linux 6.x large folios.
//! 2. Measures single-core throughput of the `sha1` crate on an in-memory buffer in the same
//!    run; the goal for `freshet create` is at least 90 % of cores x that figure.
//! 3. Builds `freshet` in release mode and times `freshet create` (v1 with memory-mapped reads,
//!    v1 with `--no-mmap`, then `--hybrid`),
//!    `mktorrent -t <cores>`, `transmission-create` and python3-libtorrent's
//!    `create_torrent` (v1-only) on the same file with the same 1 MiB piece size, each run
//!    under `/usr/bin/time -v` for the peak RSS. Each tool runs `--runs` times (default 3);
//!    runs are round-robin; best and median wall times are reported, plus CPU time (which
//!    other load on the machine does not distort). Tools that are not installed are listed as
//!    skipped. The task re-runs itself from a release build so the sha1 baseline is optimised.
//!
//! Output: a Markdown table on stdout (and in `--out FILE` if given) with seconds, GB/s,
//! ratio to freshet, CPU seconds and peak RSS.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sha1::{Digest, Sha1};

const PIECE: u64 = 1 << 20;

struct Tool {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
}

struct Measure {
    name: &'static str,
    wall: Duration,
    cpu: f64,
    rss_kib: u64,
}

pub(crate) fn run(args: &[&str]) -> Result<()> {
    if cfg!(debug_assertions) && std::env::var_os("FRESHET_BENCH_DEBUG").is_none() {
        // The sha1 baseline must be optimised: re-run this task from a release build.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "xtask",
                "--",
                "bench",
                "create",
            ])
            .args(args)
            .status()?;
        if !status.success() {
            bail!("release run of the benchmark failed");
        }
        return Ok(());
    }
    let mut size_mib = 1024u64;
    let mut runs = 3usize;
    let mut out_file = None;
    let mut dir = PathBuf::from("/var/tmp");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--size-mib" => size_mib = it.next().context("--size-mib N")?.parse()?,
            "--runs" => runs = it.next().context("--runs N")?.parse()?,
            "--out" => out_file = Some(PathBuf::from(it.next().context("--out FILE")?)),
            "--dir" => dir = PathBuf::from(it.next().context("--dir DIR")?),
            other => bail!("unknown argument {other}"),
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let load = load_avg();
    let work = dir.join("freshet-bench");
    std::fs::create_dir_all(&work)?;
    let data = work.join("bench.bin");
    let size = size_mib << 20;
    write_test_file(&data, size)?;

    let freshet = build_freshet()?;
    let sha1_single = sha1_single_core(size.min(1 << 30));

    let python = PathBuf::from("/usr/bin/python3");
    let py_script = work.join("lt_create.py");
    std::fs::write(&py_script, PY_CREATE)?;
    let d = data.to_str().context("utf-8 path")?.to_owned();
    let o = |n: &str| work.join(n).to_string_lossy().into_owned();
    let mut tools = vec![
        Tool {
            name: "freshet create (v1)",
            program: freshet.clone(),
            args: vec![
                "create".into(),
                d.clone(),
                "-o".into(),
                o("f.torrent"),
                "--no-date".into(),
                "--piece-length".into(),
                PIECE.to_string(),
            ],
        },
        Tool {
            name: "freshet create --no-mmap (v1, read path)",
            program: freshet.clone(),
            args: vec![
                "create".into(),
                d.clone(),
                "-o".into(),
                o("f.torrent"),
                "--no-date".into(),
                "--no-mmap".into(),
                "--piece-length".into(),
                PIECE.to_string(),
            ],
        },
        Tool {
            name: "freshet create --hybrid",
            program: freshet.clone(),
            args: vec![
                "create".into(),
                d.clone(),
                "-o".into(),
                o("fh.torrent"),
                "--no-date".into(),
                "--hybrid".into(),
                "--piece-length".into(),
                PIECE.to_string(),
            ],
        },
    ];
    let mut skipped = Vec::new();
    for (name, program, args) in [
        (
            "mktorrent -t <cores>",
            "mktorrent",
            vec![
                "-l".into(),
                "20".into(),
                "-t".into(),
                cores.to_string(),
                "-o".into(),
                o("m.torrent"),
                d.clone(),
            ],
        ),
        (
            "transmission-create",
            "transmission-create",
            vec![
                "-s".into(),
                "1024".into(),
                "-o".into(),
                o("t.torrent"),
                d.clone(),
            ],
        ),
    ] {
        match which(program) {
            Some(p) => tools.push(Tool {
                name,
                program: p,
                args,
            }),
            None => skipped.push(format!("{name} (not installed)")),
        }
    }
    let lt_ok = python.exists()
        && Command::new(&python)
            .args(["-c", "import libtorrent"])
            .output()
            .is_ok_and(|o| o.status.success());
    if lt_ok {
        tools.push(Tool {
            name: "python3-libtorrent create_torrent (v1)",
            program: python.clone(),
            args: vec![
                py_script.to_string_lossy().into_owned(),
                d.clone(),
                o("l.torrent"),
            ],
        });
    } else {
        skipped.push("python3-libtorrent (not installed)".into());
    }
    let time_v = Path::new("/usr/bin/time").exists();

    // Round-robin: run 1 of every tool, then run 2, ... so background load hits all alike.
    let mut all: Vec<Vec<Measure>> = tools.iter().map(|_| Vec::new()).collect();
    for _ in 0..runs.max(1) {
        for (tool, samples) in tools.iter().zip(&mut all) {
            for f in [
                "f.torrent",
                "fh.torrent",
                "m.torrent",
                "t.torrent",
                "l.torrent",
            ] {
                let _ = std::fs::remove_file(work.join(f));
            }
            samples.push(measure(tool, time_v)?);
        }
    }
    let mut results = Vec::new();
    let mut medians = Vec::new();
    for mut samples in all {
        samples.sort_by_key(|m| m.wall);
        medians.push(samples[samples.len() / 2].wall);
        results.push(samples.swap_remove(0));
    }

    let (sha1_wall, sha1_cpu) = sha1_single;
    let goal = 0.9 * cores as f64 * sha1_wall;
    let gbps = |m: &Measure| size as f64 / m.wall.as_secs_f64() / 1e9;
    let per_cpu = |m: &Measure| size as f64 / m.cpu.max(0.001) / 1e9;
    let ours = results.first().map_or(0.0, gbps);
    let ours_cpu = results.first().map_or(0.0, per_cpu);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### `cargo xtask bench create` ({size_mib} MiB file in {}, {}, 1 MiB pieces)\n",
        dir.display(),
        fs_type(&dir)
    );
    let _ = writeln!(
        md,
        "Machine: {cores} cores ({}), load average at start: {load}",
        cpu_model()
    );
    let _ = writeln!(
        md,
        "Single-core `sha1` crate (in memory, same run): {sha1_wall:.3} GB/s wall, {sha1_cpu:.3} GB/s per CPU-second."
    );
    let _ = writeln!(
        md,
        "Goal: 0.9 x {cores} x {sha1_wall:.3} = {goal:.3} GB/s. Runs per tool: {runs}, round-robin.\n"
    );
    let _ = writeln!(
        md,
        "| tool | best wall s | median wall s | GB/s (best) | freshet v1 vs this | CPU s (user+sys) | GB per CPU-s | peak RSS MiB |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (m, median) in results.iter().zip(&medians) {
        let _ = writeln!(
            md,
            "| {} | {:.3} | {:.3} | {:.3} | {:.2}x | {:.2} | {:.3} | {:.1} |",
            m.name,
            m.wall.as_secs_f64(),
            median.as_secs_f64(),
            gbps(m),
            ours / gbps(m),
            m.cpu,
            per_cpu(m),
            m.rss_kib as f64 / 1024.0
        );
    }
    for s in &skipped {
        let _ = writeln!(md, "| {s} | skipped | | | | | | |");
    }
    // Rows 0-2 are freshet (mapped v1, read-path v1, hybrid); the rest are the other tools.
    let fastest_other = results.iter().skip(3).map(gbps).fold(0.0, f64::max);
    let ours_median = medians
        .first()
        .map_or(0.0, |d| size as f64 / d.as_secs_f64() / 1e9);
    let rss = results.first().map_or(0, |m| m.rss_kib);
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "- throughput goal (>= {goal:.3} GB/s wall): {} ({:.0} % of cores x single-core sha1 on the best run, {:.0} % on the median run)",
        verdict(ours >= goal),
        100.0 * ours / (cores as f64 * sha1_wall),
        100.0 * ours_median / (cores as f64 * sha1_wall)
    );
    let _ = writeln!(
        md,
        "- CPU efficiency (independent of other load): {ours_cpu:.3} GB hashed per CPU-second = {:.0} % of the bare sha1 crate ({sha1_cpu:.3}); the remainder is kernel time (mapping page-cache pages into the process, or copying them for the read path)",
        100.0 * ours_cpu / sha1_cpu
    );
    let _ = writeln!(
        md,
        "- faster than every other tool (best wall time): {}",
        verdict(ours > fastest_other)
    );
    let fastest_other_median = medians.iter().skip(3).min().copied();
    let _ = writeln!(
        md,
        "- faster than every other tool (median wall time): {}",
        verdict(
            medians
                .first()
                .zip(fastest_other_median)
                .is_some_and(|(o, t)| o < &t)
        )
    );
    let _ = writeln!(
        md,
        "- peak RSS < 64 MiB: {} ({:.1} MiB)",
        verdict(rss < 64 * 1024),
        rss as f64 / 1024.0
    );
    print!("{md}");
    if let Some(path) = out_file {
        std::fs::write(&path, &md).with_context(|| path.display().to_string())?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// Writes `size` bytes of xorshift output (incompressible, deterministic) unless present.
fn write_test_file(path: &Path, size: u64) -> Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for chunk in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

fn build_freshet() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("FRESHET_BIN") {
        return Ok(PathBuf::from(p));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "freshet-client",
            "--bin",
            "freshet",
        ])
        .status()?;
    if !status.success() {
        bail!("cargo build --release -p freshet-client failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    Ok(target.join("release/freshet"))
}

/// CPU seconds (user + system) this thread has used, from `/proc/thread-self/stat`.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime ...; utime and stime are the 12th and 13th, in clock ticks.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

/// The `sha1` crate on one core, hashing `bytes` from a cache-sized buffer:
/// (best wall-clock GB/s, GB per CPU-second).
#[allow(clippy::disallowed_methods)] // xtask measures wall time.
fn sha1_single_core(bytes: u64) -> (f64, f64) {
    let buf: Vec<u8> = (0..(64u32 << 10)).map(|i| (i * 31 % 251) as u8).collect();
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    for _ in 0..3 {
        let cpu0 = thread_cpu_seconds();
        let start = Instant::now();
        let mut h = Sha1::new();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            h.update(&buf[..n]);
            left -= n as u64;
        }
        std::hint::black_box(h.finalize());
        best = best.min(start.elapsed().as_secs_f64());
        best_cpu = best_cpu.min((thread_cpu_seconds() - cpu0).max(0.01));
    }
    (bytes as f64 / best / 1e9, bytes as f64 / best_cpu / 1e9)
}

#[allow(clippy::disallowed_methods)] // xtask measures wall time.
fn measure(tool: &Tool, time_v: bool) -> Result<Measure> {
    let mut cmd = if time_v {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-v").arg(&tool.program);
        c
    } else {
        Command::new(&tool.program)
    };
    cmd.args(&tool.args);
    let start = Instant::now();
    let out = cmd.output().with_context(|| tool.name)?;
    let wall = start.elapsed();
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            tool.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |key: &str| -> Option<f64> {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    Ok(Measure {
        name: tool.name,
        wall,
        cpu: field("User time (seconds):").unwrap_or(0.0)
            + field("System time (seconds):").unwrap_or(0.0),
        rss_kib: field("Maximum resident set size (kbytes):").unwrap_or(0.0) as u64,
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// The file system type of the mount holding `dir`, from `/proc/mounts` (longest prefix).
fn fs_type(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mount, kind) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(mount)
                .then(|| (mount.len(), kind.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown fs".into(), |(_, kind)| kind)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

const PY_CREATE: &str = r#"
import os, sys
import libtorrent as lt
path, out = sys.argv[1], sys.argv[2]
fs = lt.file_storage()
lt.add_files(fs, path)
t = lt.create_torrent(fs, 1 << 20, flags=lt.create_torrent.v1_only)
lt.set_piece_hashes(t, os.path.dirname(path))
open(out, "wb").write(lt.bencode(t.generate()))
"#;

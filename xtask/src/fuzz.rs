//! `cargo xtask fuzz [--seconds N] [--target NAME]`: seeds and runs every `cargo fuzz` target.
//!
//! Targets are discovered from the `[[bin]]` entries of every `<crate>/fuzz/Cargo.toml`.
//! For each target (or only `--target NAME`):
//! 1. Seeds `<crate>/fuzz/corpus/<target>/` (git-ignored) from the crate's `seed-corpus.sh`
//!    if it has one, from the committed regression inputs in `<crate>/fuzz/regressions/<target>/`,
//!    and, for the torrent parsers, from every `.torrent` file under the shared test data
//!    (`$FRESHET_TESTDATA`, default `../shared/testdata` next to the repository).
//! 2. Runs `cargo +nightly fuzz run <target> -- -max_total_time=N` (default 20 s) in the
//!    crate's `fuzz/` folder. The child is killed if it is still running `N` + 900 s (the
//!    build allowance) after it started, so the task always ends.
//! 3. Prints a Markdown table: target, executions, execs/s, corpus size, findings (crash
//!    artifacts written by libFuzzer) and status.
//!
//! The fuzz crates share one build directory (`$CARGO_TARGET_DIR/fuzz`, default
//! `target/fuzz`) so libFuzzer and the common dependencies are built only once.
#![allow(clippy::disallowed_methods)] // a bounded runner reads the clock and polls its child

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Every fuzz target as (crate folder, target name): the `[[bin]]` names of each
/// `<crate>/fuzz/Cargo.toml` under the repository root, crates in alphabetical order.
fn discover(root: &Path) -> Result<Vec<(String, String)>> {
    let mut crates: Vec<String> = fs::read_dir(root)?
        .flatten()
        .filter(|e| e.path().join("fuzz/Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    let mut out = Vec::new();
    for c in crates {
        let manifest = fs::read_to_string(root.join(&c).join("fuzz/Cargo.toml"))?;
        let mut in_bin = false;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if in_bin && let Some(v) = line.strip_prefix("name") {
                let name = v
                    .trim_start()
                    .trim_start_matches('=')
                    .trim()
                    .trim_matches('"');
                out.push((c.clone(), name.to_string()));
            }
        }
    }
    Ok(out)
}

/// Time allowed on top of `--seconds` for building a target before it is killed.
const BUILD_ALLOWANCE: Duration = Duration::from_secs(900);

struct Outcome {
    target: String,
    executions: Option<u64>,
    seconds: u64,
    corpus: usize,
    findings: Vec<PathBuf>,
    status: String,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut seconds: u64 = 20;
    let mut only: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .context("--seconds needs a value")?
                    .parse()
                    .context("--seconds must be a whole number")?;
            }
            "--target" => only = Some(it.next().context("--target needs a name")?.clone()),
            other => bail!(
                "unknown argument {other:?}; usage: cargo xtask fuzz [--seconds N] [--target NAME]"
            ),
        }
    }
    let root = repo_root()?;
    let all = discover(&root)?;
    let targets: Vec<(&str, &str)> = all
        .iter()
        .map(|(c, t)| (c.as_str(), t.as_str()))
        .filter(|(_, t)| only.as_deref().is_none_or(|o| o == *t))
        .collect();
    if targets.is_empty() {
        let names: Vec<&str> = all.iter().map(|(_, t)| t.as_str()).collect();
        bail!("no fuzz target named {only:?}; known: {}", names.join(", "));
    }
    let testdata = std::env::var_os("FRESHET_TESTDATA")
        .map_or_else(|| root.join("../shared/testdata"), PathBuf::from);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("fuzz");

    let mut seeded_crates = Vec::new();
    let mut outcomes = Vec::new();
    for (krate, target) in targets {
        let fuzz_dir = root.join(krate).join("fuzz");
        if !seeded_crates.contains(&krate) {
            seeded_crates.push(krate);
            run_seed_script(&fuzz_dir, &testdata);
        }
        let corpus = seed_target(&fuzz_dir, target, &testdata)?;
        eprintln!("== {krate}/{target}: {corpus} corpus inputs, fuzzing {seconds} s");
        outcomes.push(fuzz_one(&fuzz_dir, target, seconds, &target_dir)?);
    }

    println!("\n| target | executions | exec/s | corpus after | findings | status |");
    println!("|---|---:|---:|---:|---:|---|");
    let mut failed = false;
    for o in &outcomes {
        let execs = o
            .executions
            .map_or_else(|| "?".to_string(), |e| e.to_string());
        let rate = o
            .executions
            .map_or_else(|| "?".to_string(), |e| (e / o.seconds.max(1)).to_string());
        println!(
            "| {} | {execs} | {rate} | {} | {} | {} |",
            o.target,
            o.corpus,
            o.findings.len(),
            o.status
        );
        for f in &o.findings {
            println!("|   finding: `{}` | | | | | |", f.display());
        }
        failed |= !o.findings.is_empty() || o.status != "ok";
    }
    if failed {
        bail!("some fuzz targets failed or found crashes (see the table above)");
    }
    Ok(())
}

fn repo_root() -> Result<PathBuf> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from("xtask"), PathBuf::from);
    let root = manifest
        .parent()
        .context("xtask has no parent folder")?
        .to_path_buf();
    Ok(root)
}

/// Runs `<crate>/fuzz/seed-corpus.sh` if present; a failing script is reported, not fatal.
fn run_seed_script(fuzz_dir: &Path, testdata: &Path) {
    let script = fuzz_dir.join("seed-corpus.sh");
    if !script.is_file() {
        return;
    }
    let status = Command::new("bash")
        .arg(&script)
        .arg(testdata)
        .env("FRESHET_TESTDATA", testdata)
        .stdout(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => eprintln!("warning: {} failed: {other:?}", script.display()),
    }
}

/// Copies regression inputs (and test-data torrents for torrent parsers) into the corpus.
fn seed_target(fuzz_dir: &Path, target: &str, testdata: &Path) -> Result<usize> {
    let corpus = fuzz_dir.join("corpus").join(target);
    fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let regressions = fuzz_dir.join("regressions").join(target);
    if let Ok(entries) = fs::read_dir(&regressions) {
        for e in entries.flatten() {
            let dest = corpus.join(format!("regression-{}", e.file_name().to_string_lossy()));
            let _ = fs::copy(e.path(), dest);
        }
    }
    if matches!(target, "torrent_parse" | "decode") {
        let mut torrents = Vec::new();
        collect_torrents(testdata, &mut torrents, 0);
        for (i, t) in torrents.iter().enumerate() {
            let _ = fs::copy(t, corpus.join(format!("testdata-{i}.torrent")));
        }
    }
    Ok(fs::read_dir(&corpus)?.count())
}

fn collect_torrents(dir: &Path, out: &mut Vec<PathBuf>, depth: u32) {
    if depth > 12 || out.len() > 5000 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            collect_torrents(&p, out, depth + 1);
        } else if ft.is_file()
            && p.extension().is_some_and(|x| x == "torrent")
            && e.metadata().is_ok_and(|m| m.len() <= 4 << 20)
        {
            out.push(p);
        }
    }
}

fn fuzz_one(fuzz_dir: &Path, target: &str, seconds: u64, target_dir: &Path) -> Result<Outcome> {
    let artifacts = fuzz_dir.join("artifacts").join(target);
    let before = list(&artifacts);
    let log_path = std::env::temp_dir().join(format!("freshet-fuzz-{target}.log"));
    let log = fs::File::create(&log_path)?;
    let mut child = Command::new("cargo")
        .args(["+nightly", "fuzz", "run", target, "--"])
        .arg(format!("-max_total_time={seconds}"))
        .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
        .current_dir(fuzz_dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("spawning `cargo +nightly fuzz` (is cargo-fuzz installed?)")?;
    let started = Instant::now();
    let deadline = Duration::from_secs(seconds) + BUILD_ALLOWANCE;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut text = String::new();
    fs::File::open(&log_path)?.read_to_string(&mut text)?;
    let findings: Vec<PathBuf> = list(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let status = match status {
        None => format!("killed after {} s", deadline.as_secs()),
        Some(s) if s.success() => "ok".to_string(),
        Some(s) => {
            let tail: Vec<&str> = text.lines().rev().take(8).collect();
            eprintln!(
                "{target} failed ({s}); last lines of {}:",
                log_path.display()
            );
            for l in tail.iter().rev() {
                eprintln!("    {l}");
            }
            format!("failed ({s}), log {}", log_path.display())
        }
    };
    let corpus = fs::read_dir(fuzz_dir.join("corpus").join(target)).map_or(0, Iterator::count);
    Ok(Outcome {
        target: target.to_string(),
        executions: executions(&text),
        seconds,
        corpus,
        findings,
        status,
    })
}

/// libFuzzer ends with `Done N runs in S second(s)` or, with `-print_final_stats=1`,
/// `stat::number_of_executed_units: N`.
fn executions(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| {
        if let Some(n) = l.strip_prefix("stat::number_of_executed_units:") {
            return n.trim().parse().ok();
        }
        l.strip_prefix("Done ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    })
}

fn list(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir).map_or_else(|_| Vec::new(), |d| d.flatten().map(|e| e.path()).collect())
}

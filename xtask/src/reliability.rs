//! `cargo xtask reliability [--size-mib N] [--kills K] [--seed S] [--torrents N] [--peers N]
//! [--requests N] [--max-down RATE] [--tmp DIR] [--only crash|shutdown|load]`: the heavy versions of issue 9's crash,
//! shutdown and load cases.
//!
//! The cases are the `freshet-client` integration tests `reliability_crash`,
//! `reliability_shutdown` and `reliability_load`, which CI runs in a reduced size (32 MiB and 3
//! kills, 100 torrents and 50 peers). This task builds them in release mode, then runs them
//! one at a time inside `unshare --net` (only `lo` exists) with the sizes passed through the
//! environment (`FRESHET_RELIABILITY_*`) and `FRESHET_RELIABILITY_STRICT=1`, which makes the
//! load test assert the p99 < 50 ms. Defaults are the figures: a 256 MiB
//! download killed with SIGKILL 5 times, 500 torrents with 200 peer connections. Temporary
//! files go to `--tmp` (default `/dev/shm`, a tmpfs, when it exists). The tests print their
//! figures (lines starting `RELIABILITY`, one line per kill) and the machine load before and
//! after is printed too, for RELIABILITY.md.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "cargo xtask reliability [--size-mib N] [--kills K] [--seed S] \
[--torrents N] [--peers N] [--requests N] [--max-down RATE] [--tmp DIR] \
[--only crash|shutdown|load]";

const TESTS: [&str; 3] = [
    "reliability_crash",
    "reliability_shutdown",
    "reliability_load",
];

/// Parses the options, builds the tests and runs them inside a private network namespace.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut env: Vec<(&str, String)> = vec![
        ("FRESHET_RELIABILITY_SIZE_MIB", "256".into()),
        ("FRESHET_RELIABILITY_KILLS", "5".into()),
        ("FRESHET_RELIABILITY_SEED", "1".into()),
        ("FRESHET_RELIABILITY_TORRENTS", "500".into()),
        ("FRESHET_RELIABILITY_PEERS", "200".into()),
        ("FRESHET_RELIABILITY_REQUESTS", "2000".into()),
        ("FRESHET_RELIABILITY_MAX_DOWN", "64M".into()),
        ("FRESHET_RELIABILITY_STRICT", "1".into()),
    ];
    let mut tmp = Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir());
    let mut only: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        let key = match a.as_str() {
            "--size-mib" => "FRESHET_RELIABILITY_SIZE_MIB",
            "--kills" => "FRESHET_RELIABILITY_KILLS",
            "--seed" => "FRESHET_RELIABILITY_SEED",
            "--torrents" => "FRESHET_RELIABILITY_TORRENTS",
            "--peers" => "FRESHET_RELIABILITY_PEERS",
            "--requests" => "FRESHET_RELIABILITY_REQUESTS",
            "--max-down" => "FRESHET_RELIABILITY_MAX_DOWN",
            "--tmp" => {
                tmp = Some(PathBuf::from(val()?));
                continue;
            }
            "--only" => {
                let v = val()?;
                let name = format!("reliability_{v}");
                only = Some(
                    TESTS
                        .into_iter()
                        .find(|t| *t == name)
                        .with_context(|| format!("--only crash|shutdown|load, not {v:?}"))?,
                );
                continue;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        };
        let v = val()?;
        if key != "FRESHET_RELIABILITY_MAX_DOWN" {
            v.parse::<u64>()
                .with_context(|| format!("{a} takes a number, not {v:?}"))?;
        }
        if let Some(slot) = env.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = v;
        }
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let test_args: Vec<String> = ["test", "--release", "-p", "freshet-client"]
        .into_iter()
        .map(String::from)
        .chain(
            TESTS
                .iter()
                .flat_map(|t| ["--test".to_string(), (*t).to_string()]),
        )
        .collect();
    let built = Command::new(&cargo)
        .args(&test_args)
        .arg("--no-run")
        .status()
        .context("building the reliability tests")?;
    if !built.success() {
        bail!("building the reliability tests failed: {built}");
    }
    println!("load before: {}", uptime());
    for (k, v) in &env {
        println!("{k}={v}");
    }
    let mut failed = Vec::new();
    for t in TESTS.into_iter().filter(|t| only.is_none_or(|o| o == *t)) {
        // One test binary at a time, so the cases do not compete for the 2 cores.
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && [ \"$(ip -o link | wc -l)\" = 1 ] && exec \"$@\"",
            "sh",
        ])
        .arg(&cargo)
        .args([
            "test",
            "--release",
            "--offline",
            "-p",
            "freshet-client",
            "--test",
            t,
        ])
        .args(["--", "--nocapture", "--test-threads", "1"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(dir) = &tmp {
            cmd.env("TMPDIR", dir);
        }
        let status = cmd
            .status()
            .context("running unshare --net (needs root or user namespaces)")?;
        if !status.success() {
            failed.push(t);
        }
    }
    println!("load after: {}", uptime());
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            format!("load average {}", f.join(", "))
        },
    )
}

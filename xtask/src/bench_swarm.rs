//! `cargo xtask bench swarm`: one seeder, a single-file torrent on tmpfs (`/dev/shm`), and the
//! leechers Freshet, python3-libtorrent, `aria2c` and `transmission-cli` measured one after
//! another, each round in a different order; medians are reported with ratios to libtorrent.
//!
//! Everything runs inside a private network namespace: the task re-executes itself under
//! `unshare --net` (with `lo` up) and refuses to run if any interface besides `lo` exists. Every
//! client has DHT, LSD, UPnP/NAT-PMP, PEX and uTP off and talks only to 127.0.0.1, where an
//! embedded `freshet tracker` (short announce interval) introduces the peers.
//!
//! Per leecher: seconds from spawn to complete data (the client's own "complete" signal),
//! time to first byte (the downloaded file gets its first tmpfs page, or libtorrent reports
//! payload), seconds until the process exited, CPU seconds (user+sys) and peak RSS of the
//! leecher's whole process tree. The leecher is started through a tiny wrapper (this program
//! with `--rusage-wrap`) whose only child is the leecher, so `getrusage(RUSAGE_CHILDREN)` in the
//! wrapper is exactly the tree's usage (`wait4` semantics). The tree's `RssAnon` is also polled
//! (libtorrent's RSS is mostly memory-mapped file pages). Each download is compared byte for
//! byte with the original, then deleted.
//!
//! Transmission never dials 127.x peers, so the seeder dials it: the libtorrent seeder is told
//! `connect 127.0.0.1:PORT` on its stdin; a Freshet seeder learns it from the tracker.
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock and sleeps

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const USAGE: &str = "cargo xtask bench swarm [--freshet BIN] [--size-mib N] [--rounds N] \
[--seeder libtorrent|freshet|both] [--leechers freshet,libtorrent,aria2,transmission] \
[--piece-length BYTES|256K|1M] [--timeout S] [--interval S]";

const NETNS_ENV: &str = "BENCH_SWARM_IN_NETNS";
const FILE_NAME: &str = "bench-swarm.bin";
/// Longest wait for the first payload byte (Transmission needs about 10-15 s).
const FIRST_BYTE_LIMIT: Duration = Duration::from_secs(60);

/// Settings (from the command line).
#[derive(Clone, Debug)]
struct Opts {
    freshet: PathBuf,
    size_mib: u64,
    rounds: u32,
    seeders: Vec<Kind>,
    leechers: Vec<Kind>,
    piece_length: Option<String>,
    timeout: Duration,
    interval: u32,
}

/// The clients measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Freshet,
    Libtorrent,
    Aria2,
    Transmission,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Freshet => "freshet",
            Self::Libtorrent => "libtorrent",
            Self::Aria2 => "aria2c",
            Self::Transmission => "transmission",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "freshet" => Self::Freshet,
            "libtorrent" | "lt" => Self::Libtorrent,
            "aria2" | "aria2c" => Self::Aria2,
            "transmission" | "transmission-cli" => Self::Transmission,
            other => bail!("unknown client {other:?}\n{USAGE}"),
        })
    }
}

/// One leecher measured once.
#[derive(Clone, Debug)]
struct Sample {
    leecher: Kind,
    secs: f64,
    ttfb: Option<f64>,
    exit_secs: f64,
    cpu_user: f64,
    cpu_sys: f64,
    max_rss_kib: u64,
    /// Largest sum of `RssAnon` over the tree, polled every 50 ms (excludes file pages).
    anon_kib: u64,
    load: String,
}

/// Entry point: `args` are the words after `bench swarm`.
pub fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("--rusage-wrap") {
        return rusage_wrap(&args[1..]);
    }
    let opts = parse(args)?;
    if std::env::var_os(NETNS_ENV).is_none() {
        return reexec_in_netns(args);
    }
    // /proc/net/dev lists the interfaces of this process's namespace (two header lines).
    let ifaces = std::fs::read_to_string("/proc/net/dev")?
        .lines()
        .count()
        .saturating_sub(2);
    if ifaces != 1 {
        bail!("expected only `lo` inside the network namespace, found {ifaces} interfaces");
    }
    if !opts.freshet.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p freshet-client) or pass --freshet",
            opts.freshet.display()
        );
    }
    bench(&opts)
}

fn parse(args: &[String]) -> Result<Opts> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let mut o = Opts {
        freshet: target.join("release/freshet"),
        size_mib: 1024,
        rounds: 3,
        seeders: vec![Kind::Libtorrent],
        leechers: vec![
            Kind::Freshet,
            Kind::Libtorrent,
            Kind::Aria2,
            Kind::Transmission,
        ],
        piece_length: None,
        timeout: Duration::from_secs(300),
        interval: 2,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--freshet" => o.freshet = std::fs::canonicalize(val()?)?,
            "--size-mib" => o.size_mib = val()?.parse::<u64>()?.clamp(1, 16 * 1024),
            "--rounds" => o.rounds = val()?.parse::<u32>()?.clamp(1, 50),
            "--seeder" => {
                o.seeders = match val()?.as_str() {
                    "both" => vec![Kind::Libtorrent, Kind::Freshet],
                    s => vec![Kind::parse(s)?],
                };
                if o.seeders
                    .iter()
                    .any(|k| !matches!(k, Kind::Libtorrent | Kind::Freshet))
                {
                    bail!("the seeder is libtorrent or freshet");
                }
            }
            "--leechers" => {
                o.leechers = val()?.split(',').map(Kind::parse).collect::<Result<_>>()?;
            }
            "--piece-length" => o.piece_length = Some(val()?),
            "--timeout" => o.timeout = Duration::from_secs(val()?.parse::<u64>()?.max(10)),
            "--interval" => o.interval = val()?.parse::<u32>()?.max(1),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if o.leechers.is_empty() {
        bail!("no leechers\n{USAGE}");
    }
    Ok(o)
}

/// Runs this program again inside `unshare --net` with `lo` up.
fn reexec_in_netns(args: &[String]) -> Result<()> {
    let exe = std::env::current_exe()?;
    let status = Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "sh",
        ])
        .arg(&exe)
        .args(["bench", "swarm"])
        .args(args)
        .env(NETNS_ENV, "1")
        .status()
        .context("running unshare --net (needs root or user namespaces)")?;
    if !status.success() {
        bail!("benchmark inside the network namespace failed: {status}");
    }
    Ok(())
}

/// `--rusage-wrap OUT PROG ARGS…`: runs PROG, then writes the usage of its process tree to OUT
/// as `user_secs sys_secs max_rss_kib exit_code`.
fn rusage_wrap(args: &[String]) -> Result<()> {
    let [out, prog, rest @ ..] = args else {
        bail!("--rusage-wrap OUT PROG ARGS…");
    };
    let status = Command::new(prog)
        .args(rest)
        .status()
        .with_context(|| format!("spawn {prog}"))?;
    let u = getrusage(UsageWho::RUSAGE_CHILDREN)?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    std::fs::write(
        out,
        format!(
            "{} {} {} {}\n",
            secs(u.user_time()),
            secs(u.system_time()),
            u.max_rss(),
            status.code().unwrap_or(-1)
        ),
    )?;
    Ok(())
}

/// A child process (with its descendants) killed by PID when dropped.
struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` to every descendant of the child (not to the child itself).
    fn signal_descendants(&self, sig: Signal) {
        for pid in descendants(self.pid()) {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
    }

    /// Waits up to `limit` for the child to exit.
    fn wait_for(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.signal_descendants(Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("  (killed {} pid {})", self.name, self.pid());
    }
}

/// All descendants of `pid`, from `/proc/PID/task/*/children`, bounded.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        if out.len() > 256 {
            break;
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(t.path().join("children")) else {
                continue;
            };
            for c in text
                .split_whitespace()
                .filter_map(|w| w.parse::<u32>().ok())
            {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// Sum of `RssAnon` (KiB) over the descendants of `pid`.
fn anon_rss_kib(pid: u32) -> u64 {
    descendants(pid)
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

/// The work directory in `/dev/shm`, removed when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn lt_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lt_peer.py")
}

/// Lines of a child's stdout, with the time each arrived.
fn line_reader(r: impl Read + Send + 'static) -> Receiver<(Instant, String)> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// Writes `size` bytes of deterministic pseudo-random data to `path`.
fn make_data(path: &Path, size: u64) -> Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 22, File::create(path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
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

/// Compares two files byte for byte; the offset of the first difference on mismatch.
fn same_data(a: &Path, b: &Path) -> Result<()> {
    let (ma, mb) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    if ma.len() != mb.len() {
        bail!("{}: {} bytes, expected {}", b.display(), mb.len(), ma.len());
    }
    let mut fa = BufReader::with_capacity(1 << 22, File::open(a)?);
    let mut fb = BufReader::with_capacity(1 << 22, File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 22], vec![0u8; 1 << 22]);
    let mut off = 0u64;
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(());
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            let i = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y);
            bail!(
                "{}: data differs at byte {}",
                b.display(),
                off + i.unwrap_or(0) as u64
            );
        }
        off += n as u64;
    }
}

/// The running seeder.
struct Seeder {
    kind: Kind,
    proc: Proc,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl Seeder {
    /// Asks the seeder to dial a peer (only the libtorrent seeder takes orders; a Freshet seeder
    /// learns of peers from the tracker).
    fn dial(&mut self, port: u16) {
        if let Some(w) = &mut self.stdin {
            let _ = writeln!(w, "connect 127.0.0.1:{port}");
            let _ = w.flush();
        }
    }
}

fn start_seeder(
    opts: &Opts,
    kind: Kind,
    torrent: &Path,
    seed_dir: &Path,
    logs: &Path,
) -> Result<Seeder> {
    let port = free_port()?;
    let log = File::create(logs.join(format!("seeder-{}.log", kind.name())))?;
    let mut cmd = match kind {
        Kind::Libtorrent => {
            let mut c = Command::new("/usr/bin/python3");
            c.arg(lt_script())
                .arg("seed")
                .arg(torrent)
                .arg(seed_dir)
                .arg(port.to_string())
                .stdin(Stdio::piped());
            c
        }
        Kind::Freshet => {
            let mut c = Command::new(&opts.freshet);
            c.arg("seed")
                .arg(torrent)
                .arg(seed_dir)
                .args([
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--json",
                    "--offline",
                ])
                .stdin(Stdio::null());
            c
        }
        _ => bail!("unsupported seeder"),
    };
    let mut child = cmd
        .env("BENCH_TIMEOUT", (opts.timeout.as_secs() * 40).to_string())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawn {} seeder", kind.name()))?;
    let stdout = child.stdout.take().context("seeder stdout")?;
    let stdin = child.stdin.take();
    let mut proc = Proc {
        child,
        name: format!("{} seeder", kind.name()),
    };
    let rx = line_reader(stdout);
    let end = Instant::now() + opts.timeout;
    loop {
        if Instant::now() > end {
            bail!("{} seeder not ready in {:?}", kind.name(), opts.timeout);
        }
        if let Some(s) = proc.child.try_wait()? {
            bail!(
                "{} seeder exited early: {s} (see {})",
                kind.name(),
                logs.display()
            );
        }
        if let Ok((_, line)) = rx.recv_timeout(Duration::from_millis(50)) {
            if line == "ready" || line.contains("\"event\":\"seeding\"") {
                break;
            }
            if line.starts_with("error") {
                bail!("{} seeder: {line}", kind.name());
            }
        }
    }
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in rx {});
    Ok(Seeder {
        kind,
        proc,
        stdin,
        port,
    })
}

fn write_script(path: &Path, marker: &Path) -> Result<()> {
    std::fs::write(path, format!("#!/bin/sh\n: > '{}'\n", marker.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Downloads once with `kind` from `seeder` into a fresh directory, measures, verifies, cleans.
#[allow(clippy::too_many_lines, clippy::too_many_arguments)] // one linear recipe per client
fn measure(
    opts: &Opts,
    kind: Kind,
    seeder: &mut Seeder,
    torrent: &Path,
    original: &Path,
    work: &Path,
    logs: &Path,
    tag: &str,
) -> Result<Sample> {
    let dir = work.join(format!("leech-{tag}-{}", kind.name()));
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let _cleanup = WorkDir(dir.clone());
    let port = free_port()?;
    let marker = dir.join("complete");
    let hook = dir.join("hook.sh");
    let usage = dir.join("rusage");
    let log = File::create(logs.join(format!("{tag}-{}.log", kind.name())))?;
    let mut line_log = log.try_clone()?;
    let target = data_dir.join(FILE_NAME);
    let listen = format!("127.0.0.1:{port}");
    let seed_addr = format!("127.0.0.1:{}", seeder.port);
    let mut argv: Vec<String> = Vec::new();
    let mut stdout_lines = false;
    match kind {
        Kind::Freshet => {
            stdout_lines = true;
            argv.push(opts.freshet.display().to_string());
            argv.extend(["download".into(), torrent.display().to_string()]);
            argv.extend(["-o".into(), data_dir.display().to_string()]);
            argv.extend(["--listen".into(), listen.clone()]);
            argv.extend(["--peer".into(), seed_addr.clone(), "--json".into()]);
            // Loopback bench: no DHT, so no public router is ever contacted.
            argv.push("--offline".into());
        }
        Kind::Libtorrent => {
            stdout_lines = true;
            argv.extend(["/usr/bin/python3".into(), lt_script().display().to_string()]);
            argv.extend(["leech".into(), torrent.display().to_string()]);
            argv.extend([data_dir.display().to_string(), port.to_string()]);
            argv.push(seed_addr.clone());
        }
        Kind::Aria2 => {
            write_script(&hook, &marker)?;
            argv.extend(
                [
                    "aria2c",
                    "--no-conf=true",
                    "--enable-dht=false",
                    "--enable-dht6=false",
                    "--bt-enable-lpd=false",
                    "--enable-peer-exchange=false",
                    "--disable-ipv6=true",
                    "--interface=127.0.0.1",
                    "--seed-time=0",
                    "--file-allocation=none",
                    "--summary-interval=0",
                    "--console-log-level=warn",
                    "--check-certificate=false",
                ]
                .map(String::from),
            );
            argv.push(format!("--listen-port={port}"));
            argv.push(format!("--dir={}", data_dir.display()));
            argv.push(format!("--on-bt-download-complete={}", hook.display()));
            argv.push(torrent.display().to_string());
        }
        Kind::Transmission => {
            write_script(&hook, &marker)?;
            let cfg = dir.join("tr-config");
            std::fs::create_dir_all(&cfg)?;
            std::fs::write(
                cfg.join("settings.json"),
                format!(
                    r#"{{
  "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
  "port-forwarding-enabled": false, "bind-address-ipv4": "127.0.0.1",
  "bind-address-ipv6": "::1", "peer-port": {port}, "peer-port-random-on-start": false,
  "preallocation": 0, "rename-partial-files": false, "incomplete-dir-enabled": false,
  "rpc-enabled": false, "speed-limit-down-enabled": false, "speed-limit-up-enabled": false,
  "encryption": 0, "blocklist-enabled": false, "watch-dir-enabled": false,
  "ratio-limit-enabled": false, "download-dir": "{}", "message-level": 1
}}
"#,
                    data_dir.display()
                ),
            )?;
            argv.extend(["transmission-cli".into(), "-g".into()]);
            argv.push(cfg.display().to_string());
            argv.extend(["-M".into(), "-et".into(), "-D".into(), "-U".into()]);
            argv.extend(["-p".into(), port.to_string(), "-w".into()]);
            argv.push(data_dir.display().to_string());
            argv.extend(["-f".into(), hook.display().to_string()]);
            argv.push(torrent.display().to_string());
        }
    }
    let exe = std::env::current_exe()?;
    let load_before = load_avg();
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(["bench", "swarm", "--rusage-wrap"])
        .arg(&usage)
        .args(&argv)
        .current_dir(&dir)
        .env("BENCH_TIMEOUT", opts.timeout.as_secs().to_string())
        .stdin(Stdio::null())
        .stdout(if stdout_lines {
            Stdio::piped()
        } else {
            Stdio::from(log.try_clone()?)
        })
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawn {}", kind.name()))?;
    let rx = child.stdout.take().map(line_reader);
    let mut proc = Proc {
        child,
        name: kind.name().into(),
    };
    let deadline = start + opts.timeout;
    let mut ttfb: Option<Instant> = None;
    let mut done: Option<Instant> = None;
    let mut next_dial = start + Duration::from_millis(300);
    let mut anon_kib = 0u64;
    let mut next_poll = start;
    while done.is_none() {
        let now = Instant::now();
        if now >= next_poll {
            anon_kib = anon_kib.max(anon_rss_kib(proc.pid()));
            next_poll = now + Duration::from_millis(50);
        }
        if now > deadline {
            bail!("{} did not complete within {:?}", kind.name(), opts.timeout);
        }
        if ttfb.is_none() && now > start + FIRST_BYTE_LIMIT {
            bail!(
                "{} got no data within {FIRST_BYTE_LIMIT:?} (a seeder must dial Transmission: \
                 see PEERS.md)",
                kind.name()
            );
        }
        if let Some(rx) = &rx {
            while let Ok((t, line)) = rx.try_recv() {
                let _ = writeln!(
                    line_log,
                    "{:.3} {line}",
                    t.duration_since(start).as_secs_f64()
                );
                match kind {
                    Kind::Freshet => {
                        if line.contains("\"event\":\"completed\"") {
                            done = Some(t);
                        } else if line.contains("\"event\":\"error\"")
                            || line.contains("\"event\":\"start_failed\"")
                        {
                            bail!("freshet leecher: {line}");
                        }
                    }
                    _ => match line.as_str() {
                        "first_byte" => {
                            ttfb.get_or_insert(t);
                        }
                        "complete" => done = Some(t),
                        l if l.starts_with("error") => bail!("libtorrent leecher: {l}"),
                        _ => {}
                    },
                }
            }
        }
        if done.is_none() && marker.exists() {
            done = Some(now);
        }
        if ttfb.is_none() && std::fs::metadata(&target).is_ok_and(|m| m.blocks() > 0) {
            ttfb = Some(now);
        }
        if kind == Kind::Transmission && ttfb.is_none() && now >= next_dial {
            seeder.dial(port);
            next_dial = now + Duration::from_secs(2);
        }
        if done.is_none() {
            if let Some(s) = proc.child.try_wait()? {
                bail!("{} exited before completing: {s}", kind.name());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let done = done.unwrap_or_else(Instant::now);
    // Let it finish on its own (freshet, libtorrent and aria2 exit once complete); stop
    // transmission-cli (it would seed forever) with SIGINT, its clean shutdown.
    if kind == Kind::Transmission {
        proc.signal_descendants(Signal::SIGINT);
    }
    if proc.wait_for(Duration::from_secs(20)).is_none() {
        proc.signal_descendants(Signal::SIGTERM);
        if proc.wait_for(Duration::from_secs(5)).is_none() {
            bail!("{} did not exit after completing", kind.name());
        }
    }
    let exited = Instant::now();
    let load_after = load_avg();
    let text = std::fs::read_to_string(&usage).context("no rusage written by the wrapper")?;
    let f: Vec<f64> = text
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(-1.0))
        .collect();
    let [user, sys, rss, _code] = f[..] else {
        bail!("bad rusage line {text:?}");
    };
    same_data(original, &target)?;
    let secs = |t: Instant| t.duration_since(start).as_secs_f64();
    Ok(Sample {
        leecher: kind,
        secs: secs(done),
        ttfb: ttfb.map(secs),
        exit_secs: secs(exited),
        cpu_user: user,
        cpu_sys: sys,
        max_rss_kib: rss as u64,
        anon_kib,
        load: format!("{load_before} -> {load_after}"),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn bench(opts: &Opts) -> Result<()> {
    let work = WorkDir(PathBuf::from(format!(
        "/dev/shm/bench-swarm-{}",
        std::process::id()
    )));
    let w = &work.0;
    let seed_dir = w.join("seed");
    std::fs::create_dir_all(&seed_dir)?;
    let logs = std::env::temp_dir().join(format!("bench-swarm-logs-{}", std::process::id()));
    std::fs::create_dir_all(&logs)?;
    println!("client logs in {}", logs.display());
    let size = opts.size_mib * 1024 * 1024;
    let original = seed_dir.join(FILE_NAME);
    println!("load average at start: {}", load_avg());
    println!("making {} MiB of data in {}", opts.size_mib, w.display());
    make_data(&original, size)?;

    let tport = free_port()?;
    let taddr = format!("127.0.0.1:{tport}");
    let tracker = Command::new(&opts.freshet)
        .args(["tracker", "--http", &taddr, "--udp", &taddr, "--interval"])
        .arg(opts.interval.to_string())
        .stdout(Stdio::null())
        .stderr(File::create(logs.join("tracker.log"))?)
        .spawn()
        .context("spawn freshet tracker")?;
    let _tracker = Proc {
        child: tracker,
        name: "tracker".into(),
    };

    let torrent = w.join("bench.torrent");
    let mut create = Command::new(&opts.freshet);
    create
        .arg("create")
        .arg(&original)
        .arg("-o")
        .arg(&torrent)
        .args(["-t", &format!("http://{taddr}/announce"), "--no-date"]);
    if let Some(pl) = &opts.piece_length {
        create.args(["--piece-length", pl]);
    }
    let st = create.stdout(Stdio::null()).status()?;
    if !st.success() {
        bail!("freshet create failed: {st}");
    }
    println!(
        "torrent {} ({} bytes of metainfo)",
        torrent.display(),
        std::fs::metadata(&torrent)?.len()
    );

    let mut report = String::new();
    for &skind in &opts.seeders {
        let mut seeder = start_seeder(opts, skind, &torrent, &seed_dir, &logs)?;
        println!(
            "seeder: {} on 127.0.0.1:{}",
            seeder.kind.name(),
            seeder.port
        );
        let mut samples: Vec<Sample> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        for round in 0..opts.rounds {
            let mut order = opts.leechers.clone();
            let n = order.len();
            order.rotate_left(round as usize % n);
            if round % 2 == 1 {
                order.reverse();
            }
            for kind in order {
                let tag = format!("{}-r{round}", skind.name());
                match measure(opts, kind, &mut seeder, &torrent, &original, w, &logs, &tag) {
                    Ok(s) => {
                        println!(
                            "  round {round} {:<12} {:>7.2} s  ttfb {:>6}  exit {:>7.2} s  cpu {:>6.2}+{:>5.2} s  rss {:>7} KiB  anon {:>7} KiB  load {}",
                            s.leecher.name(),
                            s.secs,
                            s.ttfb.map_or("-".into(), |t| format!("{t:.2}")),
                            s.exit_secs,
                            s.cpu_user,
                            s.cpu_sys,
                            s.max_rss_kib,
                            s.anon_kib,
                            s.load
                        );
                        samples.push(s);
                    }
                    Err(e) => {
                        println!("  round {round} {:<12} FAILED: {e:#}", kind.name());
                        failures.push(format!("round {round} {}: {e:#}", kind.name()));
                    }
                }
            }
        }
        // libtorrent quits on "quit"; `freshet seed` shuts down cleanly on SIGINT.
        if let Some(mut w) = seeder.stdin.take() {
            let _ = writeln!(w, "quit");
        } else {
            let _ = kill(Pid::from_raw(seeder.proc.pid() as i32), Signal::SIGINT);
        }
        let _ = seeder.proc.wait_for(Duration::from_secs(10));
        drop(seeder);
        report.push_str(&table(opts, skind, size, &samples, &failures));
    }
    println!("load average at end: {}", load_avg());
    println!("\n{report}");
    Ok(())
}

/// The markdown table of medians for one seeder.
fn table(opts: &Opts, seeder: Kind, size: u64, samples: &[Sample], failures: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### seeder: {}, {} MiB, {} rounds (medians)\n",
        seeder.name(),
        opts.size_mib,
        opts.rounds
    );
    let _ = writeln!(
        out,
        "| leecher | n | seconds | MB/s | first byte s | MB/s after 1st byte | exited s | CPU s (user+sys) | CPU s/GiB | peak RSS MiB | anon RSS MiB | time / lt | CPU / lt | RSS / lt |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let med = |k: Kind, f: &dyn Fn(&Sample) -> Option<f64>| {
        median(
            samples
                .iter()
                .filter(|s| s.leecher == k)
                .filter_map(f)
                .collect(),
        )
    };
    let lt_secs = med(Kind::Libtorrent, &|s| Some(s.secs));
    let lt_cpu = med(Kind::Libtorrent, &|s| Some(s.cpu_user + s.cpu_sys));
    let lt_rss = med(Kind::Libtorrent, &|s| Some(s.max_rss_kib as f64));
    let gib = size as f64 / f64::from(1u32 << 30);
    for &k in &opts.leechers {
        let n = samples.iter().filter(|s| s.leecher == k).count();
        let secs = med(k, &|s| Some(s.secs));
        let ttfb = med(k, &|s| s.ttfb);
        let exit = med(k, &|s| Some(s.exit_secs));
        let steady = med(k, &|s| {
            s.ttfb.map(|t| size as f64 / (s.secs - t).max(1e-3) / 1e6)
        });
        let cpu = med(k, &|s| Some(s.cpu_user + s.cpu_sys));
        let user = med(k, &|s| Some(s.cpu_user));
        let sys = med(k, &|s| Some(s.cpu_sys));
        let rss = med(k, &|s| Some(s.max_rss_kib as f64));
        let anon = med(k, &|s| Some(s.anon_kib as f64));
        let _ = writeln!(
            out,
            "| {} | {n} | {secs:.2} | {:.1} | {ttfb:.2} | {steady:.1} | {exit:.2} | {cpu:.2} ({user:.2}+{sys:.2}) | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} |",
            k.name(),
            size as f64 / secs / 1e6,
            cpu / gib,
            rss / 1024.0,
            anon / 1024.0,
            secs / lt_secs,
            cpu / lt_cpu,
            rss / lt_rss,
        );
    }
    for f in failures {
        let _ = writeln!(out, "\nFAILED {f}");
    }
    out.push('\n');
    out
}

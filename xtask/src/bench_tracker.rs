//! `cargo xtask bench-tracker`: announces per second over UDP and HTTP against `freshet tracker`
//! and `opentracker`, in the same run, on loopback, with 100,000 peers in 10,000 swarms; and
//! memory per peer (RSS growth of the server process while the peers are added).
//!
//! The load generator uses std sockets only. Each server runs as a child process (killed by
//! PID); rounds alternate the order of the servers and the medians are reported. Every phase is
//! bounded in count and in time.
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock and sleeps

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Settings (from the command line).
#[derive(Clone, Debug)]
struct Opts {
    freshet: PathBuf,
    opentracker: Option<PathBuf>,
    peers: u32,
    swarms: u32,
    udp_secs: u64,
    udp_max: u64,
    http_secs: u64,
    http_max: u64,
    rounds: u32,
    threads: u32,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            freshet: PathBuf::from("target/release/freshet"),
            opentracker: Some(PathBuf::from("opentracker")),
            peers: 100_000,
            swarms: 10_000,
            udp_secs: 10,
            udp_max: 3_000_000,
            http_secs: 8,
            http_max: 200_000,
            rounds: 3,
            threads: 2,
        }
    }
}

const USAGE: &str = "cargo xtask bench-tracker [--freshet PATH] [--opentracker PATH|--no-opentracker] \
[--peers N] [--swarms N] [--udp-secs S] [--udp-max N] [--http-secs S] [--http-max N] [--rounds N] [--threads N]";

/// One measured server in one round.
#[derive(Clone, Debug, Default)]
struct Sample {
    udp_fill_rate: f64,
    udp_rate: f64,
    udp_lost: u64,
    http_rate: f64,
    http_failed: u64,
    rss_per_peer: f64,
}

/// Entry point: `args` are the words after `bench-tracker`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let opts = parse(args)?;
    if !opts.freshet.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p freshet-client)",
            opts.freshet.display()
        );
    }
    let ot = opts.opentracker.clone().filter(|p| which(p));
    if ot.is_none() {
        println!("opentracker not found: measuring freshet only (apt-get install -y opentracker)");
    }
    let work = std::env::temp_dir().join(format!("bench-tracker-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..opts.rounds {
        let order: &[bool] = if round % 2 == 0 {
            &[true, false]
        } else {
            &[false, true]
        };
        for &is_ours in order {
            if is_ours {
                let s = measure(&opts, Server::Freshet(opts.freshet.clone()), &work)?;
                println!("round {round} freshet:     {s:?}");
                ours.push(s);
            } else if let Some(ot) = &ot {
                let s = measure(&opts, Server::Opentracker(ot.clone()), &work)?;
                println!("round {round} opentracker: {s:?}");
                theirs.push(s);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    report(&opts, &ours, &theirs);
    Ok(())
}

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--freshet" => o.freshet = val()?.into(),
            "--opentracker" => o.opentracker = Some(val()?.into()),
            "--no-opentracker" => o.opentracker = None,
            "--peers" => o.peers = val()?.parse()?,
            "--swarms" => o.swarms = val()?.parse()?,
            "--udp-secs" => o.udp_secs = val()?.parse()?,
            "--udp-max" => o.udp_max = val()?.parse()?,
            "--http-secs" => o.http_secs = val()?.parse()?,
            "--http-max" => o.http_max = val()?.parse()?,
            "--rounds" => o.rounds = val()?.parse()?,
            "--threads" => o.threads = val()?.parse::<u32>()?.max(1),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if o.swarms == 0 || o.peers < o.swarms {
        bail!("need peers >= swarms > 0");
    }
    Ok(o)
}

enum Server {
    Freshet(PathBuf),
    Opentracker(PathBuf),
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn info_hash(swarm: u32) -> [u8; 20] {
    let mut h = [0x5au8; 20];
    h[..4].copy_from_slice(&swarm.to_be_bytes());
    h[4..8].copy_from_slice(&swarm.wrapping_mul(2_654_435_761).to_be_bytes());
    h
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn measure(opts: &Opts, server: Server, work: &std::path::Path) -> anyhow::Result<Sample> {
    let port = free_port()?;
    let p = port.to_string();
    let addr = format!("127.0.0.1:{port}");
    let child = match &server {
        Server::Freshet(bin) => Command::new(bin)
            .args([
                "tracker",
                "--http",
                &addr,
                "--udp",
                &addr,
                "--interval",
                "3600",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?,
        Server::Opentracker(bin) => {
            let list: String = (0..opts.swarms)
                .map(|s| hex(&info_hash(s)) + "\n")
                .collect();
            std::fs::write(work.join("wl"), list)?;
            Command::new(bin)
                .args(["-i", "127.0.0.1", "-p", &p, "-P", &p, "-d"])
                .arg(work)
                .args(["-w", "/wl"]) // opentracker chroots into -d first
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("spawn {}", bin.display()))?
        }
    };
    let pid = child.id();
    let _guard = Guard(child);
    let server_addr: SocketAddr = addr.parse()?;
    wait_up(server_addr)?;
    std::thread::sleep(Duration::from_millis(300)); // let opentracker read its whitelist
    let rss0 = rss_kib(pid)?;

    // Fill: every peer announces once (started; every other one a seeder).
    let t = Instant::now();
    let (ok, lost) = udp_load(
        opts,
        server_addr,
        1,
        u64::from(opts.peers),
        Duration::from_secs(120),
    )?;
    let fill_secs = t.elapsed().as_secs_f64();
    if ok + lost < u64::from(opts.peers) {
        bail!("fill incomplete: {ok} answered, {lost} lost");
    }
    std::thread::sleep(Duration::from_millis(200));
    let rss1 = rss_kib(pid)?;

    // Steady state: regular re-announces of the same peers.
    let t = Instant::now();
    let (sok, slost) = udp_load(
        opts,
        server_addr,
        0,
        opts.udp_max,
        Duration::from_secs(opts.udp_secs),
    )?;
    let udp_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let (hok, hfail) = http_load(
        opts,
        server_addr,
        opts.http_max,
        Duration::from_secs(opts.http_secs),
    )?;
    let http_secs = t.elapsed().as_secs_f64();

    Ok(Sample {
        udp_fill_rate: ok as f64 / fill_secs,
        udp_rate: sok as f64 / udp_secs,
        udp_lost: slost + lost,
        http_rate: hok as f64 / http_secs,
        http_failed: hfail,
        rss_per_peer: (rss1.saturating_sub(rss0) * 1024) as f64 / f64::from(opts.peers),
    })
}

/// BEP 15 load: `threads` sockets, each keeps a window of requests in flight. Returns
/// (answered announces, lost or refused).
fn udp_load(
    opts: &Opts,
    to: SocketAddr,
    event: u32,
    max: u64,
    limit: Duration,
) -> anyhow::Result<(u64, u64)> {
    let threads = opts.threads;
    let per_thread = max.div_ceil(u64::from(threads));
    let mut handles = Vec::new();
    for th in 0..threads {
        let (peers, swarms) = (opts.peers, opts.swarms);
        handles.push(std::thread::spawn(move || -> anyhow::Result<(u64, u64)> {
            let sock = UdpSocket::bind("127.0.0.1:0")?;
            sock.connect(to)?;
            sock.set_read_timeout(Some(Duration::from_millis(300)))?;
            let mut cid = udp_connect(&sock)?;
            let mut cid_at = Instant::now();
            let deadline = Instant::now() + limit;
            let mut pkt = vec![0u8; 98];
            let mut buf = [0u8; 2048];
            let (mut ok, mut lost, mut sent) = (0u64, 0u64, 0u64);
            // Peers th, th+threads, ... belong to this thread.
            let mut next = u64::from(th);
            const WINDOW: u64 = 64;
            while sent < per_thread && Instant::now() < deadline {
                if cid_at.elapsed() > Duration::from_secs(30) {
                    cid = udp_connect(&sock)?;
                    cid_at = Instant::now();
                }
                let batch = WINDOW.min(per_thread - sent);
                for _ in 0..batch {
                    let i = (next % u64::from(peers)) as u32;
                    next += u64::from(threads);
                    let swarm = i % swarms;
                    let port = 10_000 + (i / swarms) as u16;
                    announce_packet(
                        &mut pkt,
                        cid,
                        i,
                        &info_hash(swarm),
                        port,
                        event,
                        i.is_multiple_of(2),
                    );
                    sock.send(&pkt)?;
                }
                sent += batch;
                let mut got = 0;
                while got < batch {
                    match sock.recv(&mut buf) {
                        Ok(n) if n >= 8 && buf[3] == 1 => {
                            ok += 1;
                            got += 1;
                        }
                        Ok(_) => {
                            lost += 1;
                            got += 1;
                        }
                        Err(_) => {
                            lost += batch - got;
                            break;
                        }
                    }
                }
            }
            Ok((ok, lost))
        }));
    }
    let mut total = (0, 0);
    for h in handles {
        let (a, b) = h
            .join()
            .map_err(|_| anyhow::anyhow!("load thread panicked"))??;
        total.0 += a;
        total.1 += b;
    }
    Ok(total)
}

fn udp_connect(sock: &UdpSocket) -> anyhow::Result<u64> {
    let mut req = Vec::with_capacity(16);
    req.extend_from_slice(&0x0417_2710_1980u64.to_be_bytes());
    req.extend_from_slice(&0u32.to_be_bytes());
    req.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    let mut buf = [0u8; 64];
    for _ in 0..10 {
        sock.send(&req)?;
        // Skip stale announce replies still in the socket buffer.
        while let Ok(n) = sock.recv(&mut buf) {
            if n >= 16 && buf[..8] == [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78] {
                return Ok(u64::from_be_bytes(buf[8..16].try_into()?));
            }
        }
    }
    bail!("no UDP connect reply")
}

fn announce_packet(
    pkt: &mut [u8],
    cid: u64,
    i: u32,
    ih: &[u8; 20],
    port: u16,
    event: u32,
    seeder: bool,
) {
    pkt[0..8].copy_from_slice(&cid.to_be_bytes());
    pkt[8..12].copy_from_slice(&1u32.to_be_bytes());
    pkt[12..16].copy_from_slice(&i.to_be_bytes());
    pkt[16..36].copy_from_slice(ih);
    pkt[36..44].copy_from_slice(b"-BENCH0-");
    pkt[44..48].copy_from_slice(&i.to_be_bytes());
    pkt[48..56].copy_from_slice(&[b'x'; 8]);
    pkt[56..64].copy_from_slice(&0u64.to_be_bytes()); // downloaded
    let left: u64 = if seeder { 0 } else { 1_000_000 };
    pkt[64..72].copy_from_slice(&left.to_be_bytes());
    pkt[72..80].copy_from_slice(&0u64.to_be_bytes()); // uploaded
    pkt[80..84].copy_from_slice(&event.to_be_bytes());
    pkt[84..88].copy_from_slice(&0u32.to_be_bytes()); // ip
    pkt[88..92].copy_from_slice(&i.to_be_bytes()); // key
    pkt[92..96].copy_from_slice(&50i32.to_be_bytes()); // num_want, like real clients
    pkt[96..98].copy_from_slice(&port.to_be_bytes());
}

/// HTTP load: one TCP connection per announce (as clients do), `Connection: close`.
fn http_load(opts: &Opts, to: SocketAddr, max: u64, limit: Duration) -> anyhow::Result<(u64, u64)> {
    let threads = opts.threads * 2; // connect/close latency hides behind more threads
    let per_thread = max.div_ceil(u64::from(threads));
    let mut handles = Vec::new();
    for th in 0..threads {
        let (peers, swarms) = (opts.peers, opts.swarms);
        handles.push(std::thread::spawn(move || -> (u64, u64) {
            let deadline = Instant::now() + limit;
            let (mut ok, mut fail) = (0u64, 0u64);
            let mut resp = Vec::with_capacity(1024);
            let mut i = th;
            let mut n = 0;
            while n < per_thread && Instant::now() < deadline {
                n += 1;
                let peer = i % peers;
                i += threads;
                let ih = info_hash(peer % swarms);
                let mut q = String::with_capacity(300);
                q.push_str("GET /announce?info_hash=");
                for b in ih {
                    q.push_str(&format!("%{b:02X}"));
                }
                q.push_str(&format!(
                    "&peer_id=-BENCH0-{peer:012}&port={}&uploaded=0&downloaded=0&left={}&compact=1&numwant=50 HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n",
                    10_000 + peer / swarms,
                    if peer % 2 == 0 { 0 } else { 1_000_000 }
                ));
                let r = (|| -> std::io::Result<bool> {
                    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
                    s.set_read_timeout(Some(Duration::from_secs(2)))?;
                    s.write_all(q.as_bytes())?;
                    resp.clear();
                    s.read_to_end(&mut resp)?;
                    Ok(resp.starts_with(b"HTTP/1.") && resp.get(9..12) == Some(b"200") && resp.windows(6).any(|w| w == b"5:peer"))
                })();
                match r {
                    Ok(true) => ok += 1,
                    _ => fail += 1,
                }
            }
            (ok, fail)
        }));
    }
    let mut total = (0, 0);
    for h in handles {
        let (a, b) = h
            .join()
            .map_err(|_| anyhow::anyhow!("http thread panicked"))?;
        total.0 += a;
        total.1 += b;
    }
    Ok(total)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")
}

fn wait_up(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..100 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("server on {addr} did not come up")
}

fn free_port() -> anyhow::Result<u16> {
    for _ in 0..100 {
        let t = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = t.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port")
}

fn which(p: &std::path::Path) -> bool {
    if p.components().count() > 1 {
        return p.exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(opts: &Opts, ours: &[Sample], theirs: &[Sample]) {
    let m = |s: &[Sample], f: fn(&Sample) -> f64| median(s.iter().map(f).collect());
    type Row = (&'static str, fn(&Sample) -> f64);
    let rows: [Row; 4] = [
        ("UDP announces/s, fill (new peers)", |s| s.udp_fill_rate),
        ("UDP announces/s, steady re-announce", |s| s.udp_rate),
        ("HTTP announces/s (connection per request)", |s| s.http_rate),
        ("RSS growth per peer, bytes", |s| s.rss_per_peer),
    ];
    println!(
        "\n{} peers in {} swarms, {} rounds (medians), {} load threads, numwant 50\n",
        opts.peers, opts.swarms, opts.rounds, opts.threads
    );
    println!("| measure | freshet | opentracker | freshet / opentracker |");
    println!("|---|---:|---:|---:|");
    for (name, f) in rows {
        let (a, b) = (m(ours, f), m(theirs, f));
        println!("| {name} | {a:.0} | {b:.0} | {:.2} |", a / b);
    }
    let lost: u64 = ours.iter().map(|s| s.udp_lost).sum();
    let lost_ot: u64 = theirs.iter().map(|s| s.udp_lost).sum();
    let hf: u64 = ours.iter().map(|s| s.http_failed).sum();
    let hf_ot: u64 = theirs.iter().map(|s| s.http_failed).sum();
    println!(
        "\nUDP replies lost: freshet {lost}, opentracker {lost_ot}; HTTP failures: freshet {hf}, opentracker {hf_ot}"
    );
}

//! Interop: python3-libtorrent (seeder), aria2c and transmission-cli (leechers) announce to OUR
//! tracker server over HTTP and over UDP on 127.0.0.1, find each other through it, and the
//! leechers' downloads complete with the right sha256.
//!
//! Everything binds 127.0.0.1 with DHT, LSD, PEX, UPnP and NAT-PMP off. CI runs the suite in
//! `unshare --net` (only `lo` exists). Transmission never dials loopback peers (PEERS.md), so the
//! seeder is started last: its first announce returns the leechers and it dials them.
#![allow(clippy::disallowed_methods)] // real processes, real clock

mod tracker_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use freshet_client::tracker_server::{TrackerServer, TrackerServerOptions};
use freshet_tracker::{InfoHashV1, ScrapeStats};
use tracker_support::{Guard, free_port, have, sha256_file};

const PY: &str = "/usr/bin/python3";
const SIZE: usize = 3 * 1024 * 1024 + 12_345;
const DEADLINE: Duration = Duration::from_secs(180);

const SEEDER: &str = r#"
import sys, time, libtorrent as lt
torrent, save, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = lt.session({
    'listen_interfaces': '127.0.0.1:%d' % port,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'dht_bootstrap_nodes': '', 'enable_incoming_utp': False, 'enable_outgoing_utp': False,
    'allow_multiple_connections_per_ip': True, 'min_announce_interval': 1,
    'alert_mask': 0,
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
atp.flags |= lt.torrent_flags.seed_mode
h = s.add_torrent(atp)
print('seeder started', flush=True)
for i in range(600):
    time.sleep(0.5)
    if i % 4 == 3:
        h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
    st = h.status()
    if i % 10 == 0:
        print('seeder peers=%d up=%d' % (st.num_peers, st.total_upload), flush=True)
"#;

fn libtorrent_ok() -> bool {
    Command::new(PY)
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn write_payload(p: &Path) {
    // Deterministic, incompressible-looking bytes.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(p, data).unwrap();
}

fn info_hash(torrent: &Path) -> InfoHashV1 {
    let out = Command::new(PY)
        .args([
            "-c",
            "import sys,libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hash())",
        ])
        .arg(torrent)
        .output()
        .unwrap();
    InfoHashV1::from_text(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

fn spawn_logged(cmd: &mut Command, log: &Path, name: &'static str) -> Guard {
    let f = std::fs::File::create(log).unwrap();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    Guard(child, name)
}

fn transmission(dir: &Path, torrent: &Path, port: u16) -> Guard {
    let cfg = dir.join("tr-config");
    let dl = dir.join("tr-download");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::create_dir_all(&dl).unwrap();
    let settings = format!(
        r#"{{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
  "port-forwarding-enabled": false, "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
  "peer-port": {port}, "download-dir": "{}", "rename-partial-files": true, "encryption": 1,
  "speed-limit-up-enabled": false, "speed-limit-down-enabled": false, "message-level": 2}}"#,
        dl.display()
    );
    std::fs::write(cfg.join("settings.json"), settings).unwrap();
    spawn_logged(
        Command::new("transmission-cli")
            .arg("-g")
            .arg(&cfg)
            .arg("-w")
            .arg(&dl)
            .args(["-p", &port.to_string(), "-M", "-ep"])
            .arg(torrent),
        &dir.join("transmission.log"),
        "transmission-cli",
    )
}

fn aria2(dir: &Path, torrent: &Path, port: u16, udp: bool) -> Guard {
    let dl = dir.join("aria2-download");
    std::fs::create_dir_all(&dl).unwrap();
    // aria2 1.36 sends UDP tracker requests through its DHT socket ("udp is not supported yet"
    // otherwise). For UDP the DHT is therefore switched on, with an empty routing table of its
    // own (a fresh dht file, no entry point), on 127.0.0.1, so it has nobody to talk to.
    let dht = if udp {
        vec![
            "--enable-dht=true".to_owned(),
            format!("--dht-file-path={}", dir.join("aria2-dht.dat").display()),
            format!("--dht-listen-port={}", free_port()),
        ]
    } else {
        vec!["--enable-dht=false".to_owned()]
    };
    spawn_logged(
        Command::new("aria2c")
            .args(dht)
            .args([
                "--no-conf=true",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--disable-ipv6=true",
                "--interface=127.0.0.1",
                "--seed-time=0",
                "--summary-interval=0",
                "--console-log-level=notice",
                &format!("--listen-port={port}"),
            ])
            .arg(format!("--dir={}", dl.display()))
            .arg(torrent),
        &dir.join("aria2.log"),
        "aria2c",
    )
}

fn tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let start = s.len().saturating_sub(3000);
    s.get(start..).unwrap_or("").to_owned()
}

fn swarm(transport: &str) {
    let mut leechers = Vec::new();
    if have("aria2c") {
        leechers.push("aria2");
    } else {
        println!("SKIPPED part: aria2c is not installed (apt-get install -y aria2)");
    }
    if have("transmission-cli") {
        leechers.push("transmission");
    } else {
        println!(
            "SKIPPED part: transmission-cli is not installed (apt-get install -y transmission-cli)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = TrackerServer::spawn(
        TrackerServerOptions::new(
            Some("127.0.0.1:0".parse().unwrap()),
            Some("127.0.0.1:0".parse().unwrap()),
        )
        .with_interval(2),
    )
    .unwrap();
    let addrs = server.local_addrs();
    let url = match transport {
        "http" => format!("http://{}/announce", addrs.http.unwrap()),
        _ => format!("udp://{}/announce", addrs.udp.unwrap()),
    };
    let seed_dir = d.join("seed");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let payload = seed_dir.join("payload.bin");
    write_payload(&payload);
    let want = sha256_file(&payload);
    let torrent = d.join("t.torrent");
    let st = Command::new("mktorrent")
        .args(["-l", "16", "-a", &url, "-o"])
        .arg(&torrent)
        .arg(&payload)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "mktorrent failed");
    let ih = info_hash(&torrent);

    // Leechers first (they announce and wait), then the seeder, which learns them.
    let mut guards = Vec::new();
    let mut outputs = Vec::new();
    for l in &leechers {
        let port = free_port();
        match *l {
            "aria2" => {
                guards.push(aria2(d, &torrent, port, transport == "udp"));
                outputs.push((d.join("aria2-download/payload.bin"), d.join("aria2.log")));
            }
            _ => {
                guards.push(transmission(d, &torrent, port));
                outputs.push((
                    d.join("tr-download/payload.bin"),
                    d.join("transmission.log"),
                ));
            }
        }
    }
    // Bounded wait until every leecher has announced.
    let end = Instant::now() + Duration::from_secs(30);
    while scrape(&server, &ih).incomplete < leechers.len() as u32 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        scrape(&server, &ih).incomplete,
        leechers.len() as u32,
        "leechers did not announce over {transport}; logs:\n{}",
        outputs
            .iter()
            .map(|(_, log)| tail(log))
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
    std::fs::write(d.join("seeder.py"), SEEDER).unwrap();
    let sport = free_port();
    guards.push(spawn_logged(
        Command::new(PY)
            .arg(d.join("seeder.py"))
            .arg(&torrent)
            .arg(&seed_dir)
            .arg(sport.to_string()),
        &d.join("seeder.log"),
        "libtorrent seeder",
    ));

    let end = Instant::now() + DEADLINE;
    let mut done = vec![false; outputs.len()];
    while Instant::now() < end && done.iter().any(|d| !d) {
        for (i, (file, _)) in outputs.iter().enumerate() {
            if !done[i]
                && file.exists()
                && std::fs::metadata(file).is_ok_and(|m| m.len() == SIZE as u64)
            {
                done[i] = sha256_file(file) == want;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    for (i, (file, log)) in outputs.iter().enumerate() {
        assert!(
            done[i],
            "{transport}: {} did not complete ({}); log tail:\n{}\nseeder log:\n{}",
            leechers[i],
            file.display(),
            tail(log),
            tail(&d.join("seeder.log"))
        );
    }
    let s = scrape(&server, &ih);
    assert!(s.complete >= 1, "{s:?}");
    drop(guards); // kill by PID
    let stats = server.stop().unwrap();
    assert!(stats.announces > leechers.len() as u64, "{stats:?}");
    println!("{transport}: {leechers:?} completed from libtorrent via our tracker; {stats:?}");
}

/// Scrapes our own server over HTTP (a real socket, parsed by our client side).
fn scrape(server: &TrackerServer, ih: &InfoHashV1) -> ScrapeStats {
    let url = freshet_tracker::scrape_url_for(
        &format!("http://{}/scrape", server.local_addrs().http.unwrap()),
        &[*ih],
    );
    let body = tracker_support::http_get(&url, Duration::from_secs(5)).unwrap();
    freshet_tracker::parse_scrape_response(&body)
        .unwrap()
        .files
        .first()
        .map(|f| f.1)
        .unwrap_or_default()
}

fn prerequisites() -> bool {
    if !libtorrent_ok() {
        println!(
            "SKIPPED: python3-libtorrent is not installed (apt-get install -y python3-libtorrent)"
        );
        return false;
    }
    if !have("mktorrent") {
        println!("SKIPPED: mktorrent is not installed (apt-get install -y mktorrent)");
        return false;
    }
    true
}

#[test]
fn interop_over_http() {
    if prerequisites() {
        swarm("http");
    }
}

#[test]
fn interop_over_udp() {
    if prerequisites() {
        swarm("udp");
    }
}

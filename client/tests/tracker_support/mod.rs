//! Shared helpers for the tracker integration tests: real sockets around the sans-I/O tracker
//! client, child processes killed by PID, bounded waits.
#![allow(dead_code, clippy::disallowed_methods)] // tests drive real sockets with a real clock

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use freshet_tracker::{
    Announcer, AnnouncerEvent, MAX_BODY, TrackerAction, build_get_request, dechunk, decode_body,
    parse_http_response_head, resolve_redirect,
};

/// A child process killed (by its PID) and reaped on drop.
pub struct Guard(pub Child, pub &'static str);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a program is installed (a test may skip only when it is truly absent).
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// A port free for both TCP and UDP on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let t = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = t.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// Waits (bounded) until something accepts TCP connections on `port`.
pub fn wait_tcp(port: u16, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(200),
        )
        .is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Starts opentracker (whitelist build) on 127.0.0.1:`port` (TCP and UDP) allowing `hex_hashes`.
pub fn start_opentracker(dir: &Path, port: u16, hex_hashes: &[String]) -> Guard {
    std::fs::write(dir.join("wl"), hex_hashes.join("\n") + "\n").expect("write whitelist");
    let p = port.to_string();
    let child = Command::new("opentracker")
        .args(["-i", "127.0.0.1", "-p", &p, "-P", &p, "-d"])
        .arg(dir)
        .args(["-w", "/wl"]) // opentracker chroots into -d first
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn opentracker");
    let g = Guard(child, "opentracker");
    assert!(
        wait_tcp(port, Duration::from_secs(10)),
        "opentracker did not start"
    );
    // opentracker reads its whitelist a while after it starts listening (seconds on a busy
    // machine): wait (bounded) until an announce for every hash is accepted, then take the
    // probe peer out again with `stopped`.
    for hash in hex_hashes {
        let raw: String = (0..hash.len() / 2)
            .map(|i| format!("%{}", &hash[2 * i..2 * i + 2]))
            .collect();
        let base = format!(
            "http://127.0.0.1:{port}/announce?info_hash={raw}&peer_id=-WAIT00-000000000000&port=1&left=0"
        );
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let body = http_get(&base, Duration::from_secs(2)).unwrap_or_default();
            if !body.is_empty() && !String::from_utf8_lossy(&body).contains("failure reason") {
                break;
            }
            assert!(Instant::now() < end, "opentracker never accepted {hash}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = http_get(&format!("{base}&event=stopped"), Duration::from_secs(2));
    }
    g
}

/// GET `url` like a browser would: up to 5 redirects, chunked and gzip bodies, size limit,
/// every step under `timeout`.
pub fn http_get(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut url = url.to_owned();
    for _ in 0..6 {
        let req = build_get_request(&url).map_err(|e| e.to_string())?;
        if req.scheme != "http" {
            return Err("https is not used in these loopback tests".into());
        }
        let addr = (req.host.as_str(), req.port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("no address")?;
        let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.write_all(&req.bytes).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.take(MAX_BODY as u64 + 16 * 1024)
            .read_to_end(&mut raw)
            .map_err(|e| e.to_string())?;
        let head = parse_http_response_head(&raw)
            .map_err(|e| e.to_string())?
            .ok_or("truncated HTTP head")?;
        if (300..400).contains(&head.status) {
            let loc = head.location.ok_or("redirect without Location")?;
            url = resolve_redirect(&url, &loc).map_err(|e| e.to_string())?;
            continue;
        }
        if head.status != 200 {
            return Err(format!("HTTP status {}", head.status));
        }
        let mut body = raw[head.head_len..].to_vec();
        if head.chunked {
            body = dechunk(&body, MAX_BODY).map_err(|e| e.to_string())?;
        } else if let Some(n) = head.content_length {
            body.truncate(n);
        }
        return decode_body(head.content_encoding.as_deref(), &body, MAX_BODY)
            .map_err(|e| e.to_string());
    }
    Err("too many redirects".into())
}

/// Runs `a`'s actions over real sockets until `done` accepts an event or `timeout` passes.
/// Returns all events seen.
pub fn drive(
    a: &mut Announcer,
    udp: &UdpSocket,
    timeout: Duration,
    mut done: impl FnMut(&AnnouncerEvent) -> bool,
) -> Vec<AnnouncerEvent> {
    let end = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        while let Some(act) = a.poll_action() {
            match act {
                TrackerAction::HttpGet { tracker, url } => {
                    let r = http_get(&url, Duration::from_secs(5));
                    a.handle_http_response(
                        Instant::now(),
                        tracker,
                        r.as_deref().map_err(Clone::clone),
                    );
                }
                TrackerAction::SendUdp {
                    tracker,
                    host,
                    port,
                    payload,
                } => {
                    let to = (host.as_str(), port)
                        .to_socket_addrs()
                        .ok()
                        .and_then(|mut i| i.next());
                    if let Some(to) = to {
                        let _ = udp.send_to(&payload, to);
                    }
                    // Wait (bounded) for the reply or the retransmission timer.
                    let wait = a
                        .poll_timeout()
                        .map_or(Duration::from_millis(500), |t| {
                            t.saturating_duration_since(Instant::now())
                        })
                        .clamp(Duration::from_millis(1), Duration::from_secs(2));
                    udp.set_read_timeout(Some(wait)).expect("timeout");
                    if let Ok((n, _)) = udp.recv_from(&mut buf) {
                        a.handle_udp_datagram(Instant::now(), tracker, &buf[..n]);
                    } else {
                        a.handle_timeout(Instant::now());
                    }
                }
            }
        }
        while let Some(ev) = a.poll_event() {
            let stop = done(&ev);
            seen.push(ev);
            if stop {
                return seen;
            }
        }
        match a.poll_timeout() {
            Some(t) if t <= Instant::now() => a.handle_timeout(Instant::now()),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    seen
}

/// The sha256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    use sha2::Digest;
    let data = std::fs::read(p).expect("read file");
    sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

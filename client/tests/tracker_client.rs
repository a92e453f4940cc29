//! Our sans-I/O tracker client, driven over real std sockets, against opentracker (HTTP and
//! UDP) and against our own server (HTTP and UDP).
#![allow(clippy::disallowed_methods)] // real sockets, real clock

mod tracker_support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use freshet_client::tracker_server::{TrackerServer, TrackerServerOptions};
use freshet_tracker::udp::Family;
use freshet_tracker::{
    Announcer, AnnouncerConfig, AnnouncerEvent, InfoHashV1, PeerId, Progress, ScrapeStats,
    UdpClientConfig, UdpClientEvent, UdpTrackerClient, parse_scrape_response, scrape_url,
    scrape_url_for,
};
use tracker_support::{drive, free_port, have, http_get, start_opentracker};

const IH: InfoHashV1 = InfoHashV1([0xab; 20]);
const IH2: InfoHashV1 = InfoHashV1([0xcd; 20]);
const T: Duration = Duration::from_secs(20);

fn announcer(ih: InfoHashV1, url: &str, port: u16) -> (Announcer, UdpSocket) {
    let mut id = *b"-FR0001-000000000000";
    id[14..].copy_from_slice(format!("{port:06}").as_bytes());
    let mut cfg = AnnouncerConfig::new(PeerId(id), port, u64::from(port));
    cfg.udp.retransmit_base = Duration::from_millis(500);
    cfg.udp.max_attempts = 4;
    cfg.http_timeout = Duration::from_secs(5);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    (Announcer::new(ih, vec![vec![url.to_owned()]], cfg), sock)
}

fn announced(evs: &[AnnouncerEvent]) -> (Vec<SocketAddr>, Option<u32>, Option<u32>) {
    for e in evs {
        if let AnnouncerEvent::Announced {
            peers,
            complete,
            incomplete,
            ..
        } = e
        {
            return (peers.clone(), *complete, *incomplete);
        }
    }
    panic!("no announce reply; events: {evs:?}");
}

fn is_announced(e: &AnnouncerEvent) -> bool {
    matches!(e, AnnouncerEvent::Announced { .. })
}

fn scrape(ih: InfoHashV1, url: &str) -> ScrapeStats {
    if let Some(hostport) = url.strip_prefix("udp://") {
        let to: SocketAddr = hostport.split('/').next().unwrap().parse().unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = UdpClientConfig {
            retransmit_base: Duration::from_millis(500),
            max_attempts: 4,
            ..Default::default()
        };
        let mut c = UdpTrackerClient::new(cfg, Family::V4, 5);
        c.scrape(Instant::now(), vec![ih]);
        let end = Instant::now() + T;
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            while let Some(dg) = c.poll_transmit() {
                sock.send_to(&dg, to).unwrap();
            }
            if let Some(ev) = c.poll_event() {
                match ev {
                    UdpClientEvent::Scraped(v) => return v[0].1,
                    other => panic!("{other:?}"),
                }
            }
            sock.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            match sock.recv_from(&mut buf) {
                Ok((n, _)) => c.handle_datagram(Instant::now(), &buf[..n]),
                Err(_) => c.handle_timeout(Instant::now()),
            }
        }
        panic!("UDP scrape timed out");
    }
    let s = scrape_url_for(&scrape_url(url).unwrap(), &[ih]);
    let body = http_get(&s, Duration::from_secs(5)).unwrap();
    let r = parse_scrape_response(&body).unwrap();
    r.files
        .iter()
        .find(|(h, _)| *h == ih)
        .map(|(_, s)| *s)
        .unwrap_or_default()
}

/// Seeder and leecher find each other; scrape counts them; `stopped` removes the seeder.
fn scenario(ih: InfoHashV1, url: &str, base_port: u16) {
    let now = Instant::now;
    let (mut seeder, s_sock) = announcer(ih, url, base_port);
    seeder.start(
        now(),
        Progress {
            left: 0,
            ..Default::default()
        },
    );
    let evs = drive(&mut seeder, &s_sock, T, is_announced);
    announced(&evs);

    let (mut leecher, l_sock) = announcer(ih, url, base_port + 1);
    leecher.start(
        now(),
        Progress {
            left: 1000,
            ..Default::default()
        },
    );
    let (peers, complete, incomplete) = announced(&drive(&mut leecher, &l_sock, T, is_announced));
    let seeder_addr = SocketAddr::from(([127, 0, 0, 1], base_port));
    assert!(peers.contains(&seeder_addr), "{url}: leecher got {peers:?}");
    assert_eq!((complete, incomplete), (Some(1), Some(1)), "{url}");

    let st = scrape(ih, url);
    assert_eq!((st.complete, st.incomplete), (1, 1), "{url}: scrape {st:?}");

    seeder.stop(now(), Progress::default());
    let evs = drive(&mut seeder, &s_sock, T, |e| *e == AnnouncerEvent::Stopped);
    assert!(evs.contains(&AnnouncerEvent::Stopped), "{evs:?}");
    assert!(
        !evs.iter()
            .any(|e| matches!(e, AnnouncerEvent::Error { .. })),
        "{evs:?}"
    );

    let (mut third, t_sock) = announcer(ih, url, base_port + 2);
    third.start(
        now(),
        Progress {
            left: 5,
            ..Default::default()
        },
    );
    let (peers, complete, _) = announced(&drive(&mut third, &t_sock, T, is_announced));
    assert!(
        !peers.contains(&seeder_addr),
        "{url}: stopped seeder still listed: {peers:?}"
    );
    assert!(
        peers.contains(&SocketAddr::from(([127, 0, 0, 1], base_port + 1))),
        "{peers:?}"
    );
    assert_eq!(complete, Some(0));

    // completed is sent once and moves the leecher to the seeders.
    leecher.completed(
        now(),
        Progress {
            left: 0,
            downloaded: 1000,
            uploaded: 0,
        },
    );
    announced(&drive(&mut leecher, &l_sock, T, is_announced));
    assert_eq!(scrape(ih, url).complete, 1, "{url}");
}

#[test]
fn client_against_opentracker_http_and_udp() {
    if !have("opentracker") {
        println!("SKIPPED: opentracker is not installed (apt-get install -y opentracker)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _ot = start_opentracker(dir.path(), port, &[IH.to_hex(), IH2.to_hex()]);
    scenario(IH, &format!("http://127.0.0.1:{port}/announce"), 20_000);
    scenario(IH2, &format!("udp://127.0.0.1:{port}"), 20_100);

    // A torrent off the whitelist is a tracker error, not a crash.
    let (mut a, sock) = announcer(
        InfoHashV1([1; 20]),
        &format!("http://127.0.0.1:{port}/announce"),
        20_200,
    );
    a.start(Instant::now(), Progress::default());
    let evs = drive(&mut a, &sock, T, |e| {
        matches!(e, AnnouncerEvent::Error { .. })
    });
    assert!(
        matches!(evs.last(), Some(AnnouncerEvent::Error { message, .. }) if message.contains("not authorized")),
        "{evs:?}"
    );
}

#[test]
fn client_against_own_server_http_and_udp() {
    let opts = TrackerServerOptions::new(
        Some("127.0.0.1:0".parse().unwrap()),
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .with_interval(60);
    let server = TrackerServer::spawn(opts).unwrap();
    let addrs = server.local_addrs();
    scenario(
        IH,
        &format!("http://{}/announce", addrs.http.unwrap()),
        21_000,
    );
    scenario(IH2, &format!("udp://{}", addrs.udp.unwrap()), 21_100);

    // Redirects are followed: a tiny HTTP server answers 302 to our tracker.
    let redirector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rport = redirector.local_addr().unwrap().port();
    let target = format!("http://{}", addrs.http.unwrap());
    let t = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = redirector.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let path = req.split_whitespace().nth(1).unwrap().replace("/old", "");
        write!(
            s,
            "HTTP/1.1 301 Moved\r\nLocation: {target}{path}\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
    });
    let (mut a, sock) = announcer(
        IH,
        &format!("http://127.0.0.1:{rport}/old/announce"),
        21_200,
    );
    a.start(
        Instant::now(),
        Progress {
            left: 1,
            ..Default::default()
        },
    );
    let (peers, complete, incomplete) = announced(&drive(&mut a, &sock, T, is_announced));
    // The HTTP scenario left one seeder (21001, completed) and one leecher (21002).
    assert_eq!((complete, incomplete), (Some(1), Some(2)), "{peers:?}");
    assert_eq!(peers.len(), 2, "{peers:?}");
    t.join().unwrap();
    let stats = server.stop().unwrap();
    assert!(stats.announces >= 10, "{stats:?}");
    assert!(stats.connects >= 3 && stats.scrapes >= 4, "{stats:?}");
}

#[test]
fn own_server_over_ipv6_http_and_udp() {
    if UdpSocket::bind("[::1]:0").is_err() {
        println!("SKIPPED: no IPv6 loopback in this network namespace");
        return;
    }
    let opts = TrackerServerOptions::new(
        Some("[::1]:0".parse().unwrap()),
        Some("[::1]:0".parse().unwrap()),
    );
    let server = TrackerServer::spawn(opts).unwrap();
    let a = server.local_addrs();
    for (n, url) in [
        format!("http://{}/announce", a.http.unwrap()),
        format!("udp://{}", a.udp.unwrap()),
    ]
    .iter()
    .enumerate()
    {
        let ih = InfoHashV1([0x60 + n as u8; 20]);
        let mut got = Vec::new();
        for port in [22_000u16, 22_001] {
            let mut cfg = AnnouncerConfig::new(PeerId([port as u8; 20]), port, u64::from(port));
            cfg.udp.retransmit_base = Duration::from_millis(500);
            let sock = UdpSocket::bind("[::1]:0").unwrap();
            let mut ann = Announcer::new(ih, vec![vec![url.clone()]], cfg);
            ann.start(
                Instant::now(),
                Progress {
                    left: 1,
                    ..Default::default()
                },
            );
            got = announced(&drive(&mut ann, &sock, T, is_announced)).0;
        }
        // The second peer learns the first one's IPv6 address (peers6 over HTTP, 18-byte
        // entries over UDP).
        assert_eq!(
            got,
            vec!["[::1]:22000".parse::<SocketAddr>().unwrap()],
            "{url}"
        );
    }
    server.stop().unwrap();
}

#[test]
fn own_server_survives_a_flood() {
    use std::io::Write;
    let mut opts = TrackerServerOptions::new(
        Some("127.0.0.1:0".parse().unwrap()),
        Some("127.0.0.1:0".parse().unwrap()),
    );
    opts.max_http_connections = 32;
    opts.http_idle_timeout = Duration::from_millis(500);
    let server = TrackerServer::spawn(opts).unwrap();
    let a = server.local_addrs();
    // 20,000 garbage and forged datagrams: no reply to any of them.
    let junk = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut forged = Vec::new();
    freshet_tracker::udp::Request::Announce(freshet_tracker::udp::AnnounceRequest {
        connection_id: freshet_tracker::udp::ConnectionId(42),
        transaction_id: freshet_tracker::udp::TransactionId(1),
        info_hash: IH,
        peer_id: PeerId([0; 20]),
        downloaded: 0,
        left: 0,
        uploaded: 0,
        event: freshet_tracker::Event::Started,
        ip: 0,
        key: freshet_tracker::PeerKey(0),
        num_want: 200,
        port: 1,
    })
    .encode(&mut forged);
    for i in 0..20_000u32 {
        let dg: &[u8] = if i % 2 == 0 {
            &forged[..(i as usize % 99)]
        } else {
            b"\xff\xff"
        };
        let _ = junk.send_to(dg, a.udp.unwrap());
    }
    // Many idle HTTP connections and a few half requests: over the limit, extra ones are
    // refused; the idle ones are dropped after the idle timeout.
    let mut idle = Vec::new();
    for i in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(a.http.unwrap()) {
            if i % 3 == 0 {
                let _ = s.write_all(b"GET /announce?info_hash=");
            }
            idle.push(s);
        }
    }
    // UDP keeps working meanwhile.
    scenario(
        InfoHashV1([0x77; 20]),
        &format!("udp://{}", a.udp.unwrap()),
        23_000,
    );
    // HTTP works again once the idle connections are gone (bounded wait, retried by hand
    // because the announcer would back off for a minute after a refused connection).
    let url = format!("http://{}/announce", a.http.unwrap());
    let end = Instant::now() + T;
    let ok = loop {
        let (mut ann, sock) = announcer(InfoHashV1([0x78; 20]), &url, 23_100);
        ann.start(Instant::now(), Progress::default());
        let evs = drive(&mut ann, &sock, Duration::from_secs(5), |_| true);
        if evs.iter().any(is_announced) || Instant::now() > end {
            break evs;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(ok.iter().any(is_announced), "{ok:?}");
    drop(idle);
    let stats = server.stop().unwrap();
    assert!(
        stats.errors >= 1,
        "forged connection ids are answered with errors, {stats:?}"
    );
}

#[test]
fn own_server_dual_stack_socket_serves_ipv4_clients() {
    // `[::]` accepts IPv4 clients too (as IPv4-mapped addresses); they must get IPv4 replies.
    let opts = TrackerServerOptions::new(
        Some("[::]:0".parse().unwrap()),
        Some("[::]:0".parse().unwrap()),
    );
    let Ok(server) = TrackerServer::spawn(opts) else {
        println!("SKIPPED: cannot bind [::] in this network namespace");
        return;
    };
    let a = server.local_addrs();
    let (hp, up) = (a.http.unwrap().port(), a.udp.unwrap().port());
    scenario(
        InfoHashV1([0x90; 20]),
        &format!("http://127.0.0.1:{hp}/announce"),
        24_000,
    );
    scenario(
        InfoHashV1([0x91; 20]),
        &format!("udp://127.0.0.1:{up}"),
        24_100,
    );
    server.stop().unwrap();
}

/// Sends raw bytes on a fresh connection and reads until the server closes (bounded).
fn raw_http(addr: SocketAddr, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn own_server_http_edge_cases() {
    let server = TrackerServer::spawn(TrackerServerOptions::new(
        Some("127.0.0.1:0".parse().unwrap()),
        None,
    ))
    .unwrap();
    let addr = server.local_addrs().http.unwrap();
    assert_eq!(server.local_addrs().udp, None);
    let q = format!(
        "/announce?info_hash={}&peer_id={}&port=7&left=0",
        "%AA".repeat(20),
        "p".repeat(20)
    );
    // Two pipelined keep-alive requests, then one asking to close: three answers, then EOF.
    let req = format!(
        "GET {q} HTTP/1.1\r\nHost: x\r\n\r\nGET /scrape?info_hash={} HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nConnection: close\r\n\r\n",
        "%AA".repeat(20)
    );
    let r = raw_http(addr, req.as_bytes());
    assert_eq!(r.matches("HTTP/1.1 200 OK").count(), 2, "{r}");
    assert!(r.contains("5:peers0:"), "{r}");
    assert!(
        r.contains("d8:completei1e10:downloadedi0e10:incompletei0ee"),
        "{r}"
    );
    assert!(r.ends_with("not found"), "{r}");
    // HTTP/1.0 without keep-alive is closed after the answer.
    let r = raw_http(addr, format!("GET {q} HTTP/1.0\r\n\r\n").as_bytes());
    assert!(
        r.starts_with("HTTP/1.1 200 OK") && r.contains("Connection: close"),
        "{r}"
    );
    // Other methods, garbage and oversized heads.
    assert!(raw_http(addr, b"POST /announce HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(raw_http(addr, b"\x00\x01 garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    let huge = format!("GET /{} HTTP/1.1\r\n", "a".repeat(20_000));
    assert_eq!(
        raw_http(addr, huge.as_bytes()),
        "",
        "oversized requests are dropped"
    );
    // The server still answers afterwards.
    assert!(
        raw_http(addr, format!("GET {q} HTTP/1.0\r\n\r\n").as_bytes()).starts_with("HTTP/1.1 200")
    );
    server.stop().unwrap();
}

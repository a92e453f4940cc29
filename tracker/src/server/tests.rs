use super::*;
use crate::udp::{ConnectionId, Response, TransactionId};
use crate::{
    AnnounceRequest, Event, PeerId, PeerKey, announce_url, parse_announce_response,
    parse_scrape_response,
};
use proptest::prelude::*;

const IH: InfoHashV1 = InfoHashV1([0x5a; 20]);

fn core(config: ServerConfig) -> (TrackerCore, Instant) {
    let t0 = crate::test_epoch();
    (TrackerCore::new(config, [9; 32], t0), t0)
}

fn target(port: u16, left: u64, extra: &str) -> String {
    let req = AnnounceRequest::new(IH, PeerId([b'p'; 20]), port).with_left(left);
    let url = announce_url("http://h/announce", &req).unwrap();
    format!("{}{extra}", &url["http://h".len()..])
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn http_announce_compact_dict_and_peers6() {
    let (mut c, t0) = core(ServerConfig::default());
    let mut out = Vec::new();
    assert_eq!(
        c.handle_http(t0, addr("10.0.0.1:5"), &target(1000, 0, ""), &mut out),
        HttpStatus::Ok
    );
    assert_eq!(
        c.handle_http(t0, addr("[2001:db8::1]:5"), &target(1001, 0, ""), &mut out),
        HttpStatus::Ok
    );
    // A dual-stack socket's IPv4-mapped address counts as IPv4.
    c.handle_http(
        t0,
        addr("[::ffff:10.0.0.3]:5"),
        &target(1002, 9, ""),
        &mut out,
    );
    let r = parse_announce_response(&out).unwrap();
    assert_eq!(
        (r.complete, r.incomplete, r.interval, r.min_interval),
        (Some(2), Some(1), 1800, Some(60))
    );
    let mut peers = r.peers.clone();
    peers.sort();
    assert_eq!(
        peers,
        vec![addr("10.0.0.1:1000"), addr("[2001:db8::1]:1001")]
    );
    c.handle_http(
        t0,
        addr("10.0.0.3:5"),
        &target(1002, 9, "&compact=0"),
        &mut out,
    );
    assert!(
        out.windows(5).any(|w| w == b"d2:ip"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let mut r2 = parse_announce_response(&out).unwrap().peers;
    r2.sort();
    assert_eq!(r2, peers);
    assert_eq!(c.stats().announces, 4);
}

#[test]
fn http_scrape_errors_and_routes() {
    let (mut c, t0) = core(ServerConfig::default());
    let mut out = Vec::new();
    c.handle_http(
        t0,
        addr("10.0.0.1:5"),
        &target(1000, 0, "&event=completed"),
        &mut out,
    );
    let q = format!(
        "/scrape?info_hash={}&info_hash={}",
        "%5A".repeat(20),
        "A".repeat(20)
    );
    assert_eq!(
        c.handle_http(t0, addr("10.0.0.1:5"), &q, &mut out),
        HttpStatus::Ok
    );
    let s = parse_scrape_response(&out).unwrap();
    assert_eq!(s.files.len(), 2);
    assert_eq!(
        s.files[1],
        (
            IH,
            ScrapeStats {
                complete: 1,
                downloaded: 1,
                incomplete: 0
            }
        )
    );
    c.handle_http(t0, addr("10.0.0.1:5"), "/scrape", &mut out);
    assert!(matches!(
        parse_scrape_response(&out),
        Err(crate::ResponseError::Failure(_))
    ));
    assert_eq!(
        c.handle_http(t0, addr("10.0.0.1:5"), "/", &mut out),
        HttpStatus::NotFound
    );
    c.handle_http(
        t0,
        addr("10.0.0.1:5"),
        "/announce?info_hash=short",
        &mut out,
    );
    assert!(
        matches!(parse_announce_response(&out), Err(crate::ResponseError::Failure(m)) if m.contains("info_hash"))
    );
}

#[test]
fn allow_list_and_rate_limit() {
    let allow =
        AllowList::from_lines("# comment\n0000000000000000000000000000000000000000\n").unwrap();
    let mut cfg = ServerConfig {
        allow,
        ..Default::default()
    };
    cfg.limits.per_ip_per_sec = 3;
    let (mut c, t0) = core(cfg);
    let mut out = Vec::new();
    c.handle_http(t0, addr("10.0.0.1:5"), &target(1, 0, ""), &mut out);
    assert_eq!(
        parse_announce_response(&out),
        Err(crate::ResponseError::Failure(
            "torrent not allowed on this tracker".into()
        ))
    );
    c.handle_http(t0, addr("10.0.0.1:5"), &target(1, 0, ""), &mut out);
    c.handle_http(t0, addr("10.0.0.1:5"), &target(1, 0, ""), &mut out);
    assert_eq!(
        c.handle_http(t0, addr("10.0.0.1:5"), &target(1, 0, ""), &mut out),
        HttpStatus::Busy
    );
    assert_eq!(
        c.handle_http(t0, addr("10.0.0.2:5"), &target(1, 0, ""), &mut out),
        HttpStatus::Ok
    );
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(
        c.handle_http(t1, addr("10.0.0.1:5"), &target(1, 0, ""), &mut out),
        HttpStatus::Ok
    );
    assert_eq!(c.stats().rate_limited, 1);
    assert!(AllowList::from_lines("xyz").is_err());
    assert_eq!(
        AllowList::from_args(&[] as &[&str], None),
        Ok(AllowList::Any)
    );
    let both = AllowList::from_args(&["ab".repeat(20)], Some("cd".repeat(20).as_str())).unwrap();
    assert!(both.allows(&InfoHashV1([0xab; 20])) && both.allows(&InfoHashV1([0xcd; 20])));
    assert!(!both.allows(&IH));
}

fn udp_connect(c: &mut TrackerCore, now: Instant, from: SocketAddr) -> ConnectionId {
    let mut dg = Vec::new();
    Request::Connect {
        transaction_id: TransactionId(1),
    }
    .encode(&mut dg);
    let mut out = Vec::new();
    assert!(c.handle_udp(now, from, &dg, &mut out));
    match Response::decode(&out, Family::of(&from)).unwrap() {
        Response::Connect {
            transaction_id,
            connection_id,
        } => {
            assert_eq!(transaction_id, TransactionId(1));
            connection_id
        }
        other => panic!("{other:?}"),
    }
}

fn udp_announce(
    c: &mut TrackerCore,
    now: Instant,
    from: SocketAddr,
    cid: ConnectionId,
    port: u16,
    left: u64,
) -> Response {
    let mut dg = Vec::new();
    Request::Announce(udp::AnnounceRequest {
        connection_id: cid,
        transaction_id: TransactionId(2),
        info_hash: IH,
        peer_id: PeerId([1; 20]),
        downloaded: 0,
        left,
        uploaded: 0,
        event: Event::Started,
        ip: 0,
        key: PeerKey(0),
        num_want: -1,
        port,
    })
    .encode(&mut dg);
    let mut out = Vec::new();
    assert!(c.handle_udp(now, from, &dg, &mut out));
    Response::decode(&out, Family::of(&from)).unwrap()
}

#[test]
fn udp_connect_announce_scrape() {
    let (mut c, t0) = core(ServerConfig::default());
    let a = addr("127.0.0.1:4000");
    let b = addr("127.0.0.2:4001");
    let ca = udp_connect(&mut c, t0, a);
    let cb = udp_connect(&mut c, t0, b);
    udp_announce(&mut c, t0, a, ca, 6881, 0);
    let Response::Announce {
        seeders,
        leechers,
        peers,
        interval,
        ..
    } = udp_announce(&mut c, t0, b, cb, 6882, 5)
    else {
        panic!()
    };
    assert_eq!((seeders, leechers, interval), (1, 1, 1800));
    assert_eq!(peers, vec![addr("127.0.0.1:6881")]);
    // Someone else's connection id is refused with an error packet.
    let r = udp_announce(&mut c, t0, b, ca, 6882, 5);
    assert!(matches!(r, Response::Error { .. }));
    // Expired connection id (2 minutes later).
    let r = udp_announce(&mut c, t0 + Duration::from_secs(125), a, ca, 6881, 0);
    assert!(matches!(r, Response::Error { .. }));
    let mut dg = Vec::new();
    Request::Scrape {
        connection_id: ca,
        transaction_id: TransactionId(3),
        info_hashes: vec![IH, InfoHashV1([0; 20])],
    }
    .encode(&mut dg);
    let mut out = Vec::new();
    assert!(c.handle_udp(t0, a, &dg, &mut out));
    let Response::Scrape { stats, .. } = Response::decode(&out, Family::V4).unwrap() else {
        panic!()
    };
    assert_eq!(
        stats,
        vec![
            ScrapeStats {
                complete: 1,
                downloaded: 0,
                incomplete: 1
            },
            ScrapeStats::default()
        ]
    );
    // Garbage gets no reply.
    assert!(!c.handle_udp(t0, a, b"hello", &mut out));
}

#[test]
fn udp_ipv6_and_expiry() {
    let (mut c, t0) = core(ServerConfig {
        interval: 60,
        ..Default::default()
    });
    let a = addr("[::1]:4000");
    let b = addr("[::2]:4000");
    let ca = udp_connect(&mut c, t0, a);
    udp_announce(&mut c, t0, a, ca, 7000, 0);
    let cb = udp_connect(&mut c, t0, b);
    let Response::Announce { peers, .. } = udp_announce(&mut c, t0, b, cb, 7001, 1) else {
        panic!()
    };
    assert_eq!(peers, vec![addr("[::1]:7000")]);
    assert!(c.poll_timeout() <= t0 + Duration::from_secs(60));
    c.handle_timeout(t0 + Duration::from_secs(30)); // early: harmless
    assert_eq!(c.store().peer_count(), 2);
    c.handle_timeout(t0 + Duration::from_secs(121));
    assert_eq!(c.store().peer_count(), 0);
}

proptest! {
    #[test]
    fn core_never_panics_on_garbage(dg in proptest::collection::vec(any::<u8>(), 0..200), t in "[ -~]{0,200}") {
        let (mut c, t0) = core(ServerConfig::default());
        let mut out = Vec::new();
        let _ = c.handle_udp(t0, addr("1.2.3.4:5"), &dg, &mut out);
        let _ = c.handle_http(t0, addr("1.2.3.4:5"), &t, &mut out);
        let _ = c.handle_http(t0, addr("1.2.3.4:5"), &format!("/announce?{t}"), &mut out);
    }

    #[test]
    fn http_reply_round_trip(ports in proptest::collection::btree_set(1u16.., 1..60)) {
        let (mut c, t0) = core(ServerConfig::default());
        let mut out = Vec::new();
        for p in &ports {
            c.handle_http(t0, addr("10.1.1.1:1"), &target(*p, 1, ""), &mut out);
        }
        c.handle_http(t0, addr("10.9.9.9:1"), &target(1, 1, "&numwant=200"), &mut out);
        let r = parse_announce_response(&out).unwrap();
        prop_assert_eq!(r.incomplete, Some(ports.len() as u32 + 1));
        let mut got: Vec<u16> = r.peers.iter().map(|p| p.port()).collect();
        got.sort();
        prop_assert_eq!(got, ports.into_iter().collect::<Vec<_>>());
    }
}

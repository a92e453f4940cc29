//! Runs the committed fuzz regression corpora (`fuzz/regressions/{http_response,udp_packets,
//! server_request}/`) through the same invariants as the fuzz targets, on stable, so CI
//! exercises them without nightly.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use freshet_tracker::udp::{Family, Request, Response};
use freshet_tracker::{
    AnnounceRequest, InfoHashV1, PeerId, ServerConfig, TrackerCore, UdpClientConfig,
    UdpTrackerClient,
};

/// Every committed regression input of `target`, as (file name, bytes).
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("directory entry").path();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "{}: too few regression inputs",
        dir.display()
    );
    out
}

#[test]
fn http_response_regressions_keep_fuzz_invariants() {
    let mut announces = 0;
    for (name, data) in regressions("http_response") {
        eprintln!("checking {name}");
        if let Ok(r) = freshet_tracker::parse_announce_response(&data) {
            assert!(r.peers.len() <= data.len() / 6 + data.len() / 10);
            announces += 1;
        }
        let _ = freshet_tracker::parse_scrape_response(&data);
        if let Ok(Some(h)) = freshet_tracker::parse_http_response_head(&data) {
            assert!(h.head_len <= data.len());
            let _ = freshet_tracker::dechunk(&data[h.head_len..], 1 << 16);
        }
        if let Ok(out) = freshet_tracker::decode_body(Some("gzip"), &data, 1 << 16) {
            assert!(out.len() <= 1 << 16, "{name}: gzip output over the cap");
        }
        let _ = freshet_tracker::decode_body(Some("deflate"), &data, 1 << 16);
    }
    assert!(announces >= 1);
}

#[test]
fn gzip_bomb_is_capped() {
    let (_, bomb) = regressions("http_response")
        .into_iter()
        .find(|(n, _)| n.ends_with("/gzip-bomb"))
        .expect("gzip-bomb regression");
    // 1 MiB of zeros compressed; a 64 KiB cap must refuse it, not allocate it.
    assert!(freshet_tracker::decode_body(Some("gzip"), &bomb, 1 << 16).is_err());
}

#[test]
fn udp_packet_regressions_keep_fuzz_invariants() {
    // A clock is needed only as an opaque base instant for the sans-I/O client.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    for (name, data) in regressions("udp_packets") {
        eprintln!("checking {name}");
        if let Ok(req) = Request::decode(&data) {
            let mut out = Vec::new();
            req.encode(&mut out);
            assert_eq!(Request::decode(&out).as_ref(), Ok(&req));
        }
        for family in [Family::V4, Family::V6] {
            if let Ok(resp) = Response::decode(&data, family) {
                let mut out = Vec::new();
                resp.encode(family, &mut out);
                assert_eq!(Response::decode(&out, family).as_ref(), Ok(&resp));
            }
        }
        let mut c = UdpTrackerClient::new(UdpClientConfig::default(), Family::V4, 1);
        c.announce(
            t0,
            AnnounceRequest::new(InfoHashV1([1; 20]), PeerId([2; 20]), 1),
        );
        let first = c.poll_transmit().unwrap_or_default();
        let mut reply = data.clone();
        if reply.len() >= 8 && reply[0] & 1 == 0 && first.len() >= 16 {
            reply[4..8].copy_from_slice(&first[12..16]);
        }
        c.handle_datagram(t0, &reply);
        c.handle_timeout(t0 + Duration::from_secs(20));
        let mut n = 0;
        while c.poll_transmit().is_some() {
            n += 1;
            assert!(n < 1000, "unbounded transmits");
        }
        while c.poll_event().is_some() {
            n += 1;
            assert!(n < 2000, "unbounded events");
        }
    }
}

#[test]
fn server_request_regressions_keep_fuzz_invariants() {
    // A clock is needed only as an opaque base instant for the sans-I/O tracker core.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let from: SocketAddr = SocketAddr::from(([10, 0, 0, 1], 1234));
    for (name, data) in regressions("server_request") {
        eprintln!("checking {name}");
        let mut core = TrackerCore::new(ServerConfig::default(), [0; 32], now);
        let mut out = Vec::new();
        if core.handle_udp(now, from, &data, &mut out) {
            assert!(out.len() <= 1500 + 18 * 200);
        }
        let text = String::from_utf8_lossy(&data);
        let _ = core.handle_http(now, from, &text, &mut out);
        let _ = core.handle_http(now, from, &format!("/announce?{text}"), &mut out);
        let _ = core.handle_http(now, from, &format!("/scrape?{text}"), &mut out);
        let _ = freshet_tracker::parse_announce_query(&text);
    }
}

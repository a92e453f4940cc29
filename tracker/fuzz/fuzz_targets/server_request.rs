//! The tracker server's request side: UDP datagrams and HTTP request targets from anyone.
#![no_main]
use std::net::SocketAddr;
use std::time::Instant;

use freshet_tracker::{ServerConfig, TrackerCore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut core = TrackerCore::new(ServerConfig::default(), [0; 32], now);
    let from: SocketAddr = "10.0.0.1:1234".parse().unwrap();
    let mut out = Vec::new();
    if core.handle_udp(now, from, data, &mut out) {
        assert!(out.len() <= 1500 + 18 * 200);
    }
    let text = String::from_utf8_lossy(data);
    let _ = core.handle_http(now, from, &text, &mut out);
    let _ = core.handle_http(now, from, &format!("/announce?{text}"), &mut out);
    let _ = core.handle_http(now, from, &format!("/scrape?{text}"), &mut out);
    let _ = freshet_tracker::parse_announce_query(&text);
});

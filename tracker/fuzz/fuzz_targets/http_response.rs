//! HTTP tracker replies: announce and scrape bodies, response heads, chunked and gzip bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = freshet_tracker::parse_announce_response(data) {
        // Whole entries only: never more peers than bytes allow.
        assert!(r.peers.len() <= data.len() / 6 + data.len() / 10);
    }
    let _ = freshet_tracker::parse_scrape_response(data);
    if let Ok(Some(h)) = freshet_tracker::parse_http_response_head(data) {
        assert!(h.head_len <= data.len());
        let body = &data[h.head_len..];
        let _ = freshet_tracker::dechunk(body, 1 << 16);
    }
    if let Ok(out) = freshet_tracker::decode_body(Some("gzip"), data, 1 << 16) {
        assert!(out.len() <= 1 << 16);
    }
    let _ = freshet_tracker::decode_body(Some("deflate"), data, 1 << 16);
});

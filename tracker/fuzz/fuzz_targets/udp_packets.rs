//! BEP 15 datagrams both ways, re-encoding what decodes, and the UDP client state machine fed
//! with arbitrary replies.
#![no_main]
use std::time::{Duration, Instant};

use freshet_tracker::udp::{Family, Request, Response};
use freshet_tracker::{AnnounceRequest, InfoHashV1, PeerId, UdpClientConfig, UdpTrackerClient};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = Request::decode(data) {
        let mut out = Vec::new();
        req.encode(&mut out);
        assert_eq!(Request::decode(&out).as_ref(), Ok(&req));
    }
    for family in [Family::V4, Family::V6] {
        if let Ok(resp) = Response::decode(data, family) {
            let mut out = Vec::new();
            resp.encode(family, &mut out);
            assert_eq!(Response::decode(&out, family).as_ref(), Ok(&resp));
        }
    }
    // The client accepts any bytes as a reply without panicking.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut c = UdpTrackerClient::new(UdpClientConfig::default(), Family::V4, 1);
    c.announce(
        t0,
        AnnounceRequest::new(InfoHashV1([1; 20]), PeerId([2; 20]), 1),
    );
    let first = c.poll_transmit().unwrap_or_default();
    // Make the fuzz input match the outstanding transaction id half of the time.
    let mut reply = data.to_vec();
    if reply.len() >= 8 && reply[0] & 1 == 0 {
        reply[4..8].copy_from_slice(&first[12..16]);
    }
    c.handle_datagram(t0, &reply);
    c.handle_timeout(t0 + Duration::from_secs(20));
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
});

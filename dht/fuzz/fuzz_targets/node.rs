//! A whole node fed arbitrary packets: never panics, replies stay bounded in size and count.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use freshet_dht::{Config, Dht};
use freshet_metainfo::InfoHashV1;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods)] // fuzz harness: one base instant, then virtual time
    let mut now = Instant::now();
    let mut dht = Dht::new(now, Config { rng_seed: Some([9; 32]), ..Config::default() });
    dht.get_peers(now, InfoHashV1([1; 20]));
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        let from = SocketAddr::from(([10, 0, (i % 7) as u8, 1], 6881));
        dht.handle_packet(now, from, chunk);
        now += Duration::from_millis(300);
        dht.handle_timeout(now);
        let mut n = 0;
        while let Some((_, bytes)) = dht.poll_transmit() {
            assert!(bytes.len() < 1500, "reply too large: {}", bytes.len());
            n += 1;
        }
        assert!(n <= 16, "one packet caused {n} datagrams");
        while dht.poll_event().is_some() {}
    }
});

//! Five DHT nodes over real UDP sockets on 127.0.0.1: one announces, another finds it.
//!
//! Shows the driving loop a client uses (one socket per node, drain `poll_transmit` and
//! `poll_event` after every input, honour `poll_timeout`). Nothing leaves 127.0.0.1.
//!
//! Run: `cargo run --example udp_loopback`

// An example that owns real sockets needs the wall clock and a short idle wait.
#![allow(clippy::disallowed_methods)]

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use freshet_dht::{Config, Dht, Event};
use freshet_metainfo::InfoHashV1;

fn main() -> std::io::Result<()> {
    let start = Instant::now();
    let sockets: Vec<UdpSocket> = (0..5)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()?;
    let addrs: Vec<SocketAddr> = sockets
        .iter()
        .map(UdpSocket::local_addr)
        .collect::<Result<_, _>>()?;
    let router = addrs[0];
    let mut nodes: Vec<Dht> = (0..5)
        .map(|i| {
            let bootstrap = if i == 0 { vec![] } else { vec![router] };
            Dht::new(
                start,
                Config {
                    bootstrap,
                    ..Config::default()
                },
            )
        })
        .collect();
    let hash = InfoHashV1(*b"udp-loopback-example");
    let mut phase = 0;
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        if now - start > Duration::from_secs(10) {
            eprintln!("gave up after 10 s");
            std::process::exit(1);
        }
        let mut busy = false;
        for (i, node) in nodes.iter_mut().enumerate() {
            loop {
                match sockets[i].recv_from(&mut buf) {
                    Ok((n, from)) => {
                        node.handle_packet(now, from, &buf[..n]);
                        busy = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
            }
            while let Some((to, bytes)) = node.poll_transmit() {
                assert!(to.ip().is_loopback(), "example only talks to 127.0.0.1");
                sockets[i].send_to(&bytes, to)?;
                busy = true;
            }
            while let Some(ev) = node.poll_event() {
                match ev {
                    Event::PeersFound { peers, hop, .. } if i == 4 => {
                        println!(
                            "node 4 found peers {peers:?} (hop {hop}) after {:?}",
                            now - start
                        );
                    }
                    Event::LookupDone {
                        hops,
                        queries,
                        announced_to,
                        ..
                    } => {
                        println!(
                            "node {i}: lookup done, {hops} hops, {queries} queries, announced to {announced_to}"
                        );
                        if i == 4 && phase == 2 {
                            println!("node 4 stats: {:?}", node.stats(now));
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
        }
        if phase == 0 && nodes.iter().all(|n| n.active_lookups() == 0) {
            println!("bootstrap done after {:?}", now - start);
            nodes[2].announce(now, hash, 51_413);
            phase = 1;
        } else if phase == 1 && nodes.iter().all(|n| n.active_lookups() == 0) {
            nodes[4].get_peers(now, hash);
            phase = 2;
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

//! Deterministic simulation: 20 DHT nodes on an in-memory network with a virtual clock.
//! One node announces an info-hash; another finds it through the DHT alone (no tracker).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use freshet_dht::{Config, Dht, Event, LookupId};
use freshet_metainfo::InfoHashV1;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A datagram on the simulated wire: (deliver_at, sequence number, from, to index, payload).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight(Instant, u64, SocketAddr, usize, Vec<u8>);

struct Net {
    start: Instant,
    now: Instant,
    nodes: Vec<Dht>,
    addrs: Vec<SocketAddr>,
    wire: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    rng: ChaCha8Rng,
    loss: f64,
    events: Vec<(usize, Duration, Event)>,
    packets: u64,
}

impl Net {
    fn new(n: usize, seed: u64, loss: f64) -> Self {
        #[allow(clippy::disallowed_methods)] // one base instant; everything after is virtual
        let start = Instant::now();
        let addrs: Vec<SocketAddr> = (0..n)
            .map(|i| SocketAddr::from(([10, 0, 0, i as u8 + 1], 6881)))
            .collect();
        let nodes = (0..n)
            .map(|i| {
                let mut s = [0u8; 32];
                s[..8].copy_from_slice(&seed.to_le_bytes());
                s[8..16].copy_from_slice(&(i as u64).to_le_bytes());
                let bootstrap = if i == 0 { vec![] } else { vec![addrs[0]] };
                Dht::new(
                    start,
                    Config {
                        rng_seed: Some(s),
                        bootstrap,
                        ..Config::default()
                    },
                )
            })
            .collect();
        let mut net = Self {
            start,
            now: start,
            nodes,
            addrs,
            wire: BinaryHeap::new(),
            seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            loss,
            events: Vec::new(),
            packets: 0,
        };
        for i in 0..n {
            net.flush(i);
        }
        net
    }

    /// Moves queued datagrams of node `i` onto the wire and collects its events.
    fn flush(&mut self, i: usize) {
        while let Some((to, bytes)) = self.nodes[i].poll_transmit() {
            let Some(j) = self.addrs.iter().position(|a| *a == to) else {
                panic!("node {i} sent to {to}, which is outside the simulated network");
            };
            self.packets += 1;
            if self.rng.random_bool(self.loss) {
                continue;
            }
            let latency = Duration::from_millis(self.rng.random_range(5..50));
            self.seq += 1;
            self.wire.push(Reverse(InFlight(
                self.now + latency,
                self.seq,
                self.addrs[i],
                j,
                bytes,
            )));
        }
        while let Some(ev) = self.nodes[i].poll_event() {
            self.events.push((i, self.now - self.start, ev));
        }
    }

    /// Advances to the next packet or timer; false when nothing is scheduled before `limit`.
    fn step(&mut self, limit: Instant) -> bool {
        let next_packet = self.wire.peek().map(|Reverse(p)| p.0);
        let next_timer = self.nodes.iter().filter_map(Dht::poll_timeout).min();
        let next = match (next_packet, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        while self.wire.peek().is_some_and(|Reverse(p)| p.0 <= self.now) {
            let Some(Reverse(InFlight(_, _, from, to, bytes))) = self.wire.pop() else {
                break;
            };
            self.nodes[to].handle_packet(self.now, from, &bytes);
            self.flush(to);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.nodes[i].handle_timeout(self.now);
                self.flush(i);
            }
        }
        true
    }

    /// Runs until `done` holds, at most `max_steps` steps and `max_time` of virtual time.
    fn drive_until(&mut self, max_time: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let limit = self.now + max_time;
        for _ in 0..200_000 {
            if done(self) {
                return true;
            }
            if !self.step(limit) {
                return done(self);
            }
        }
        false
    }

    fn lookup_done(&self, node: usize, lid: LookupId) -> Option<(Duration, u32, u32)> {
        self.events.iter().find_map(|(i, t, e)| match e {
            Event::LookupDone {
                lookup,
                hops,
                queries,
                ..
            } if *i == node && *lookup == lid => Some((*t, *hops, *queries)),
            _ => None,
        })
    }
}

fn addr_of(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 6881))
}

struct Outcome {
    found_after: Duration,
    found_hop: u32,
    lookup_hops: u32,
    lookup_queries: u32,
    lookup_time: Duration,
    packets: u64,
    table_sizes: Vec<usize>,
}

fn run(n: usize, seed: u64, loss: f64) -> Outcome {
    let mut net = Net::new(n, seed, loss);
    // 1. Everyone bootstraps from node 0 (loopback-style fixed address, no public routers).
    let all_idle = |n: &Net| n.nodes.iter().all(|d| d.active_lookups() == 0);
    assert!(
        net.drive_until(Duration::from_secs(60), all_idle),
        "bootstrap did not finish"
    );
    let table_sizes: Vec<usize> = net.nodes.iter().map(|d| d.routing_table().len()).collect();
    // The router (node 0) only heard queries from the others: those contacts are questionable
    // until they answer one of its own queries (BEP 5). Node 5 looked itself up: good contacts.
    let s = net.nodes[0].stats(net.now);
    assert_eq!(s.good + s.questionable, table_sizes[0], "{s:?}");
    assert_eq!((s.bad, s.active_lookups, s.pending_queries), (0, 0, 0));
    assert!(
        net.nodes[5].stats(net.now).good >= 4,
        "{:?}",
        net.nodes[5].stats(net.now)
    );

    // 2. Node 7 announces that it seeds the torrent on port 51413.
    let hash = InfoHashV1(*b"freshet-dht-sim-hash");
    let a = net.nodes[7].announce(net.now, hash, 51_413);
    net.flush(7);
    assert!(net.drive_until(Duration::from_secs(60), |n| n.lookup_done(7, a).is_some()));
    let announced_to = net.events.iter().find_map(|(i, _, e)| match e {
        Event::LookupDone {
            lookup,
            announced_to,
            ..
        } if *i == 7 && *lookup == a => Some(*announced_to),
        _ => None,
    });
    assert!(
        announced_to.is_some_and(|n| n > 0),
        "announce reached no node: {announced_to:?}"
    );
    // Let the announce_peer queries land.
    net.drive_until(Duration::from_secs(1), |_| false);

    // 3. A node that holds no announce itself looks the torrent up.
    let searcher = (0..n)
        .rev()
        .find(|&i| i != 7 && net.nodes[i].stored_peers(net.now, &hash).is_empty())
        .expect("some node did not receive the announce (K = 8 < 19)");
    let t0 = net.now - net.start;
    let lid = net.nodes[searcher].get_peers(net.now, hash);
    net.flush(searcher);
    assert!(net.drive_until(Duration::from_secs(60), |n| {
        n.lookup_done(searcher, lid).is_some()
    }));
    let want = SocketAddr::new(addr_of(7).ip(), 51_413);
    let (found_at, found_hop) = net
        .events
        .iter()
        .find_map(|(i, t, e)| match e {
            Event::PeersFound {
                lookup, peers, hop, ..
            } if *i == searcher && *lookup == lid && peers.contains(&want) => Some((*t, *hop)),
            _ => None,
        })
        .expect("searcher never found node 7's peer");
    let (done_at, lookup_hops, lookup_queries) = net.lookup_done(searcher, lid).unwrap_or_default();
    Outcome {
        found_after: found_at - t0,
        found_hop,
        lookup_hops,
        lookup_queries,
        lookup_time: done_at - t0,
        packets: net.packets,
        table_sizes,
    }
}

#[test]
fn twenty_nodes_find_announced_peer_without_tracker() {
    let o = run(20, 1, 0.0);
    println!(
        "20-node DHT: peer found after {:?} (hop {}), lookup converged in {} hops, {} queries, {:?}; \
         {} datagrams total; routing table sizes {:?}",
        o.found_after,
        o.found_hop,
        o.lookup_hops,
        o.lookup_queries,
        o.lookup_time,
        o.packets,
        o.table_sizes
    );
    assert!(o.found_hop >= 1, "found through the network, not locally");
    assert!(
        o.table_sizes.iter().all(|&s| s >= 8),
        "every node learned at least K contacts"
    );
    assert!(o.lookup_queries <= 40);
}

#[test]
fn two_hundred_nodes_need_several_hops() {
    let o = run(200, 5, 0.0);
    println!(
        "200-node DHT: peer found after {:?} (hop {}), lookup converged in {} hops, {} queries, {:?}; \
         {} datagrams total; mean routing table size {}",
        o.found_after,
        o.found_hop,
        o.lookup_hops,
        o.lookup_queries,
        o.lookup_time,
        o.packets,
        o.table_sizes.iter().sum::<usize>() / o.table_sizes.len()
    );
    assert!(o.found_hop >= 1);
    assert!(o.lookup_queries <= 60);
}

#[test]
fn survives_ten_percent_packet_loss() {
    let o = run(20, 2, 0.10);
    println!(
        "20-node DHT, 10% loss: found after {:?} (hop {}), {} hops, {} queries, {:?}",
        o.found_after, o.found_hop, o.lookup_hops, o.lookup_queries, o.lookup_time
    );
    assert!(o.found_hop >= 1);
}

#[test]
fn simulation_is_deterministic_for_a_seed() {
    let a = run(20, 3, 0.05);
    let b = run(20, 3, 0.05);
    assert_eq!(
        (a.found_after, a.lookup_queries, a.packets),
        (b.found_after, b.lookup_queries, b.packets)
    );
    assert_eq!(a.table_sizes, b.table_sizes);
}

#[test]
fn restarted_node_rejoins_from_saved_state_without_bootstrap() {
    let mut net = Net::new(20, 4, 0.0);
    let all_idle = |n: &Net| n.nodes.iter().all(|d| d.active_lookups() == 0);
    assert!(net.drive_until(Duration::from_secs(60), all_idle));
    let hash = InfoHashV1(*b"freshet-dht-restart!");
    let a = net.nodes[3].announce(net.now, hash, 7000);
    net.flush(3);
    assert!(net.drive_until(Duration::from_secs(60), |n| n.lookup_done(3, a).is_some()));
    net.drive_until(Duration::from_secs(1), |_| false);

    // Persist node 15, "restart" it with no bootstrap routers, only the saved file.
    let saved = net.nodes[15].saved_state(net.now).encode();
    let state = freshet_dht::SavedState::decode(&saved).expect("saved state decodes");
    let old_id = net.nodes[15].id();
    net.nodes[15] = Dht::new(
        net.now,
        Config {
            rng_seed: Some([99; 32]),
            saved_state: Some(state),
            ..Config::default()
        },
    );
    assert_eq!(net.nodes[15].id(), old_id, "id survives the restart");
    net.flush(15);
    assert!(net.drive_until(Duration::from_secs(60), all_idle));
    assert!(
        net.nodes[15].routing_table().len() >= 8,
        "table refilled from saved contacts"
    );
    let lid = net.nodes[15].get_peers(net.now, hash);
    net.flush(15);
    assert!(net.drive_until(Duration::from_secs(60), |n| {
        n.lookup_done(15, lid).is_some()
    }));
    let want = SocketAddr::from(([10, 0, 0, 4], 7000));
    assert!(net.events.iter().any(|(i, _, e)| matches!(e,
        Event::PeersFound { lookup, peers, .. } if *i == 15 && *lookup == lid && peers.contains(&want))));
}

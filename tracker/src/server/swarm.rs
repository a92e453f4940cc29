//! The swarm store: which peers are in which torrent, kept small.
//!
//! Each swarm holds two vectors sorted by address (IPv4 entries are 12 bytes, IPv6 24), so a
//! lookup is a binary search and a random sample is a slice walk. Times are `u32` seconds since
//! the store's creation.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Event, InfoHashV1, ScrapeStats};

/// Why an announce was not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The torrent is not on the allow list.
    #[error("torrent not allowed on this tracker")]
    NotAllowed,
    /// Global peer or swarm limit reached.
    #[error("tracker is full")]
    Full,
    /// Too many requests from this IP.
    #[error("too many requests from this address")]
    RateLimited,
    /// This IP address already has the most peers allowed.
    #[error("too many peers from this address")]
    IpLimit,
}

#[derive(Clone, Copy)]
struct Peer4 {
    addr: [u8; 6],
    seeder: bool,
    seen: u32,
}

#[derive(Clone, Copy)]
struct Peer6 {
    addr: [u8; 18],
    seeder: bool,
    seen: u32,
}

#[derive(Default)]
struct Swarm {
    v4: Vec<Peer4>,
    v6: Vec<Peer6>,
    seeders: u32,
    downloaded: u32,
}

impl Swarm {
    fn stats(&self) -> ScrapeStats {
        let total = (self.v4.len() + self.v6.len()) as u32;
        ScrapeStats {
            complete: self.seeders,
            downloaded: self.downloaded,
            incomplete: total.saturating_sub(self.seeders),
        }
    }

    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// What an announce asks the store to do.
#[derive(Clone, Copy, Debug)]
pub struct Announce {
    /// The torrent.
    pub info_hash: InfoHashV1,
    /// The peer's address (as seen by the server) and listening port.
    pub addr: SocketAddr,
    /// The event.
    pub event: Event,
    /// `left == 0`.
    pub seeder: bool,
    /// How many peers to return (already capped).
    pub numwant: usize,
    /// Return IPv4 peers.
    pub want_v4: bool,
    /// Return IPv6 peers.
    pub want_v6: bool,
}

/// Peers keyed by info-hash, with per-swarm counts, expiry and global limits.
pub struct SwarmStore {
    swarms: HashMap<InfoHashV1, Swarm>,
    peers: usize,
    max_peers: usize,
    max_swarms: usize,
    max_per_swarm: usize,
    max_per_ip: usize,
    /// Peers per IP address, kept only when `max_per_ip` is set.
    per_ip: HashMap<IpAddr, u32>,
    base: Instant,
    rng: ChaCha8Rng,
}

impl SwarmStore {
    /// An empty store; `base` is the time origin, `seed` drives peer sampling.
    pub fn new(base: Instant, seed: u64, max_peers: usize, max_swarms: usize) -> Self {
        Self {
            swarms: HashMap::new(),
            peers: 0,
            max_peers,
            max_swarms,
            max_per_swarm: usize::MAX,
            max_per_ip: 0,
            per_ip: HashMap::new(),
            base,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Caps peers per swarm (bounds the cost of an insert) and per IP address (0 = no cap; the
    /// per-IP table costs about 40 bytes per distinct address, so it is kept only when set).
    pub fn with_caps(mut self, max_per_swarm: usize, max_per_ip: usize) -> Self {
        self.max_per_swarm = max_per_swarm.max(1);
        self.max_per_ip = max_per_ip;
        self
    }

    /// Number of peers stored.
    pub fn peer_count(&self) -> usize {
        self.peers
    }

    /// Number of swarms stored.
    pub fn swarm_count(&self) -> usize {
        self.swarms.len()
    }

    /// Counts for one torrent (zeros if unknown).
    pub fn scrape(&self, info_hash: &InfoHashV1) -> ScrapeStats {
        self.swarms
            .get(info_hash)
            .map(Swarm::stats)
            .unwrap_or_default()
    }

    /// Heap bytes held by the store: table slots plus vector capacities (allocator overhead
    /// not included).
    pub fn memory_bytes(&self) -> usize {
        let slot = size_of::<InfoHashV1>() + size_of::<Swarm>() + 1;
        let table = self.swarms.capacity() * slot;
        let vecs: usize = self
            .swarms
            .values()
            .map(|s| s.v4.capacity() * size_of::<Peer4>() + s.v6.capacity() * size_of::<Peer6>())
            .sum();
        table + vecs
    }

    /// Records an announce and writes up to `numwant` other peers to `out` (cleared first).
    /// Returns the swarm's counts after the update.
    pub fn announce(
        &mut self,
        now: Instant,
        a: &Announce,
        out: &mut Vec<SocketAddr>,
    ) -> Result<ScrapeStats, Refusal> {
        out.clear();
        let seen = self.secs(now);
        if a.event == Event::Stopped {
            let Some(swarm) = self.swarms.get_mut(&a.info_hash) else {
                return Ok(ScrapeStats::default());
            };
            if remove(swarm, &a.addr) {
                self.peers -= 1;
                if self.max_per_ip > 0 {
                    forget_ip(&mut self.per_ip, a.addr.ip());
                }
            }
            let stats = swarm.stats();
            if swarm.is_empty() {
                self.swarms.remove(&a.info_hash);
            }
            return Ok(stats);
        }
        if !self.swarms.contains_key(&a.info_hash) && self.swarms.len() >= self.max_swarms {
            return Err(Refusal::Full);
        }
        let ip_count = if self.max_per_ip > 0 {
            self.per_ip.get(&a.addr.ip()).copied().unwrap_or(0) as usize
        } else {
            0
        };
        let ip_full = self.max_per_ip > 0 && ip_count >= self.max_per_ip;
        let swarm = self.swarms.entry(a.info_hash).or_default();
        let full = self.peers >= self.max_peers
            || swarm.v4.len() + swarm.v6.len() >= self.max_per_swarm
            || ip_full;
        let added_was = match a.addr {
            SocketAddr::V4(v4) => {
                let key = key4(v4.ip(), v4.port());
                upsert(
                    &mut swarm.v4,
                    key,
                    |p| &p.addr,
                    full,
                    || Peer4 {
                        addr: key,
                        seeder: a.seeder,
                        seen,
                    },
                )
                .map(|(added, p)| {
                    let was = p.seeder;
                    p.seeder = a.seeder;
                    p.seen = seen;
                    (added, was)
                })
            }
            SocketAddr::V6(v6) => {
                let key = key6(v6.ip(), v6.port());
                upsert(
                    &mut swarm.v6,
                    key,
                    |p| &p.addr,
                    full,
                    || Peer6 {
                        addr: key,
                        seeder: a.seeder,
                        seen,
                    },
                )
                .map(|(added, p)| {
                    let was = p.seeder;
                    p.seeder = a.seeder;
                    p.seen = seen;
                    (added, was)
                })
            }
        };
        let Some((added, was_seeder)) = added_was else {
            if swarm.is_empty() {
                self.swarms.remove(&a.info_hash);
            }
            return Err(if ip_full {
                Refusal::IpLimit
            } else {
                Refusal::Full
            });
        };
        if added {
            self.peers += 1;
            if self.max_per_ip > 0 {
                *self.per_ip.entry(a.addr.ip()).or_insert(0) += 1;
            }
            if a.seeder {
                swarm.seeders += 1;
            }
        } else if was_seeder != a.seeder {
            if a.seeder {
                swarm.seeders += 1;
            } else {
                swarm.seeders = swarm.seeders.saturating_sub(1);
            }
        }
        if a.event == Event::Completed || (!added && !was_seeder && a.seeder) {
            swarm.downloaded = swarm.downloaded.saturating_add(1);
        }
        let stats = swarm.stats();
        select(&mut self.rng, swarm, a, out);
        Ok(stats)
    }

    /// Drops peers not seen for `timeout` and empty swarms. Returns how many peers went.
    pub fn expire(&mut self, now: Instant, timeout: std::time::Duration) -> usize {
        let cutoff = self.secs(now).saturating_sub(timeout.as_secs() as u32);
        let before = self.peers;
        let mut removed = 0;
        let track_ip = self.max_per_ip > 0;
        let per_ip = &mut self.per_ip;
        self.swarms.retain(|_, s| {
            let (n4, n6) = (s.v4.len(), s.v6.len());
            let mut gone_seeders = 0;
            s.v4.retain(|p| {
                let keep = p.seen >= cutoff;
                gone_seeders += u32::from(!keep && p.seeder);
                if !keep && track_ip {
                    forget_ip(per_ip, addr4(&p.addr).ip());
                }
                keep
            });
            s.v6.retain(|p| {
                let keep = p.seen >= cutoff;
                gone_seeders += u32::from(!keep && p.seeder);
                if !keep && track_ip {
                    forget_ip(per_ip, addr6(&p.addr).ip());
                }
                keep
            });
            s.seeders -= gone_seeders.min(s.seeders);
            removed += n4 - s.v4.len() + n6 - s.v6.len();
            if s.v4.capacity() > 4 * s.v4.len().max(4) {
                s.v4.shrink_to_fit();
            }
            !s.is_empty()
        });
        self.peers = before - removed;
        removed
    }

    fn secs(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.base).as_secs() as u32
    }
}

fn forget_ip(per_ip: &mut HashMap<IpAddr, u32>, ip: IpAddr) {
    if let Some(n) = per_ip.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            per_ip.remove(&ip);
        }
    }
}

fn key4(ip: &Ipv4Addr, port: u16) -> [u8; 6] {
    let mut k = [0u8; 6];
    k[..4].copy_from_slice(&ip.octets());
    k[4..].copy_from_slice(&port.to_be_bytes());
    k
}

fn key6(ip: &Ipv6Addr, port: u16) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[..16].copy_from_slice(&ip.octets());
    k[16..].copy_from_slice(&port.to_be_bytes());
    k
}

fn addr4(k: &[u8; 6]) -> SocketAddr {
    SocketAddr::from((
        Ipv4Addr::new(k[0], k[1], k[2], k[3]),
        u16::from_be_bytes([k[4], k[5]]),
    ))
}

fn addr6(k: &[u8; 18]) -> SocketAddr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&k[..16]);
    SocketAddr::from((IpAddr::from(o), u16::from_be_bytes([k[16], k[17]])))
}

/// Finds or inserts (unless `full`) the entry for `key`; returns (inserted, entry).
fn upsert<T, K: Ord>(
    v: &mut Vec<T>,
    key: K,
    key_of: impl Fn(&T) -> &K,
    full: bool,
    make: impl FnOnce() -> T,
) -> Option<(bool, &mut T)> {
    match v.binary_search_by(|p| key_of(p).cmp(&key)) {
        Ok(i) => Some((false, &mut v[i])),
        Err(_) if full => None,
        Err(i) => {
            if v.len() == v.capacity() {
                // Grow gently: small swarms dominate, doubling would waste a third on average.
                let extra = (v.len() / 2).max(2);
                v.reserve_exact(extra);
            }
            v.insert(i, make());
            Some((true, &mut v[i]))
        }
    }
}

fn remove(swarm: &mut Swarm, addr: &SocketAddr) -> bool {
    let seeder = match addr {
        SocketAddr::V4(a) => {
            let k = key4(a.ip(), a.port());
            match swarm.v4.binary_search_by(|p| p.addr.cmp(&k)) {
                Ok(i) => swarm.v4.remove(i).seeder,
                Err(_) => return false,
            }
        }
        SocketAddr::V6(a) => {
            let k = key6(a.ip(), a.port());
            match swarm.v6.binary_search_by(|p| p.addr.cmp(&k)) {
                Ok(i) => swarm.v6.remove(i).seeder,
                Err(_) => return false,
            }
        }
    };
    if seeder {
        swarm.seeders = swarm.seeders.saturating_sub(1);
    }
    true
}

/// Walks each wanted vector from a random start, skipping the requester and, for a seeding
/// requester, other seeders.
fn select(rng: &mut ChaCha8Rng, swarm: &Swarm, a: &Announce, out: &mut Vec<SocketAddr>) {
    let mut budget = a.numwant;
    if a.want_v4 && budget > 0 {
        let me = match a.addr {
            SocketAddr::V4(v) => Some(key4(v.ip(), v.port())),
            SocketAddr::V6(_) => None,
        };
        walk(rng, &swarm.v4, &mut budget, out, |p| {
            (Some(p.addr) != me && !(a.seeder && p.seeder)).then(|| addr4(&p.addr))
        });
    }
    if a.want_v6 && budget > 0 {
        let me = match a.addr {
            SocketAddr::V6(v) => Some(key6(v.ip(), v.port())),
            SocketAddr::V4(_) => None,
        };
        walk(rng, &swarm.v6, &mut budget, out, |p| {
            (Some(p.addr) != me && !(a.seeder && p.seeder)).then(|| addr6(&p.addr))
        });
    }
}

fn walk<T>(
    rng: &mut ChaCha8Rng,
    v: &[T],
    budget: &mut usize,
    out: &mut Vec<SocketAddr>,
    pick: impl Fn(&T) -> Option<SocketAddr>,
) {
    if v.is_empty() {
        return;
    }
    let start = if v.len() > *budget {
        rng.random_range(0..v.len())
    } else {
        0
    };
    for i in 0..v.len() {
        if *budget == 0 {
            break;
        }
        if let Some(addr) = pick(&v[(start + i) % v.len()]) {
            out.push(addr);
            *budget -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ann(ih: u8, addr: &str, seeder: bool, event: Event) -> Announce {
        Announce {
            info_hash: InfoHashV1([ih; 20]),
            addr: addr.parse().unwrap(),
            event,
            seeder,
            numwant: 50,
            want_v4: true,
            want_v6: true,
        }
    }

    #[test]
    fn counts_selection_and_stop() {
        let t0 = crate::test_epoch();
        let mut s = SwarmStore::new(t0, 1, 100, 100);
        let mut out = Vec::new();
        let st = s
            .announce(t0, &ann(1, "10.0.0.1:1", true, Event::Started), &mut out)
            .unwrap();
        assert_eq!((st.complete, st.incomplete), (1, 0));
        assert!(out.is_empty());
        let st = s
            .announce(t0, &ann(1, "[::1]:2", false, Event::Started), &mut out)
            .unwrap();
        assert_eq!((st.complete, st.incomplete), (1, 1));
        assert_eq!(out, vec!["10.0.0.1:1".parse().unwrap()]);
        // Seeder only gets leechers.
        s.announce(t0, &ann(1, "10.0.0.1:1", true, Event::None), &mut out)
            .unwrap();
        assert_eq!(out, vec!["[::1]:2".parse().unwrap()]);
        // Leecher completes: counts move, downloaded increments once.
        let st = s
            .announce(t0, &ann(1, "[::1]:2", true, Event::Completed), &mut out)
            .unwrap();
        assert_eq!((st.complete, st.incomplete, st.downloaded), (2, 0, 1));
        assert_eq!(s.peer_count(), 2);
        let st = s
            .announce(t0, &ann(1, "[::1]:2", true, Event::Stopped), &mut out)
            .unwrap();
        assert_eq!((st.complete, st.incomplete), (1, 0));
        s.announce(t0, &ann(1, "10.0.0.1:1", true, Event::Stopped), &mut out)
            .unwrap();
        assert_eq!((s.peer_count(), s.swarm_count()), (0, 0));
        // Stopping an unknown peer is harmless.
        s.announce(t0, &ann(9, "10.0.0.1:1", true, Event::Stopped), &mut out)
            .unwrap();
    }

    #[test]
    fn numwant_family_and_limits() {
        let t0 = crate::test_epoch();
        let mut s = SwarmStore::new(t0, 2, 25, 1);
        let mut out = Vec::new();
        for port in 0..20 {
            s.announce(
                t0,
                &ann(1, &format!("127.0.0.1:{port}"), false, Event::None),
                &mut out,
            )
            .unwrap();
        }
        let mut a = ann(1, "127.0.0.1:0", false, Event::None);
        a.numwant = 5;
        s.announce(t0, &a, &mut out).unwrap();
        assert_eq!(out.len(), 5);
        assert!(!out.contains(&a.addr));
        a.numwant = 100;
        s.announce(t0, &a, &mut out).unwrap();
        assert_eq!(out.len(), 19);
        a.want_v4 = false;
        s.announce(t0, &a, &mut out).unwrap();
        assert!(out.is_empty());
        // Swarm limit 1, peer limit 25.
        assert_eq!(
            s.announce(t0, &ann(2, "127.0.0.1:1", false, Event::None), &mut out),
            Err(Refusal::Full)
        );
        for port in 20..25 {
            s.announce(
                t0,
                &ann(1, &format!("127.0.0.1:{port}"), false, Event::None),
                &mut out,
            )
            .unwrap();
        }
        assert_eq!(
            s.announce(t0, &ann(1, "127.0.0.1:99", false, Event::None), &mut out),
            Err(Refusal::Full)
        );
        // Known peers still re-announce when full.
        assert!(
            s.announce(t0, &ann(1, "127.0.0.1:3", false, Event::None), &mut out)
                .is_ok()
        );
    }

    #[test]
    fn per_swarm_and_per_ip_caps() {
        let t0 = crate::test_epoch();
        let mut s = SwarmStore::new(t0, 5, 1000, 1000).with_caps(3, 4);
        let mut out = Vec::new();
        for port in 1..=3 {
            s.announce(
                t0,
                &ann(1, &format!("10.0.0.1:{port}"), false, Event::None),
                &mut out,
            )
            .unwrap();
        }
        assert_eq!(
            s.announce(t0, &ann(1, "10.0.0.2:1", false, Event::None), &mut out),
            Err(Refusal::Full)
        );
        s.announce(t0, &ann(2, "10.0.0.1:1", false, Event::None), &mut out)
            .unwrap();
        assert_eq!(
            s.announce(t0, &ann(3, "10.0.0.1:1", false, Event::None), &mut out),
            Err(Refusal::IpLimit)
        );
        assert_eq!(
            s.swarm_count(),
            2,
            "a refused first peer leaves no empty swarm"
        );
        s.announce(t0, &ann(2, "10.0.0.1:1", false, Event::Stopped), &mut out)
            .unwrap();
        s.announce(t0, &ann(3, "10.0.0.1:1", false, Event::None), &mut out)
            .unwrap();
        // Expiry gives the address its quota back.
        assert_eq!(
            s.expire(t0 + Duration::from_secs(10), Duration::from_secs(5)),
            4
        );
        for ih in 4..8 {
            s.announce(t0, &ann(ih, "10.0.0.1:1", false, Event::None), &mut out)
                .unwrap();
        }
    }

    #[test]
    fn expiry_after_timeout() {
        let t0 = crate::test_epoch();
        let mut s = SwarmStore::new(t0, 3, 100, 100);
        let mut out = Vec::new();
        s.announce(t0, &ann(1, "1.1.1.1:1", true, Event::None), &mut out)
            .unwrap();
        let t1 = t0 + Duration::from_secs(100);
        s.announce(t1, &ann(1, "1.1.1.2:1", false, Event::None), &mut out)
            .unwrap();
        s.announce(t1, &ann(2, "[::2]:1", false, Event::None), &mut out)
            .unwrap();
        assert_eq!(
            s.expire(t0 + Duration::from_secs(150), Duration::from_secs(60)),
            1
        );
        assert_eq!(s.scrape(&InfoHashV1([1; 20])).complete, 0);
        assert_eq!(s.scrape(&InfoHashV1([1; 20])).incomplete, 1);
        assert_eq!(
            s.expire(t0 + Duration::from_secs(400), Duration::from_secs(60)),
            2
        );
        assert_eq!((s.peer_count(), s.swarm_count()), (0, 0));
    }

    #[test]
    fn memory_per_peer_under_100_bytes() {
        // 100,000 peers in 10,000 swarms, as in the benchmark.
        let t0 = crate::test_epoch();
        let mut s = SwarmStore::new(t0, 4, usize::MAX, usize::MAX);
        let mut out = Vec::new();
        for i in 0..100_000u32 {
            let swarm = i % 10_000;
            let mut ih = [0u8; 20];
            ih[..4].copy_from_slice(&swarm.to_be_bytes());
            let a = Announce {
                info_hash: InfoHashV1(ih),
                addr: SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), 6881)),
                event: Event::Started,
                seeder: i % 3 == 0,
                numwant: 0,
                want_v4: true,
                want_v6: false,
            };
            s.announce(t0, &a, &mut out).unwrap();
        }
        assert_eq!(s.peer_count(), 100_000);
        let per_peer = s.memory_bytes() / s.peer_count();
        assert!(per_peer < 100, "{per_peer} bytes per peer");
        assert_eq!(size_of::<Peer4>(), 12);
    }
}

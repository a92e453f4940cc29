//! Peers announced to us, per info-hash, with expiry and bounds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use freshet_metainfo::InfoHashV1;

/// How long an announced peer is kept (BitTorrent clients re-announce every 15-30 minutes).
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);

/// Stored announces: `info_hash -> peer -> expiry`, bounded per hash and in number of hashes.
#[derive(Clone, Debug)]
pub struct PeerStore {
    torrents: BTreeMap<InfoHashV1, BTreeMap<SocketAddr, Instant>>,
    max_per_hash: usize,
    max_hashes: usize,
}

impl PeerStore {
    /// An empty store keeping at most `max_per_hash` peers per torrent and `max_hashes` torrents.
    pub fn new(max_per_hash: usize, max_hashes: usize) -> Self {
        Self {
            torrents: BTreeMap::new(),
            max_per_hash,
            max_hashes,
        }
    }

    /// Records an announce. When a bound is hit, the entry expiring soonest is evicted; a new
    /// torrent beyond `max_hashes` is dropped. Returns false if dropped.
    pub fn add(&mut self, now: Instant, info_hash: InfoHashV1, peer: SocketAddr) -> bool {
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= self.max_hashes {
            self.expire(now);
            if self.torrents.len() >= self.max_hashes {
                return false;
            }
        }
        let peers = self.torrents.entry(info_hash).or_default();
        if !peers.contains_key(&peer) && peers.len() >= self.max_per_hash {
            let oldest = peers.iter().min_by_key(|(_, e)| **e).map(|(a, _)| *a);
            if let Some(a) = oldest {
                peers.remove(&a);
            }
        }
        peers.insert(peer, now + PEER_TTL);
        true
    }

    /// Up to `max` unexpired peers for `info_hash`.
    pub fn peers(&self, now: Instant, info_hash: &InfoHashV1, max: usize) -> Vec<SocketAddr> {
        self.torrents
            .get(info_hash)
            .map(|p| {
                p.iter()
                    .filter(|(_, e)| **e > now)
                    .map(|(a, _)| *a)
                    .take(max)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops expired peers and empty torrents.
    pub fn expire(&mut self, now: Instant) {
        for peers in self.torrents.values_mut() {
            peers.retain(|_, e| *e > now);
        }
        self.torrents.retain(|_, p| !p.is_empty());
    }

    /// Number of torrents with stored peers.
    pub fn torrent_count(&self) -> usize {
        self.torrents.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_expire_and_are_bounded_per_hash() {
        #[allow(clippy::disallowed_methods)] // base instant only; time is virtual
        let now = Instant::now();
        let mut s = PeerStore::new(3, 1);
        let h = InfoHashV1([1; 20]);
        for p in 1..=5u16 {
            assert!(s.add(
                now + Duration::from_secs(u64::from(p)),
                h,
                SocketAddr::from(([10, 0, 0, 1], p))
            ));
        }
        let got = s.peers(now + Duration::from_secs(6), &h, 50);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|a| a.port() >= 3), "oldest evicted: {got:?}");
        assert!(
            !s.add(
                now,
                InfoHashV1([2; 20]),
                SocketAddr::from(([10, 0, 0, 1], 1))
            ),
            "max_hashes"
        );
        assert!(
            s.peers(now + PEER_TTL + Duration::from_secs(10), &h, 50)
                .is_empty()
        );
        s.expire(now + PEER_TTL + Duration::from_secs(10));
        assert_eq!(s.torrent_count(), 0);
    }
}

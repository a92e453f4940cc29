//! Choking decisions: who gets upload slots.
//!
//! Pure functions over a snapshot of peer statistics, so the policy is testable without a
//! torrent. `Torrent` calls [`choose_unchoked`] every [`crate::Config::choke_interval`].
//!
//! - **Leeching** (tit-for-tat): the interested, non-snubbed peers that uploaded to us fastest
//!   over the rolling window get the regular slots. Snubbed peers (no data for a minute) only
//!   get the optimistic slot (anti-snubbing).
//! - **Seeding** (round robin): a peer keeps its slot for one rotation period, then makes room
//!   for the interested peer that has waited longest, so every interested peer gets service.
//! - **Optimistic unchoke**: one extra interested, choked peer, chosen at random and rotated
//!   every [`crate::Config::optimistic_interval`].

use std::time::{Duration, Instant};

use rand::Rng;

use crate::PeerKey;

/// What the choker needs to know about one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChokeCandidate {
    /// The peer.
    pub peer: PeerKey,
    /// Whether it wants data from us.
    pub interested: bool,
    /// Bytes per second it sent us over the window.
    pub download_rate: u64,
    /// Bytes per second we sent it over the window.
    pub upload_rate: u64,
    /// No data from it for the snub timeout.
    pub snubbed: bool,
    /// When we last unchoked it, if we currently do (`None` while choked).
    pub unchoked_since: Option<Instant>,
    /// When it last lost its slot (`None` if it never had one).
    pub last_choked: Option<Instant>,
}

/// Whether we still download (tit-for-tat) or only upload (round robin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChokeMode {
    /// Some wanted pieces are missing.
    Leeching,
    /// We have everything we want.
    Seeding,
}

/// Picks the peers to unchoke in regular slots. `rotation` is how long a seeding slot lasts.
#[must_use]
pub fn choose_unchoked(
    candidates: &[ChokeCandidate],
    slots: usize,
    mode: ChokeMode,
    rotation: Duration,
    now: Instant,
) -> Vec<PeerKey> {
    let mut pool: Vec<&ChokeCandidate> = candidates.iter().filter(|c| c.interested).collect();
    match mode {
        ChokeMode::Leeching => {
            pool.retain(|c| !c.snubbed);
            pool.sort_by(|a, b| {
                b.download_rate
                    .cmp(&a.download_rate)
                    .then(b.upload_rate.cmp(&a.upload_rate))
                    .then(a.peer.cmp(&b.peer))
            });
        }
        ChokeMode::Seeding => {
            // Keep peers whose turn is not over; then the longest-waiting choked peers.
            let rank = |c: &ChokeCandidate| match c.unchoked_since {
                Some(since) if now.saturating_duration_since(since) < rotation => (0, None),
                Some(_) => (2, None),
                None => (1, c.last_choked),
            };
            pool.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.peer.cmp(&b.peer)));
        }
    }
    pool.into_iter().take(slots).map(|c| c.peer).collect()
}

/// Picks an optimistic unchoke among interested peers not in `regular`, at random.
pub fn choose_optimistic<R: Rng + ?Sized>(
    candidates: &[ChokeCandidate],
    regular: &[PeerKey],
    rng: &mut R,
) -> Option<PeerKey> {
    let pool: Vec<PeerKey> = candidates
        .iter()
        .filter(|c| c.interested && !regular.contains(&c.peer))
        .map(|c| c.peer)
        .collect();
    if pool.is_empty() {
        return None;
    }
    Some(pool[rng.random_range(0..pool.len())])
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn cand(peer: usize, down: u64) -> ChokeCandidate {
        ChokeCandidate {
            peer: PeerKey(peer),
            interested: true,
            download_rate: down,
            upload_rate: 0,
            snubbed: false,
            unchoked_since: None,
            last_choked: None,
        }
    }

    #[test]
    fn leeching_unchokes_fastest_uploaders_and_skips_snubbed() {
        let now = t0();
        let mut c = vec![
            cand(1, 10),
            cand(2, 50),
            cand(3, 30),
            cand(4, 90),
            cand(5, 70),
        ];
        c[3].snubbed = true;
        c[0].interested = false;
        let got = choose_unchoked(&c, 2, ChokeMode::Leeching, Duration::from_secs(30), now);
        assert_eq!(got, vec![PeerKey(5), PeerKey(2)]);
    }

    #[test]
    fn seeding_rotates_slots_to_waiting_peers() {
        let t0 = t0();
        let now = t0 + Duration::from_secs(100);
        let mut c = vec![cand(1, 0), cand(2, 0), cand(3, 0)];
        c[0].unchoked_since = Some(t0); // its turn is over
        c[1].unchoked_since = Some(now - Duration::from_secs(5)); // keeps its slot
        c[2].last_choked = Some(t0);
        let got = choose_unchoked(&c, 2, ChokeMode::Seeding, Duration::from_secs(30), now);
        assert_eq!(got, vec![PeerKey(2), PeerKey(3)]);
    }

    #[test]
    fn optimistic_never_picks_a_regular_slot() {
        let c = vec![cand(1, 0), cand(2, 0)];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            assert_eq!(
                choose_optimistic(&c, &[PeerKey(1)], &mut rng),
                Some(PeerKey(2))
            );
        }
        assert_eq!(
            choose_optimistic(&c, &[PeerKey(1), PeerKey(2)], &mut rng),
            None
        );
    }

    // Tests need some Instant; one real reading is taken and only offsets are used.
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }
}

//! Whom to disconnect when a torrent (or the whole client) is at its connection limit and a
//! new peer arrives: the least useful connection, as libtorrent does, so peers that handshake
//! and then sit silent cannot lock honest peers out until the idle timeout.
//!
//! Connections are ranked by [`Standing`]; the lowest rank goes first, the one connected
//! longest within a rank. A peer exchanging payload now ([`Standing::Active`]) is never
//! chosen; when every connection is active the newcomer is refused instead.

use std::time::Instant;

/// How useful a connection is, least useful first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Standing {
    /// Still connecting or handshaking.
    Handshaking,
    /// Established; no payload either way, and neither side interested.
    Silent,
    /// Established; no payload either way, but interest on one side (a choked peer waiting
    /// for a slot).
    Waiting,
    /// Established; payload was exchanged once but not within the rate window.
    Idle,
    /// Payload is flowing within the rate window: never evicted.
    Active,
}

impl Standing {
    /// The standing of an established peer from its engine counters.
    pub(crate) fn of(stats: &freshet_engine::PeerStats) -> Self {
        if stats.download_rate > 0 || stats.upload_rate > 0 {
            Self::Active
        } else if stats.downloaded > 0 || stats.uploaded > 0 {
            Self::Idle
        } else if stats.am_interested || stats.peer_interested {
            Self::Waiting
        } else {
            Self::Silent
        }
    }
}

/// One connection that may be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The connection's slot in the driver.
    pub(crate) idx: usize,
    /// When it was opened.
    pub(crate) since: Instant,
    /// How useful it is.
    pub(crate) standing: Standing,
}

/// The connection to evict, if any is not [`Standing::Active`].
pub(crate) fn choose(candidates: impl IntoIterator<Item = Candidate>) -> Option<usize> {
    candidates
        .into_iter()
        .filter(|c| c.standing != Standing::Active)
        .min_by_key(|c| (c.standing, c.since))
        .map(|c| c.idx)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // Only a base instant for relative times.
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(base: Instant, secs: u64, idx: usize, standing: Standing) -> Candidate {
        Candidate {
            idx,
            since: base + Duration::from_secs(secs),
            standing,
        }
    }

    #[test]
    fn evicts_the_least_useful_then_the_oldest() {
        let t = Instant::now();
        let cands = [
            at(t, 0, 1, Standing::Idle),
            at(t, 5, 2, Standing::Silent),
            at(t, 3, 3, Standing::Silent),
            at(t, 1, 4, Standing::Waiting),
        ];
        assert_eq!(choose(cands), Some(3));
        assert_eq!(choose([cands[0], cands[3]]), Some(4));
        let hs = at(t, 9, 5, Standing::Handshaking);
        assert_eq!(choose([cands[2], hs]), Some(5));
    }

    #[test]
    fn never_evicts_an_active_peer() {
        let t = Instant::now();
        assert_eq!(
            choose([at(t, 0, 1, Standing::Active), at(t, 1, 2, Standing::Active)]),
            None
        );
        assert_eq!(choose([]), None);
    }

    #[test]
    fn standing_follows_the_engine_counters() {
        let mut s = freshet_engine::PeerStats::default();
        assert_eq!(Standing::of(&s), Standing::Silent);
        s.peer_interested = true;
        assert_eq!(Standing::of(&s), Standing::Waiting);
        s.uploaded = 16384;
        assert_eq!(Standing::of(&s), Standing::Idle);
        s.upload_rate = 1;
        assert_eq!(Standing::of(&s), Standing::Active);
    }
}

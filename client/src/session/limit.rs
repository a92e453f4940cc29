//! Rate limits: token buckets for bytes read from and written to peer sockets.
//!
//! The network thread asks [`Limits::allowance`] how many bytes a connection may read (or
//! write) now: the smallest of the global bucket and the torrent's bucket for that direction.
//! It moves at most that many bytes and reports them with [`Limits::consume`]. A connection
//! whose allowance is below [`MIN_GRANT`] is parked and retried every [`RETRY`] until the
//! buckets refill. Limits count every byte on the wire (headers and all), so the payload rate
//! is a little (about 0.1%) below the limit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::request::TorrentId;

/// The smallest read or write worth a system call while limited.
pub(crate) const MIN_GRANT: usize = 4096;
/// How often parked connections are retried.
pub(crate) const RETRY: Duration = Duration::from_millis(10);
/// How much a bucket may hold: this many seconds of its rate (bounds the burst).
const BURST_SECONDS: f64 = 0.1;

/// One token bucket: `rate` bytes per second, `0` = unlimited.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket for `rate` bytes per second (`0`: unlimited), starting full.
    pub(crate) fn new(rate: u64, now: Instant) -> Self {
        let mut b = Self {
            rate,
            tokens: 0.0,
            last: now,
        };
        b.tokens = b.capacity();
        b
    }

    /// Changes the rate (the bucket keeps its tokens, capped to the new capacity).
    pub(crate) fn set_rate(&mut self, rate: u64, now: Instant) {
        self.refill(now);
        self.rate = rate;
        self.tokens = self.tokens.min(self.capacity());
    }

    fn capacity(&self) -> f64 {
        (self.rate as f64 * BURST_SECONDS).max(MIN_GRANT as f64 * 4.0)
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        if self.rate > 0 {
            self.tokens = (self.tokens + dt * self.rate as f64).min(self.capacity());
        }
    }

    /// Bytes that may move now.
    pub(crate) fn available(&mut self, now: Instant) -> usize {
        if self.rate == 0 {
            return usize::MAX;
        }
        self.refill(now);
        // Bounded by the capacity, which fits in usize.
        self.tokens.max(0.0) as usize
    }

    /// Takes `n` bytes out (may go negative after a read larger than asked; it is repaid).
    pub(crate) fn consume(&mut self, n: usize) {
        if self.rate > 0 {
            self.tokens -= n as f64;
        }
    }
}

/// Which way bytes flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Read from peers.
    Down,
    /// Written to peers.
    Up,
}

/// The global buckets plus one pair per torrent with a limit.
#[derive(Debug)]
pub(crate) struct Limits {
    global: [TokenBucket; 2],
    torrents: HashMap<TorrentId, [TokenBucket; 2]>,
}

impl Limits {
    /// Global limits `down`/`up` in bytes per second (`0`: unlimited).
    pub(crate) fn new(down: u64, up: u64, now: Instant) -> Self {
        Self {
            global: [TokenBucket::new(down, now), TokenBucket::new(up, now)],
            torrents: HashMap::new(),
        }
    }

    /// Sets the global limits (`0`: unlimited).
    pub(crate) fn set_global(&mut self, down: u64, up: u64, now: Instant) {
        self.global[0].set_rate(down, now);
        self.global[1].set_rate(up, now);
    }

    /// Sets one torrent's limits (`0`: unlimited; both `0` forgets the torrent).
    pub(crate) fn set_torrent(&mut self, id: TorrentId, down: u64, up: u64, now: Instant) {
        if down == 0 && up == 0 {
            self.torrents.remove(&id);
            return;
        }
        let b = self
            .torrents
            .entry(id)
            .or_insert_with(|| [TokenBucket::new(down, now), TokenBucket::new(up, now)]);
        b[0].set_rate(down, now);
        b[1].set_rate(up, now);
    }

    /// One torrent's limits (down, up), `(0, 0)` when it has none.
    pub(crate) fn torrent_rates(&self, id: TorrentId) -> (u64, u64) {
        self.torrents
            .get(&id)
            .map_or((0, 0), |b| (b[0].rate, b[1].rate))
    }

    /// Forgets a closed torrent.
    pub(crate) fn remove(&mut self, id: TorrentId) {
        self.torrents.remove(&id);
    }

    /// Bytes a connection of `torrent` may move in direction `dir` now.
    pub(crate) fn allowance(
        &mut self,
        torrent: Option<TorrentId>,
        dir: Dir,
        now: Instant,
    ) -> usize {
        let i = dir as usize;
        let g = self.global[i].available(now);
        let t = torrent
            .and_then(|id| self.torrents.get_mut(&id))
            .map_or(usize::MAX, |b| b[i].available(now));
        g.min(t)
    }

    /// Records `n` bytes moved.
    pub(crate) fn consume(&mut self, torrent: Option<TorrentId>, dir: Dir, n: usize) {
        let i = dir as usize;
        self.global[i].consume(n);
        if let Some(b) = torrent.and_then(|id| self.torrents.get_mut(&id)) {
            b[i].consume(n);
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // Any instant will do as the start; only offsets matter.
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_its_rate_and_caps_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100_000, t0);
        assert_eq!(b.available(t0), 16_384, "capacity floor of 4 grants");
        b.consume(16_384);
        assert_eq!(b.available(t0), 0);
        assert_eq!(b.available(t0 + Duration::from_millis(50)), 5_000);
        assert_eq!(b.available(t0 + Duration::from_secs(10)), 16_384);
        let mut unlimited = TokenBucket::new(0, t0);
        assert_eq!(unlimited.available(t0), usize::MAX);
    }

    #[test]
    fn allowance_is_the_smaller_of_global_and_torrent() {
        let t0 = Instant::now();
        let mut l = Limits::new(0, 1_000_000, t0);
        l.set_torrent(TorrentId(1), 200_000, 0, t0);
        assert_eq!(l.allowance(Some(TorrentId(1)), Dir::Down, t0), 20_000);
        assert_eq!(l.allowance(Some(TorrentId(2)), Dir::Down, t0), usize::MAX);
        assert_eq!(l.allowance(Some(TorrentId(1)), Dir::Up, t0), 100_000);
        l.consume(Some(TorrentId(1)), Dir::Up, 60_000);
        assert_eq!(l.allowance(Some(TorrentId(2)), Dir::Up, t0), 40_000);
        l.set_torrent(TorrentId(1), 0, 0, t0);
        assert!(l.torrents.is_empty());
    }
}

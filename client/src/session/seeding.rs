//! Seed limits: stop seeding a torrent once it has uploaded enough or seeded long enough.
//!
//! Checked once a second. Seeding time counts from the first check that finds the torrent
//! complete and not paused. When a limit is reached the torrent is paused (connections stay
//! open, nothing is uploaded) and [`Event::SeedLimitReached`] is sent, once per limit set;
//! [`Request::Resume`](crate::Request::Resume) seeds again, and setting new limits re-arms them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::event::Event;
use super::request::TorrentId;
use super::torrent::Torrent;

/// One torrent's limits and progress towards them.
#[derive(Debug, Clone, Copy)]
struct Limit {
    ratio: Option<f64>,
    time: Option<Duration>,
    seeding_since: Option<Instant>,
}

/// Every torrent's seed limits.
#[derive(Debug, Default)]
pub(crate) struct SeedLimits {
    limits: HashMap<TorrentId, Limit>,
}

impl SeedLimits {
    /// Sets (or, with both `None`, clears) the limits of `id`.
    pub(crate) fn set(&mut self, id: TorrentId, ratio: Option<f64>, time: Option<Duration>) {
        if ratio.is_none() && time.is_none() {
            self.limits.remove(&id);
        } else {
            self.limits.insert(
                id,
                Limit {
                    ratio,
                    time,
                    seeding_since: None,
                },
            );
        }
    }

    /// The limits of `id` (ratio, time).
    pub(crate) fn get(&self, id: TorrentId) -> (Option<f64>, Option<Duration>) {
        self.limits
            .get(&id)
            .map_or((None, None), |l| (l.ratio, l.time))
    }

    /// Pauses torrents that reached a limit and returns their events.
    pub(crate) fn check(
        &mut self,
        now: Instant,
        torrents: &mut BTreeMap<TorrentId, Torrent>,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        self.limits.retain(|id, l| {
            let Some(t) = torrents.get_mut(id) else {
                return false; // closed
            };
            if !t.is_running() || !t.is_complete() || t.is_paused() {
                return true;
            }
            let since = *l.seeding_since.get_or_insert(now);
            let s = t.status();
            let ratio = s.uploaded as f64 / s.wanted_bytes.max(1) as f64;
            let seeded_for = now.saturating_duration_since(since);
            let reached =
                l.ratio.is_some_and(|r| ratio >= r) || l.time.is_some_and(|d| seeded_for >= d);
            if reached {
                t.pause(now);
                out.push(Event::SeedLimitReached {
                    id: *id,
                    ratio,
                    seeded_for,
                });
            }
            !reached
        });
        out
    }
}

//! Run-time torrent settings in the driver: collected from where each lives (the torrent,
//! the rate limiter, the seed limits), saved in the state directory when one changes, applied
//! to a torrent restored from the state directory or reopened after a recheck or a move, and
//! the connection-limit request.

use std::time::Instant;

use super::Driver;
use crate::session::request::{Request, TorrentId};
use crate::session::settings::TorrentSettings;
use crate::session::state;
use crate::session::torrent::Torrent;

impl Driver {
    /// Runs a request; if it changed a torrent's settings, saves them in the state directory.
    pub(super) fn handle_request(&mut self, now: Instant, req: Request) {
        let changed = match &req {
            Request::SetFilePriorities { id, .. }
            | Request::SetSequential { id, .. }
            | Request::SetSeedLimits { id, .. } => Some(*id),
            Request::SetRateLimits { id, .. } | Request::SetConnectionLimits { id, .. } => *id,
            _ => None,
        };
        self.dispatch_request(now, req);
        if let Some(id) = changed {
            self.save_state(id);
        }
    }

    /// A torrent's settings as they are now (it may already be out of `torrents`).
    pub(super) fn settings_of(&self, t: &Torrent) -> TorrentSettings {
        let mut s = TorrentSettings::default();
        s.set_priorities(&t.geometry_priorities());
        s.sequential = t.is_sequential();
        s.max_connections = t.max_connections;
        (s.rate_down, s.rate_up) = self.limits.torrent_rates(t.id);
        let (ratio, time) = self.seed_limits.get(t.id);
        s.seed_ratio = ratio;
        s.set_seed_time(time);
        s
    }

    /// Applies saved or carried-over settings to the open torrent `id`.
    pub(super) fn apply_settings(&mut self, now: Instant, id: TorrentId, s: &TorrentSettings) {
        let Some(t) = self.torrents.get_mut(&id) else {
            return;
        };
        let priorities = s.priorities();
        if !priorities.is_empty() {
            t.restore_priorities(now, &priorities);
        }
        if s.sequential {
            t.set_sequential(now, true);
        }
        t.max_connections = s.max_connections;
        self.limits.set_torrent(id, s.rate_down, s.rate_up, now);
        if s.seed_ratio.is_some() || s.seed_time().is_some() {
            self.seed_limits.set(id, s.seed_ratio, s.seed_time());
        }
    }

    /// Writes the metainfo, options and settings of `id` into the state directory, if any.
    pub(super) fn save_state(&self, id: TorrentId) {
        let (Some(dir), Some(t)) = (&self.config.state_dir, self.torrents.get(&id)) else {
            return;
        };
        if self.closing.contains_key(&id) {
            return; // written again when it reopens, or removed when it closes
        }
        let options = t.reopen_options();
        if let Err(e) = state::save(dir, &t.meta, &options, &self.settings_of(t)) {
            tracing::warn!(torrent = %id, "cannot save session state in {}: {e}", dir.display());
        }
    }

    /// `Request::SetConnectionLimits`: sets the limit and closes connections above it,
    /// newest first.
    pub(super) fn set_connection_limit(&mut self, id: Option<TorrentId>, max: usize) {
        let limit = match id {
            None => {
                if max == 0 {
                    return;
                }
                self.config.max_connections = max;
                max
            }
            Some(id) => {
                let Some(t) = self.torrents.get_mut(&id) else {
                    return;
                };
                t.max_connections = (max > 0).then_some(max);
                self.torrent_connection_limit(id)
            }
        };
        let mut open: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .filter(|(_, c)| c.closing.is_none() && (id.is_none() || c.torrent == id))
            .map(|(i, _)| i)
            .collect();
        // Slab order is not age order: sort oldest first and close past the limit.
        open.sort_by_key(|&i| self.conns[i].as_ref().map(|c| c.since));
        for &i in open.iter().skip(limit) {
            if let Some(c) = self.conns[i].as_mut() {
                c.closing = Some("connection limit".into());
            }
        }
    }

    /// The connection limit of torrent `id` (its own, or the client's default).
    pub(super) fn torrent_connection_limit(&self, id: TorrentId) -> usize {
        self.torrents
            .get(&id)
            .and_then(|t| t.max_connections)
            .unwrap_or(self.config.max_connections_per_torrent)
    }
}

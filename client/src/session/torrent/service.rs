//! Service requests on one torrent: pause, resume, file priorities, piece order, and the
//! detailed status (per-file progress, peer list).
//!
//! File indexes here are those of the torrent's real files, in metainfo order, with BEP 47
//! padding files left out (the same numbering as `freshet show`).

use std::time::Instant;

use freshet_engine::{FilePriority, PickOrder, PiecePriority};

use super::{Phase, Torrent};
use crate::session::event::{FileProgress, PeerSummary, TrackerState};
use crate::session::request::{AddOptions, UseTrackers};

impl Torrent {
    /// Pauses transfers (connections stay open, every peer choked, our requests cancelled).
    pub(crate) fn pause(&mut self, now: Instant) {
        self.engine.pause(now);
        self.pump(now);
    }

    /// Resumes after [`Self::pause`], or after a storage error: the error is cleared, files
    /// are opened again on the next access and known peers are dialled at once.
    pub(crate) fn resume(&mut self, now: Instant) {
        if let Phase::Errored(_) = self.phase {
            self.phase = Phase::Running;
            for st in self.addrs.values_mut() {
                st.next_try = now;
                st.failures = 0;
            }
        }
        self.engine.resume(now);
        self.pump(now);
    }

    /// Sets the priority of each real file (index `i` of `priorities` is file `i`); files past
    /// the end of `priorities` keep theirs. Returns how many real files the torrent has, or
    /// `Err` with that count when `priorities` is longer.
    pub(crate) fn set_file_priorities(
        &mut self,
        now: Instant,
        priorities: &[FilePriority],
    ) -> Result<(), usize> {
        let real: Vec<usize> = self.real_files().collect();
        if priorities.len() > real.len() {
            return Err(real.len());
        }
        for (&file, &p) in real.iter().zip(priorities) {
            self.engine.set_file_priority(now, file, p);
        }
        self.pump(now);
        Ok(())
    }

    /// Switches between sequential (streaming) and rarest-first piece order.
    pub(crate) fn set_sequential(&mut self, now: Instant, sequential: bool) {
        let order = if sequential {
            PickOrder::Sequential
        } else {
            PickOrder::RarestFirst
        };
        self.engine.set_pick_order(now, order);
        self.pump(now);
    }

    /// Whether pieces are picked in order (streaming).
    pub(crate) fn is_sequential(&self) -> bool {
        self.engine.pieces().order_mode == PickOrder::Sequential
    }

    /// Per-file progress of the real files.
    pub(crate) fn file_progress(&self) -> Vec<FileProgress> {
        let g = self.geometry();
        let have = self.engine.have();
        let prios = self.engine.file_priorities();
        self.real_files()
            .map(|i| {
                let f = &g.files()[i];
                let range = f.range();
                let done: u64 = g
                    .file_pieces(i)
                    .filter_map(|p| g.piece(p))
                    .filter(|&p| have.contains(p))
                    .map(|p| {
                        let start = g.piece_offset(p);
                        let end = start + u64::from(g.piece_size(p));
                        end.min(range.end).saturating_sub(start.max(range.start))
                    })
                    .sum();
                FileProgress {
                    path: f.path.join("/"),
                    length: f.length,
                    have_bytes: done,
                    priority: prios.get(i).copied().unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The connected peers with their client names, rates and flags, by address.
    pub(crate) fn peer_list(&self) -> Vec<PeerSummary> {
        let mut out: Vec<PeerSummary> = self
            .engine
            .peers()
            .filter_map(|k| {
                let stats = self.engine.peer_stats(k)?;
                let (addr, id) = self.peer_ids.get(&k).copied().unwrap_or((None, None));
                Some(PeerSummary {
                    addr,
                    client: id.and_then(|id| id.client()).map(|c| c.to_string()),
                    down_rate: stats.download_rate,
                    up_rate: stats.upload_rate,
                    pieces: stats.pieces,
                    am_choking: stats.am_choking,
                    am_interested: stats.am_interested,
                    peer_choking: stats.peer_choking,
                    peer_interested: stats.peer_interested,
                    snubbed: stats.snubbed,
                })
            })
            .collect();
        out.sort_by_key(|p| p.addr);
        out
    }

    /// (wanted bytes, verified wanted bytes): pieces of skipped files only are not wanted.
    pub(crate) fn wanted_and_have(&self) -> (u64, u64) {
        let g = self.geometry();
        let pieces = self.engine.pieces();
        let have = self.engine.have();
        let mut wanted = 0;
        let mut done = 0;
        for p in g.pieces() {
            if pieces.priority(p) == PiecePriority::Skip {
                continue;
            }
            let size = u64::from(g.piece_size(p));
            wanted += size;
            if have.contains(p) {
                done += size;
            }
        }
        (wanted, done)
    }

    /// Indexes (in the geometry) of the files that are not padding.
    fn real_files(&self) -> impl Iterator<Item = usize> + '_ {
        self.geometry()
            .files()
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_padding())
            .map(|(i, _)| i)
    }
}

impl Torrent {
    /// Options that reopen this torrent as it is (same save directory, trackers on or off,
    /// every known peer address) after a close for a recheck.
    pub(crate) fn reopen_options(&self) -> AddOptions {
        let mut options = AddOptions::save_to(self.save_dir.clone()).with_trackers(
            if self.tracker == TrackerState::None {
                UseTrackers::Never
            } else {
                UseTrackers::Announce
            },
        );
        options.peers = self.addrs.keys().copied().collect();
        options
    }

    /// The engine's file priorities (geometry order, padding files included).
    pub(crate) fn geometry_priorities(&self) -> Vec<FilePriority> {
        self.engine.file_priorities().to_vec()
    }

    /// Applies priorities saved with [`Self::geometry_priorities`].
    pub(crate) fn restore_priorities(&mut self, now: Instant, priorities: &[FilePriority]) {
        for (i, &p) in priorities.iter().enumerate() {
            self.engine.set_file_priority(now, i, p);
        }
        self.pump(now);
    }
}

impl Torrent {
    /// Whether the torrent is paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.engine.is_paused()
    }
}

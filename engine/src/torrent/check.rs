//! Checking existing data and applying resume records.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use crate::{
    Action, DigestMode, DiskJob, Event, Message, PeerKey, PieceIndex, PieceSet, ResumeRecord,
};

use super::{Pending, Phase, Torrent};

#[derive(Debug)]
pub(super) struct Checking {
    pub(super) queue: VecDeque<PieceIndex>,
    pub(super) in_flight: BTreeSet<PieceIndex>,
    pub(super) total: u32,
    pub(super) checked: u32,
    pub(super) valid: u32,
}

impl Torrent {
    pub(super) fn start_check(&mut self, pieces: Vec<PieceIndex>) {
        if pieces.is_empty() {
            return;
        }
        // pieces.len() <= num_pieces, a u32.
        let total = pieces.len() as u32;
        self.phase = Phase::Checking(Checking {
            queue: pieces.into(),
            in_flight: BTreeSet::new(),
            total,
            checked: 0,
            valid: 0,
        });
        self.pump_check_inner();
    }

    pub(super) fn pump_check(&mut self, now: Instant) {
        self.pump_check_inner();
        if let Phase::Checking(c) = &self.phase
            && c.queue.is_empty()
            && c.in_flight.is_empty()
        {
            let valid = c.valid;
            self.phase = Phase::Active;
            self.actions
                .push_back(Action::Event(Event::CheckFinished { valid }));
            // Peers connected while checking have our old bitfield; tell them what we found.
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            let have: Vec<PieceIndex> = self.tracker.have().iter().collect();
            for k in &keys {
                for p in &have {
                    self.send(*k, Message::Have(*p));
                }
            }
            if self.tracker.is_complete() {
                self.on_complete();
            } else {
                self.refill_all(now);
            }
        }
    }

    fn pump_check_inner(&mut self) {
        let Phase::Checking(c) = &mut self.phase else {
            return;
        };
        while c.in_flight.len() < self.config.check_parallelism.max(1) {
            let Some(piece) = c.queue.pop_front() else {
                break;
            };
            c.in_flight.insert(piece);
            let blocks = self.geometry.blocks_in_piece(piece) as usize;
            self.actions.push_back(Action::Disk(DiskJob::Hash {
                piece,
                blocks: vec![None; blocks],
                block_digests: DigestMode::PieceOnly,
            }));
        }
    }

    pub(super) fn apply_resume(&mut self, record: ResumeRecord, stats: &[Option<crate::FileStat>]) {
        let n = self.geometry.num_pieces();
        let mut suspect = PieceSet::new(n);
        let same_torrent = record.pieces.capacity() == n
            && (record.info_hash.is_none() || record.info_hash == self.config.info_hash);
        if !same_torrent {
            return self.start_check(self.geometry.pieces().collect());
        }
        for (i, f) in self.geometry.files().iter().enumerate() {
            if f.is_padding() || f.length == 0 {
                continue;
            }
            let saved = record.files.get(i).copied().flatten();
            let now = stats.get(i).copied().flatten();
            if saved != now {
                for p in self.geometry.file_pieces(i) {
                    suspect.insert(PieceIndex(p));
                }
            }
        }
        for p in record.pieces.iter() {
            if !suspect.contains(p) {
                self.tracker.mark_have(p);
            }
        }
        for u in &record.unfinished {
            if u.piece.0 >= n || suspect.contains(u.piece) || record.pieces.contains(u.piece) {
                continue;
            }
            let blocks = self.geometry.blocks_in_piece(u.piece) as usize;
            let mut received = vec![false; blocks];
            for &b in &u.blocks {
                if let Some(r) = received.get_mut(b as usize) {
                    *r = true;
                }
            }
            self.tracker.restore_partial(u.piece, &received);
            let written = received.clone();
            self.pending.insert(
                u.piece,
                Pending {
                    blocks: vec![None; blocks],
                    written,
                    writes: 0,
                    outcome: None,
                },
            );
            if received.iter().all(|r| *r) {
                self.start_hash(u.piece);
            }
        }
        self.stats.uploaded = record.uploaded;
        self.stats.downloaded = record.downloaded;
        self.start_check(suspect.iter().collect());
    }
}

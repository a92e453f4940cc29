//! Back-pressure between the sockets and the disk and hashing pools: byte budgets on what the
//! pools hold, so a disk or hasher that lags makes the network thread wait instead of piling
//! blocks up in memory.
//!
//! Two budgets, both counted on the network thread from submission to completion:
//!
//! - **receive**: bytes of received blocks queued for writing and pieces queued for hashing.
//!   Above [`Config::max_queued_receive_bytes`](super::Config::max_queued_receive_bytes) the
//!   driver stops reading peer sockets (established connections only) until completions bring
//!   the queue under half the budget. Nothing waits on a socket read for a completion to
//!   arrive, so the queue always drains.
//! - **upload reads**: bytes of blocks being read for peers. A read job beyond
//!   [`Config::max_queued_read_bytes`](super::Config::max_queued_read_bytes), or for a peer whose
//!   send buffer is over the high-water mark, waits here (a few dozen bytes, not the block)
//!   and is submitted when reads complete or that peer's buffer drains. A read for a peer that
//!   is gone is never held back, so closing a torrent always finishes its jobs.

use std::collections::{HashMap, VecDeque};

use freshet_engine::{DiskJob, PeerKey};

use super::pools::Job;
use super::request::TorrentId;

/// What a job holds against a budget while it is queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charge {
    /// Received data to write or hash (bytes).
    Receive(usize),
    /// A block being read for a peer (bytes).
    Read(usize),
    /// Nothing worth counting (flush, move, delete, priorities).
    Free,
}

impl Charge {
    /// The charge of `job`: a write holds its data, a hash job its piece (blocks in memory, or
    /// read from disk by the hasher), a read its block.
    pub(crate) fn of(job: &DiskJob) -> Self {
        match job {
            DiskJob::Write { data, .. } => Self::Receive(data.len()),
            DiskJob::Hash { blocks, .. } => Self::Receive(
                blocks
                    .iter()
                    .map(|b| b.as_ref().map_or(BLOCK, bytes::Bytes::len))
                    .sum(),
            ),
            DiskJob::Read { block, .. } => Self::Read(block.len as usize),
            _ => Self::Free,
        }
    }
}

/// The byte budgets and the reads waiting for room.
pub(crate) struct Budget {
    max_receive: usize,
    max_reads: usize,
    receive: usize,
    reads: usize,
    /// Whether socket reads are paused (set over the budget, cleared under half of it).
    receive_paused: bool,
    /// Upload reads waiting, per peer, in request order.
    deferred: HashMap<(TorrentId, PeerKey), VecDeque<Job>>,
    /// How many jobs `deferred` holds.
    deferred_count: usize,
    /// The most bytes queued for receive at once (for tests and diagnostics).
    peak_receive: usize,
}

impl Budget {
    /// Budgets of `max_receive` bytes queued for writing and hashing and `max_reads` bytes of
    /// upload reads in flight (each at least one block, so progress is always possible).
    pub(crate) fn new(max_receive: usize, max_reads: usize) -> Self {
        Self {
            max_receive: max_receive.max(BLOCK),
            max_reads: max_reads.max(BLOCK),
            receive: 0,
            reads: 0,
            receive_paused: false,
            deferred: HashMap::new(),
            deferred_count: 0,
            peak_receive: 0,
        }
    }

    /// Whether reading from established peer connections is paused.
    pub(crate) fn is_receive_paused(&self) -> bool {
        self.receive_paused
    }

    /// Whether upload reads are waiting for room.
    pub(crate) fn has_deferred(&self) -> bool {
        self.deferred_count > 0
    }

    /// The most receive bytes that were queued at once.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn peak_receive(&self) -> usize {
        self.peak_receive
    }

    /// Decides what happens to `job`: returned to be submitted now, or kept until there is
    /// room ([`Self::take_ready`]). `peer_backlogged` tells whether the asking peer's send
    /// buffer is over its high-water mark.
    pub(crate) fn admit(&mut self, job: Job, peer_backlogged: bool) -> Option<Job> {
        let charge = Charge::of(&job.job);
        match (charge, &job.job) {
            (Charge::Read(n), DiskJob::Read { peer, .. }) => {
                let key = (job.torrent, *peer);
                let queued = self.deferred.get(&key).is_some_and(|q| !q.is_empty());
                if queued || peer_backlogged || self.reads + n > self.max_reads {
                    self.deferred.entry(key).or_default().push_back(job);
                    self.deferred_count += 1;
                    return None;
                }
                self.reads += n;
                Some(job)
            }
            (Charge::Receive(n), _) => {
                self.receive += n;
                self.peak_receive = self.peak_receive.max(self.receive);
                if self.receive > self.max_receive {
                    self.receive_paused = true;
                }
                Some(job)
            }
            _ => Some(job),
        }
    }

    /// A job charged `charge` finished.
    pub(crate) fn complete(&mut self, charge: Charge) {
        match charge {
            Charge::Receive(n) => {
                self.receive = self.receive.saturating_sub(n);
                if self.receive <= self.max_receive / 2 {
                    self.receive_paused = false;
                }
            }
            Charge::Read(n) => self.reads = self.reads.saturating_sub(n),
            Charge::Free => {}
        }
    }

    /// Deferred reads that may go now, in each peer's request order. `backlogged(torrent,
    /// peer)` tells whether that peer's send buffer is still over its high-water mark (false
    /// for a peer that is gone, whose reads are then never held back).
    pub(crate) fn take_ready(
        &mut self,
        mut backlogged: impl FnMut(TorrentId, PeerKey) -> bool,
    ) -> Vec<Job> {
        let mut out = Vec::new();
        if self.deferred_count == 0 {
            return out;
        }
        for (&(torrent, peer), queue) in &mut self.deferred {
            if backlogged(torrent, peer) {
                continue;
            }
            while let Some(job) = queue.front() {
                let Charge::Read(n) = Charge::of(&job.job) else {
                    // Only reads are deferred; anything else goes at once.
                    if let Some(job) = queue.pop_front() {
                        out.push(job);
                    }
                    continue;
                };
                if self.reads > 0 && self.reads + n > self.max_reads {
                    break;
                }
                self.reads += n;
                if let Some(job) = queue.pop_front() {
                    out.push(job);
                }
            }
            if self.reads >= self.max_reads {
                break;
            }
        }
        self.deferred.retain(|_, q| !q.is_empty());
        self.deferred_count = self.deferred.values().map(VecDeque::len).sum();
        out
    }
}

/// A block's length: the unit of what can always make progress.
const BLOCK: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use freshet_engine::{BlockRef, FileSpec, Geometry, MemoryStorage, PieceHashes, PieceIndex};

    use super::*;

    fn geometry() -> Arc<Geometry> {
        // 16 pieces of 4 blocks.
        let hashes = PieceHashes {
            v1: Some(vec![[0; 20]; 16]),
            v2: None,
        };
        Arc::new(
            Geometry::new(
                4 * BLOCK as u32,
                vec![FileSpec::new(&["f"], 64 * BLOCK as u64)],
                hashes,
            )
            .unwrap(),
        )
    }

    fn job(job: DiskJob) -> Job {
        let geometry = geometry();
        Job {
            torrent: TorrentId(1),
            storage: Arc::new(MemoryStorage::new(Arc::clone(&geometry))),
            geometry,
            job,
        }
    }

    fn block(i: u32) -> BlockRef {
        BlockRef::new(PieceIndex(i / 4), (i % 4) * BLOCK as u32, BLOCK as u32)
    }

    fn write(i: u32) -> Job {
        job(DiskJob::Write {
            block: block(i),
            data: Bytes::from(vec![0u8; BLOCK]),
        })
    }

    fn read(peer: usize, i: u32) -> Job {
        job(DiskJob::Read {
            peer: PeerKey(peer),
            block: block(i),
        })
    }

    #[test]
    fn receive_pauses_over_the_budget_and_resumes_under_half() {
        let mut b = Budget::new(4 * BLOCK, 4 * BLOCK);
        for i in 0..4 {
            assert!(b.admit(write(i), false).is_some());
            assert!(!b.is_receive_paused(), "at {} blocks", i + 1);
        }
        assert!(b.admit(write(4), false).is_some(), "writes are never held");
        assert!(b.is_receive_paused());
        b.complete(Charge::Receive(BLOCK));
        b.complete(Charge::Receive(BLOCK));
        assert!(b.is_receive_paused(), "3 blocks > half of 4");
        b.complete(Charge::Receive(BLOCK));
        assert!(!b.is_receive_paused());
        assert_eq!(b.peak_receive(), 5 * BLOCK);
    }

    #[test]
    fn reads_beyond_the_budget_wait_and_keep_request_order() {
        let mut b = Budget::new(BLOCK, 2 * BLOCK);
        assert!(b.admit(read(1, 0), false).is_some());
        assert!(b.admit(read(1, 1), false).is_some());
        assert!(b.admit(read(1, 2), false).is_none());
        assert!(b.admit(read(2, 3), false).is_none());
        assert!(b.has_deferred());
        assert!(b.take_ready(|_, _| false).is_empty(), "no room yet");
        b.complete(Charge::Read(BLOCK));
        let ready = b.take_ready(|_, _| false);
        assert_eq!(ready.len(), 1);
        b.complete(Charge::Read(BLOCK));
        b.complete(Charge::Read(BLOCK));
        let ready: Vec<Job> = b.take_ready(|_, _| false);
        assert_eq!(ready.len(), 1);
        assert!(!b.has_deferred());
        // A peer's reads queued behind earlier ones stay behind them.
        assert!(b.admit(read(3, 5), true).is_none());
        assert!(
            b.admit(read(3, 6), false).is_none(),
            "queued behind block 5"
        );
        b.complete(Charge::Read(BLOCK));
        b.complete(Charge::Read(BLOCK));
        let order: Vec<u32> = b
            .take_ready(|_, _| false)
            .iter()
            .map(|j| match &j.job {
                DiskJob::Read { block, .. } => block.offset / BLOCK as u32 + 4 * block.piece.0,
                _ => u32::MAX,
            })
            .collect();
        assert_eq!(order, vec![5, 6]);
    }

    #[test]
    fn a_backlogged_peer_waits_without_blocking_others() {
        let mut b = Budget::new(BLOCK, 8 * BLOCK);
        assert!(b.admit(read(1, 0), true).is_none());
        assert!(b.admit(read(2, 1), false).is_some());
        assert!(b.take_ready(|_, p| p == PeerKey(1)).is_empty());
        assert_eq!(b.take_ready(|_, _| false).len(), 1);
    }

    #[test]
    fn a_budget_smaller_than_a_block_still_makes_progress() {
        let mut b = Budget::new(0, 0);
        assert!(b.admit(read(1, 0), false).is_some());
        assert!(b.admit(read(1, 1), false).is_none());
        b.complete(Charge::Read(BLOCK));
        assert_eq!(b.take_ready(|_, _| false).len(), 1);
    }
}

//! The disk I/O pool and the hashing pool: plain threads taking jobs from a channel and
//! sending completions back to the network thread (which a [`mio::Waker`] wakes at once).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use freshet_engine::{DiskCompletion, DiskJob, Geometry, Storage, run_job};
use mio::Waker;

use super::request::TorrentId;

/// One unit of work for a pool.
pub(crate) struct Job {
    pub(crate) torrent: TorrentId,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) geometry: Arc<Geometry>,
    pub(crate) job: DiskJob,
}

/// A finished job.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) torrent: TorrentId,
    pub(crate) completion: DiskCompletion,
}

/// Wakes the network thread at most once per batch of completions: workers wake it only when
/// no wake-up is pending; the network thread clears the flag before draining completions.
#[derive(Clone)]
pub(crate) struct BatchWaker {
    waker: Arc<Waker>,
    pending: Arc<AtomicBool>,
}

impl BatchWaker {
    pub(crate) fn new(waker: Arc<Waker>) -> Self {
        Self {
            waker,
            pending: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Called by a producer after it sent a message.
    pub(crate) fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }

    /// Called by the network thread before it drains the channel.
    pub(crate) fn clear(&self) {
        self.pending.store(false, Ordering::Release);
    }
}

/// The two pools.
pub(crate) struct Pools {
    disk: Option<Sender<Job>>,
    hash: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pools {
    /// Starts `disk_threads` disk workers and `hash_threads` hash workers.
    pub(crate) fn start(
        disk_threads: usize,
        hash_threads: usize,
        done: &Sender<Done>,
        waker: &BatchWaker,
    ) -> std::io::Result<Self> {
        let (disk_tx, disk_rx) = crossbeam_channel::unbounded();
        let (hash_tx, hash_rx) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        for (name, rx, n) in [
            ("freshet-disk", &disk_rx, disk_threads.max(1)),
            ("freshet-hash", &hash_rx, hash_threads.max(1)),
        ] {
            for i in 0..n {
                let rx: Receiver<Job> = rx.clone();
                let done = done.clone();
                let waker = waker.clone();
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("{name}-{i}"))
                        .spawn(move || worker(&rx, &done, &waker))?,
                );
            }
        }
        Ok(Self {
            disk: Some(disk_tx),
            hash: Some(hash_tx),
            threads,
        })
    }

    /// Queues a job on the disk pool (writes, reads, flush, delete) or, for hash jobs, on the
    /// hashing pool.
    pub(crate) fn submit(&self, job: Job) {
        let tx = if matches!(job.job, DiskJob::Hash { .. }) {
            &self.hash
        } else {
            &self.disk
        };
        if let Some(tx) = tx {
            // The workers only stop when these senders are dropped, so this cannot fail
            // while `self` holds them.
            let _ = tx.send(job);
        }
    }

    /// Stops the workers after they finish queued jobs, and waits for them.
    pub(crate) fn join(mut self) {
        self.disk = None;
        self.hash = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(rx: &Receiver<Job>, done: &Sender<Done>, waker: &BatchWaker) {
    while let Ok(job) = rx.recv() {
        let completion = run_job(job.storage.as_ref(), &job.geometry, job.job);
        if done
            .send(Done {
                torrent: job.torrent,
                completion,
            })
            .is_err()
        {
            return;
        }
        waker.wake();
    }
}

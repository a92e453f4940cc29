//! The disk I/O pool and the hashing pool: plain threads taking jobs from a channel and
//! sending completions back to the network thread (which a [`mio::Waker`] wakes at once).

use std::sync::Arc;
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
        waker: &Arc<Waker>,
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
                let waker = Arc::clone(waker);
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

fn worker(rx: &Receiver<Job>, done: &Sender<Done>, waker: &Waker) {
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
        let _ = waker.wake();
    }
}

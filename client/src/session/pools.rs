//! The disk I/O pool, the hashing pool and the resume writer: plain threads taking jobs from a
//! channel and sending completions back to the network thread (which a [`mio::Waker`] wakes at
//! once). Periodic resume saves run on the resume writer, one at a time, because they fsync
//! the torrent's data files and the record: blocking work that must not stall the network
//! thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use freshet_engine::{DiskCompletion, DiskJob, Geometry, ResumeRecord, Storage, run_job};
use mio::Waker;

use super::budget::Charge;
use super::request::TorrentId;
use super::resume;

/// One unit of work for a pool.
pub(crate) struct Job {
    pub(crate) torrent: TorrentId,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) geometry: Arc<Geometry>,
    pub(crate) job: DiskJob,
}

/// A resume record to make durable (see [`resume::write_durably`]). Its completion is a
/// `DiskCompletion::Done { job: "resume", .. }` carrying the data flush's result.
pub(crate) struct ResumeJob {
    pub(crate) torrent: TorrentId,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) geometry: Arc<Geometry>,
    /// The engine's record, taken on the network thread when the job was queued.
    pub(crate) record: ResumeRecord,
    pub(crate) path: PathBuf,
}

/// What the writer thread makes durable, one at a time.
enum WriterJob {
    /// A torrent's resume record, after its data is flushed.
    Resume(ResumeJob),
    /// A small state file (such as `dht.state`), written atomically; a failure is logged.
    File {
        path: PathBuf,
        bytes: Vec<u8>,
        what: &'static str,
    },
}

/// A finished job.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) torrent: TorrentId,
    pub(crate) completion: DiskCompletion,
    /// What the job held against the [`Budget`](super::budget::Budget).
    pub(crate) charge: Charge,
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

/// The two pools and the resume writer.
pub(crate) struct Pools {
    disk: Option<Sender<Job>>,
    hash: Option<Sender<Job>>,
    resume: Option<Sender<WriterJob>>,
    threads: Vec<JoinHandle<()>>,
}

impl Pools {
    /// Starts `disk_threads` disk workers, `hash_threads` hash workers and the resume writer.
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
        let (resume_tx, resume_rx) = crossbeam_channel::unbounded();
        let done = done.clone();
        let waker = waker.clone();
        threads.push(
            std::thread::Builder::new()
                .name("freshet-resume".into())
                .spawn(move || resume_writer(&resume_rx, &done, &waker))?,
        );
        Ok(Self {
            disk: Some(disk_tx),
            hash: Some(hash_tx),
            resume: Some(resume_tx),
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

    /// Queues a resume save on the resume writer.
    pub(crate) fn save_resume(&self, job: ResumeJob) {
        if let Some(tx) = &self.resume {
            // The writer only stops when this sender is dropped.
            let _ = tx.send(WriterJob::Resume(job));
        }
    }

    /// Queues an atomic write of `bytes` to `path` on the resume writer, so its fsyncs stay
    /// off the network thread; `what` names the file in the warning logged if it fails.
    /// [`join`](Self::join) waits for it.
    pub(crate) fn save_file(&self, path: PathBuf, bytes: Vec<u8>, what: &'static str) {
        if let Some(tx) = &self.resume {
            let _ = tx.send(WriterJob::File { path, bytes, what });
        }
    }

    /// Stops the workers after they finish queued jobs, and waits for them.
    pub(crate) fn join(mut self) {
        self.disk = None;
        self.hash = None;
        self.resume = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn worker(rx: &Receiver<Job>, done: &Sender<Done>, waker: &BatchWaker) {
    while let Ok(job) = rx.recv() {
        let charge = Charge::of(&job.job);
        let completion = run_job(job.storage.as_ref(), &job.geometry, job.job);
        if done
            .send(Done {
                torrent: job.torrent,
                completion,
                charge,
            })
            .is_err()
        {
            return;
        }
        waker.wake();
    }
}

fn resume_writer(rx: &Receiver<WriterJob>, done: &Sender<Done>, waker: &BatchWaker) {
    while let Ok(job) = rx.recv() {
        let job = match job {
            WriterJob::Resume(job) => job,
            WriterJob::File { path, bytes, what } => {
                if let Err(e) = freshet_engine::save_atomic(&path, &bytes) {
                    tracing::warn!("cannot save the {what} {}: {e}", path.display());
                }
                continue;
            }
        };
        let result =
            resume::write_durably(job.storage.as_ref(), &job.geometry, job.record, &job.path);
        if done
            .send(Done {
                torrent: job.torrent,
                completion: DiskCompletion::Done {
                    job: "resume",
                    result,
                },
                charge: Charge::Free,
            })
            .is_err()
        {
            return;
        }
        waker.wake();
    }
}

//! The hashing worker pool shared by [`create`](crate::TorrentBuilder) and
//! [`verify`](crate::verify): one worker per core, each pinned to its core and owning one
//! [`RangeReader`], taking runs of consecutive pieces from a shared counter.
//!
//! Why runs, not single pieces: a worker that hashes a contiguous stretch of a file reuses one
//! mapped window for all of it (see the `mapped` module) instead of mapping a piece-sized
//! window per piece, and stretches start at window-aligned payload offsets when pieces divide
//! the window, so the kernel can map page-cache huge pages whole.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::mapped::WINDOW;
use crate::read::{RangeReader, ReadMode};

/// How many consecutive pieces of `piece_length` bytes one worker takes at a time: enough to
/// fill one mapped window, so each window is mapped once and runs start at window-aligned
/// payload offsets (pieces are powers of two in practice).
pub(crate) fn pieces_per_run(piece_length: u64) -> usize {
    usize::try_from((WINDOW / piece_length.max(1)).max(1)).unwrap_or(1)
}

/// Runs `job(reader, i)` for every `i` in `0..count` on `threads` workers (at least one),
/// handing out runs of `run` consecutive indices. A job returning `None` stops every worker
/// after its current job. Returns the results by index; an index is `None` if its job stopped
/// the pool, was never started because of a stop, or its worker panicked.
pub(crate) fn run<T: Send>(
    count: usize,
    run: usize,
    threads: usize,
    mode: ReadMode,
    job: impl Fn(&mut RangeReader, usize) -> Option<T> + Sync,
) -> Vec<Option<T>> {
    let run = run.max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let workers = threads.clamp(1, count.div_ceil(run).max(1));
    let done: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let core = (!cores.is_empty()).then(|| cores[w % cores.len()]);
                let (next, stop, job) = (&next, &stop, &job);
                s.spawn(move || {
                    // One worker per core: busy hashers never sleep, so without pinning the
                    // scheduler may leave them sharing one core on a loaded machine.
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    let mut reader = RangeReader::new(mode);
                    let mut local = Vec::new();
                    'runs: loop {
                        let first = next.fetch_add(1, Ordering::Relaxed).saturating_mul(run);
                        if first >= count {
                            break;
                        }
                        for i in first..count.min(first.saturating_add(run)) {
                            if stop.load(Ordering::Relaxed) {
                                break 'runs;
                            }
                            match job(&mut reader, i) {
                                Some(out) => local.push((i, out)),
                                None => {
                                    stop.store(true, Ordering::Relaxed);
                                    break 'runs;
                                }
                            }
                        }
                    }
                    local
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(count).collect();
    for (i, v) in done.into_iter().flatten() {
        out[i] = Some(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_index_runs_once_in_runs_of_consecutive_indices() {
        let seen = Mutex::new(Vec::new());
        let out = run(103, 4, 3, ReadMode::Read, |_, i| {
            seen.lock().unwrap().push((std::thread::current().id(), i));
            Some(i * 2)
        });
        assert_eq!(out, (0..103).map(|i| Some(i * 2)).collect::<Vec<_>>());
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 103);
        // Each run of 4 (0-3, 4-7, ...) is done by one worker, in order.
        for start in (0..103).step_by(4) {
            let run: Vec<_> = seen
                .iter()
                .filter(|(_, i)| (start..start + 4).contains(i))
                .collect();
            assert!(run.iter().all(|(t, _)| *t == run[0].0), "run {start} split");
            assert!(
                run.windows(2).all(|w| w[0].1 < w[1].1),
                "run {start} out of order"
            );
        }
    }

    #[test]
    fn a_failed_job_stops_the_pool() {
        let out = run(1000, 4, 1, ReadMode::Read, |_, i| (i != 5).then_some(i));
        assert!(out[..5].iter().all(Option::is_some));
        assert!(
            out[5..].iter().all(Option::is_none),
            "nothing runs after a failure"
        );
    }

    #[test]
    fn no_work_and_zero_threads_are_fine() {
        let out: Vec<Option<()>> = run(0, 4, 0, ReadMode::Read, |_, _| Some(()));
        assert!(out.is_empty());
        assert_eq!(run(3, 0, 0, ReadMode::Read, |_, i| Some(i)).len(), 3);
    }
}

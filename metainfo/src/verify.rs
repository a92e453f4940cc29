//! Verify: check a data directory against a torrent, piece by piece, on every core.
//!
//! The data directory is the *save directory*: a multi-file torrent's files are looked up as
//! `DATA_DIR/<name>/<path…>`, a single-file torrent as `DATA_DIR/<name>` (or `DATA_DIR` itself
//! when it is that file). v1 and hybrid torrents are checked with their SHA-1 piece hashes;
//! v2-only torrents with their piece layers (or, when a file has no layer, its pieces root).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha1::{Digest, Sha1};

use crate::merkle::{self, BLOCK_SIZE, MerkleHash};
use crate::read::{RangeReader, ReadMode, ZEROS};
use crate::torrent::{Layout, Metainfo, PieceIndex};
use crate::workers;

/// The outcome for one piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PieceState {
    /// The data is present and hashes correctly.
    Good,
    /// The data is present but its hash differs.
    Bad,
    /// Some of the data is absent (file missing or too short).
    Missing,
}

/// Per-file summary: how many of the pieces overlapping the file are good, bad or missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The file's path in the torrent (as [`crate::FileEntry::path`]).
    pub path: Vec<String>,
    /// File length.
    pub length: u64,
    /// True for pad files (never read from disk).
    pub padding: bool,
    /// Good pieces overlapping this file.
    pub good: u64,
    /// Bad pieces overlapping this file.
    pub bad: u64,
    /// Missing pieces overlapping this file.
    pub missing: u64,
}

/// Result of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// State of every piece, by index.
    pub pieces: Vec<PieceState>,
    /// One entry per file of the torrent, in order.
    pub files: Vec<FileReport>,
}

impl VerifyReport {
    /// True if every piece is good.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.pieces.iter().all(|p| *p == PieceState::Good)
    }

    /// Number of pieces in `state`.
    #[must_use]
    pub fn count(&self, state: PieceState) -> u64 {
        self.pieces.iter().filter(|p| **p == state).count() as u64
    }
}

enum Segment {
    Disk {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    Zeros(u64),
}

enum Expect {
    Sha1([u8; 20]),
    /// A v2 piece node (file > 1 piece) or a one-piece file root.
    Node {
        hash: MerkleHash,
        small_file: bool,
    },
    /// v2 file > 1 piece without a piece layer: checked via the whole file root later.
    Unknown,
}

struct Check {
    segments: Vec<Segment>,
    expect: Expect,
    index: u64,
    file: Option<usize>,
}

/// Checks the data under `data_dir` against `meta`, calling `progress(done, total)` as pieces
/// complete. Work is spread over `threads` threads (0 = all cores). Reads with
/// [`ReadMode::Read`]; see [`verify_with_mode`].
///
/// # Errors
/// Only if a thread cannot be run; missing or unreadable files count as missing pieces.
pub fn verify(
    meta: &Metainfo,
    data_dir: &Path,
    threads: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> io::Result<VerifyReport> {
    verify_with_mode(meta, data_dir, threads, ReadMode::Read, progress)
}

/// Like [`verify`], reading file data as `read_mode` says (the report is the same either way;
/// see [`ReadMode::Mapped`] for the faster path and its risk).
///
/// # Errors
/// Only if a thread cannot be run; missing or unreadable files count as missing pieces.
pub fn verify_with_mode(
    meta: &Metainfo,
    data_dir: &Path,
    threads: usize,
    read_mode: ReadMode,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> io::Result<VerifyReport> {
    let info = &meta.info;
    let pl = info.piece_length;
    let location = |path: &[String]| -> PathBuf {
        if info.layout == Layout::SingleFile && data_dir.is_file() {
            data_dir.to_owned()
        } else {
            data_dir.join(path.iter().collect::<PathBuf>())
        }
    };
    let mut checks = Vec::new();
    if info.has_v1_pieces() {
        for p in 0..info.piece_count {
            let start = p * pl;
            let end = (start + pl).min(info.total_length);
            let mut segments = Vec::new();
            let first = info.files.partition_point(|f| f.offset + f.length <= start);
            for f in info.files[first..].iter().take_while(|f| f.offset < end) {
                let s = start.max(f.offset);
                let e = end.min(f.offset + f.length);
                if e <= s {
                    continue;
                }
                if f.attributes.padding || f.attributes.symlink {
                    segments.push(Segment::Zeros(e - s));
                } else {
                    segments.push(Segment::Disk {
                        path: location(&f.path),
                        offset: s - f.offset,
                        len: e - s,
                    });
                }
            }
            let expect = info
                .piece_hash(PieceIndex(p))
                .map_or(Expect::Unknown, |h| Expect::Sha1(h.0));
            checks.push(Check {
                segments,
                expect,
                index: p,
                file: None,
            });
        }
    } else {
        for (fi, f) in info.files.iter().enumerate() {
            let Some(root) = f.pieces_root else { continue };
            let n = f.v2_piece_count(pl);
            let layer = meta.piece_layers.get(&root);
            for k in 0..n {
                let s = k * pl;
                let len = (f.length - s).min(pl);
                let expect = if f.length <= pl {
                    Expect::Node {
                        hash: root,
                        small_file: true,
                    }
                } else if let Some(l) = layer {
                    let idx = usize::try_from(k).unwrap_or(usize::MAX);
                    l.get(idx).map_or(Expect::Unknown, |h| Expect::Node {
                        hash: *h,
                        small_file: false,
                    })
                } else {
                    Expect::Unknown
                };
                checks.push(Check {
                    segments: vec![Segment::Disk {
                        path: location(&f.path),
                        offset: s,
                        len,
                    }],
                    expect,
                    index: f.offset / pl + k,
                    file: Some(fi),
                });
            }
        }
    }

    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    };
    let total: u64 = checks
        .iter()
        .flat_map(|c| &c.segments)
        .map(|s| match s {
            Segment::Disk { len, .. } => *len,
            Segment::Zeros(_) => 0,
        })
        .sum();
    let done = AtomicU64::new(0);
    let results = workers::run(
        checks.len(),
        workers::pieces_per_run(pl),
        threads,
        read_mode,
        |reader, i| {
            let (state, node, n) = run_check(&checks[i], pl, reader);
            progress(done.fetch_add(n, Ordering::Relaxed) + n, total);
            Some((state, node))
        },
    );
    let mut states = vec![PieceState::Missing; checks.len()];
    let mut nodes: Vec<Option<MerkleHash>> = vec![None; checks.len()];
    for (i, (st, node)) in results
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r?)))
    {
        states[i] = st;
        nodes[i] = node;
    }
    // v2 files without piece layers: all pieces good iff the rebuilt root matches.
    for (fi, f) in info.files.iter().enumerate() {
        let idx: Vec<usize> = (0..checks.len())
            .filter(|&i| checks[i].file == Some(fi) && matches!(checks[i].expect, Expect::Unknown))
            .collect();
        if idx.is_empty() {
            continue;
        }
        let layer: Option<Vec<MerkleHash>> = idx.iter().map(|&i| nodes[i]).collect();
        let verdict = match (layer, f.pieces_root) {
            (Some(l), Some(root)) if merkle::root_from_piece_layer(l.clone(), pl) == root => {
                PieceState::Good
            }
            (Some(_), _) => PieceState::Bad,
            (None, _) => PieceState::Missing,
        };
        for &i in &idx {
            if states[i] != PieceState::Missing {
                states[i] = verdict;
            }
        }
    }

    let mut pieces = vec![PieceState::Missing; usize::try_from(info.piece_count).unwrap_or(0)];
    for (c, st) in checks.iter().zip(&states) {
        if let Some(slot) = usize::try_from(c.index)
            .ok()
            .and_then(|i| pieces.get_mut(i))
        {
            *slot = *st;
        }
    }
    // v2 pieces that belong to no file (pad space) are trivially good.
    if !info.has_v1_pieces() {
        let covered: std::collections::HashSet<u64> = checks.iter().map(|c| c.index).collect();
        for (i, p) in pieces.iter_mut().enumerate() {
            if !covered.contains(&(i as u64)) {
                *p = PieceState::Good;
            }
        }
    }
    let files = info
        .files
        .iter()
        .map(|f| {
            let mut r = FileReport {
                path: f.path.clone(),
                length: f.length,
                padding: f.attributes.padding,
                good: 0,
                bad: 0,
                missing: 0,
            };
            if f.length > 0 {
                let first = f.offset / pl;
                let last = (f.offset + f.length - 1) / pl;
                for p in first..=last {
                    match pieces.get(usize::try_from(p).unwrap_or(usize::MAX)) {
                        Some(PieceState::Good) => r.good += 1,
                        Some(PieceState::Bad) => r.bad += 1,
                        _ => r.missing += 1,
                    }
                }
            }
            r
        })
        .collect();
    Ok(VerifyReport { pieces, files })
}

/// Hashes one piece: (state, computed v2 node if any, bytes read).
fn run_check(
    check: &Check,
    pl: u64,
    reader: &mut RangeReader,
) -> (PieceState, Option<MerkleHash>, u64) {
    let mut sha1 = Sha1::new();
    let mut blocks = Vec::new();
    let v2 = !matches!(check.expect, Expect::Sha1(_));
    let mut read = 0u64;
    for seg in &check.segments {
        match seg {
            Segment::Zeros(n) => {
                let mut left = *n;
                while left > 0 {
                    let k = usize::try_from(left).map_or(ZEROS.len(), |l| l.min(ZEROS.len()));
                    sha1.update(&ZEROS[..k]);
                    left -= k as u64;
                }
            }
            Segment::Disk { path, offset, len } => {
                let fed = reader.for_each_chunk_at(path, *offset, *len, |chunk| {
                    if v2 {
                        blocks.extend(
                            chunk
                                .chunks(usize::try_from(BLOCK_SIZE).unwrap_or(16384))
                                .map(MerkleHash::of_block),
                        );
                    } else {
                        sha1.update(chunk);
                    }
                });
                if fed.is_err() {
                    return (PieceState::Missing, None, *len);
                }
                read += len;
            }
        }
    }
    match check.expect {
        Expect::Sha1(h) => {
            let got: [u8; 20] = sha1.finalize().into();
            let st = if got == h {
                PieceState::Good
            } else {
                PieceState::Bad
            };
            (st, None, read)
        }
        Expect::Node { hash, small_file } => {
            let got = if small_file {
                merkle::small_file_root(blocks)
            } else {
                merkle::piece_node(blocks, pl)
            };
            let st = if got == hash {
                PieceState::Good
            } else {
                PieceState::Bad
            };
            (st, Some(got), read)
        }
        Expect::Unknown => (PieceState::Good, Some(merkle::piece_node(blocks, pl)), read),
    }
}

//! Disk access as jobs: the [`Storage`] trait, its jobs and completions, and piece hashing.
//!
//! The engine never touches storage itself. It emits a [`DiskJob`]; the caller runs it (on
//! worker threads if it likes) with [`run_job`] and feeds the [`DiskCompletion`] back through
//! `Torrent::handle_disk`. Jobs for different pieces may complete in any order.
//!
//! Two implementations ship: [`MemoryStorage`] (tests, simulation) and [`FileStorage`]
//! (positional file I/O, sparse files, lazily created directories, a bounded cache of open
//! handles, BEP 47 attributes, a part file for bytes of skipped files).

mod fault;
mod file;
mod hash;
mod memory;

use std::io;
use std::path::PathBuf;

use bytes::Bytes;

pub use fault::StorageFault;
pub use file::{DEFAULT_OPEN_FILES, FileStorage};
pub use hash::{HashOutcome, Verdict, hash_piece_blocks, sha1_blocks, v2_piece_root};
pub use memory::MemoryStorage;

use crate::{BlockRef, FilePriority, Geometry, PeerKey, PieceIndex};

/// Where a torrent's bytes live. Implementations map blocks onto files with the torrent's
/// [`Geometry`], never write padding files, and keep bytes of skipped files out of those files.
///
/// Methods take `&self` so one storage can serve several worker threads.
pub trait Storage: Send + Sync {
    /// Writes one block. `block` lies inside its piece and `data.len() == block.len`.
    fn write(&self, block: BlockRef, data: Bytes) -> Result<(), StorageError>;
    /// Reads a byte range inside one piece.
    fn read(&self, block: BlockRef) -> Result<Bytes, StorageError>;
    /// Makes written data durable (and creates BEP 47 symlinks).
    fn flush(&self) -> Result<(), StorageError>;
    /// Tells the storage which files are skipped: their bytes go to a part file instead.
    fn set_file_priorities(&self, priorities: &[FilePriority]) -> Result<(), StorageError>;
    /// Size and modification time of file `file` as it is now, or `None` if it does not exist.
    fn file_stat(&self, file: usize) -> Option<FileStat>;
    /// Moves all data to a new save directory.
    fn move_to(&self, new_root: PathBuf) -> Result<(), StorageError>;
    /// Deletes every file this torrent owns.
    fn delete(&self) -> Result<(), StorageError>;
}

/// Size and modification time of a file, as stored in resume records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Length in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 if unknown). Nanoseconds, so a
    /// write in the same second as a resume record still shows up as a change.
    pub mtime_ns: i64,
}

/// A unit of disk work the engine asks for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DiskJob {
    /// Write a received block.
    Write {
        /// Where.
        block: BlockRef,
        /// The bytes (`len == block.len`).
        data: Bytes,
    },
    /// Read a block a peer requested.
    Read {
        /// Who asked.
        peer: PeerKey,
        /// What.
        block: BlockRef,
    },
    /// Verify a piece. Blocks given as `Some` are hashed from memory; `None` blocks are read
    /// from storage first.
    Hash {
        /// The piece.
        piece: PieceIndex,
        /// One entry per 16 KiB block.
        blocks: Vec<Option<Bytes>>,
        /// Also report a SHA-1 of every block (used to find the peer that sent bad data).
        block_digests: DigestMode,
    },
    /// Make data durable.
    Flush,
    /// File priorities changed.
    SetFilePriorities(Vec<FilePriority>),
    /// Move the data to another directory.
    Move(PathBuf),
    /// Delete the data.
    Delete,
}

/// Whether a hash job also returns per-block digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestMode {
    /// Only the piece verdict.
    PieceOnly,
    /// The verdict and one SHA-1 per block.
    WithBlocks,
}

/// The result of a [`DiskJob`], fed back to `Torrent::handle_disk`.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiskCompletion {
    /// A write finished.
    Written {
        /// The block.
        block: BlockRef,
        /// Outcome.
        result: Result<(), StorageError>,
    },
    /// A read finished.
    Read {
        /// Who asked.
        peer: PeerKey,
        /// The block.
        block: BlockRef,
        /// The data.
        result: Result<Bytes, StorageError>,
    },
    /// A piece was hashed.
    Hashed {
        /// The piece.
        piece: PieceIndex,
        /// The verdict, or why the data could not be read.
        result: Result<HashOutcome, StorageError>,
    },
    /// A flush, priority change, move or delete finished.
    Done {
        /// Which job kind (`"flush"`, `"priorities"`, `"move"`, `"delete"`).
        job: &'static str,
        /// Outcome.
        result: Result<(), StorageError>,
    },
}

/// A storage failure, with the operation and file it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// An I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation (`"open"`, `"write"`, `"read"`, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A block lies outside its piece or has the wrong length.
    #[error("{block} is outside the torrent or its data has the wrong length")]
    OutOfRange {
        /// The block.
        block: BlockRef,
    },
    /// A read asked for bytes that were never written.
    #[error("{block} has not been written")]
    NotWritten {
        /// The block.
        block: BlockRef,
    },
    /// A BEP 47 symlink target does not exist inside the save directory.
    #[error("file {file}: symlink target outside the save directory")]
    SymlinkEscape {
        /// Index of the file.
        file: usize,
    },
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Runs one job against `storage` and returns its completion. Call it from any thread.
pub fn run_job(storage: &dyn Storage, geometry: &Geometry, job: DiskJob) -> DiskCompletion {
    match job {
        DiskJob::Write { block, data } => DiskCompletion::Written {
            block,
            result: storage.write(block, data),
        },
        DiskJob::Read { peer, block } => DiskCompletion::Read {
            peer,
            block,
            result: storage.read(block),
        },
        DiskJob::Hash {
            piece,
            mut blocks,
            block_digests,
        } => {
            let mut result = Ok(());
            for (i, slot) in blocks.iter_mut().enumerate() {
                if slot.is_none() {
                    // i < blocks_in_piece <= u32::MAX / 16 KiB.
                    let block = geometry.block(piece, i as u32);
                    match storage.read(block) {
                        Ok(b) => *slot = Some(b),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
            }
            let result = result.map(|()| {
                let filled: Vec<Bytes> = blocks.into_iter().flatten().collect();
                hash_piece_blocks(geometry, piece, &filled, block_digests)
            });
            DiskCompletion::Hashed { piece, result }
        }
        DiskJob::Flush => DiskCompletion::Done {
            job: "flush",
            result: storage.flush(),
        },
        DiskJob::SetFilePriorities(p) => DiskCompletion::Done {
            job: "priorities",
            result: storage.set_file_priorities(&p),
        },
        DiskJob::Move(to) => DiskCompletion::Done {
            job: "move",
            result: storage.move_to(to),
        },
        DiskJob::Delete => DiskCompletion::Done {
            job: "delete",
            result: storage.delete(),
        },
    }
}

/// Checks that `block` lies inside its piece and that `data_len` matches it.
pub(crate) fn check_block(
    geometry: &Geometry,
    block: &BlockRef,
    data_len: usize,
) -> Result<PieceIndex, StorageError> {
    let piece = geometry
        .piece(block.piece.0)
        .ok_or(StorageError::OutOfRange { block: *block })?;
    if block.len as usize != data_len
        || u64::from(block.offset) + u64::from(block.len) > u64::from(geometry.piece_size(piece))
    {
        return Err(StorageError::OutOfRange { block: *block });
    }
    Ok(piece)
}

//! freshet-engine: the sans-I/O heart of one torrent.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod geometry;
mod picker;
mod pieceset;
mod storage;
mod wire;

pub use geometry::{
    BLOCK_LEN, FileAttrs, FileEntry, FileSpan, FileSpec, Geometry, GeometryError, MAX_PIECE_LEN,
    PieceHashes, V2Expect,
};
pub use storage::{
    DEFAULT_OPEN_FILES, DigestMode, DiskCompletion, DiskJob, FileStat, FileStorage, HashOutcome,
    MemoryStorage, Storage, StorageError, Verdict, hash_piece_blocks, run_job, sha1_blocks,
    v2_piece_root,
};
pub use wire::{BlockRef, PieceIndex};

/// A handle to a peer connection inside one torrent (an index into the engine's peer slab).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub usize);

impl std::fmt::Display for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// How much the user wants a file (mapped onto the pieces it overlaps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum FilePriority {
    /// Do not download; bytes never reach this file.
    Skip,
    /// Download after everything else.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Download before normal files.
    High,
}
pub use picker::{BlockReceipt, BlockState, PickOrder, PieceState, PiecePriority, PieceTracker};
pub use pieceset::PieceSet;

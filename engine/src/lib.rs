//! freshet-engine: the sans-I/O heart of one torrent.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod choker;
pub use choker::{ChokeCandidate, ChokeMode, choose_optimistic, choose_unchoked};

mod event;
pub use event::{Action, AnnounceEvent, DisconnectReason, Event};

mod geometry;
pub use geometry::{
    BLOCK_LEN, FileAttrs, FileEntry, FileSpan, FileSpec, Geometry, GeometryError, MAX_PIECE_LEN,
    PieceHashes, V2Expect,
};

mod picker;
pub use picker::{BlockReceipt, BlockState, PickOrder, PiecePriority, PieceState, PieceTracker};

mod pieceset;
pub use pieceset::PieceSet;

mod rate;

mod resume;
pub use resume::{ResumeError, ResumeRecord, UnfinishedPiece, save_atomic};

mod storage;
pub use storage::{
    DEFAULT_OPEN_FILES, DigestMode, DiskCompletion, DiskJob, FileStat, FileStorage, HashOutcome,
    MemoryStorage, Storage, StorageError, Verdict, hash_piece_blocks, run_job, sha1_blocks,
    v2_piece_root,
};

mod torrent;
pub use torrent::{AddPeerError, Config, FastExtension, PeerInfo, Start, Stats, Torrent};

pub use freshet_peerwire::{BlockRef, Message, PieceIndex};

/// A handle to a peer connection inside one torrent. Keys are never reused by a torrent.
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

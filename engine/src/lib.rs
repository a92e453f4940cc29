//! The sans-I/O heart of one BitTorrent torrent: which pieces we have, which blocks to ask
//! whom for, whom to unchoke, where bytes live on disk and what survives a restart.
//!
//! The engine performs no I/O and reads no clock: inputs are peer messages (decoded by
//! `freshet-peerwire`), disk-job completions and `now: Instant`; outputs are [`Action`]s.
//! Randomness comes from a seeded RNG it owns ([`Config::rng_seed`]).
//!
//! Start with [`Torrent`] (one torrent's state machine), [`Geometry`] (piece/file layout,
//! built by hand or from metainfo) and [`Storage`] with [`FileStorage`] / [`MemoryStorage`].
//! Two smaller machines sit beside it: [`MetadataFetch`] (a magnet link's info dictionary,
//! BEP 9) and [`Pex`] (peer exchange, BEP 11).
//!
//! ```text
//!  peers ──Message──▶ ┌──────────────────────── Torrent ───────────────────────┐
//!                     │ PieceTracker (picker)   choker   rate windows   timers │
//!  disk ─DiskCompletion▶                                                      │
//!  clock ───now─────▶ └──────────────┬──────────────────────────────────────────┘
//!                       poll_action() │  Send / Disconnect / Disk(job) / Announce / Event
//!                                     ▼
//!             driver (client): sockets, run_job(storage, job) on workers, trackers
//! ```
//!
//! A complete transfer between two engines, driven by hand:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use bytes::Bytes;
//! use freshet_engine::*;
//!
//! // A 40 000-byte torrent in 16 KiB pieces.
//! let data = Bytes::from((0..40_000u32).map(|i| i as u8).collect::<Vec<u8>>());
//! let hashes = data.chunks(16384).map(|c| sha1_blocks(&[Bytes::copy_from_slice(c)])).collect();
//! let geometry = Arc::new(Geometry::new(
//!     16384,
//!     vec![FileSpec::new(&["hello.bin"], 40_000)],
//!     PieceHashes { v1: Some(hashes), v2: None },
//! )?);
//! let now = Instant::now();
//! let config = || { let mut c = Config::default(); c.rng_seed = Some([1; 32]); c };
//! let storages = [
//!     MemoryStorage::with_data(geometry.clone(), data.clone()),
//!     MemoryStorage::new(geometry.clone()),
//! ];
//! let mut nodes = [
//!     Torrent::new(geometry.clone(), config(), Start::Verified(PieceSet::full(3)), now),
//!     Torrent::new(geometry.clone(), config(), Start::Empty, now),
//! ];
//! let info = || PeerInfo { fast: FastExtension::Enabled, ..PeerInfo::default() };
//! let keys = [nodes[0].add_peer(now, info())?, nodes[1].add_peer(now, info())?];
//! // Deliver every action until both engines are idle.
//! let mut busy = true;
//! while busy {
//!     busy = false;
//!     for i in 0..2 {
//!         while let Some(action) = nodes[i].poll_action() {
//!             busy = true;
//!             match action {
//!                 Action::Send { message, .. } => nodes[1 - i].handle_message(now, keys[1 - i], message),
//!                 Action::Disk(job) => {
//!                     let done = run_job(&storages[i], &geometry, job);
//!                     nodes[i].handle_disk(now, done);
//!                 }
//!                 _ => {}
//!             }
//!         }
//!     }
//! }
//! assert!(nodes[1].is_complete());
//! assert_eq!(storages[1].piece_data(PieceIndex(2)).unwrap(), data.slice(32768..));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod choker;
pub use choker::{ChokeCandidate, ChokeMode, choose_optimistic, choose_unchoked};

mod duplicate;
pub use duplicate::{Duplicate, Keep, Opener};

mod event;
pub use event::{Action, AnnounceEvent, DisconnectReason, Event};

mod from_metainfo;

mod geometry;
pub use geometry::{
    BLOCK_LEN, FileAttrs, FileEntry, FileSpan, FileSpec, Geometry, GeometryError, MAX_PIECE_LEN,
    PieceHashes, V2Expect,
};

mod metadata;
pub use metadata::{
    DEFAULT_MAX_METADATA_SIZE, MetadataAction, MetadataConfig, MetadataDropReason, MetadataFetch,
    matches_target,
};

mod pex;
pub use pex::{Pex, PexAction, PexConfig};

mod picker;
pub use picker::{
    BlockReceipt, BlockState, Endgame, PickOrder, PiecePriority, PieceState, PieceTracker,
};

mod pieceset;
pub use pieceset::PieceSet;

mod rate;

mod resume;
pub use resume::{ResumeError, ResumeRecord, UnfinishedPiece, save_atomic};

mod storage;
pub use storage::{
    DEFAULT_OPEN_FILES, DigestMode, DiskCompletion, DiskJob, FileStat, FileStorage, HashOutcome,
    MemoryStorage, Storage, StorageError, StorageFault, Verdict, hash_piece_blocks, run_job,
    sha1_blocks, v2_piece_root,
};

mod torrent;
pub use torrent::{
    AddPeerError, BanPolicy, Config, FastExtension, PeerInfo, PeerStats, Start, Stats, Torrent,
};

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

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

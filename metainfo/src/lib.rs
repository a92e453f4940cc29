//! `freshet-metainfo`: BitTorrent `.torrent` files (v1, v2 and hybrid), info-hashes, magnet
//! links, torrent creation and data verification.
//!
//! Loading follows libtorrent 2.1's rules exactly (see `README.md` and the [`sanitize`]
//! module for the path-safety rule): every file path is sanitised so it can never leave the
//! save directory, duplicate names are renamed, v2 piece layers are verified against their
//! merkle roots, and every size is range-checked before anything proportional is allocated.
//! The crate performs no network I/O and reads no clock; only [`TorrentBuilder`] and
//! [`verify()`] read files.
//!
//! Start from [`Metainfo::from_bytes`], [`Magnet::parse`] and [`TorrentBuilder`].
//!
//! ```
//! use freshet_metainfo::{Metainfo, TorrentBuilder};
//!
//! let dir = std::env::temp_dir().join(format!("freshet-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("hello.txt");
//! std::fs::write(&file, b"hello, world\n").unwrap();
//!
//! let created = TorrentBuilder::new(&file)
//!     .tracker("udp://tracker.example:6969/announce")
//!     .no_creation_date()
//!     .build()
//!     .unwrap();
//! let torrent = Metainfo::from_bytes(&created.bytes).unwrap();
//! assert_eq!(torrent.info.name, "hello.txt");
//! assert_eq!(torrent.info.total_length, 13);
//! assert_eq!(torrent.info_hashes, created.info_hashes);
//! assert!(torrent.magnet().to_uri().starts_with("magnet:?xt=urn:btih:"));
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```
// `unsafe` is denied (not forbidden) so that one module, `mapped` (opt-in memory-mapped reads,
// see ARCHITECTURE.md), can allow it; every other crate of the workspace forbids it.
#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod create;
mod dedupe;
mod error;
mod infohash;
mod magnet;
mod mapped;
pub mod merkle;
mod parse;
mod read;
pub mod sanitize;
mod symlinks;
mod torrent;
mod verify;
mod workers;
mod write;

pub use create::{CreateError, CreatedTorrent, TorrentBuilder, auto_piece_length};
pub use error::{Error, ErrorKind};
pub use infohash::{InfoHashParseError, InfoHashV1, InfoHashV2, InfoHashes};
pub use magnet::{Magnet, MagnetError};
pub use merkle::MerkleHash;
pub use read::ReadMode;
pub use torrent::{
    DhtNode, FileAttributes, FileEntry, Info, Layout, Limits, Metainfo, PieceHash, PieceIndex,
    Version,
};
pub use verify::{FileReport, PieceState, VerifyReport, verify, verify_with_mode};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

//! The loaded `.torrent`: [`Metainfo`] (the whole file), [`Info`] (the info dictionary) and
//! [`FileEntry`] (one file of the payload, with its sanitised path and byte offset).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::infohash::{InfoHashV1, InfoHashes};
use crate::magnet::Magnet;
use crate::merkle::MerkleHash;

/// A loaded `.torrent` file: the parsed info dictionary plus everything around it.
///
/// Build one with [`Metainfo::from_bytes`] (or [`Metainfo::from_bytes_with`] for custom
/// [`Limits`]). All fields are already validated and sanitised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    /// The info dictionary.
    pub info: Info,
    /// v1 and/or v2 info-hash, computed over the raw bytes of the `info` value.
    pub info_hashes: InfoHashes,
    /// Tracker URLs by tier (BEP 12 `announce-list`, else `announce`). Leading whitespace is
    /// trimmed; empty and malformed entries are dropped; empty tiers are dropped.
    pub trackers: Vec<Vec<String>>,
    /// BEP 19 web seeds (`url-list`): percent-encoded, de-duplicated, with a trailing `/` for
    /// torrents of more than one file.
    pub web_seeds: Vec<String>,
    /// BEP 17 HTTP seeds (`httpseeds`), verbatim.
    pub http_seeds: Vec<String>,
    /// BEP 5 DHT bootstrap nodes (`nodes`); malformed entries are skipped.
    pub nodes: Vec<DhtNode>,
    /// `comment` (`comment.utf-8` wins).
    pub comment: Option<String>,
    /// `created by` (`created by.utf-8` wins).
    pub created_by: Option<String>,
    /// `creation date` in seconds since the Unix epoch (absent or negative: `None`).
    pub creation_date: Option<i64>,
    /// `encoding` (legacy hint for non-UTF-8 names).
    pub encoding: Option<String>,
    /// BEP 38 `similar` info-hashes (top level and info dict).
    pub similar: Vec<InfoHashV1>,
    /// BEP 38 `collections` (top level and info dict).
    pub collections: Vec<String>,
    /// BEP 52 piece layers that were present and verified, keyed by the file's pieces root.
    pub piece_layers: BTreeMap<MerkleHash, Vec<MerkleHash>>,
    /// The exact bytes of the `info` value (what `ut_metadata` serves).
    pub info_bytes: Vec<u8>,
}

/// The info dictionary: what the info-hash identifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// Torrent name, sanitised; for a multi-file torrent the top directory. A multi-file name
    /// that sanitises to nothing is replaced by the hex info-hash.
    pub name: String,
    /// Bytes per piece.
    pub piece_length: u64,
    /// Files in payload order, including pad files, with offsets.
    pub files: Vec<FileEntry>,
    /// Sum of all file lengths (pad files included).
    pub total_length: u64,
    /// Number of pieces: `ceil(total_length / piece_length)`.
    pub piece_count: u64,
    /// BEP 27 private flag (`private` inside the info dict is non-zero).
    pub private: bool,
    /// `source` (private-tracker tag).
    pub source: Option<String>,
    /// v1, v2 or hybrid.
    pub version: Version,
    /// Single file or a directory of files.
    pub layout: Layout,
    /// Concatenated 20-byte SHA-1 piece hashes (empty for v2-only torrents).
    pub(crate) pieces: Vec<u8>,
}

/// Which BitTorrent metadata versions a torrent carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Version {
    /// BEP 3 only.
    V1,
    /// BEP 52 only.
    V2,
    /// Both (BEP 52 hybrid).
    Hybrid,
}

/// Whether the payload is one file or a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// The payload is a single file named after the torrent.
    SingleFile,
    /// The payload is a directory named after the torrent.
    MultiFile,
}

/// One file of the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Sanitised, de-duplicated path relative to the save directory, one element per
    /// component. For a multi-file torrent it starts with the torrent's directory name (as
    /// libtorrent's `file_path`); no element is empty, `.` or `..`, or contains a separator.
    pub path: Vec<String>,
    /// Length in bytes (0 for symlinks).
    pub length: u64,
    /// Byte offset of the file in the concatenated payload.
    pub offset: u64,
    /// BEP 47 attributes.
    pub attributes: FileAttributes,
    /// Symlink target (BEP 47), relative to the save directory like `path`.
    pub symlink_target: Option<Vec<String>>,
    /// BEP 52 `pieces root` (v2 and hybrid torrents, non-empty files).
    pub pieces_root: Option<MerkleHash>,
}

/// BEP 47 file attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileAttributes {
    /// `p`: a pad file (zeros, never written to disk).
    pub padding: bool,
    /// `x`: executable.
    pub executable: bool,
    /// `h`: hidden.
    pub hidden: bool,
    /// `l`: a symbolic link (see [`FileEntry::symlink_target`]).
    pub symlink: bool,
}

/// A DHT bootstrap node from `nodes`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DhtNode {
    /// Host name or address.
    pub host: String,
    /// UDP port.
    pub port: u16,
}

/// A 20-byte SHA-1 piece hash (BEP 3 `pieces`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PieceHash(pub [u8; 20]);

/// Zero-based piece number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PieceIndex(pub u64);

/// Bounds applied while loading untrusted `.torrent` data. The defaults are libtorrent's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input in bytes (10 000 000).
    pub max_size: usize,
    /// Deepest bencode nesting (100).
    pub max_depth: usize,
    /// Most bencode items (3 000 000).
    pub max_items: usize,
    /// Most pieces (2 097 152), checked before anything proportional is allocated.
    pub max_pieces: u64,
    /// Most attempts at renaming duplicate file names (500).
    pub max_duplicate_renames: usize,
    /// Deepest directory nesting of a file path (100).
    pub max_path_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_size: 10_000_000,
            max_depth: 100,
            max_items: 3_000_000,
            max_pieces: 0x20_0000,
            max_duplicate_renames: 500,
            max_path_depth: 100,
        }
    }
}

impl Metainfo {
    /// A magnet link for this torrent: info-hashes, name, trackers (flattened) and web seeds.
    #[must_use]
    pub fn magnet(&self) -> Magnet {
        Magnet {
            info_hashes: self.info_hashes,
            display_name: Some(self.info.name.clone()),
            trackers: self.trackers.iter().flatten().cloned().collect(),
            web_seeds: self.web_seeds.clone(),
            ..Magnet::default()
        }
    }
}

impl Info {
    /// The SHA-1 hash of piece `index` (v1 and hybrid torrents).
    #[must_use]
    pub fn piece_hash(&self, index: PieceIndex) -> Option<PieceHash> {
        let start = usize::try_from(index.0).ok()?.checked_mul(20)?;
        let bytes = self.pieces.get(start..start + 20)?;
        let mut out = [0u8; 20];
        out.copy_from_slice(bytes);
        Some(PieceHash(out))
    }

    /// True if SHA-1 piece hashes are present (v1 or hybrid).
    #[must_use]
    pub fn has_v1_pieces(&self) -> bool {
        !self.pieces.is_empty()
    }

    /// Length of piece `index` in bytes (the last piece may be shorter).
    #[must_use]
    pub fn piece_size(&self, index: PieceIndex) -> u64 {
        let start = index.0.saturating_mul(self.piece_length);
        self.total_length
            .saturating_sub(start)
            .min(self.piece_length)
    }

    /// Sum of the lengths of the files that are not pad files.
    #[must_use]
    pub fn payload_length(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| !f.attributes.padding)
            .map(|f| f.length)
            .sum()
    }
}

impl FileEntry {
    /// The path joined with `/` (what `freshet show` prints).
    #[must_use]
    pub fn path_string(&self) -> String {
        self.path.join("/")
    }

    /// The path as a relative filesystem path (safe to join under a save directory).
    #[must_use]
    pub fn relative_path(&self) -> PathBuf {
        self.path.iter().collect()
    }

    /// Number of pieces this file spans in a v2 layout (each file starts a piece).
    #[must_use]
    pub fn v2_piece_count(&self, piece_length: u64) -> u64 {
        self.length.div_ceil(piece_length.max(1))
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "piece {}", self.0)
    }
}

impl PieceHash {
    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }
}

impl fmt::Debug for PieceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PieceHash({})", self.to_hex())
    }
}

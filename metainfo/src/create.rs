//! Torrent creation: walk a file or directory, hash it on every core, write a `.torrent`.
//!
//! Hashing streams: each worker thread takes the next run of consecutive pieces (see `workers`)
//! and feeds it, in 64 KiB chunks, to SHA-1 (and, for hybrids, SHA-256 per 16 KiB block), so
//! memory stays at one chunk (or, with [`ReadMode::Mapped`], one mapped window) per thread
//! whatever the data size. Results are only the piece hashes.
//!
//! Hybrid layout (BEP 52): after every non-empty file that does not end on a piece boundary a
//! pad file is inserted into the v1 `files` list, so v1 pieces and v2 files line up; no tail
//! pad is written after the last non-empty file.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use freshet_bencode::OwnedValue;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::infohash::{InfoHashV1, InfoHashV2, InfoHashes};
use crate::merkle::{self, BLOCK_SIZE, MerkleHash};
use crate::read::{RangeReader, ReadMode, ZEROS};
use crate::workers;

/// Smallest automatic piece length.
const MIN_AUTO_PIECE: u64 = 16 * 1024;
/// Largest automatic piece length.
const MAX_AUTO_PIECE: u64 = 16 * 1024 * 1024;
/// Upper bound on pieces chosen by the automatic piece length.
const TARGET_MAX_PIECES: u64 = 2000;

/// Builds a `.torrent` from a file or a directory.
///
/// Directory contents are added in byte order of their relative paths, so the same tree
/// always gives the same torrent. Without [`TorrentBuilder::creation_date`] the output has no
/// date and is fully reproducible.
#[derive(Clone, Debug)]
pub struct TorrentBuilder {
    path: PathBuf,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    piece_length: Option<u64>,
    private: bool,
    comment: Option<String>,
    source: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    hybrid: bool,
    threads: Option<usize>,
    read_mode: ReadMode,
}

/// The result of [`TorrentBuilder::build`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedTorrent {
    /// The encoded `.torrent` file.
    pub bytes: Vec<u8>,
    /// Its info-hashes (v1, plus v2 for hybrids).
    pub info_hashes: InfoHashes,
    /// The torrent name (file or directory name).
    pub name: String,
    /// Piece length used.
    pub piece_length: u64,
    /// Number of pieces.
    pub piece_count: u64,
    /// Payload bytes hashed (pad files excluded).
    pub payload_length: u64,
}

/// Why a torrent could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreateError {
    /// Reading a file or directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file name is not valid UTF-8 (torrent paths are UTF-8).
    #[error("{0}: file name is not valid UTF-8")]
    NonUtf8Path(PathBuf),
    /// Nothing to hash: no files, or all files are empty.
    #[error("{0}: no data to put in a torrent (no files or all files empty)")]
    Empty(PathBuf),
    /// The requested piece length is not a power of two of at least 16 KiB.
    #[error("piece length {0} is not a power of two >= 16384")]
    InvalidPieceLength(u64),
    /// A file changed size while it was being hashed.
    #[error("{0}: file changed while hashing")]
    Changed(PathBuf),
}

/// One input file: its path on disk, its path in the torrent, and its length.
#[derive(Clone, Debug)]
struct InputFile {
    disk: PathBuf,
    rel: Vec<String>,
    length: u64,
}

/// One v1 piece: the byte ranges to read and how many zero bytes follow (pad files).
struct PieceSource<'a> {
    segments: Vec<(&'a InputFile, u64, u64)>,
    zeros: u64,
    /// For hybrids: (file index, piece within file).
    v2: Option<(usize, u64)>,
}

impl TorrentBuilder {
    /// A builder for the file or directory at `path`.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            piece_length: None,
            private: false,
            comment: None,
            source: None,
            created_by: Some(concat!("freshet/", env!("CARGO_PKG_VERSION")).to_owned()),
            creation_date: None,
            hybrid: false,
            threads: None,
            read_mode: ReadMode::Read,
        }
    }

    /// Adds a tracker in a new tier (BEP 12).
    #[must_use]
    pub fn tracker(mut self, url: impl Into<String>) -> Self {
        self.trackers.push(vec![url.into()]);
        self
    }

    /// Adds a whole tier of trackers.
    #[must_use]
    pub fn tracker_tier(mut self, urls: Vec<String>) -> Self {
        if !urls.is_empty() {
            self.trackers.push(urls);
        }
        self
    }

    /// Adds a BEP 19 web seed.
    #[must_use]
    pub fn web_seed(mut self, url: impl Into<String>) -> Self {
        self.web_seeds.push(url.into());
        self
    }

    /// Sets the piece length (a power of two ≥ 16 KiB); default: [`auto_piece_length`].
    #[must_use]
    pub fn piece_length(mut self, bytes: u64) -> Self {
        self.piece_length = Some(bytes);
        self
    }

    /// Marks the torrent private (BEP 27).
    #[must_use]
    pub fn private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// Sets the comment.
    #[must_use]
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Sets the `source` tag inside the info dict (changes the info-hash).
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets `created by` (default `freshet/<version>`; `None` to omit).
    #[must_use]
    pub fn created_by(mut self, created_by: Option<String>) -> Self {
        self.created_by = created_by;
        self
    }

    /// Sets the creation date in seconds since the Unix epoch (the caller reads the clock).
    #[must_use]
    pub fn creation_date(mut self, unix_seconds: i64) -> Self {
        self.creation_date = Some(unix_seconds);
        self
    }

    /// Omits the creation date (the default) for reproducible output.
    #[must_use]
    pub fn no_creation_date(mut self) -> Self {
        self.creation_date = None;
        self
    }

    /// Creates a hybrid v1+v2 torrent (pad files, `file tree`, piece layers).
    #[must_use]
    pub fn hybrid(mut self, hybrid: bool) -> Self {
        self.hybrid = hybrid;
        self
    }

    /// Number of hashing threads (default: all cores).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// How file data is read (default [`ReadMode::Read`]; see [`ReadMode::Mapped`] for the
    /// faster path and its risk). The torrent is byte-identical either way.
    #[must_use]
    pub fn read_mode(mut self, mode: ReadMode) -> Self {
        self.read_mode = mode;
        self
    }

    /// Hashes the data and encodes the torrent.
    ///
    /// # Errors
    /// [`CreateError`] on I/O failure, empty input, a bad piece length or a non-UTF-8 name.
    pub fn build(&self) -> Result<CreatedTorrent, CreateError> {
        self.build_with_progress(&|_, _| {})
    }

    /// Like [`TorrentBuilder::build`], calling `progress(bytes_hashed, total_bytes)` from the
    /// hashing threads after every piece.
    ///
    /// # Errors
    /// [`CreateError`] on I/O failure, empty input, a bad piece length or a non-UTF-8 name.
    pub fn build_with_progress(
        &self,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<CreatedTorrent, CreateError> {
        let (name, files, single) = collect_files(&self.path)?;
        let payload: u64 = files.iter().map(|f| f.length).sum();
        if payload == 0 {
            return Err(CreateError::Empty(self.path.clone()));
        }
        let piece_length = match self.piece_length {
            Some(pl) if pl < 16384 || !pl.is_power_of_two() => {
                return Err(CreateError::InvalidPieceLength(pl));
            }
            Some(pl) => pl,
            None => auto_piece_length(payload),
        };
        let plan = plan_pieces(&files, piece_length, self.hybrid);
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .clamp(1, plan.len().max(1));
        let hashed = hash_pieces(
            &plan,
            piece_length,
            payload,
            threads,
            self.read_mode,
            progress,
        )?;

        let mut pieces = Vec::with_capacity(plan.len() * 20);
        for h in &hashed {
            pieces.extend_from_slice(&h.sha1);
        }
        let mut info: BTreeMap<Vec<u8>, OwnedValue> = BTreeMap::new();
        let mut piece_layers: BTreeMap<Vec<u8>, OwnedValue> = BTreeMap::new();
        if self.hybrid {
            let (tree, layers) = v2_tree(&files, &plan, &hashed, piece_length);
            info.insert(b"file tree".to_vec(), tree);
            info.insert(b"meta version".to_vec(), OwnedValue::Int(2));
            piece_layers = layers;
        }
        if single {
            info.insert(b"length".to_vec(), int(files[0].length));
        } else {
            info.insert(
                b"files".to_vec(),
                v1_files(&files, piece_length, self.hybrid),
            );
        }
        info.insert(b"name".to_vec(), bytes(name.as_bytes()));
        info.insert(b"piece length".to_vec(), int(piece_length));
        info.insert(b"pieces".to_vec(), OwnedValue::Bytes(pieces));
        if self.private {
            info.insert(b"private".to_vec(), OwnedValue::Int(1));
        }
        if let Some(s) = &self.source {
            info.insert(b"source".to_vec(), bytes(s.as_bytes()));
        }
        let info = OwnedValue::Dict(info);
        let info_bytes = info.encode();

        let mut top: BTreeMap<Vec<u8>, OwnedValue> = BTreeMap::new();
        if let Some(first) = self.trackers.first().and_then(|t| t.first()) {
            top.insert(b"announce".to_vec(), bytes(first.as_bytes()));
        }
        if self.trackers.iter().map(Vec::len).sum::<usize>() > 1 {
            let tiers = self
                .trackers
                .iter()
                .map(|t| OwnedValue::List(t.iter().map(|u| bytes(u.as_bytes())).collect()))
                .collect();
            top.insert(b"announce-list".to_vec(), OwnedValue::List(tiers));
        }
        if let Some(c) = &self.comment {
            top.insert(b"comment".to_vec(), bytes(c.as_bytes()));
        }
        if let Some(c) = &self.created_by {
            top.insert(b"created by".to_vec(), bytes(c.as_bytes()));
        }
        if let Some(d) = self.creation_date {
            top.insert(b"creation date".to_vec(), OwnedValue::Int(d));
        }
        top.insert(b"info".to_vec(), info);
        if !piece_layers.is_empty() {
            top.insert(b"piece layers".to_vec(), OwnedValue::Dict(piece_layers));
        }
        match self.web_seeds.as_slice() {
            [] => {}
            [one] => {
                top.insert(b"url-list".to_vec(), bytes(one.as_bytes()));
            }
            many => {
                let list = many.iter().map(|u| bytes(u.as_bytes())).collect();
                top.insert(b"url-list".to_vec(), OwnedValue::List(list));
            }
        }
        let encoded = OwnedValue::Dict(top).encode();
        Ok(CreatedTorrent {
            bytes: encoded,
            info_hashes: InfoHashes {
                v1: Some(InfoHashV1(Sha1::digest(&info_bytes).into())),
                v2: self
                    .hybrid
                    .then(|| InfoHashV2(Sha256::digest(&info_bytes).into())),
            },
            name,
            piece_length,
            piece_count: plan.len() as u64,
            payload_length: payload,
        })
    }
}

/// The automatic piece length: the smallest power of two from 16 KiB to 16 MiB that gives at
/// most 2000 pieces (so typically 1000–2000 pieces).
#[must_use]
pub fn auto_piece_length(total: u64) -> u64 {
    let mut pl = MIN_AUTO_PIECE;
    while pl < MAX_AUTO_PIECE && total.div_ceil(pl) > TARGET_MAX_PIECES {
        pl *= 2;
    }
    pl
}

fn int(v: u64) -> OwnedValue {
    OwnedValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn bytes(b: &[u8]) -> OwnedValue {
    OwnedValue::Bytes(b.to_vec())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CreateError + '_ {
    move |source| CreateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Returns (torrent name, files in deterministic order, single-file?).
fn collect_files(root: &Path) -> Result<(String, Vec<InputFile>, bool), CreateError> {
    let meta = std::fs::metadata(root).map_err(io_err(root))?;
    let base = match root.file_name() {
        Some(n) => n.to_owned(),
        None => root
            .canonicalize()
            .map_err(io_err(root))?
            .file_name()
            .map(ToOwned::to_owned)
            .unwrap_or_default(),
    };
    let name = base
        .to_str()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| CreateError::NonUtf8Path(root.to_owned()))?;
    if meta.is_file() {
        return Ok((
            name.clone(),
            vec![InputFile {
                disk: root.to_owned(),
                rel: vec![name],
                length: meta.len(),
            }],
            true,
        ));
    }
    let mut files = Vec::new();
    let mut stack = vec![(root.to_owned(), Vec::<String>::new())];
    while let Some((dir, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            let file_name = entry
                .file_name()
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| CreateError::NonUtf8Path(path.clone()))?;
            let ft = entry.file_type().map_err(io_err(&path))?;
            let mut sub = rel.clone();
            sub.push(file_name);
            if ft.is_dir() {
                stack.push((path, sub));
            } else if ft.is_file() || ft.is_symlink() {
                // Symlinks are followed to regular files; links to directories are skipped.
                let m = std::fs::metadata(&path).map_err(io_err(&path))?;
                if m.is_file() {
                    files.push(InputFile {
                        disk: path,
                        rel: sub,
                        length: m.len(),
                    });
                }
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    if files.is_empty() {
        return Err(CreateError::Empty(root.to_owned()));
    }
    Ok((name, files, false))
}

/// Splits the payload into v1 pieces. Hybrids are piece-aligned per file (pads in between).
fn plan_pieces(files: &[InputFile], piece_length: u64, hybrid: bool) -> Vec<PieceSource<'_>> {
    let mut plan = Vec::new();
    if hybrid {
        let last_nonempty = files.iter().rposition(|f| f.length > 0);
        for (i, f) in files.iter().enumerate() {
            let n = f.length.div_ceil(piece_length);
            for k in 0..n {
                let start = k * piece_length;
                let len = (f.length - start).min(piece_length);
                let is_last_piece = Some(i) == last_nonempty && k + 1 == n;
                plan.push(PieceSource {
                    segments: vec![(f, start, len)],
                    zeros: if is_last_piece { 0 } else { piece_length - len },
                    v2: Some((i, k)),
                });
            }
        }
        return plan;
    }
    let mut current = PieceSource {
        segments: Vec::new(),
        zeros: 0,
        v2: None,
    };
    let mut filled = 0u64;
    for f in files {
        let mut pos = 0u64;
        while pos < f.length {
            let take = (f.length - pos).min(piece_length - filled);
            current.segments.push((f, pos, take));
            pos += take;
            filled += take;
            if filled == piece_length {
                plan.push(std::mem::replace(
                    &mut current,
                    PieceSource {
                        segments: Vec::new(),
                        zeros: 0,
                        v2: None,
                    },
                ));
                filled = 0;
            }
        }
    }
    if filled > 0 {
        plan.push(current);
    }
    plan
}

/// Hash results for one piece.
#[derive(Clone, Copy)]
struct PieceHashes {
    sha1: [u8; 20],
    /// Hybrids: the piece-layer node (or, for a one-piece file, the file's root).
    v2: Option<MerkleHash>,
}

fn hash_pieces(
    plan: &[PieceSource<'_>],
    piece_length: u64,
    total: u64,
    threads: usize,
    read_mode: ReadMode,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<PieceHashes>, CreateError> {
    let done = AtomicU64::new(0);
    let failure: Mutex<Option<CreateError>> = Mutex::new(None);
    let results = workers::run(
        plan.len(),
        workers::pieces_per_run(piece_length),
        threads,
        read_mode,
        |reader, i| match hash_one(&plan[i], piece_length, reader) {
            Ok((h, n)) => {
                progress(done.fetch_add(n, Ordering::Relaxed) + n, total);
                Some(h)
            }
            Err(e) => {
                if let Ok(mut f) = failure.lock() {
                    f.get_or_insert(e);
                }
                None
            }
        },
    );
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    results
        .into_iter()
        .collect::<Option<Vec<_>>>()
        // A worker panicked: report it as an I/O failure rather than writing bad hashes.
        .ok_or_else(|| CreateError::Io {
            path: PathBuf::new(),
            source: io::Error::other("hashing thread failed"),
        })
}

/// Hashes one piece; returns its hashes and the number of payload bytes read.
fn hash_one(
    piece: &PieceSource<'_>,
    piece_length: u64,
    reader: &mut RangeReader,
) -> Result<(PieceHashes, u64), CreateError> {
    let mut sha1 = Sha1::new();
    let mut blocks: Vec<MerkleHash> = Vec::new();
    let mut read_total = 0u64;
    let v2 = piece.v2.is_some();
    for &(file, start, len) in &piece.segments {
        reader
            .for_each_chunk_at(&file.disk, start, len, |chunk| {
                sha1.update(chunk);
                if v2 {
                    blocks.extend(
                        chunk
                            .chunks(usize::try_from(BLOCK_SIZE).unwrap_or(16384))
                            .map(MerkleHash::of_block),
                    );
                }
            })
            .map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    CreateError::Changed(file.disk.clone())
                } else {
                    CreateError::Io {
                        path: file.disk.clone(),
                        source: e,
                    }
                }
            })?;
        read_total += len;
    }
    let mut zeros = piece.zeros;
    while zeros > 0 {
        let n = usize::try_from(zeros).map_or(ZEROS.len(), |z| z.min(ZEROS.len()));
        sha1.update(&ZEROS[..n]);
        zeros -= n as u64;
    }
    let v2 = piece.v2.map(|_| {
        let one_piece_file = piece
            .segments
            .first()
            .is_some_and(|s| s.0.length <= piece_length);
        if one_piece_file {
            merkle::small_file_root(std::mem::take(&mut blocks))
        } else {
            merkle::piece_node(std::mem::take(&mut blocks), piece_length)
        }
    });
    Ok((
        PieceHashes {
            sha1: sha1.finalize().into(),
            v2,
        },
        read_total,
    ))
}

fn v1_files(files: &[InputFile], piece_length: u64, hybrid: bool) -> OwnedValue {
    let mut list = Vec::with_capacity(files.len() * 2);
    let mut offset = 0u64;
    let last_nonempty = files.iter().rposition(|f| f.length > 0);
    for (i, f) in files.iter().enumerate() {
        let mut d = BTreeMap::new();
        d.insert(b"length".to_vec(), int(f.length));
        d.insert(
            b"path".to_vec(),
            OwnedValue::List(f.rel.iter().map(|c| bytes(c.as_bytes())).collect()),
        );
        list.push(OwnedValue::Dict(d));
        offset += f.length;
        // Pad right after a non-empty file that ends off a boundary, unless it is the last
        // non-empty file (no tail pad): the layout libtorrent derives from the v2 tree.
        let more = last_nonempty.is_some_and(|last| i < last);
        if hybrid && f.length > 0 && more && offset % piece_length != 0 {
            let pad = piece_length - offset % piece_length;
            let mut d = BTreeMap::new();
            d.insert(b"attr".to_vec(), bytes(b"p"));
            d.insert(b"length".to_vec(), int(pad));
            d.insert(
                b"path".to_vec(),
                OwnedValue::List(vec![bytes(b".pad"), bytes(pad.to_string().as_bytes())]),
            );
            list.push(OwnedValue::Dict(d));
            offset += pad;
        }
    }
    OwnedValue::List(list)
}

type Layers = BTreeMap<Vec<u8>, OwnedValue>;

/// Builds the v2 `file tree` and `piece layers` from the per-piece merkle nodes.
fn v2_tree(
    files: &[InputFile],
    plan: &[PieceSource<'_>],
    hashed: &[PieceHashes],
    piece_length: u64,
) -> (OwnedValue, Layers) {
    let mut per_file: Vec<Vec<MerkleHash>> = vec![Vec::new(); files.len()];
    for (p, h) in plan.iter().zip(hashed) {
        if let (Some((i, _)), Some(node)) = (p.v2, h.v2) {
            per_file[i].push(node);
        }
    }
    let mut layers = Layers::new();
    let mut root_dir: BTreeMap<Vec<u8>, OwnedValue> = BTreeMap::new();
    for (f, nodes) in files.iter().zip(per_file) {
        let mut leaf = BTreeMap::new();
        leaf.insert(b"length".to_vec(), int(f.length));
        if f.length > 0 {
            let root = if f.length <= piece_length {
                nodes.first().copied().unwrap_or_default()
            } else {
                let mut layer = Vec::with_capacity(nodes.len() * 32);
                for n in &nodes {
                    layer.extend_from_slice(&n.0);
                }
                let root = merkle::root_from_piece_layer(nodes, piece_length);
                layers.insert(root.0.to_vec(), OwnedValue::Bytes(layer));
                root
            };
            leaf.insert(b"pieces root".to_vec(), bytes(&root.0));
        }
        let mut node = BTreeMap::new();
        node.insert(Vec::new(), OwnedValue::Dict(leaf));
        insert_path(&mut root_dir, &f.rel, OwnedValue::Dict(node));
    }
    (OwnedValue::Dict(root_dir), layers)
}

fn insert_path(dir: &mut BTreeMap<Vec<u8>, OwnedValue>, rel: &[String], node: OwnedValue) {
    let Some((first, rest)) = rel.split_first() else {
        return;
    };
    if rest.is_empty() {
        dir.insert(first.as_bytes().to_vec(), node);
        return;
    }
    let entry = dir
        .entry(first.as_bytes().to_vec())
        .or_insert_with(|| OwnedValue::Dict(BTreeMap::new()));
    if let OwnedValue::Dict(sub) = entry {
        insert_path(sub, rest, node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_piece_length_aims_for_at_most_2000_pieces() {
        assert_eq!(auto_piece_length(1), 16384);
        assert_eq!(auto_piece_length(1 << 30), 1 << 20);
        assert_eq!(auto_piece_length(u64::MAX / 2), 16 << 20);
        let pl = auto_piece_length(3 << 30);
        assert!((3u64 << 30).div_ceil(pl) <= 2000 && (3u64 << 30).div_ceil(pl) > 1000);
    }
}

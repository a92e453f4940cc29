//! Torrent geometry: piece size, file layout and expected hashes, independent of `.torrent` parsing.
//!
//! [`Geometry`] is the only place that turns a raw `u32` into a [`PieceIndex`] the rest of the
//! engine trusts ([`Geometry::piece`]), and the only place that knows how pieces map onto files.

use std::ops::Range;

use crate::{BlockRef, PieceIndex};

/// The size of a request block: 16 KiB ([BEP 3](https://www.bittorrent.org/beps/bep_0003.html)).
pub const BLOCK_LEN: u32 = 16 * 1024;

/// The largest piece length the engine accepts (256 MiB).
pub const MAX_PIECE_LEN: u32 = 256 * 1024 * 1024;

/// Validated layout of one torrent: piece length, files and piece hashes.
///
/// Build one by hand with [`Geometry::new`]; a conversion from parsed metainfo lives with the
/// integrating crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    piece_len: u32,
    total_len: u64,
    num_pieces: u32,
    files: Vec<FileEntry>,
    hashes: PieceHashes,
}

/// A file as given to [`Geometry::new`], in torrent order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Path components relative to the save directory (for example `["dir", "a.bin"]`).
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// BEP 47 attributes.
    pub attrs: FileAttrs,
}

impl FileSpec {
    /// A plain file with no attributes.
    #[must_use]
    pub fn new(path: &[&str], length: u64) -> Self {
        Self {
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            length,
            attrs: FileAttrs::default(),
        }
    }

    /// A BEP 47 padding file of `length` bytes (never written to disk).
    #[must_use]
    pub fn padding(length: u64) -> Self {
        Self {
            path: vec![".pad".to_owned(), length.to_string()],
            length,
            attrs: FileAttrs {
                padding: true,
                ..FileAttrs::default()
            },
        }
    }
}

/// File attributes from [BEP 47](https://www.bittorrent.org/beps/bep_0047.html).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAttrs {
    /// `p`: a padding file; its bytes are zeros and never touch the disk.
    pub padding: bool,
    /// `x`: set the executable bit.
    pub executable: bool,
    /// `h`: a hidden file.
    pub hidden: bool,
    /// `l`: a symlink to this target, relative to the save directory.
    pub symlink: Option<Vec<String>>,
}

/// A file inside a [`Geometry`], with its absolute byte offset in the torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components relative to the save directory (validated: no `..`, no separators).
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the first byte in the torrent's concatenated data.
    pub offset: u64,
    /// BEP 47 attributes.
    pub attrs: FileAttrs,
}

impl FileEntry {
    /// Whether the file is a BEP 47 padding file.
    #[must_use]
    pub fn is_padding(&self) -> bool {
        self.attrs.padding
    }

    /// The byte range this file covers in the torrent.
    #[must_use]
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.length
    }
}

/// Expected piece hashes: v1 SHA-1 and/or v2 SHA-256 piece-layer roots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PieceHashes {
    /// One SHA-1 per piece (BEP 3 `pieces`).
    pub v1: Option<Vec<[u8; 20]>>,
    /// One SHA-256 merkle root per piece (BEP 52 piece layers; for a file no longer than one
    /// piece, its `pieces root`). `None` entries are pieces without a v2 hash (padding only).
    pub v2: Option<Vec<Option<[u8; 32]>>>,
}

/// What v2 verification of one piece needs: the file bytes it covers and the merkle leaf count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V2Expect {
    /// The expected merkle root.
    pub root: [u8; 32],
    /// How many bytes from the start of the piece belong to the file (the rest is padding).
    pub data_len: u32,
    /// Number of 16 KiB leaves the subtree has (missing leaves hash as zeros).
    pub leaves: u32,
}

/// A contiguous part of a byte range that falls inside one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpan {
    /// Index of the file in [`Geometry::files`].
    pub file: usize,
    /// Offset inside the file.
    pub file_offset: u64,
    /// Offset inside the caller's buffer.
    pub buf_offset: usize,
    /// Length of the span.
    pub len: usize,
}

/// Why a [`Geometry`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GeometryError {
    /// Piece length zero or above [`MAX_PIECE_LEN`].
    #[error("piece length {0} out of range 1..={MAX_PIECE_LEN}")]
    PieceLength(u32),
    /// The torrent has no bytes.
    #[error("torrent has no data")]
    Empty,
    /// Too many pieces for a `u32` index.
    #[error("torrent has {0} pieces, more than u32 can index")]
    TooManyPieces(u64),
    /// A path component is empty, `.`, `..` or contains a separator or NUL.
    #[error("file {file}: unsafe path component {component:?}")]
    UnsafePath {
        /// Index of the file.
        file: usize,
        /// The offending component.
        component: String,
    },
    /// The hash list does not have one entry per piece.
    #[error("{kind} hash count {got}, expected {expected}")]
    HashCount {
        /// `"v1"` or `"v2"`.
        kind: &'static str,
        /// Number of pieces.
        expected: u64,
        /// Number of hashes given.
        got: u64,
    },
    /// Neither v1 nor v2 hashes were given.
    #[error("no piece hashes")]
    NoHashes,
    /// A v2 file does not start on a piece boundary (no pad file before it).
    #[error("file {file}: v2 file not aligned to a piece boundary")]
    UnalignedV2File {
        /// Index of the file.
        file: usize,
    },
    /// A v2 file longer than one piece has no entry in `piece layers`.
    #[error("file {file}: missing piece layer")]
    MissingPieceLayer {
        /// Index of the file.
        file: usize,
    },
}

impl Geometry {
    /// Validates and lays out `files` back to back in `piece_len`-sized pieces.
    pub fn new(
        piece_len: u32,
        files: Vec<FileSpec>,
        hashes: PieceHashes,
    ) -> Result<Self, GeometryError> {
        if piece_len == 0 || piece_len > MAX_PIECE_LEN {
            return Err(GeometryError::PieceLength(piece_len));
        }
        let mut offset = 0u64;
        let mut entries = Vec::with_capacity(files.len());
        for (i, f) in files.into_iter().enumerate() {
            if f.path.is_empty() {
                return Err(GeometryError::UnsafePath {
                    file: i,
                    component: String::new(),
                });
            }
            for c in f.path.iter().chain(f.attrs.symlink.iter().flatten()) {
                if !is_safe_component(c) {
                    return Err(GeometryError::UnsafePath {
                        file: i,
                        component: c.clone(),
                    });
                }
            }
            entries.push(FileEntry {
                path: f.path,
                length: f.length,
                offset,
                attrs: f.attrs,
            });
            offset = offset.saturating_add(f.length);
        }
        if offset == 0 {
            return Err(GeometryError::Empty);
        }
        let pieces = offset.div_ceil(u64::from(piece_len));
        let num_pieces = u32::try_from(pieces).map_err(|_| GeometryError::TooManyPieces(pieces))?;
        if hashes.v1.is_none() && hashes.v2.is_none() {
            return Err(GeometryError::NoHashes);
        }
        if let Some(v1) = &hashes.v1
            && v1.len() as u64 != pieces
        {
            return Err(GeometryError::HashCount {
                kind: "v1",
                expected: pieces,
                got: v1.len() as u64,
            });
        }
        if let Some(v2) = &hashes.v2
            && v2.len() as u64 != pieces
        {
            return Err(GeometryError::HashCount {
                kind: "v2",
                expected: pieces,
                got: v2.len() as u64,
            });
        }
        Ok(Self {
            piece_len,
            total_len: offset,
            num_pieces,
            files: entries,
            hashes,
        })
    }

    /// Parses a wire piece index: `Some` only if it is in range.
    #[must_use]
    pub fn piece(&self, index: u32) -> Option<PieceIndex> {
        (index < self.num_pieces).then_some(PieceIndex(index))
    }

    /// Every piece index, in order.
    pub fn pieces(&self) -> impl Iterator<Item = PieceIndex> + use<> {
        (0..self.num_pieces).map(PieceIndex)
    }

    /// Number of pieces.
    #[must_use]
    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// The nominal piece length (every piece but possibly the last).
    #[must_use]
    pub fn piece_len(&self) -> u32 {
        self.piece_len
    }

    /// Total bytes in the torrent, padding included.
    #[must_use]
    pub fn total_len(&self) -> u64 {
        self.total_len
    }

    /// The files, in torrent order.
    #[must_use]
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The expected hashes.
    #[must_use]
    pub fn hashes(&self) -> &PieceHashes {
        &self.hashes
    }

    /// Byte offset of the piece's first byte in the torrent.
    #[must_use]
    pub fn piece_offset(&self, piece: PieceIndex) -> u64 {
        u64::from(piece.0) * u64::from(self.piece_len)
    }

    /// Actual length of `piece` (the last one may be short).
    #[must_use]
    pub fn piece_size(&self, piece: PieceIndex) -> u32 {
        let start = self.piece_offset(piece);
        let end = (start + u64::from(self.piece_len)).min(self.total_len);
        // Bounded by piece_len, which is a u32.
        u32::try_from(end.saturating_sub(start)).unwrap_or(0)
    }

    /// Number of 16 KiB blocks in `piece`.
    #[must_use]
    pub fn blocks_in_piece(&self, piece: PieceIndex) -> u32 {
        self.piece_size(piece).div_ceil(BLOCK_LEN)
    }

    /// The `index`-th block of `piece`.
    #[must_use]
    pub fn block(&self, piece: PieceIndex, index: u32) -> BlockRef {
        let offset = index * BLOCK_LEN;
        let len = self.piece_size(piece).saturating_sub(offset).min(BLOCK_LEN);
        BlockRef::new(piece, offset, len)
    }

    /// If `block` is exactly one of our 16 KiB request blocks, its index inside the piece.
    #[must_use]
    pub fn block_index(&self, block: &BlockRef) -> Option<u32> {
        let piece = self.piece(block.piece.0)?;
        if block.offset % BLOCK_LEN != 0 {
            return None;
        }
        let idx = block.offset / BLOCK_LEN;
        (idx < self.blocks_in_piece(piece) && self.block(piece, idx).len == block.len)
            .then_some(idx)
    }

    /// Whether `block` is a range a peer may request from us: inside the piece, 1..=16 KiB.
    #[must_use]
    pub fn is_servable(&self, block: &BlockRef) -> bool {
        self.piece(block.piece.0).is_some_and(|p| {
            block.len > 0
                && block.len <= BLOCK_LEN
                && u64::from(block.offset) + u64::from(block.len) <= u64::from(self.piece_size(p))
        })
    }

    /// The parts of the torrent byte range `[start, start + len)` that fall in each file,
    /// skipping zero-length files.
    pub fn spans(&self, start: u64, len: usize) -> impl Iterator<Item = FileSpan> + '_ {
        let end = start.saturating_add(len as u64).min(self.total_len);
        let first = self.files.partition_point(|f| f.offset + f.length <= start);
        self.files[first..]
            .iter()
            .enumerate()
            .take_while(move |(_, f)| f.offset < end)
            .filter(|(_, f)| f.length > 0)
            .map(move |(i, f)| {
                let s = start.max(f.offset);
                let e = end.min(f.offset + f.length);
                FileSpan {
                    file: first + i,
                    file_offset: s - f.offset,
                    // Both are within one piece/block, so they fit in usize.
                    buf_offset: (s - start) as usize,
                    len: (e - s) as usize,
                }
            })
    }

    /// The spans of one block.
    pub fn block_spans(&self, block: &BlockRef) -> impl Iterator<Item = FileSpan> + '_ {
        self.spans(
            self.piece_offset(block.piece) + u64::from(block.offset),
            block.len as usize,
        )
    }

    /// The pieces that overlap file `file` (empty for zero-length files).
    #[must_use]
    pub fn file_pieces(&self, file: usize) -> Range<u32> {
        let Some(f) = self.files.get(file) else {
            return 0..0;
        };
        if f.length == 0 {
            return 0..0;
        }
        let pl = u64::from(self.piece_len);
        // Both bounded by num_pieces, a u32.
        (f.offset / pl) as u32..(f.offset + f.length).div_ceil(pl) as u32
    }

    /// The expected SHA-1 of `piece`, if the torrent has v1 hashes.
    #[must_use]
    pub fn expected_v1(&self, piece: PieceIndex) -> Option<&[u8; 20]> {
        self.hashes.v1.as_ref()?.get(piece.as_usize())
    }

    /// What v2 verification of `piece` needs, if the torrent has a v2 hash for it.
    #[must_use]
    pub fn expected_v2(&self, piece: PieceIndex) -> Option<V2Expect> {
        let root = (*self.hashes.v2.as_ref()?.get(piece.as_usize())?)?;
        let start = self.piece_offset(piece);
        let span = self
            .spans(start, self.piece_size(piece) as usize)
            .find(|s| !self.files[s.file].is_padding())?;
        let file = &self.files[span.file];
        let leaves = if file.length <= u64::from(self.piece_len) {
            // Bounded by piece_len / 16 KiB.
            (file.length.div_ceil(u64::from(BLOCK_LEN)) as u32).next_power_of_two()
        } else {
            self.piece_len.div_ceil(BLOCK_LEN).max(1)
        };
        Some(V2Expect {
            root,
            data_len: span.len as u32,
            leaves,
        })
    }
}

fn is_safe_component(c: &str) -> bool {
    !(c.is_empty() || c == "." || c == ".." || c.contains(['/', '\\', '\0']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(files: Vec<FileSpec>, piece_len: u32) -> Geometry {
        let total: u64 = files.iter().map(|f| f.length).sum();
        let n = total.div_ceil(u64::from(piece_len)) as usize;
        Geometry::new(
            piece_len,
            files,
            PieceHashes {
                v1: Some(vec![[0; 20]; n]),
                v2: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn piece_rejects_out_of_range_index() {
        let g = geo(vec![FileSpec::new(&["a"], 100_000)], 32768);
        assert_eq!(g.num_pieces(), 4);
        assert_eq!(g.piece(3), Some(PieceIndex(3)));
        assert_eq!(g.piece(4), None);
        assert_eq!(g.piece_size(PieceIndex(3)), 100_000 - 3 * 32768);
        assert_eq!(g.blocks_in_piece(PieceIndex(3)), 1);
    }

    #[test]
    fn spans_cross_file_boundaries_and_skip_empty_files() {
        let g = geo(
            vec![
                FileSpec::new(&["a"], 10),
                FileSpec::new(&["empty"], 0),
                FileSpec::new(&["b"], 20),
            ],
            16,
        );
        let s: Vec<_> = g.spans(5, 16).collect();
        assert_eq!(
            s,
            vec![
                FileSpan {
                    file: 0,
                    file_offset: 5,
                    buf_offset: 0,
                    len: 5
                },
                FileSpan {
                    file: 2,
                    file_offset: 0,
                    buf_offset: 5,
                    len: 11
                },
            ]
        );
        assert_eq!(g.file_pieces(2), 0..2);
        assert_eq!(g.file_pieces(1), 0..0);
    }

    #[test]
    fn rejects_path_traversal() {
        let err = Geometry::new(
            16384,
            vec![FileSpec::new(&["..", "etc"], 10)],
            PieceHashes {
                v1: Some(vec![[0; 20]]),
                v2: None,
            },
        )
        .unwrap_err();
        assert!(matches!(err, GeometryError::UnsafePath { file: 0, .. }));
    }

    #[test]
    fn rejects_wrong_hash_count() {
        let err = Geometry::new(
            16384,
            vec![FileSpec::new(&["a"], 40000)],
            PieceHashes {
                v1: Some(vec![[0; 20]]),
                v2: None,
            },
        )
        .unwrap_err();
        assert_eq!(
            err,
            GeometryError::HashCount {
                kind: "v1",
                expected: 3,
                got: 1
            }
        );
    }

    #[test]
    fn block_index_accepts_only_our_blocks() {
        let g = geo(vec![FileSpec::new(&["a"], 40000)], 32768);
        let p1 = PieceIndex(1);
        assert_eq!(g.block_index(&BlockRef::new(p1, 0, 40000 - 32768)), Some(0));
        assert_eq!(g.block_index(&BlockRef::new(p1, 0, 16384)), None);
        assert_eq!(
            g.block_index(&BlockRef::new(PieceIndex(0), 16384, 16384)),
            Some(1)
        );
        assert_eq!(
            g.block_index(&BlockRef::new(PieceIndex(0), 100, 16384)),
            None
        );
        assert!(g.is_servable(&BlockRef::new(PieceIndex(0), 100, 1000)));
        assert!(!g.is_servable(&BlockRef::new(p1, 0, 16384)));
    }
}

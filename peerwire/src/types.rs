//! Small protocol quantities shared with the engine: piece indices and block references.

use std::fmt;

/// The zero-based index of a piece in a torrent (BEP 3 `index`).
///
/// The wire carries a bare `u32`; whether it is in range is the torrent geometry's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PieceIndex(pub u32);

impl PieceIndex {
    /// The raw index as a `usize` (for indexing local tables).
    #[must_use]
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for PieceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "piece {}", self.0)
    }
}

impl From<u32> for PieceIndex {
    fn from(v: u32) -> Self {
        Self(v)
    }
}

/// A byte range inside one piece, as used by `request`, `cancel` and `reject request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    /// The piece the block belongs to.
    pub piece: PieceIndex,
    /// Byte offset of the block inside the piece (BEP 3 `begin`).
    pub offset: u32,
    /// Length of the block in bytes.
    pub len: u32,
}

impl BlockRef {
    /// The usual block size, 16 KiB; larger requests are commonly refused.
    pub const STANDARD_LEN: u32 = 16 * 1024;

    /// Makes a block reference.
    #[must_use]
    pub const fn new(piece: PieceIndex, offset: u32, len: u32) -> Self {
        Self { piece, offset, len }
    }

    /// Offset one past the last byte (saturating, since peer data can make it overflow).
    #[must_use]
    pub const fn end(&self) -> u32 {
        self.offset.saturating_add(self.len)
    }
}

impl fmt::Display for BlockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "piece {} bytes {}..{}",
            self.piece.0,
            self.offset,
            self.end()
        )
    }
}

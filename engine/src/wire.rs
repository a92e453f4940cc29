//! Temporary local copies of the peerwire vocabulary until `freshet-peerwire` exports them.
#![allow(missing_docs, unreachable_pub, dead_code)]
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PieceIndex(pub u32);
impl PieceIndex {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    pub piece: PieceIndex,
    pub offset: u32,
    pub len: u32,
}
impl BlockRef {
    pub const STANDARD_LEN: u32 = 16 * 1024;
    #[must_use]
    pub const fn new(piece: PieceIndex, offset: u32, len: u32) -> Self {
        Self { piece, offset, len }
    }
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

//! The set of pieces a peer has, in the BEP 3 `bitfield` wire layout.
//!
//! Bit 7 of byte 0 is piece 0; bits past the last piece ("spare bits") are always zero in a
//! valid bitfield, and [`Bitfield`] keeps them zero so the wire bytes can be sent as they are.

use std::fmt;

use crate::error::BitfieldError;
use crate::types::PieceIndex;

/// A fixed-size set of pieces.
///
/// ```
/// use freshet_peerwire::{Bitfield, PieceIndex};
///
/// let theirs = Bitfield::from_wire(&[0b1110_0000], 3)?; // pieces 0, 1, 2
/// let mut ours = Bitfield::new(3);
/// ours.set(PieceIndex(1))?;
/// let wanted: Vec<_> = theirs.and_not(&ours)?.iter_set().collect();
/// assert_eq!(wanted, [PieceIndex(0), PieceIndex(2)]);
/// assert!(Bitfield::from_wire(&[0b1111_0000], 3).is_err()); // spare bit set
/// # Ok::<(), freshet_peerwire::BitfieldError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
}

impl Bitfield {
    /// An empty set for a torrent of `pieces` pieces.
    #[must_use]
    pub fn new(pieces: u32) -> Self {
        Self {
            bytes: vec![0; wire_len(pieces)],
            len: pieces,
        }
    }

    /// The full set (a seeder's bitfield) for `pieces` pieces.
    #[must_use]
    pub fn full(pieces: u32) -> Self {
        let mut bf = Self {
            bytes: vec![0xff; wire_len(pieces)],
            len: pieces,
        };
        bf.clear_spare_bits();
        bf
    }

    /// Reads wire bytes for a torrent of `pieces` pieces.
    ///
    /// # Errors
    /// [`BitfieldError::WrongLength`] unless `bytes.len() == ceil(pieces / 8)`, and
    /// [`BitfieldError::SpareBitSet`] when a bit past the last piece is one.
    pub fn from_wire(bytes: &[u8], pieces: u32) -> Result<Self, BitfieldError> {
        check_wire(bytes, pieces)?;
        Ok(Self {
            bytes: bytes.to_vec(),
            len: pieces,
        })
    }

    /// Wraps wire bytes whose piece count is not known yet (a bitfield received before the
    /// metadata): every bit counts as a piece. Call [`Bitfield::with_piece_count`] once the
    /// count is known.
    #[must_use]
    pub fn from_wire_unchecked_len(bytes: &[u8]) -> Self {
        let len = u32::try_from(bytes.len().saturating_mul(8)).unwrap_or(!7);
        let take = wire_len(len);
        Self {
            bytes: bytes[..take].to_vec(),
            len,
        }
    }

    /// Re-checks this bitfield against the real piece count and shrinks it to that count.
    ///
    /// # Errors
    /// As for [`Bitfield::from_wire`].
    pub fn with_piece_count(mut self, pieces: u32) -> Result<Self, BitfieldError> {
        check_wire(&self.bytes, pieces)?;
        self.len = pieces;
        Ok(self)
    }

    /// The wire bytes (`ceil(len / 8)` of them, spare bits zero).
    #[must_use]
    pub fn as_wire(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the set, giving the wire bytes.
    #[must_use]
    pub fn into_wire(self) -> Vec<u8> {
        self.bytes
    }

    /// Number of pieces the set ranges over.
    #[must_use]
    pub const fn len(&self) -> u32 {
        self.len
    }

    /// Whether the set ranges over zero pieces.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `piece` is in the set (`false` when out of range).
    #[must_use]
    pub fn get(&self, piece: PieceIndex) -> bool {
        if piece.0 >= self.len {
            return false;
        }
        let (byte, mask) = locate(piece.0);
        self.bytes[byte] & mask != 0
    }

    /// Adds `piece` to the set.
    ///
    /// # Errors
    /// [`BitfieldError::OutOfRange`] when `piece >= len`.
    pub fn set(&mut self, piece: PieceIndex) -> Result<(), BitfieldError> {
        let (byte, mask) = self.locate_checked(piece)?;
        self.bytes[byte] |= mask;
        Ok(())
    }

    /// Removes `piece` from the set.
    ///
    /// # Errors
    /// [`BitfieldError::OutOfRange`] when `piece >= len`.
    pub fn unset(&mut self, piece: PieceIndex) -> Result<(), BitfieldError> {
        let (byte, mask) = self.locate_checked(piece)?;
        self.bytes[byte] &= !mask;
        Ok(())
    }

    /// Number of pieces in the set.
    #[must_use]
    pub fn count(&self) -> u32 {
        // Spare bits are always zero, so counting whole bytes is exact.
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    /// Number of pieces not in the set.
    #[must_use]
    pub fn count_unset(&self) -> u32 {
        self.len - self.count()
    }

    /// Whether every piece is in the set (true for zero pieces).
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.count() == self.len
    }

    /// Whether no piece is in the set.
    #[must_use]
    pub fn is_clear(&self) -> bool {
        self.bytes.iter().all(|&b| b == 0)
    }

    /// The pieces in the set, ascending.
    pub fn iter_set(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.bytes.iter().enumerate().flat_map(|(i, &b)| {
            let base = (i as u32) * 8;
            BitIter(b).map(move |bit| PieceIndex(base + bit))
        })
    }

    /// The pieces not in the set, ascending.
    pub fn iter_unset(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        let len = self.len;
        self.bytes.iter().enumerate().flat_map(move |(i, &b)| {
            let base = (i as u32) * 8;
            BitIter(!b)
                .map(move |bit| PieceIndex(base + bit))
                .filter(move |p| p.0 < len)
        })
    }

    /// Keeps only pieces also in `other` (intersection).
    ///
    /// # Errors
    /// [`BitfieldError::LengthMismatch`] when the sizes differ.
    pub fn and_assign(&mut self, other: &Self) -> Result<(), BitfieldError> {
        self.zip_assign(other, |a, b| a & b)
    }

    /// Adds every piece of `other` (union).
    ///
    /// # Errors
    /// [`BitfieldError::LengthMismatch`] when the sizes differ.
    pub fn or_assign(&mut self, other: &Self) -> Result<(), BitfieldError> {
        self.zip_assign(other, |a, b| a | b)
    }

    /// Removes every piece of `other` (difference: pieces in `self` but not in `other`).
    ///
    /// # Errors
    /// [`BitfieldError::LengthMismatch`] when the sizes differ.
    pub fn and_not_assign(&mut self, other: &Self) -> Result<(), BitfieldError> {
        self.zip_assign(other, |a, b| a & !b)
    }

    /// Intersection as a new set.
    ///
    /// # Errors
    /// [`BitfieldError::LengthMismatch`] when the sizes differ.
    pub fn and(&self, other: &Self) -> Result<Self, BitfieldError> {
        let mut out = self.clone();
        out.and_assign(other)?;
        Ok(out)
    }

    /// Union as a new set.
    ///
    /// # Errors
    /// [`BitfieldError::LengthMismatch`] when the sizes differ.
    pub fn or(&self, other: &Self) -> Result<Self, BitfieldError> {
        let mut out = self.clone();
        out.or_assign(other)?;
        Ok(out)
    }

    /// Difference (`self` and not `other`) as a new set: for example the pieces a peer has
    /// that we still need is `peer.and_not(&ours)`.
    ///
    /// # Errors
    /// [`BitfieldError::LengthMismatch`] when the sizes differ.
    pub fn and_not(&self, other: &Self) -> Result<Self, BitfieldError> {
        let mut out = self.clone();
        out.and_not_assign(other)?;
        Ok(out)
    }

    fn zip_assign(&mut self, other: &Self, f: impl Fn(u8, u8) -> u8) -> Result<(), BitfieldError> {
        if self.len != other.len {
            return Err(BitfieldError::LengthMismatch {
                left: self.len,
                right: other.len,
            });
        }
        for (a, b) in self.bytes.iter_mut().zip(&other.bytes) {
            *a = f(*a, *b);
        }
        // Both inputs have zero spare bits and every op maps (0, 0) to 0.
        Ok(())
    }

    fn locate_checked(&self, piece: PieceIndex) -> Result<(usize, u8), BitfieldError> {
        if piece.0 >= self.len {
            return Err(BitfieldError::OutOfRange {
                index: piece.0,
                pieces: self.len,
            });
        }
        Ok(locate(piece.0))
    }

    fn clear_spare_bits(&mut self) {
        let rem = self.len % 8;
        if rem != 0 {
            if let Some(last) = self.bytes.last_mut() {
                *last &= 0xff << (8 - rem);
            }
        }
    }
}

impl fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bitfield({}/{} ", self.count(), self.len)?;
        for i in 0..self.len.min(64) {
            f.write_str(if self.get(PieceIndex(i)) { "1" } else { "0" })?;
        }
        if self.len > 64 {
            f.write_str("…")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Bitfield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} pieces", self.count(), self.len)
    }
}

/// Iterates the positions (0 = most significant) of one bits in a byte.
struct BitIter(u8);

impl Iterator for BitIter {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.0 == 0 {
            return None;
        }
        let pos = self.0.leading_zeros();
        self.0 &= !(0x80 >> pos);
        Some(pos)
    }
}

/// `ceil(pieces / 8)`.
pub(crate) const fn wire_len(pieces: u32) -> usize {
    pieces.div_ceil(8) as usize
}

const fn locate(bit: u32) -> (usize, u8) {
    ((bit / 8) as usize, 0x80 >> (bit % 8))
}

fn check_wire(bytes: &[u8], pieces: u32) -> Result<(), BitfieldError> {
    let expected = wire_len(pieces);
    if bytes.len() != expected {
        return Err(BitfieldError::WrongLength {
            pieces,
            expected,
            got: bytes.len(),
        });
    }
    let rem = pieces % 8;
    if rem != 0 {
        let spare = bytes[expected - 1] & (0xff >> rem);
        if spare != 0 {
            let bit = (expected as u32 - 1) * 8 + spare.leading_zeros();
            return Err(BitfieldError::SpareBitSet { bit, pieces });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_aria2_vector_ff_e0_for_11_pieces() {
        let bf = Bitfield::from_wire(&[0xff, 0xe0], 11).unwrap();
        assert_eq!(bf.count(), 11);
        assert!(bf.is_full());
    }

    #[test]
    fn rejects_bitfield_of_wrong_length_for_17_pieces() {
        assert_eq!(
            Bitfield::from_wire(&[0xff, 0xe0], 17),
            Err(BitfieldError::WrongLength {
                pieces: 17,
                expected: 3,
                got: 2
            })
        );
    }

    #[test]
    fn rejects_bitfield_with_spare_bits_set() {
        assert_eq!(
            Bitfield::from_wire(&[0xff, 0xf0], 11),
            Err(BitfieldError::SpareBitSet {
                bit: 11,
                pieces: 11
            })
        );
    }

    #[test]
    fn set_get_count_and_iterate() {
        let mut bf = Bitfield::new(10);
        bf.set(PieceIndex(0)).unwrap();
        bf.set(PieceIndex(9)).unwrap();
        assert_eq!(bf.as_wire(), &[0x80, 0x40]);
        assert!(bf.get(PieceIndex(9)));
        assert!(!bf.get(PieceIndex(10)));
        assert_eq!(
            bf.set(PieceIndex(10)),
            Err(BitfieldError::OutOfRange {
                index: 10,
                pieces: 10
            })
        );
        assert_eq!(
            bf.iter_set().collect::<Vec<_>>(),
            vec![PieceIndex(0), PieceIndex(9)]
        );
        assert_eq!(bf.iter_unset().count(), 8);
        assert_eq!(bf.count_unset(), 8);
        bf.unset(PieceIndex(0)).unwrap();
        assert_eq!(bf.count(), 1);
    }

    #[test]
    fn full_keeps_spare_bits_zero() {
        assert_eq!(Bitfield::full(11).as_wire(), &[0xff, 0xe0]);
        assert_eq!(Bitfield::full(16).as_wire(), &[0xff, 0xff]);
        assert!(Bitfield::full(0).is_full());
    }

    #[test]
    fn set_operations_match_per_bit_logic() {
        let a = Bitfield::from_wire(&[0b1100_0000], 3).unwrap();
        let b = Bitfield::from_wire(&[0b1010_0000], 3).unwrap();
        assert_eq!(a.and(&b).unwrap().as_wire(), &[0b1000_0000]);
        assert_eq!(a.or(&b).unwrap().as_wire(), &[0b1110_0000]);
        assert_eq!(a.and_not(&b).unwrap().as_wire(), &[0b0100_0000]);
        assert_eq!(b.and_not(&a).unwrap().as_wire(), &[0b0010_0000]);
        assert!(a.and(&Bitfield::new(4)).is_err());
    }

    #[test]
    fn unknown_count_bitfield_is_checked_later() {
        let bf = Bitfield::from_wire_unchecked_len(&[0xff, 0xe0]);
        assert_eq!(bf.len(), 16);
        assert_eq!(bf.clone().with_piece_count(11).unwrap().len(), 11);
        assert!(bf.with_piece_count(10).is_err());
    }
}

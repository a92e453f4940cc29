//! A fixed-size set of piece indices (our pieces, a peer's pieces).

use crate::PieceIndex;

/// A set of pieces backed by a bit vector, with a cached count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceSet {
    words: Vec<u64>,
    len: u32,
    count: u32,
}

impl PieceSet {
    /// An empty set over `len` pieces.
    #[must_use]
    pub fn new(len: u32) -> Self {
        Self {
            words: vec![0; (len as usize).div_ceil(64)],
            len,
            count: 0,
        }
    }

    /// The full set over `len` pieces.
    #[must_use]
    pub fn full(len: u32) -> Self {
        let mut s = Self::new(len);
        for w in &mut s.words {
            *w = u64::MAX;
        }
        s.clear_spare();
        s.count = len;
        s
    }

    /// Builds a set from a BEP 3 bitfield payload (high bit first). Returns `None` if the length
    /// is wrong or a spare bit past `len` is set.
    #[must_use]
    pub fn from_bitfield_bytes(bytes: &[u8], len: u32) -> Option<Self> {
        if bytes.len() != (len as usize).div_ceil(8) {
            return None;
        }
        let mut s = Self::new(len);
        for (i, &b) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if b & (0x80 >> bit) != 0 {
                    let idx = i * 8 + bit;
                    if idx >= len as usize {
                        return None;
                    }
                    // idx < len <= u32::MAX.
                    s.insert(PieceIndex(idx as u32));
                }
            }
        }
        Some(s)
    }

    /// The BEP 3 bitfield payload for this set.
    #[must_use]
    pub fn to_bitfield_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; (self.len as usize).div_ceil(8)];
        for p in self.iter() {
            out[p.as_usize() / 8] |= 0x80 >> (p.0 % 8);
        }
        out
    }

    /// Number of pieces the set ranges over.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.len
    }

    /// Number of members.
    #[must_use]
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether every piece is a member.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.count == self.len
    }

    /// Whether there are no members.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Membership test (false for out-of-range indices).
    #[must_use]
    pub fn contains(&self, p: PieceIndex) -> bool {
        self.words
            .get(p.as_usize() / 64)
            .is_some_and(|w| w & (1 << (p.0 % 64)) != 0)
    }

    /// Adds `p`; returns whether it was newly added. Out-of-range indices are ignored.
    pub fn insert(&mut self, p: PieceIndex) -> bool {
        if p.0 >= self.len || self.contains(p) {
            return false;
        }
        self.words[p.as_usize() / 64] |= 1 << (p.0 % 64);
        self.count += 1;
        true
    }

    /// Removes `p`; returns whether it was a member.
    pub fn remove(&mut self, p: PieceIndex) -> bool {
        if !self.contains(p) {
            return false;
        }
        self.words[p.as_usize() / 64] &= !(1 << (p.0 % 64));
        self.count -= 1;
        true
    }

    /// Members in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                // i * 64 + b < len <= u32::MAX.
                Some(PieceIndex((i * 64) as u32 + b))
            })
        })
    }

    fn clear_spare(&mut self) {
        let spare = self.words.len() * 64 - self.len as usize;
        if spare > 0
            && let Some(last) = self.words.last_mut()
        {
            *last &= u64::MAX >> spare;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bitfield_with_spare_bits_set() {
        assert!(PieceSet::from_bitfield_bytes(&[0xff, 0x80], 9).is_some());
        assert!(PieceSet::from_bitfield_bytes(&[0xff, 0xc0], 9).is_none());
        assert!(PieceSet::from_bitfield_bytes(&[0xff], 9).is_none());
    }

    #[test]
    fn bitfield_round_trips() {
        let mut s = PieceSet::new(70);
        for i in [0, 7, 8, 63, 64, 69] {
            s.insert(PieceIndex(i));
        }
        let b = s.to_bitfield_bytes();
        assert_eq!(b[0], 0x81);
        assert_eq!(PieceSet::from_bitfield_bytes(&b, 70), Some(s.clone()));
        assert_eq!(
            s.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![0, 7, 8, 63, 64, 69]
        );
        assert!(PieceSet::full(70).is_full());
        assert_eq!(PieceSet::full(70).iter().count(), 70);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn bitfield_bytes_round_trip(len in 0u32..300, members in proptest::collection::vec(0u32..300, 0..100)) {
            let mut s = PieceSet::new(len);
            for m in members {
                s.insert(PieceIndex(m));
            }
            prop_assert_eq!(s.iter().count() as u32, s.count());
            let back = PieceSet::from_bitfield_bytes(&s.to_bitfield_bytes(), len);
            prop_assert_eq!(back, Some(s));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40), len in 0u32..320) {
            if let Some(s) = PieceSet::from_bitfield_bytes(&bytes, len) {
                prop_assert_eq!(s.to_bitfield_bytes(), bytes);
            }
        }
    }
}

//! 160-bit node ids and the XOR metric (BEP 5 "Routing Table").

use std::fmt;

use rand::Rng;

/// A 160-bit DHT node id. Node ids and info-hashes share one key space.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; 20]);

/// The XOR distance between two ids; compares as a 160-bit big-endian unsigned integer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Distance(pub [u8; 20]);

impl NodeId {
    /// Length of an id on the wire.
    pub const LEN: usize = 20;

    /// A uniformly random id drawn from `rng`.
    pub fn random(rng: &mut impl Rng) -> Self {
        let mut b = [0u8; 20];
        rng.fill(&mut b);
        Self(b)
    }

    /// Builds an id from a 20-byte slice, `None` if the length is wrong.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 20]>::try_from(b).ok().map(Self)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// XOR distance to `other`.
    pub fn distance(&self, other: &Self) -> Distance {
        let mut d = [0u8; 20];
        for (i, x) in d.iter_mut().enumerate() {
            *x = self.0[i] ^ other.0[i];
        }
        Distance(d)
    }

    /// Index of the k-bucket `other` falls into as seen from `self`: the number of leading bits
    /// the two ids share (0 = the far half of the key space, 159 = differs only in the last bit).
    /// `None` when the ids are equal.
    pub fn bucket_index(&self, other: &Self) -> Option<usize> {
        let d = self.distance(other);
        d.0.iter()
            .enumerate()
            .find(|(_, b)| **b != 0)
            .map(|(i, b)| i * 8 + b.leading_zeros() as usize)
    }

    /// A random id that falls into bucket `index` as seen from `self` (used for bucket refresh).
    /// `index` is clamped to 159.
    pub fn random_in_bucket(&self, index: usize, rng: &mut impl Rng) -> Self {
        let index = index.min(159);
        let mut out = Self::random(rng).0;
        let byte = index / 8;
        let bit = index % 8;
        // Keep the shared prefix of `index` bits, flip bit `index`, keep the rest random.
        out[..byte].copy_from_slice(&self.0[..byte]);
        let keep_mask: u8 = if bit == 0 { 0 } else { 0xffu8 << (8 - bit) };
        let flip: u8 = 0x80 >> bit;
        let own = self.0[byte];
        out[byte] = (own & keep_mask) | (!own & flip) | (out[byte] & !(keep_mask | flip));
        Self(out)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl From<freshet_metainfo::InfoHashV1> for NodeId {
    fn from(h: freshet_metainfo::InfoHashV1) -> Self {
        Self(h.0)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn bucket_index_counts_shared_prefix_bits() {
        let a = NodeId([0; 20]);
        let mut b = [0u8; 20];
        b[0] = 0x80;
        assert_eq!(a.bucket_index(&NodeId(b)), Some(0));
        b[0] = 0x01;
        assert_eq!(a.bucket_index(&NodeId(b)), Some(7));
        let mut c = [0u8; 20];
        c[19] = 1;
        assert_eq!(a.bucket_index(&NodeId(c)), Some(159));
        assert_eq!(a.bucket_index(&a), None);
    }

    #[test]
    fn distance_is_symmetric_and_zero_to_self() {
        let a = NodeId([0x12; 20]);
        let b = NodeId([0x34; 20]);
        assert_eq!(a.distance(&b), b.distance(&a));
        assert_eq!(a.distance(&a), Distance([0; 20]));
    }

    #[test]
    fn random_in_bucket_lands_in_that_bucket() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let own = NodeId::random(&mut rng);
        for i in 0..160 {
            let id = own.random_in_bucket(i, &mut rng);
            assert_eq!(own.bucket_index(&id), Some(i), "bucket {i}");
        }
    }
}

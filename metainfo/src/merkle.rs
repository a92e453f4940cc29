//! BEP 52 merkle trees: 16 KiB block hashes, piece layers and per-file `pieces root`.
//!
//! Leaves are SHA-256 hashes of 16 KiB blocks; a file's tree is padded to a power of two with
//! all-zero leaves, and each inner node is SHA-256 of its two children concatenated. The
//! *piece layer* is the tree level whose nodes each cover one piece.

use std::fmt;

use sha2::{Digest, Sha256};

/// Size of a merkle leaf block in bytes (BEP 52).
pub const BLOCK_SIZE: u64 = 16 * 1024;

/// A 32-byte SHA-256 merkle node: a block hash, a piece-layer hash or a file's pieces root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MerkleHash(pub [u8; 32]);

impl MerkleHash {
    /// The all-zero hash (a padding leaf).
    pub const ZERO: Self = Self([0; 32]);

    /// True for the all-zero value.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }

    /// SHA-256 of `data` (a leaf block).
    #[must_use]
    pub fn of_block(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// Parent node of two children.
    #[must_use]
    pub fn parent(left: &Self, right: &Self) -> Self {
        let mut h = Sha256::new();
        h.update(left.0);
        h.update(right.0);
        Self(h.finalize().into())
    }

    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }
}

impl fmt::Display for MerkleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MerkleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MerkleHash({self})")
    }
}

/// Root of a subtree of `2^levels` all-zero leaves.
#[must_use]
pub fn zero_subtree(levels: u32) -> MerkleHash {
    let mut h = MerkleHash::ZERO;
    for _ in 0..levels {
        h = MerkleHash::parent(&h, &h);
    }
    h
}

/// Merkle root over `nodes` padded to `width` (a power of two ≥ `nodes.len()`) with `pad`,
/// where `pad` is the root of an all-zero subtree of the nodes' height. Reduces in place.
#[must_use]
pub fn root_padded(mut nodes: Vec<MerkleHash>, width: usize, pad: MerkleHash) -> MerkleHash {
    debug_assert!(width.is_power_of_two() && width >= nodes.len());
    if nodes.is_empty() {
        // A tree made only of padding.
        let mut p = pad;
        let mut w = width;
        while w > 1 {
            p = MerkleHash::parent(&p, &p);
            w /= 2;
        }
        return p;
    }
    let mut pad = pad;
    let mut width = width;
    while width > 1 {
        let pairs = nodes.len().div_ceil(2);
        for i in 0..pairs {
            let left = nodes[2 * i];
            let right = nodes.get(2 * i + 1).copied().unwrap_or(pad);
            nodes[i] = MerkleHash::parent(&left, &right);
        }
        nodes.truncate(pairs);
        pad = MerkleHash::parent(&pad, &pad);
        width /= 2;
    }
    nodes[0]
}

/// Number of 16 KiB blocks per piece (`piece_length` must be a power of two ≥ 16 KiB).
#[must_use]
pub fn blocks_per_piece(piece_length: u64) -> u64 {
    (piece_length / BLOCK_SIZE).max(1)
}

/// The hash a piece layer is padded with: root of a zero subtree one piece wide.
#[must_use]
pub fn piece_pad(piece_length: u64) -> MerkleHash {
    zero_subtree(blocks_per_piece(piece_length).trailing_zeros())
}

/// The piece-layer node for one piece, from its block hashes (fewer than a full piece for the
/// last piece of a file: padded with zero leaves).
#[must_use]
pub fn piece_node(blocks: Vec<MerkleHash>, piece_length: u64) -> MerkleHash {
    let width = usize::try_from(blocks_per_piece(piece_length)).unwrap_or(usize::MAX);
    root_padded(blocks, width, MerkleHash::ZERO)
}

/// The `pieces root` of a file that fits in one piece: its blocks padded to a power of two.
#[must_use]
pub fn small_file_root(blocks: Vec<MerkleHash>) -> MerkleHash {
    let width = blocks.len().next_power_of_two();
    root_padded(blocks, width, MerkleHash::ZERO)
}

/// The `pieces root` of a file from its piece layer (file larger than one piece).
#[must_use]
pub fn root_from_piece_layer(layer: Vec<MerkleHash>, piece_length: u64) -> MerkleHash {
    let width = layer.len().next_power_of_two();
    root_padded(layer, width, piece_pad(piece_length))
}

/// Splits a piece-layer byte string into hashes; `None` if its length is not a multiple of 32.
#[must_use]
pub fn split_layer(bytes: &[u8]) -> Option<Vec<MerkleHash>> {
    if bytes.len() % 32 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                MerkleHash(h)
            })
            .collect(),
    )
}

/// Root of arbitrary data as one file: the `pieces root` BEP 52 defines for it.
#[must_use]
pub fn file_root_of(data: &[u8], piece_length: u64) -> MerkleHash {
    let blocks: Vec<MerkleHash> = data
        .chunks(usize::try_from(BLOCK_SIZE).unwrap_or(16384))
        .map(MerkleHash::of_block)
        .collect();
    if data.len() as u64 <= piece_length {
        return small_file_root(blocks);
    }
    let per = usize::try_from(blocks_per_piece(piece_length)).unwrap_or(usize::MAX);
    let layer: Vec<MerkleHash> = blocks
        .chunks(per)
        .map(|c| piece_node(c.to_vec(), piece_length))
        .collect();
    root_from_piece_layer(layer, piece_length)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: the full tree over next_pow2(blocks) leaves, computed naively.
    fn naive_root(data: &[u8]) -> MerkleHash {
        let mut level: Vec<MerkleHash> = data.chunks(16384).map(MerkleHash::of_block).collect();
        let width = level.len().next_power_of_two();
        level.resize(width, MerkleHash::ZERO);
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|p| MerkleHash::parent(&p[0], &p[1]))
                .collect();
        }
        level[0]
    }

    #[test]
    fn piece_layer_root_equals_full_tree_root() {
        let data: Vec<u8> = (0..(16384 * 11 + 77))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for piece_length in [16384u64, 32768, 65536, 262_144] {
            assert_eq!(
                file_root_of(&data, piece_length),
                naive_root(&data),
                "{piece_length}"
            );
        }
    }

    #[test]
    fn zero_subtree_matches_explicit_padding() {
        let pad = zero_subtree(2);
        let four = root_padded(vec![], 4, MerkleHash::ZERO);
        assert_eq!(pad, four);
        assert!(!pad.is_zero());
    }

    #[test]
    fn split_layer_requires_multiple_of_32() {
        assert!(split_layer(&[0; 33]).is_none());
        assert_eq!(split_layer(&[1; 64]).unwrap().len(), 2);
    }
}

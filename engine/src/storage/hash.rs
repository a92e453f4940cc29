//! Piece verification: SHA-1 (v1) and SHA-256 merkle roots (v2 piece layers).

use bytes::Bytes;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::DigestMode;
use crate::geometry::BLOCK_LEN;
use crate::{Geometry, PieceIndex};

/// Whether a piece matched its expected hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every available hash (v1 and/or v2) matched.
    Passed,
    /// Some hash did not match.
    Failed,
}

/// The result of hashing one piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashOutcome {
    /// Pass or fail.
    pub verdict: Verdict,
    /// One SHA-1 per block, if asked for with [`DigestMode::WithBlocks`].
    pub block_digests: Option<Vec<[u8; 20]>>,
}

/// SHA-1 over the concatenation of `blocks`.
#[must_use]
pub fn sha1_blocks(blocks: &[Bytes]) -> [u8; 20] {
    let mut h = Sha1::new();
    for b in blocks {
        h.update(b);
    }
    h.finalize().into()
}

/// The BEP 52 merkle root over the first `data_len` bytes of `blocks`, padded with zero leaves
/// to `leaves` (a power of two).
#[must_use]
pub fn v2_piece_root(blocks: &[Bytes], data_len: u32, leaves: u32) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = Vec::with_capacity(leaves as usize);
    let mut remaining = data_len as usize;
    for b in blocks {
        if remaining == 0 {
            break;
        }
        let n = remaining.min(b.len()).min(BLOCK_LEN as usize);
        level.push(Sha256::digest(&b[..n]).into());
        remaining -= n;
    }
    level.resize(
        (leaves as usize).max(level.len()).next_power_of_two(),
        [0; 32],
    );
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let mut h = Sha256::new();
                h.update(pair[0]);
                h.update(pair[1]);
                h.finalize().into()
            })
            .collect();
    }
    level[0]
}

/// Verifies `piece` from its blocks (in order, covering the whole piece) against every hash
/// the geometry knows for it.
#[must_use]
pub fn hash_piece_blocks(
    geometry: &Geometry,
    piece: PieceIndex,
    blocks: &[Bytes],
    digests: DigestMode,
) -> HashOutcome {
    let len: usize = blocks.iter().map(Bytes::len).sum();
    let mut ok = len == geometry.piece_size(piece) as usize;
    if ok && let Some(expected) = geometry.expected_v1(piece) {
        ok = sha1_blocks(blocks) == *expected;
    }
    if ok && let Some(v2) = geometry.expected_v2(piece) {
        ok = v2_piece_root(blocks, v2.data_len, v2.leaves) == v2.root;
    }
    HashOutcome {
        verdict: if ok { Verdict::Passed } else { Verdict::Failed },
        block_digests: (digests == DigestMode::WithBlocks)
            .then(|| blocks.iter().map(|b| Sha1::digest(b).into()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileSpec, PieceHashes};

    #[test]
    fn v2_root_of_single_block_is_leaf_hash() {
        let data = Bytes::from(vec![7u8; 1000]);
        let leaf: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(v2_piece_root(&[data], 1000, 1), leaf);
    }

    #[test]
    fn v2_root_pads_with_zero_leaves() {
        let a = Bytes::from(vec![1u8; BLOCK_LEN as usize]);
        let la: [u8; 32] = Sha256::digest(&a).into();
        let mut h = Sha256::new();
        h.update(la);
        h.update([0u8; 32]);
        let want: [u8; 32] = h.finalize().into();
        assert_eq!(v2_piece_root(&[a], BLOCK_LEN, 2), want);
    }

    #[test]
    fn verifies_v1_and_reports_block_digests() {
        let data = vec![3u8; 20000];
        let hash: [u8; 20] = Sha1::digest(&data).into();
        let g = Geometry::new(
            32768,
            vec![FileSpec::new(&["a"], 20000)],
            PieceHashes {
                v1: Some(vec![hash]),
                v2: None,
            },
        )
        .unwrap();
        let blocks = [
            Bytes::copy_from_slice(&data[..16384]),
            Bytes::copy_from_slice(&data[16384..]),
        ];
        let out = hash_piece_blocks(&g, PieceIndex(0), &blocks, DigestMode::WithBlocks);
        assert_eq!(out.verdict, Verdict::Passed);
        assert_eq!(out.block_digests.unwrap().len(), 2);
        let bad = [blocks[0].clone(), Bytes::from(vec![0u8; 20000 - 16384])];
        let out = hash_piece_blocks(&g, PieceIndex(0), &bad, DigestMode::PieceOnly);
        assert_eq!(out.verdict, Verdict::Failed);
        assert!(out.block_digests.is_none());
    }
}

#[cfg(test)]
mod v2_tests {
    use sha2::{Digest as _, Sha256};

    use super::*;
    use crate::{FileSpec, PieceHashes};

    /// A hybrid torrent: file `a` (20 000 bytes) padded to the 32 KiB piece, then `b`.
    #[test]
    fn verifies_hybrid_pieces_with_v1_and_v2_hashes() {
        let a = vec![1u8; 20000];
        let b = vec![2u8; 40000];
        let mut piece0 = a.clone();
        piece0.resize(32768, 0);
        let leaf = |d: &[u8]| -> [u8; 32] { Sha256::digest(d).into() };
        let node = |l: [u8; 32], r: [u8; 32]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(l);
            h.update(r);
            h.finalize().into()
        };
        // File a is shorter than a piece: its root covers 2 leaves (20 000 bytes -> 2 blocks).
        let root_a = node(leaf(&a[..16384]), leaf(&a[16384..]));
        // File b spans two pieces: piece-layer hashes over 2 leaves each, zero-padded.
        let root_b0 = node(leaf(&b[..16384]), leaf(&b[16384..32768]));
        let root_b1 = node(leaf(&b[32768..]), [0; 32]);
        let v1 = vec![
            sha1_blocks(&[Bytes::from(piece0.clone())]),
            sha1_blocks(&[Bytes::copy_from_slice(&b[..32768])]),
            sha1_blocks(&[Bytes::copy_from_slice(&b[32768..])]),
        ];
        let g = Geometry::new(
            32768,
            vec![
                FileSpec::new(&["a"], 20000),
                FileSpec::padding(12768),
                FileSpec::new(&["b"], 40000),
            ],
            PieceHashes {
                v1: Some(v1),
                v2: Some(vec![Some(root_a), Some(root_b0), Some(root_b1)]),
            },
        )
        .unwrap();
        let blocks =
            |d: &[u8]| -> Vec<Bytes> { d.chunks(16384).map(Bytes::copy_from_slice).collect() };
        let pieces = [piece0.as_slice(), &b[..32768], &b[32768..]];
        for (i, data) in pieces.iter().enumerate() {
            let out = hash_piece_blocks(
                &g,
                PieceIndex(i as u32),
                &blocks(data),
                DigestMode::PieceOnly,
            );
            assert_eq!(out.verdict, Verdict::Passed, "piece {i}");
        }
        // Flip one byte of file b's data: both hashes catch it.
        let mut bad = b[32768..].to_vec();
        bad[5] ^= 1;
        let out = hash_piece_blocks(&g, PieceIndex(2), &blocks(&bad), DigestMode::PieceOnly);
        assert_eq!(out.verdict, Verdict::Failed);
        // A v2-only geometry catches it too.
        let g2 = Geometry::new(
            32768,
            g.files()
                .iter()
                .map(|f| FileSpec {
                    path: f.path.clone(),
                    length: f.length,
                    attrs: f.attrs.clone(),
                })
                .collect(),
            PieceHashes {
                v1: None,
                v2: g.hashes().v2.clone(),
            },
        )
        .unwrap();
        let out = hash_piece_blocks(&g2, PieceIndex(2), &blocks(&bad), DigestMode::PieceOnly);
        assert_eq!(out.verdict, Verdict::Failed);
        let out = hash_piece_blocks(&g2, PieceIndex(0), &blocks(&piece0), DigestMode::PieceOnly);
        assert_eq!(out.verdict, Verdict::Passed);
    }
}

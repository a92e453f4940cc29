//! The canonical allowed-fast set of BEP 6.
//!
//! Both peers can compute which pieces a peer may download while choked from the peer's IPv4
//! address and the info-hash, so the set is the same no matter who computes it.

use std::net::Ipv4Addr;

use freshet_metainfo::InfoHashV1;
use sha1::{Digest, Sha1};

use crate::types::PieceIndex;

/// The number of allowed-fast pieces BEP 6 suggests, `k = 10`.
pub const DEFAULT_ALLOWED_FAST_COUNT: u32 = 10;

/// Computes the first `k` pieces of the allowed-fast set for a peer at `ip`
/// ([BEP 6](https://www.bittorrent.org/beps/bep_0006.html), "Allowed Fast").
///
/// The set has `min(k, piece_count)` distinct pieces, in generation order (capping at the
/// piece count keeps the algorithm finite for tiny torrents). BEP 6 defines the set for IPv4
/// only.
///
/// ```
/// use std::net::Ipv4Addr;
/// use freshet_metainfo::InfoHashV1;
/// use freshet_peerwire::{allowed_fast_set, PieceIndex};
///
/// // The example from BEP 6.
/// let set = allowed_fast_set(&InfoHashV1([0xaa; 20]), Ipv4Addr::new(80, 4, 4, 200), 1313, 7);
/// let expected = [1059, 431, 808, 1217, 287, 376, 1188].map(PieceIndex);
/// assert_eq!(set, expected);
/// ```
#[must_use]
pub fn allowed_fast_set(
    info_hash: &InfoHashV1,
    ip: Ipv4Addr,
    piece_count: u32,
    k: u32,
) -> Vec<PieceIndex> {
    let k = k.min(piece_count) as usize;
    let mut set: Vec<PieceIndex> = Vec::with_capacity(k);
    // x = (ip & 0xffffff00) ++ info_hash, then x = SHA1(x) repeatedly.
    let masked = u32::from(ip) & 0xffff_ff00;
    let mut x = [0u8; 24];
    x[..4].copy_from_slice(&masked.to_be_bytes());
    x[4..].copy_from_slice(&info_hash.0);
    let mut digest: [u8; 20] = Sha1::digest(x).into();
    while set.len() < k {
        for word in digest.chunks_exact(4) {
            if set.len() >= k {
                break;
            }
            let y = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            let index = PieceIndex(y % piece_count);
            if !set.contains(&index) {
                set.push(index);
            }
        }
        digest = Sha1::digest(digest).into();
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indices(v: &[PieceIndex]) -> Vec<u32> {
        v.iter().map(|p| p.0).collect()
    }

    #[test]
    fn matches_bep6_vectors() {
        // BEP 6: 7 and 9 pieces of the set for 80.4.4.200, info-hash 20 × 0xaa, 1313 pieces.
        let ih = InfoHashV1([0xaa; 20]);
        let ip = Ipv4Addr::new(80, 4, 4, 200);
        assert_eq!(
            indices(&allowed_fast_set(&ih, ip, 1313, 7)),
            [1059, 431, 808, 1217, 287, 376, 1188]
        );
        assert_eq!(
            indices(&allowed_fast_set(&ih, ip, 1313, 9)),
            [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
        );
    }

    #[test]
    fn matches_aria2_vectors() {
        let mut raw = [0u8; 20];
        raw[0] = 0xff;
        let ih = InfoHashV1(raw);
        let set = |ip: [u8; 4], n| indices(&allowed_fast_set(&ih, Ipv4Addr::from(ip), n, 10));
        assert_eq!(
            set([192, 168, 0, 1], 1000),
            [686, 459, 278, 200, 404, 834, 64, 203, 760, 950]
        );
        assert_eq!(
            set([10, 0, 0, 1], 1000),
            [568, 188, 466, 452, 550, 662, 109, 226, 398, 11]
        );
        // Fewer pieces than k: the set is every piece.
        assert_eq!(set([10, 0, 0, 1], 9), [8, 6, 7, 5, 1, 4, 0, 2, 3]);
    }

    #[test]
    fn last_octet_does_not_matter_and_empty_torrent_gives_empty_set() {
        let ih = InfoHashV1([1; 20]);
        let a = allowed_fast_set(&ih, Ipv4Addr::new(1, 2, 3, 4), 500, 10);
        let b = allowed_fast_set(&ih, Ipv4Addr::new(1, 2, 3, 250), 500, 10);
        assert_eq!(a, b);
        assert!(allowed_fast_set(&ih, Ipv4Addr::LOCALHOST, 0, 10).is_empty());
    }
}

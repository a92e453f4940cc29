//! Adapter: a parsed [`Metainfo`] turned into what the client needs (an engine [`Geometry`],
//! the wire info-hash, trackers). Lives here until `freshet-engine` offers the conversion.

use std::sync::Arc;

use freshet_engine::{FileAttrs, FileSpec, Geometry, PieceHashes};
use freshet_metainfo::{InfoHashV1, Metainfo, PieceIndex};

/// Everything the client keeps about a torrent's metainfo.
#[derive(Debug, Clone)]
pub(crate) struct TorrentMeta {
    pub(crate) name: String,
    pub(crate) info_hash: InfoHashV1,
    pub(crate) geometry: Arc<Geometry>,
    pub(crate) trackers: Vec<Vec<String>>,
    /// The raw `info` dictionary, served to peers over `ut_metadata` (BEP 9).
    pub(crate) info_bytes: bytes::Bytes,
    /// BEP 27 private flag: no metadata exchange.
    pub(crate) private: bool,
}

/// Largest `.torrent` accepted from a path or URL.
pub(crate) const MAX_TORRENT_FILE: u64 = 10_000_000;

impl TorrentMeta {
    /// Parses `.torrent` bytes.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let m = Metainfo::from_bytes(bytes).map_err(|e| format!("invalid metainfo: {e}"))?;
        Self::from_metainfo(&m)
    }

    /// Builds the metainfo of a magnet link from the info dictionary fetched from peers.
    pub(crate) fn from_info_bytes(info: &[u8], trackers: Vec<Vec<String>>) -> Result<Self, String> {
        let mut m =
            Metainfo::from_info_bytes(info).map_err(|e| format!("invalid metadata: {e}"))?;
        m.trackers = trackers;
        Self::from_metainfo(&m)
    }

    fn from_metainfo(m: &Metainfo) -> Result<Self, String> {
        let info_hash = m
            .info_hashes
            .wire_id()
            .ok_or_else(|| "metainfo has no info-hash".to_owned())?;
        if !m.info.has_v1_pieces() {
            return Err("v2-only torrents are not supported yet (no SHA-1 piece hashes)".into());
        }
        let piece_len = u32::try_from(m.info.piece_length)
            .map_err(|_| format!("piece length {} too large", m.info.piece_length))?;
        let mut v1 = Vec::new();
        for i in 0..m.info.piece_count {
            let h = m
                .info
                .piece_hash(PieceIndex(i))
                .ok_or_else(|| format!("missing hash for piece {i}"))?;
            v1.push(h.0);
        }
        let files = m
            .info
            .files
            .iter()
            .map(|f| FileSpec {
                path: f.path.clone(),
                length: f.length,
                attrs: FileAttrs {
                    padding: f.attributes.padding,
                    executable: f.attributes.executable,
                    hidden: f.attributes.hidden,
                    symlink: f.symlink_target.clone(),
                },
            })
            .collect();
        let geometry = Geometry::new(
            piece_len,
            files,
            PieceHashes {
                v1: Some(v1),
                v2: None,
            },
        )
        .map_err(|e| format!("invalid torrent layout: {e}"))?;
        Ok(Self {
            name: m.info.name.clone(),
            info_hash,
            geometry: Arc::new(geometry),
            trackers: m.trackers.clone(),
            info_bytes: bytes::Bytes::from(m.info_bytes.clone()),
            private: m.info.private,
        })
    }
}

/// A `.torrent` file around `info` (verbatim, so the info-hash is unchanged): `announce` and
/// `announce-list` from `trackers` when there are any, then `info`. Keys are in bencode order.
pub(crate) fn torrent_file_bytes(info: &[u8], trackers: &[Vec<String>]) -> Vec<u8> {
    let mut out = bytes::BytesMut::with_capacity(info.len() + 64);
    out.extend_from_slice(b"d");
    let tiers: Vec<&Vec<String>> = trackers.iter().filter(|t| !t.is_empty()).collect();
    if let Some(first) = tiers.first().and_then(|t| t.first()) {
        freshet_bencode::write_bytes(&mut out, b"announce");
        freshet_bencode::write_bytes(&mut out, first.as_bytes());
        freshet_bencode::write_bytes(&mut out, b"announce-list");
        out.extend_from_slice(b"l");
        for tier in tiers {
            out.extend_from_slice(b"l");
            for url in tier {
                freshet_bencode::write_bytes(&mut out, url.as_bytes());
            }
            out.extend_from_slice(b"e");
        }
        out.extend_from_slice(b"e");
    }
    freshet_bencode::write_bytes(&mut out, b"info");
    out.extend_from_slice(info);
    out.extend_from_slice(b"e");
    out.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torrent_file_keeps_the_info_bytes_verbatim_and_the_trackers() {
        // A non-canonical but valid info dict would change hash if re-encoded; verbatim keeps it.
        let info = b"d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let trackers = vec![vec!["http://t/a".to_owned()], vec!["udp://t:1".to_owned()]];
        let bytes = torrent_file_bytes(info, &trackers);
        let m = TorrentMeta::from_bytes(&bytes).expect("parses");
        assert_eq!(&m.info_bytes[..], &info[..]);
        assert_eq!(m.trackers, trackers);
        let bare = torrent_file_bytes(info, &[]);
        assert_eq!(bare, [&b"d4:info"[..], info, b"e"].concat());
    }
}

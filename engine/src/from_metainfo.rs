//! Building a [`Geometry`] from a parsed `.torrent` (`freshet-metainfo`).

use freshet_metainfo::{Metainfo, PieceIndex as MetaPieceIndex};

use crate::{FileAttrs, FileSpec, Geometry, GeometryError, PieceHashes};

impl TryFrom<&Metainfo> for Geometry {
    type Error = GeometryError;

    /// Takes the file list (with pad files), the v1 piece hashes and, for v2 and hybrid
    /// torrents, one piece-layer hash per piece (a file no longer than one piece uses its
    /// `pieces root`).
    fn try_from(m: &Metainfo) -> Result<Self, Self::Error> {
        let info = &m.info;
        let piece_len =
            u32::try_from(info.piece_length).map_err(|_| GeometryError::PieceLength(u32::MAX))?;
        let files: Vec<FileSpec> = info
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
        let v1 = info.has_v1_pieces().then(|| {
            (0..info.piece_count)
                .map(|i| info.piece_hash(MetaPieceIndex(i)).map_or([0; 20], |h| h.0))
                .collect()
        });
        let has_v2 = info.files.iter().any(|f| f.pieces_root.is_some());
        let v2 = if has_v2 {
            let mut per_piece: Vec<Option<[u8; 32]>> =
                vec![None; usize::try_from(info.piece_count).unwrap_or(0)];
            for (i, f) in info.files.iter().enumerate() {
                let Some(root) = f.pieces_root else {
                    continue;
                };
                if f.offset % info.piece_length != 0 {
                    return Err(GeometryError::UnalignedV2File { file: i });
                }
                let first = usize::try_from(f.offset / info.piece_length).unwrap_or(usize::MAX);
                if f.length <= info.piece_length {
                    if let Some(slot) = per_piece.get_mut(first) {
                        *slot = Some(root.0);
                    }
                } else {
                    let layer = m
                        .piece_layers
                        .get(&root)
                        .ok_or(GeometryError::MissingPieceLayer { file: i })?;
                    for (j, h) in layer.iter().enumerate() {
                        if let Some(slot) = per_piece.get_mut(first + j) {
                            *slot = Some(h.0);
                        }
                    }
                }
            }
            Some(per_piece)
        } else {
            None
        };
        Self::new(piece_len, files, PieceHashes { v1, v2 })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use freshet_metainfo::{Metainfo, TorrentBuilder};

    use super::*;
    use crate::{DigestMode, Verdict, hash_piece_blocks};

    fn pieces_of(dir: &std::path::Path, g: &Geometry) -> Vec<Vec<Bytes>> {
        // Concatenate the files (pad files are zeros) and cut into pieces of 16 KiB blocks.
        let mut all = Vec::new();
        for f in g.files() {
            if f.is_padding() {
                all.resize(all.len() + f.length as usize, 0);
            } else {
                let mut p = dir.to_path_buf();
                p.extend(&f.path[1..]);
                all.extend(std::fs::read(p).unwrap());
            }
        }
        all.chunks(g.piece_len() as usize)
            .map(|piece| piece.chunks(16384).map(Bytes::copy_from_slice).collect())
            .collect()
    }

    #[test]
    fn converts_v1_and_hybrid_torrents_and_their_hashes_verify() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(
            root.join("a.bin"),
            (0..70_000u32).map(|i| i as u8).collect::<Vec<_>>(),
        )
        .unwrap();
        std::fs::write(root.join("b.bin"), vec![9u8; 10_000]).unwrap();
        for hybrid in [false, true] {
            let created = TorrentBuilder::new(&root)
                .piece_length(32768)
                .hybrid(hybrid)
                .build()
                .unwrap();
            let m = Metainfo::from_bytes(&created.bytes).unwrap();
            let g = Geometry::try_from(&m).unwrap();
            assert_eq!(g.hashes().v2.is_some(), hybrid);
            let pieces = pieces_of(&root, &g);
            assert_eq!(pieces.len(), g.num_pieces() as usize);
            for (i, blocks) in pieces.iter().enumerate() {
                let piece = crate::PieceIndex(i as u32);
                let out = hash_piece_blocks(&g, piece, blocks, DigestMode::PieceOnly);
                assert_eq!(out.verdict, Verdict::Passed, "hybrid={hybrid} {piece}");
                if hybrid {
                    assert!(g.expected_v2(piece).is_some(), "{piece} has a v2 hash");
                }
            }
        }
    }
}

//! Resume records: what survives a restart, bencoded.
//!
//! # Format (version 1)
//!
//! A bencoded dictionary (keys sorted, as bencode requires):
//!
//! | key              | type        | meaning                                               |
//! |------------------|-------------|-------------------------------------------------------|
//! | `added-time`     | int         | Unix seconds when the torrent was added               |
//! | `completed-time` | int, opt.   | Unix seconds when it completed                        |
//! | `downloaded`     | int         | payload bytes downloaded, all sessions                |
//! | `files`          | list        | per file: `{size, mtime-ns}`, or an empty dict if absent |
//! | `format`         | int         | `1`                                                   |
//! | `info-hash`      | 20 bytes    | v1 info-hash (optional)                               |
//! | `num-pieces`     | int         | piece count, to reject a record of another torrent    |
//! | `pieces`         | bytes       | verified pieces, a BEP 3 bitfield                     |
//! | `unfinished`     | list        | `{piece: int, blocks: bytes}`: received-block bitfield |
//! | `uploaded`       | int         | payload bytes uploaded, all sessions                  |
//!
//! Records are written atomically with [`save_atomic`] (temporary file, fsync, rename).
//! On load, `Torrent::new` with `Start::Resume` trusts pieces of files whose size and mtime
//! still match and rechecks the pieces of every other file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use freshet_bencode::{DictBuilder, OwnedValue, Value, decode};
use freshet_metainfo::InfoHashV1;

use crate::{FileStat, Geometry, PieceIndex, PieceSet, Storage};

/// Everything needed to resume a torrent without rechecking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRecord {
    /// The v1 info-hash, if known.
    pub info_hash: Option<InfoHashV1>,
    /// Verified pieces.
    pub pieces: PieceSet,
    /// Size and mtime of each file when the record was taken (`None`: not on disk).
    pub files: Vec<Option<FileStat>>,
    /// Pieces in progress and the blocks of each already stored.
    pub unfinished: Vec<UnfinishedPiece>,
    /// Payload bytes uploaded.
    pub uploaded: u64,
    /// Payload bytes downloaded.
    pub downloaded: u64,
    /// Unix seconds when added.
    pub added_time: i64,
    /// Unix seconds when completed.
    pub completed_time: Option<i64>,
}

/// A piece partly downloaded: the indices of its stored 16 KiB blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedPiece {
    /// The piece.
    pub piece: PieceIndex,
    /// Stored block indices.
    pub blocks: Vec<u32>,
}

/// Why a resume record could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// Not valid bencode.
    #[error("resume record: {0}")]
    Bencode(#[from] freshet_bencode::Error),
    /// A field is missing or has the wrong type or value.
    #[error("resume record: field `{0}` missing or invalid")]
    Field(&'static str),
    /// An unknown format version.
    #[error("resume record: unsupported format {0}")]
    Format(i64),
}

impl ResumeRecord {
    /// Fills `files` with the current size and mtime of every file. Call after a flush.
    pub fn capture_file_stats(&mut self, storage: &dyn Storage, geometry: &Geometry) {
        self.files = (0..geometry.files().len())
            .map(|i| storage.file_stat(i))
            .collect();
    }

    /// Encodes the record (format 1).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let files = self
            .files
            .iter()
            .map(|f| match f {
                Some(s) => DictBuilder::new()
                    .int(b"size", i64::try_from(s.size).unwrap_or(i64::MAX))
                    .int(b"mtime-ns", s.mtime_ns)
                    .into_value(),
                None => DictBuilder::new().into_value(),
            })
            .collect();
        let unfinished = self
            .unfinished
            .iter()
            .map(|u| {
                let max = u.blocks.iter().copied().max().map_or(0, |m| m + 1);
                let mut set = PieceSet::new(max);
                for b in &u.blocks {
                    set.insert(PieceIndex(*b));
                }
                DictBuilder::new()
                    .int(b"piece", i64::from(u.piece.0))
                    .bytes(b"blocks", &set.to_bitfield_bytes())
                    .into_value()
            })
            .collect();
        let mut d = DictBuilder::new()
            .int(b"format", 1)
            .int(b"num-pieces", i64::from(self.pieces.capacity()))
            .bytes(b"pieces", &self.pieces.to_bitfield_bytes())
            .value(b"files", OwnedValue::List(files))
            .value(b"unfinished", OwnedValue::List(unfinished))
            .int(
                b"uploaded",
                i64::try_from(self.uploaded).unwrap_or(i64::MAX),
            )
            .int(
                b"downloaded",
                i64::try_from(self.downloaded).unwrap_or(i64::MAX),
            )
            .int(b"added-time", self.added_time);
        if let Some(ih) = &self.info_hash {
            d = d.bytes(b"info-hash", &ih.0);
        }
        if let Some(t) = self.completed_time {
            d = d.int(b"completed-time", t);
        }
        d.finish()
    }

    /// Decodes a record. Untrusted input: every field is checked, nothing panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, ResumeError> {
        let v = decode(bytes)?;
        let d = v.as_dict().ok_or(ResumeError::Field("(root)"))?;
        let int = |k: &'static str| -> Result<i64, ResumeError> {
            d.get(k.as_bytes())
                .and_then(Value::as_int)
                .ok_or(ResumeError::Field(k))
        };
        let format = int("format")?;
        if format != 1 {
            return Err(ResumeError::Format(format));
        }
        let n = u32::try_from(int("num-pieces")?).map_err(|_| ResumeError::Field("num-pieces"))?;
        let pieces_raw = d
            .get(b"pieces")
            .and_then(Value::as_bytes)
            .ok_or(ResumeError::Field("pieces"))?;
        let pieces =
            PieceSet::from_bitfield_bytes(pieces_raw, n).ok_or(ResumeError::Field("pieces"))?;
        let info_hash = match d.get(b"info-hash") {
            None => None,
            Some(v) => Some(InfoHashV1(
                v.as_bytes()
                    .and_then(|b| <[u8; 20]>::try_from(b).ok())
                    .ok_or(ResumeError::Field("info-hash"))?,
            )),
        };
        let mut files = Vec::new();
        for f in d
            .get(b"files")
            .and_then(Value::as_list)
            .ok_or(ResumeError::Field("files"))?
            .iter()
        {
            let fd = f.as_dict().ok_or(ResumeError::Field("files"))?;
            if fd.is_empty() {
                files.push(None);
                continue;
            }
            let size = fd
                .get(b"size")
                .and_then(Value::as_int)
                .and_then(|s| u64::try_from(s).ok())
                .ok_or(ResumeError::Field("files.size"))?;
            let mtime_ns = fd
                .get(b"mtime-ns")
                .and_then(Value::as_int)
                .ok_or(ResumeError::Field("files.mtime-ns"))?;
            files.push(Some(FileStat { size, mtime_ns }));
        }
        let mut unfinished = Vec::new();
        for u in d
            .get(b"unfinished")
            .and_then(Value::as_list)
            .ok_or(ResumeError::Field("unfinished"))?
            .iter()
        {
            let ud = u.as_dict().ok_or(ResumeError::Field("unfinished"))?;
            let piece = ud
                .get(b"piece")
                .and_then(Value::as_int)
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| *p < n)
                .ok_or(ResumeError::Field("unfinished.piece"))?;
            let raw = ud
                .get(b"blocks")
                .and_then(Value::as_bytes)
                .ok_or(ResumeError::Field("unfinished.blocks"))?;
            let bits = u32::try_from(raw.len() * 8)
                .map_err(|_| ResumeError::Field("unfinished.blocks"))?;
            let set = PieceSet::from_bitfield_bytes(raw, bits)
                .ok_or(ResumeError::Field("unfinished.blocks"))?;
            unfinished.push(UnfinishedPiece {
                piece: PieceIndex(piece),
                blocks: set.iter().map(|b| b.0).collect(),
            });
        }
        let uint = |k: &'static str| -> Result<u64, ResumeError> {
            u64::try_from(int(k)?).map_err(|_| ResumeError::Field(k))
        };
        Ok(Self {
            info_hash,
            pieces,
            files,
            unfinished,
            uploaded: uint("uploaded")?,
            downloaded: uint("downloaded")?,
            added_time: int("added-time")?,
            completed_time: d.get(b"completed-time").and_then(Value::as_int),
        })
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename,
/// then fsync of the directory. A crash leaves either the old or the new record, never a mix.
pub fn save_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "resume path has no file name")
    })?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(dir) {
        // Directory fsync makes the rename durable; not all platforms allow it.
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ResumeRecord {
        let mut pieces = PieceSet::new(10);
        pieces.insert(PieceIndex(3));
        pieces.insert(PieceIndex(9));
        ResumeRecord {
            info_hash: Some(InfoHashV1([7; 20])),
            pieces,
            files: vec![
                Some(FileStat {
                    size: 100,
                    mtime_ns: 1_700_000_000_000_000_000,
                }),
                None,
            ],
            unfinished: vec![UnfinishedPiece {
                piece: PieceIndex(4),
                blocks: vec![0, 2, 9],
            }],
            uploaded: 5,
            downloaded: 6,
            added_time: 1_600_000_000,
            completed_time: None,
        }
    }

    #[test]
    fn round_trips() {
        let r = record();
        assert_eq!(ResumeRecord::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn rejects_wrong_fields() {
        assert!(matches!(
            ResumeRecord::decode(b"de"),
            Err(ResumeError::Field("format"))
        ));
        let mut bad = record().encode();
        // Corrupt the format number.
        let pos = bad.windows(9).position(|w| w == b"formati1e").unwrap();
        bad[pos + 7] = b'2';
        assert!(matches!(
            ResumeRecord::decode(&bad),
            Err(ResumeError::Format(2))
        ));
        assert!(ResumeRecord::decode(b"i1e").is_err());
        assert!(ResumeRecord::decode(b"garbage").is_err());
    }

    #[test]
    fn save_atomic_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.resume");
        save_atomic(&path, b"one").unwrap();
        save_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!dir.path().join("t.resume.tmp").exists());
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn record() -> impl Strategy<Value = ResumeRecord> {
        (
            1u32..200,
            proptest::collection::vec(any::<u32>(), 0..20),
            proptest::collection::vec(proptest::option::of((0u64..1 << 40, any::<i64>())), 0..5),
            proptest::collection::vec(
                (
                    any::<u32>(),
                    proptest::collection::btree_set(0u32..64, 1..10),
                ),
                0..4,
            ),
            (
                0u64..1 << 50,
                0u64..1 << 50,
                any::<i64>(),
                proptest::option::of(any::<i64>()),
            ),
            proptest::option::of(any::<[u8; 20]>()),
        )
            .prop_map(
                |(n, members, files, unfinished, (up, down, added, completed), ih)| {
                    let mut pieces = PieceSet::new(n);
                    for m in members {
                        pieces.insert(PieceIndex(m % n));
                    }
                    ResumeRecord {
                        info_hash: ih.map(InfoHashV1),
                        pieces,
                        files: files
                            .into_iter()
                            .map(|f| f.map(|(size, mtime_ns)| FileStat { size, mtime_ns }))
                            .collect(),
                        unfinished: unfinished
                            .into_iter()
                            .map(|(p, b)| UnfinishedPiece {
                                piece: PieceIndex(p % n),
                                blocks: b.into_iter().collect(),
                            })
                            .collect(),
                        uploaded: up,
                        downloaded: down,
                        added_time: added,
                        completed_time: completed,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn records_round_trip(r in record()) {
            prop_assert_eq!(ResumeRecord::decode(&r.encode()).unwrap(), r);
        }
    }
}

//! In-memory storage for tests and simulation: blocks are kept as shared [`Bytes`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};

use super::{FileStat, Storage, StorageError, check_block};
use crate::geometry::BLOCK_LEN;
use crate::{BlockRef, FilePriority, Geometry, PieceIndex};

/// Storage that keeps every block in memory, zero-copy.
///
/// It also counts, per file, how many bytes reached that file (padding never does; bytes of a
/// skipped file go to a separate "part" area), so tests can assert what would have hit the disk.
#[derive(Debug)]
pub struct MemoryStorage {
    geometry: Arc<Geometry>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// A complete copy of the torrent (a seed), if given.
    base: Option<Bytes>,
    /// Written blocks keyed by (piece, offset).
    blocks: HashMap<(u32, u32), Bytes>,
    skipped: Vec<bool>,
    file_bytes: Vec<u64>,
    part_bytes: u64,
    writes: u64,
}

impl MemoryStorage {
    /// Empty storage for `geometry`.
    #[must_use]
    pub fn new(geometry: Arc<Geometry>) -> Self {
        let n = geometry.files().len();
        Self {
            geometry,
            inner: Mutex::new(Inner {
                skipped: vec![false; n],
                file_bytes: vec![0; n],
                ..Inner::default()
            }),
        }
    }

    /// Storage that already holds the whole torrent, `data` (a seed).
    ///
    /// # Panics
    /// If `data.len()` differs from the geometry's total length (a caller bug).
    #[must_use]
    pub fn with_data(geometry: Arc<Geometry>, data: Bytes) -> Self {
        assert_eq!(data.len() as u64, geometry.total_len(), "seed data length");
        let s = Self::new(geometry);
        s.lock().base = Some(data);
        s
    }

    /// Bytes that reached file `file` (counting rewrites).
    #[must_use]
    pub fn file_bytes_written(&self, file: usize) -> u64 {
        self.lock().file_bytes.get(file).copied().unwrap_or(0)
    }

    /// Bytes of skipped files that went to the part area.
    #[must_use]
    pub fn part_bytes_written(&self) -> u64 {
        self.lock().part_bytes
    }

    /// Number of write calls.
    #[must_use]
    pub fn write_count(&self) -> u64 {
        self.lock().writes
    }

    /// The bytes of `piece`, if every block of it is present.
    #[must_use]
    pub fn piece_data(&self, piece: PieceIndex) -> Option<Bytes> {
        self.read(BlockRef::new(piece, 0, self.geometry.piece_size(piece)))
            .ok()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-updated in a harmful way.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Storage for MemoryStorage {
    fn write(&self, block: BlockRef, data: Bytes) -> Result<(), StorageError> {
        check_block(&self.geometry, &block, data.len())?;
        if block.offset % BLOCK_LEN != 0 {
            return Err(StorageError::OutOfRange { block });
        }
        let mut inner = self.lock();
        for span in self.geometry.block_spans(&block) {
            if self.geometry.files()[span.file].is_padding() {
                continue;
            }
            if inner.skipped.get(span.file).copied().unwrap_or(false) {
                inner.part_bytes += span.len as u64;
            } else {
                inner.file_bytes[span.file] += span.len as u64;
            }
        }
        inner.writes += 1;
        inner.blocks.insert((block.piece.0, block.offset), data);
        Ok(())
    }

    fn read(&self, block: BlockRef) -> Result<Bytes, StorageError> {
        check_block(&self.geometry, &block, block.len as usize)?;
        let inner = self.lock();
        if let Some(base) = &inner.base {
            let start = self.geometry.piece_offset(block.piece) + u64::from(block.offset);
            // Within total_len, checked above.
            let start = start as usize;
            return Ok(base.slice(start..start + block.len as usize));
        }
        let first = block.offset / BLOCK_LEN;
        let aligned = (block.piece.0, first * BLOCK_LEN);
        if block.offset % BLOCK_LEN == 0
            && let Some(b) = inner.blocks.get(&aligned)
            && b.len() >= block.len as usize
        {
            return Ok(b.slice(..block.len as usize));
        }
        let mut out = BytesMut::with_capacity(block.len as usize);
        let end = block.end();
        let mut pos = block.offset;
        while pos < end {
            let start = pos / BLOCK_LEN * BLOCK_LEN;
            let b = inner
                .blocks
                .get(&(block.piece.0, start))
                .ok_or(StorageError::NotWritten { block })?;
            let from = (pos - start) as usize;
            let to = ((end - start) as usize).min(b.len());
            if from >= to {
                return Err(StorageError::NotWritten { block });
            }
            out.extend_from_slice(&b[from..to]);
            pos = start + to as u32;
        }
        Ok(out.freeze())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn set_file_priorities(&self, priorities: &[FilePriority]) -> Result<(), StorageError> {
        let mut inner = self.lock();
        for (s, p) in inner.skipped.iter_mut().zip(priorities) {
            *s = *p == FilePriority::Skip;
        }
        Ok(())
    }

    fn file_stat(&self, file: usize) -> Option<FileStat> {
        let f = self.geometry.files().get(file)?;
        let inner = self.lock();
        (inner.base.is_some() || inner.file_bytes[file] > 0).then_some(FileStat {
            size: f.length,
            mtime_ns: 0,
        })
    }

    fn move_to(&self, _new_root: PathBuf) -> Result<(), StorageError> {
        Ok(())
    }

    fn delete(&self) -> Result<(), StorageError> {
        let mut inner = self.lock();
        inner.base = None;
        inner.blocks.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileSpec, PieceHashes};

    fn geo() -> Arc<Geometry> {
        Arc::new(
            Geometry::new(
                32768,
                vec![
                    FileSpec::new(&["a"], 20000),
                    FileSpec::padding(12768),
                    FileSpec::new(&["b"], 30000),
                ],
                PieceHashes {
                    v1: Some(vec![[0; 20]; 2]),
                    v2: None,
                },
            )
            .unwrap(),
        )
    }

    #[test]
    fn padding_and_skipped_files_are_not_written() {
        let s = MemoryStorage::new(geo());
        s.set_file_priorities(&[
            FilePriority::Normal,
            FilePriority::Normal,
            FilePriority::Skip,
        ])
        .unwrap();
        s.write(
            BlockRef::new(PieceIndex(0), 16384, 16384),
            Bytes::from(vec![1; 16384]),
        )
        .unwrap();
        assert_eq!(s.file_bytes_written(0), 20000 - 16384);
        assert_eq!(s.file_bytes_written(1), 0);
        s.write(
            BlockRef::new(PieceIndex(1), 0, 16384),
            Bytes::from(vec![2; 16384]),
        )
        .unwrap();
        assert_eq!(s.file_bytes_written(2), 0);
        assert_eq!(s.part_bytes_written(), 16384);
    }

    #[test]
    fn reads_unaligned_ranges_across_blocks() {
        let s = MemoryStorage::new(geo());
        let p = PieceIndex(0);
        s.write(BlockRef::new(p, 0, 16384), Bytes::from(vec![1; 16384]))
            .unwrap();
        s.write(BlockRef::new(p, 16384, 16384), Bytes::from(vec![2; 16384]))
            .unwrap();
        let r = s.read(BlockRef::new(p, 16000, 1000)).unwrap();
        assert_eq!(&r[..384], &[1; 384][..]);
        assert_eq!(&r[384..], &[2; 616][..]);
        assert!(matches!(
            s.read(BlockRef::new(PieceIndex(1), 0, 10)),
            Err(StorageError::NotWritten { .. })
        ));
        assert!(matches!(
            s.write(
                BlockRef::new(PieceIndex(2), 0, 10),
                Bytes::from(vec![0; 10])
            ),
            Err(StorageError::OutOfRange { .. })
        ));
    }
}

//! File-system storage: positional I/O on the torrent's files.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};

use super::{FileStat, Storage, StorageError, check_block};
use crate::geometry::FileSpan;
use crate::{BlockRef, FilePriority, Geometry};

/// Default number of file handles kept open.
pub const DEFAULT_OPEN_FILES: usize = 32;

/// Storage on the local file system under a save directory.
///
/// - Files are created lazily on first write, with their parent directories, and sized with
///   `set_len` so untouched regions stay sparse.
/// - Reads and writes are positional (`read_at`/`write_at`), so no seek state is shared.
/// - Padding files are never created; reading them yields zeros.
/// - Bytes that belong to a skipped file go to a sparse part file (`.<name>.parts`) at their
///   torrent offset, so pieces that straddle a skipped and a wanted file still verify.
/// - BEP 47: `x` sets mode 0755 on creation; `l` symlinks are created on flush, always pointing
///   inside the save directory; `h` needs no action on Unix.
#[derive(Debug)]
pub struct FileStorage {
    geometry: Arc<Geometry>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    root: PathBuf,
    part_name: String,
    skipped: Vec<bool>,
    /// Open handles, most recently used at the back.
    open: VecDeque<(Handle, Arc<File>)>,
    /// Files written since the last flush, whether their handle is still open or not: a
    /// handle evicted from `open` is closed without an fsync, so flush must reopen it.
    unsynced: BTreeSet<Handle>,
    capacity: usize,
    symlinks_done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Handle {
    File(usize),
    Part,
}

impl FileStorage {
    /// Storage for `geometry` under `root`. Touches nothing on disk until the first write.
    #[must_use]
    pub fn new(root: impl Into<PathBuf>, geometry: Arc<Geometry>) -> Self {
        let n = geometry.files().len();
        let part_name = format!(
            ".{}.parts",
            geometry
                .files()
                .first()
                .and_then(|f| f.path.first())
                .map_or("torrent", String::as_str)
        );
        Self {
            geometry,
            state: Mutex::new(State {
                root: root.into(),
                part_name,
                skipped: vec![false; n],
                open: VecDeque::new(),
                unsynced: BTreeSet::new(),
                capacity: DEFAULT_OPEN_FILES,
                symlinks_done: false,
            }),
        }
    }

    /// Changes how many file handles stay open (at least 1).
    #[must_use]
    pub fn with_open_files(self, capacity: usize) -> Self {
        self.lock().capacity = capacity.max(1);
        self
    }

    /// The absolute path of file `file`.
    #[must_use]
    pub fn file_path(&self, file: usize) -> Option<PathBuf> {
        let st = self.lock();
        self.geometry
            .files()
            .get(file)
            .map(|f| join(&st.root, &f.path))
    }

    /// Number of file handles currently open.
    #[must_use]
    pub fn open_handles(&self) -> usize {
        self.lock().open.len()
    }

    /// Drops the cached handle of `h`, so the next access opens the file again (after an
    /// I/O error: the file may have been replaced, or space freed).
    fn evict(&self, h: Handle) {
        self.lock().open.retain(|(k, _)| *k != h);
    }

    /// Number of files (the part file included) written since the last successful
    /// [`Storage::flush`], open or not: the files the next flush will fsync.
    #[must_use]
    pub fn unsynced_files(&self) -> usize {
        self.lock().unsynced.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Handles and flags stay consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn path_of(&self, st: &State, h: Handle) -> PathBuf {
        match h {
            Handle::File(i) => join(&st.root, &self.geometry.files()[i].path),
            Handle::Part => st.root.join(&st.part_name),
        }
    }

    /// The open handle for `h`, opening (and creating, if `create`) it first. The lock is held
    /// only while the cache is consulted; callers do positional I/O on the returned handle
    /// without it, so worker threads can read and write in parallel.
    fn file(&self, h: Handle, create: bool) -> Result<(Arc<File>, PathBuf), StorageError> {
        let mut st = self.lock();
        let path = self.path_of(&st, h);
        if let Some(pos) = st.open.iter().position(|(k, _)| *k == h)
            && let Some(entry) = st.open.remove(pos)
        {
            let file = Arc::clone(&entry.1);
            st.open.push_back(entry);
            return Ok((file, path));
        }
        let file = if create {
            self.create(&path, h)?
        } else {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| StorageError::io("open", &path, e))?
        };
        let file = Arc::new(file);
        if st.open.len() >= st.capacity {
            st.open.pop_front();
        }
        st.open.push_back((h, Arc::clone(&file)));
        Ok((file, path))
    }

    /// Where the bytes of `span` live: the file itself, or the part file if it is skipped.
    fn target(&self, span: &FileSpan, torrent_offset: u64) -> (Handle, u64) {
        if self.lock().skipped[span.file] {
            (Handle::Part, torrent_offset + span.buf_offset as u64)
        } else {
            (Handle::File(span.file), span.file_offset)
        }
    }

    fn create(&self, path: &Path, h: Handle) -> Result<File, StorageError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| StorageError::io("mkdir", parent, e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StorageError::io("open", path, e))?;
        if let Handle::File(i) = h {
            let entry = &self.geometry.files()[i];
            let len = file
                .metadata()
                .map_err(|e| StorageError::io("stat", path, e))?
                .len();
            if len < entry.length {
                file.set_len(entry.length)
                    .map_err(|e| StorageError::io("set_len", path, e))?;
            }
            if entry.attrs.executable {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(path, fs::Permissions::from_mode(0o755))
                    .map_err(|e| StorageError::io("chmod", path, e))?;
            }
        }
        Ok(file)
    }

    fn make_symlinks(&self, st: &State) -> Result<(), StorageError> {
        for (i, f) in self.geometry.files().iter().enumerate() {
            let Some(target) = &f.attrs.symlink else {
                continue;
            };
            // Geometry validated every component (no `..`, no separators), so the joined
            // target stays inside the save directory.
            let target = join(&st.root, target);
            if !target.starts_with(&st.root) {
                return Err(StorageError::SymlinkEscape { file: i });
            }
            let link = join(&st.root, &f.path);
            if link.symlink_metadata().is_ok() {
                continue;
            }
            if let Some(parent) = link.parent() {
                fs::create_dir_all(parent).map_err(|e| StorageError::io("mkdir", parent, e))?;
            }
            std::os::unix::fs::symlink(&target, &link)
                .map_err(|e| StorageError::io("symlink", &link, e))?;
        }
        Ok(())
    }
}

impl Storage for FileStorage {
    fn write(&self, block: BlockRef, data: Bytes) -> Result<(), StorageError> {
        check_block(&self.geometry, &block, data.len())?;
        let start = self.geometry.piece_offset(block.piece) + u64::from(block.offset);
        for span in self.geometry.block_spans(&block) {
            let entry = &self.geometry.files()[span.file];
            if entry.is_padding() || entry.attrs.symlink.is_some() {
                continue;
            }
            let bytes = &data[span.buf_offset..span.buf_offset + span.len];
            let (h, at) = self.target(&span, start);
            let (f, path) = self.file(h, true)?;
            f.write_all_at(bytes, at).map_err(|e| {
                self.evict(h);
                StorageError::io("write", path, e)
            })?;
            // Marked after the write: a flush that took the set earlier cannot have synced
            // this write, so the next one must. (The write is reported complete only after
            // this, so a flush started after its completion always covers it.)
            self.lock().unsynced.insert(h);
        }
        Ok(())
    }

    fn read(&self, block: BlockRef) -> Result<Bytes, StorageError> {
        check_block(&self.geometry, &block, block.len as usize)?;
        let start = self.geometry.piece_offset(block.piece) + u64::from(block.offset);
        let mut out = BytesMut::zeroed(block.len as usize);
        for span in self.geometry.block_spans(&block) {
            let entry = &self.geometry.files()[span.file];
            if entry.is_padding() {
                continue;
            }
            let buf = &mut out[span.buf_offset..span.buf_offset + span.len];
            let (h, at) = self.target(&span, start);
            let (f, path) = self.file(h, false)?;
            // A cached handle keeps a deleted file readable: report the deletion instead of
            // serving bytes that are no longer in the save directory (one fstat per read).
            let deleted = f.metadata().is_ok_and(|m| m.nlink() == 0);
            let result = if deleted {
                // ENOENT (2 on every Unix), so the message reads like a failed open.
                Err(io::Error::from_raw_os_error(2))
            } else {
                f.read_exact_at(buf, at)
            };
            result.map_err(|e| {
                self.evict(h);
                StorageError::io("read", path, e)
            })?;
        }
        Ok(out.freeze())
    }

    /// Fsyncs every file written since the last flush, including files whose handle was
    /// evicted from the cache (they are reopened: fsync covers the file, not the handle).
    fn flush(&self) -> Result<(), StorageError> {
        let dirty: Vec<Handle> = std::mem::take(&mut self.lock().unsynced)
            .into_iter()
            .collect();
        for (i, &h) in dirty.iter().enumerate() {
            let synced = self.file(h, false).and_then(|(f, path)| {
                f.sync_data()
                    .map_err(|e| StorageError::io("fsync", path, e))
            });
            if let Err(e) = synced {
                // Not synced: the next flush tries these again.
                self.lock().unsynced.extend(&dirty[i..]);
                return Err(e);
            }
        }
        let mut st = self.lock();
        if !st.symlinks_done {
            self.make_symlinks(&st)?;
            st.symlinks_done = true;
        }
        Ok(())
    }

    fn set_file_priorities(&self, priorities: &[FilePriority]) -> Result<(), StorageError> {
        let n = self.geometry.files().len();
        for (i, p) in priorities.iter().enumerate().take(n) {
            let skip = *p == FilePriority::Skip;
            let (was_skipped, part) = {
                let st = self.lock();
                (st.skipped[i], st.root.join(&st.part_name))
            };
            let f = &self.geometry.files()[i];
            if was_skipped && !skip && part.exists() && f.length > 0 && !f.is_padding() {
                // Move whatever the part file holds for this file into the real file.
                let (pf, part_path) = self.file(Handle::Part, false)?;
                let (ff, file_path) = self.file(Handle::File(i), true)?;
                let mut buf = vec![0u8; 1 << 16];
                let mut pos = 0u64;
                while pos < f.length {
                    let n = (f.length - pos).min(buf.len() as u64) as usize;
                    let got = pf
                        .read_at(&mut buf[..n], f.offset + pos)
                        .map_err(|e| StorageError::io("read", &part_path, e))?;
                    if got == 0 {
                        break;
                    }
                    if buf[..got].iter().any(|&b| b != 0) {
                        ff.write_all_at(&buf[..got], pos)
                            .map_err(|e| StorageError::io("write", &file_path, e))?;
                    }
                    pos += got as u64;
                }
            }
            self.lock().skipped[i] = skip;
        }
        Ok(())
    }

    fn file_stat(&self, file: usize) -> Option<FileStat> {
        let path = self.file_path(file)?;
        let md = fs::metadata(path).ok()?;
        let mtime_ns = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Some(FileStat {
            size: md.len(),
            mtime_ns,
        })
    }

    fn move_to(&self, new_root: PathBuf) -> Result<(), StorageError> {
        let mut st = self.lock();
        st.open.clear();
        // Move only this torrent's files (the save directory may hold other torrents), with a
        // copy when the destination is on another file system.
        let mut rel: Vec<PathBuf> = self
            .geometry
            .files()
            .iter()
            .filter(|f| !f.is_padding())
            .map(|f| f.path.iter().collect())
            .collect();
        rel.push(PathBuf::from(&st.part_name));
        for r in rel {
            let from = st.root.join(&r);
            if from.symlink_metadata().is_err() {
                continue;
            }
            let to = new_root.join(&r);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(|e| StorageError::io("mkdir", parent, e))?;
            }
            if fs::rename(&from, &to).is_err() {
                if from.is_symlink() {
                    // Our symlinks point inside the old directory; they are recreated on flush.
                    fs::remove_file(&from).map_err(|e| StorageError::io("remove", &from, e))?;
                    st.symlinks_done = false;
                    continue;
                }
                fs::copy(&from, &to).map_err(|e| StorageError::io("copy", &from, e))?;
                fs::remove_file(&from).map_err(|e| StorageError::io("remove", &from, e))?;
            }
            // Tidy directories the move emptied (failure just means they still hold something).
            let mut dir = from.parent();
            while let Some(d) = dir {
                if d == st.root || fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        st.root = new_root;
        Ok(())
    }

    fn delete(&self) -> Result<(), StorageError> {
        let mut st = self.lock();
        st.open.clear();
        st.unsynced.clear();
        let mut paths: Vec<PathBuf> = self
            .geometry
            .files()
            .iter()
            .filter(|f| !f.is_padding())
            .map(|f| join(&st.root, &f.path))
            .collect();
        paths.push(st.root.join(&st.part_name));
        for p in paths {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("remove", p, e)),
            }
        }
        Ok(())
    }
}

fn join(root: &Path, comps: &[String]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(comps);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileAttrs, FileSpec, PieceHashes, PieceIndex};

    fn geo() -> Arc<Geometry> {
        let mut exe = FileSpec::new(&["t", "bin", "run.sh"], 20000);
        exe.attrs.executable = true;
        let link = FileSpec {
            path: vec!["t".into(), "link".into()],
            length: 0,
            attrs: FileAttrs {
                symlink: Some(vec!["t".into(), "bin".into(), "run.sh".into()]),
                ..FileAttrs::default()
            },
        };
        Arc::new(
            Geometry::new(
                32768,
                vec![
                    exe,
                    FileSpec::padding(12768),
                    FileSpec::new(&["t", "b"], 30000),
                    link,
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
    fn a_file_deleted_under_an_open_handle_fails_reads_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::new(dir.path(), geo());
        let b = BlockRef::new(PieceIndex(0), 0, 16384);
        s.write(b, Bytes::from(vec![3; 16384])).unwrap();
        assert_eq!(s.read(b).unwrap(), Bytes::from(vec![3; 16384]));
        let file = dir.path().join("t/bin/run.sh");
        fs::remove_file(&file).unwrap();
        match s.read(b) {
            Err(StorageError::Io { path, source, .. }) => {
                assert_eq!(path, file);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected a not-found error naming the file, got {other:?}"),
        }
        // The handle was dropped: a new write creates the file again and reads work.
        s.write(b, Bytes::from(vec![4; 16384])).unwrap();
        assert_eq!(s.read(b).unwrap(), Bytes::from(vec![4; 16384]));
    }

    #[test]
    fn writes_read_back_skip_padding_and_stay_sparse() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::new(dir.path(), geo()).with_open_files(1);
        assert!(
            !dir.path().join("t").exists(),
            "nothing created before a write"
        );
        let b = BlockRef::new(PieceIndex(0), 16384, 16384);
        s.write(b, Bytes::from(vec![9; 16384])).unwrap();
        let exe = dir.path().join("t/bin/run.sh");
        assert_eq!(fs::metadata(&exe).unwrap().len(), 20000);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&exe).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert!(!dir.path().join(".pad").exists());
        let r = s.read(BlockRef::new(PieceIndex(0), 19000, 2000)).unwrap();
        assert_eq!(&r[..1000], &[9; 1000][..]);
        assert_eq!(&r[1000..], &[0; 1000][..], "padding reads as zeros");
        // The second file is not created by a read; the error names it.
        assert!(matches!(
            s.read(BlockRef::new(PieceIndex(1), 0, 100)),
            Err(StorageError::Io { op: "open", ref path, ref source })
                if path.ends_with("t/b") && source.kind() == io::ErrorKind::NotFound
        ));
        s.write(
            BlockRef::new(PieceIndex(1), 0, 16384),
            Bytes::from(vec![5; 16384]),
        )
        .unwrap();
        assert_eq!(s.open_handles(), 1, "handle cache is bounded");
        let back = s.read(b).unwrap();
        assert!(back[..3616].iter().all(|&x| x == 9) && back[3616..].iter().all(|&x| x == 0));
        s.flush().unwrap();
        let link = dir.path().join("t/link");
        assert_eq!(fs::read_link(&link).unwrap(), exe);
    }

    #[test]
    fn skipped_file_bytes_go_to_part_file_until_unskipped() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStorage::new(dir.path(), geo());
        s.set_file_priorities(&[
            FilePriority::Normal,
            FilePriority::Normal,
            FilePriority::Skip,
            FilePriority::Normal,
        ])
        .unwrap();
        let b = BlockRef::new(PieceIndex(1), 0, 16384);
        s.write(b, Bytes::from(vec![4; 16384])).unwrap();
        assert!(!dir.path().join("t/b").exists());
        assert!(s.read(b).unwrap().iter().all(|&x| x == 4));
        s.set_file_priorities(&[FilePriority::Normal; 4]).unwrap();
        assert!(
            fs::read(dir.path().join("t/b")).unwrap()[..16384]
                .iter()
                .all(|&x| x == 4)
        );
        assert!(s.read(b).unwrap().iter().all(|&x| x == 4));
        s.delete().unwrap();
        assert!(!dir.path().join("t/b").exists());
    }

    #[test]
    fn flush_syncs_files_whose_handle_was_evicted() {
        let dir = tempfile::tempdir().unwrap();
        // One handle: writing the second file evicts (closes) the first one unsynced.
        let s = FileStorage::new(dir.path(), geo()).with_open_files(1);
        s.write(
            BlockRef::new(PieceIndex(0), 0, 16384),
            Bytes::from(vec![1; 16384]),
        )
        .unwrap();
        s.write(
            BlockRef::new(PieceIndex(1), 0, 16384),
            Bytes::from(vec![2; 16384]),
        )
        .unwrap();
        assert_eq!(s.open_handles(), 1);
        assert_eq!(
            s.unsynced_files(),
            2,
            "the evicted file still needs its fsync"
        );
        s.flush().unwrap();
        assert_eq!(s.unsynced_files(), 0);
        // A failed fsync (the file vanished) keeps the file for the next flush.
        s.write(
            BlockRef::new(PieceIndex(0), 0, 16384),
            Bytes::from(vec![3; 16384]),
        )
        .unwrap();
        s.write(
            BlockRef::new(PieceIndex(1), 0, 16384),
            Bytes::from(vec![4; 16384]),
        )
        .unwrap();
        fs::remove_file(dir.path().join("t/bin/run.sh")).unwrap();
        assert!(s.flush().is_err());
        assert!(s.unsynced_files() >= 1);
    }

    #[test]
    fn worker_threads_write_in_parallel_and_data_moves_with_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(FileStorage::new(dir.path().join("a"), geo()).with_open_files(2));
        let threads: Vec<_> = (0..2u32)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let g = geo();
                    for p in 0..2u32 {
                        let b = g.block(PieceIndex(p), t);
                        let fill = (p * 2 + t) as u8 + 1;
                        s.write(b, Bytes::from(vec![fill; b.len as usize])).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let check = |s: &FileStorage| {
            let b = s.read(BlockRef::new(PieceIndex(1), 16384, 100)).unwrap();
            assert!(b.iter().all(|&x| x == 4));
            let b = s.read(BlockRef::new(PieceIndex(0), 0, 100)).unwrap();
            assert!(b.iter().all(|&x| x == 1));
        };
        check(&s);
        // Someone else's file in the same save directory stays put.
        fs::write(dir.path().join("a/other.txt"), b"not ours").unwrap();
        s.move_to(dir.path().join("moved")).unwrap();
        assert!(!dir.path().join("a/t").exists());
        assert!(dir.path().join("a/other.txt").exists());
        assert!(dir.path().join("moved/t/b").exists());
        check(&s);
        // Across file systems (tmpfs), the move falls back to copying.
        if Path::new("/dev/shm").is_dir() {
            let shm = tempfile::tempdir_in("/dev/shm").unwrap();
            s.move_to(shm.path().join("x")).unwrap();
            assert!(!dir.path().join("moved/t").exists());
            check(&s);
        }
    }
}

//! Where resume data lives, and reading and writing it.
//!
//! # Location and format
//!
//! One file per torrent, `<resume dir>/<info-hash hex>.resume`, where the resume dir is
//! [`Config::resume_dir`](crate::Config::resume_dir) or, when that is `None`, `.freshet/`
//! inside the torrent's save directory. The content is `freshet-engine`'s `ResumeRecord`
//! (bencoded, format 1: verified pieces, stored blocks of unfinished pieces, size and mtime of
//! every file, transfer totals), written atomically (temporary file, fsync, rename) after the
//! data files were fsynced, so a record never claims data that is not durable.
//!
//! It is written every [`Config::resume_interval`](crate::Config::resume_interval) for
//! running torrents and when a torrent completes (both on the resume writer thread, off the
//! network thread), when it is closed (after its files are flushed) and on shutdown; it is
//! never written before the check of existing data has finished. On add, a record whose
//! info-hash and piece count match is used: pieces of files whose size and mtime are unchanged
//! are trusted, the rest are rechecked. After a crash the files being written have a newer
//! mtime than the record, so their pieces are rechecked, never downloaded again. Closing a
//! torrent with `DataOnClose::Delete` removes the file.
//!
//! A torrent added as a magnet link also keeps `<info-hash hex>.torrent` there once its
//! metadata is fetched (the info dictionary verbatim, with the magnet's trackers); adding the
//! same magnet again opens it from that file instead of asking peers.

use std::fs;
use std::path::{Path, PathBuf};

use freshet_engine::{Geometry, ResumeRecord, Storage, StorageError, matches_target, save_atomic};
use freshet_metainfo::{InfoHashV1, InfoHashes};

use super::meta::{MAX_TORRENT_FILE, TorrentMeta, torrent_file_bytes};

use super::torrent::Torrent;

/// Largest resume file read.
const MAX_RESUME_FILE: u64 = 64 * 1024 * 1024;

/// Where the resume file of a torrent lives.
pub(crate) fn path(resume_dir: Option<&Path>, save_dir: &Path, info_hash: &InfoHashV1) -> PathBuf {
    let dir = resume_dir.map_or_else(|| save_dir.join(".freshet"), Path::to_path_buf);
    dir.join(format!("{}.resume", info_hash.to_hex()))
}

/// Where the metainfo of a torrent added as a magnet link is kept: next to its resume file,
/// `<info-hash hex>.torrent`, so a restart does not fetch the metadata again.
pub(crate) fn metainfo_path(
    resume_dir: Option<&Path>,
    save_dir: &Path,
    info_hash: &InfoHashV1,
) -> PathBuf {
    path(resume_dir, save_dir, info_hash).with_extension("torrent")
}

/// Writes `meta` as a `.torrent` (the fetched info bytes verbatim) to `path`.
pub(crate) fn save_metainfo(meta: &TorrentMeta, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    save_atomic(path, &torrent_file_bytes(&meta.info_bytes, &meta.trackers))
}

/// The metainfo saved at `path` by [`save_metainfo`], if it is readable and its info
/// dictionary hashes to `target`.
pub(crate) fn load_metainfo(path: &Path, target: &InfoHashes) -> Option<TorrentMeta> {
    let len = fs::metadata(path).ok()?.len();
    if len > MAX_TORRENT_FILE {
        return None;
    }
    let bytes = fs::read(path).ok()?;
    match TorrentMeta::from_bytes(&bytes) {
        Ok(m) if matches_target(target, &m.info_bytes) => Some(m),
        Ok(_) => {
            tracing::warn!("ignoring {}: another torrent's metainfo", path.display());
            None
        }
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            None
        }
    }
}

/// Writes the resume file of `t` to `path` (creating the directory), durably: see
/// [`write_durably`]. Used where the torrent is already drained (close, move, shutdown);
/// periodic saves go through the resume writer thread instead.
pub(crate) fn save(t: &Torrent, path: &Path) -> std::io::Result<()> {
    write_durably(t.storage.as_ref(), t.geometry(), t.resume_snapshot(), path)
        .map_err(std::io::Error::other)
}

/// Makes `record` durable at `path`: first every data file written since the last flush is
/// fsynced (so every piece the record claims, whose writes completed before it was taken, is
/// on disk), then the file stats are taken and the record is written atomically. A crash or
/// power loss at any point leaves a record that claims only data that is on disk.
///
/// # Errors
/// The data flush failed (a storage failure of the torrent). A failure to write the record
/// itself is only logged: the previous record stays valid, and the next save tries again.
pub(crate) fn write_durably(
    storage: &dyn Storage,
    geometry: &Geometry,
    mut record: ResumeRecord,
    path: &Path,
) -> Result<(), StorageError> {
    storage.flush()?;
    record.capture_file_stats(storage, geometry);
    let written = path
        .parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|()| save_atomic(path, &record.encode()));
    if let Err(e) = written {
        tracing::warn!("cannot write resume data {}: {e}", path.display());
    }
    Ok(())
}

/// Reads the resume record at `path`, if there is a readable one.
pub(crate) fn load(path: &Path) -> Option<ResumeRecord> {
    let meta = fs::metadata(path).ok()?;
    if meta.len() > MAX_RESUME_FILE {
        return None;
    }
    let bytes = fs::read(path).ok()?;
    match ResumeRecord::decode(&bytes) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!("ignoring resume data {}: {e}", path.display());
            None
        }
    }
}

/// Removes a resume file (after the data was deleted).
pub(crate) fn remove(path: &Path) {
    let _ = fs::remove_file(path);
}

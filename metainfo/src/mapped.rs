//! The crate's one `unsafe` exception: hashing file data in place through a bounded, read-only
//! memory map instead of copying it into a buffer first.
//!
//! Why: `cargo xtask bench create` measured the kernel's copy into the read buffer as the gap
//! between `freshet create` and the bare `sha1` crate (BENCHMARKS.md, "`freshet create`"). Only
//! [`ReadMode::Mapped`](crate::ReadMode::Mapped) reaches this module; the default reads.
//!
//! Windows start at multiples of [`ALIGN`] (2 MiB) in the file. Where the page cache holds
//! 2 MiB folios (ext4 and XFS on Linux 6.x, for files read or written in large chunks), the
//! kernel then maps each with one page-table entry: no per-4 KiB-page mapping work and far
//! fewer TLB misses while hashing (measured in BENCHMARKS.md). Elsewhere this costs nothing.
//!
//! The risk, and how it is bounded:
//! - **Truncation → `SIGBUS`.** If another process shrinks the file while a window is mapped,
//!   touching a page past the new end raises `SIGBUS`, which ends the whole process (Rust cannot
//!   turn it into an error). Mitigations: a window is at most [`WINDOW`] bytes and is unmapped as
//!   soon as its hashing thread moves past it (the time to hash at most [`WINDOW`] bytes, a few
//!   milliseconds); the file's length is checked again before every use of a window, so a file
//!   that already shrank is reported as short, as the read path does; and the mode is opt-in,
//!   meant for short-lived processes over files nothing else writes (the `freshet` CLI), never
//!   for a long-lived host.
//! - **Concurrent writes.** A slice of mapped memory may change under a `&[u8]` if another
//!   process writes the file. The bytes are read once each, by the hasher, so the effect is the
//!   same as a `pread` racing that writer: a hash of mixed old and new data (the piece then
//!   fails to verify). No code here branches on the bytes.
//! - **Unmappable files**: anything but a regular file is never mapped, and a regular file the
//!   OS refuses to map (some FUSE file systems) fails with an error; the caller then falls back
//!   to positional reads.
#![allow(unsafe_code)]

use std::fs::{File, Metadata};
use std::io;

use memmap2::{Mmap, MmapOptions};

/// Largest window mapped at once: bounds the resident set to one window per hashing thread
/// (mapped file pages count in RSS) and the time a window stays mapped.
pub(crate) const WINDOW: u64 = 4 << 20;

/// Windows start at file offsets that are multiples of this: the x86-64 and arm64 (4 KiB
/// granule) huge page size, so page-cache huge pages can be mapped whole.
pub(crate) const ALIGN: u64 = 2 << 20;

const _: () = assert!(WINDOW % ALIGN == 0);

/// Why a window could not be hashed in place.
#[derive(Debug)]
pub(crate) enum WindowError {
    /// The file is shorter than the requested end (it changed, or the caller's length is stale).
    Short,
    /// Reading the file's metadata failed.
    Io(io::Error),
    /// The OS refused the mapping; the caller should read the range instead.
    Unmappable,
}

/// Which file a window belongs to: device and inode where the OS has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileKey(u64, u64);

impl FileKey {
    #[cfg(unix)]
    fn of(meta: &Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        Some(Self(meta.dev(), meta.ino()))
    }

    #[cfg(not(unix))]
    fn of(_: &Metadata) -> Option<Self> {
        // No cheap identity: never reuse a window across calls.
        None
    }
}

/// One mapped, read-only window of a file.
#[derive(Debug)]
struct Window {
    key: Option<FileKey>,
    start: u64,
    map: Mmap,
}

/// The one window a hashing thread has mapped, reused while the thread reads inside it.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    current: Option<Window>,
}

impl Windows {
    /// The mapped bytes of `file` from `pos` up to `end` or the end of the window holding
    /// `pos`, whichever comes first (never empty when `pos < end`). Maps a new window, at most
    /// [`WINDOW`] bytes from the [`ALIGN`]ed offset at or below `pos`, when the current one
    /// belongs to another file or does not hold `pos`; the old one is unmapped first.
    pub(crate) fn slice(&mut self, file: &File, pos: u64, end: u64) -> Result<&[u8], WindowError> {
        let meta = file.metadata().map_err(WindowError::Io)?;
        if !meta.is_file() {
            // Only regular files are mapped; devices, pipes and the like are read.
            self.current = None;
            return Err(WindowError::Unmappable);
        }
        if pos >= end || end > meta.len() {
            // Checked before every use, so a window is never read past a file that shrank.
            self.current = None;
            return Err(WindowError::Short);
        }
        let key = FileKey::of(&meta);
        let holds = |w: &Window| {
            key.is_some() && w.key == key && pos >= w.start && pos - w.start < w.map.len() as u64
        };
        if !self.current.as_ref().is_some_and(holds) {
            self.current = None; // unmap before mapping the next one
            let start = pos - pos % ALIGN;
            let len = usize::try_from((meta.len() - start).min(WINDOW))
                .map_err(|_| WindowError::Unmappable)?;
            // SAFETY: the map is read-only and owned by this thread's `Windows`; slices into it
            // borrow `self`, so none outlives the map. The range lies inside the file as of the
            // length check just above. What `unsafe` cannot exclude is another process changing
            // the file while it is mapped: a write changes bytes under the slice (the hash then
            // mixes old and new data, as a racing `pread` would), and a truncation makes the
            // next touch of a lost page raise SIGBUS. Both are documented risks of the opt-in
            // `ReadMode::Mapped` (see the module doc); the window bound keeps the exposure to
            // the hashing of at most `WINDOW` bytes.
            let map = unsafe { MmapOptions::new().offset(start).len(len).map(file) }
                .map_err(|_| WindowError::Unmappable)?;
            self.current = Some(Window { key, start, map });
        }
        let w = self.current.as_ref().ok_or(WindowError::Unmappable)?;
        // Both casts are in range: `pos` and `end` lie in `start..start + map.len()` as far
        // as they are used, and the map's length is a `usize`.
        let from = usize::try_from(pos - w.start).map_err(|_| WindowError::Unmappable)?;
        let to = usize::try_from((end - w.start).min(w.map.len() as u64))
            .map_err(|_| WindowError::Unmappable)?;
        Ok(&w.map[from..to])
    }
}

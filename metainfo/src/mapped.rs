//! The crate's one `unsafe` exception: hashing file data in place through a bounded, read-only
//! memory map instead of copying it into a buffer first.
//!
//! Why: `cargo xtask bench create` measured the kernel's copy into the read buffer as the gap
//! between `freshet create` and the bare `sha1` crate (BENCHMARKS.md, "`freshet create`"). Only
//! [`ReadMode::Mapped`](crate::ReadMode::Mapped) reaches this module; the default reads.
//!
//! The risk, and how it is bounded:
//! - **Truncation → `SIGBUS`.** If another process shrinks the file while a window is mapped,
//!   touching a page past the new end raises `SIGBUS`, which ends the whole process (Rust cannot
//!   turn it into an error). Mitigations: a window is at most [`WINDOW`] bytes and is unmapped as
//!   soon as it is hashed (a few milliseconds of exposure per window); the file's length is
//!   checked again right before each window is mapped, so a file that already shrank is reported
//!   as short, as the read path does; and the mode is opt-in, meant for short-lived processes
//!   over files nothing else writes (the `freshet` CLI), never for a long-lived host.
//! - **Concurrent writes.** A slice of mapped memory may change under a `&[u8]` if another
//!   process writes the file. The bytes are read once each, by the hasher, so the effect is the
//!   same as a `pread` racing that writer: a hash of mixed old and new data (the piece then
//!   fails to verify). No code here branches on the bytes.
//! - **Unmappable files**: anything but a regular file is never mapped, and a regular file the
//!   OS refuses to map (some FUSE file systems) fails with an error; the caller then falls back
//!   to positional reads.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::MmapOptions;

/// Largest window mapped at once: bounds the resident set to one window per hashing thread
/// (mapped file pages count in RSS) and the time a window stays mapped.
pub(crate) const WINDOW: u64 = 4 << 20;

/// Why a window could not be hashed in place.
#[derive(Debug)]
pub(crate) enum WindowError {
    /// The file is shorter than the window's end (it changed, or the caller's length is stale).
    Short,
    /// Reading the file's metadata failed.
    Io(io::Error),
    /// The OS refused the mapping; the caller should read the range instead.
    Unmappable,
}

/// Maps `file[offset..offset + len]` read-only (`len` at most [`WINDOW`]), calls `hash` with
/// its bytes, and unmaps it before returning.
pub(crate) fn with_window<R>(
    file: &File,
    offset: u64,
    len: u64,
    hash: impl FnOnce(&[u8]) -> R,
) -> Result<R, WindowError> {
    debug_assert!(len <= WINDOW, "window of {len} bytes exceeds {WINDOW}");
    if len == 0 {
        return Ok(hash(&[]));
    }
    let meta = file.metadata().map_err(WindowError::Io)?;
    if !meta.is_file() {
        // Only regular files are mapped; devices, pipes and the like are read.
        return Err(WindowError::Unmappable);
    }
    if offset.checked_add(len).is_none_or(|end| end > meta.len()) {
        return Err(WindowError::Short);
    }
    let len = usize::try_from(len).map_err(|_| WindowError::Unmappable)?;
    // SAFETY: the map is read-only, private to this call, and dropped (unmapped) before we
    // return, so no reference into it escapes. The range lies inside the file as of the length
    // check just above. What `unsafe` cannot exclude is another process changing the file while
    // it is mapped: a write changes bytes under the slice (the hash then mixes old and new data,
    // as a racing `pread` would), and a truncation makes the next touch of a lost page raise
    // SIGBUS. Both are documented risks of the opt-in `ReadMode::Mapped` (see the module doc);
    // the window bound keeps the exposure to one hash of at most `WINDOW` bytes.
    let map = unsafe { MmapOptions::new().offset(offset).len(len).map(file) }
        .map_err(|_| WindowError::Unmappable)?;
    Ok(hash(&map))
}

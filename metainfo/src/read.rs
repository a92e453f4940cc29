//! Reading file ranges for hashing, shared by [`create`](crate::TorrentBuilder) and
//! [`verify`](crate::verify): positional reads into a reused cache-sized buffer, or (opt-in)
//! bounded memory-mapped windows from the `mapped` module. Either way the hasher sees the
//! same bytes in chunks of at most [`CHUNK`] bytes, so both paths give identical hashes.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::mapped::{WindowError, Windows};

/// How torrent creation and verification read file data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReadMode {
    /// Positional reads into a 64 KiB buffer per hashing thread (the default). A file that
    /// shrinks while it is hashed is reported as an error, never a crash.
    #[default]
    Read,
    /// Hashes the file's pages in place through one read-only memory map of at most 4 MiB per
    /// hashing thread (2 MiB-aligned, unmapped when the thread moves past it); this saves the
    /// kernel's copy into a buffer, and where the page cache holds huge pages it maps them whole
    /// (measured in BENCHMARKS.md). Files that cannot be mapped are read instead.
    ///
    /// **Risk:** if another process truncates a file while one of its windows is mapped, the
    /// next touch of a lost page raises `SIGBUS` and ends the whole process. Lengths are checked
    /// again before every window, which narrows but cannot close that race. Use it in
    /// short-lived processes over files nothing else writes (the `freshet` CLI does); keep
    /// [`ReadMode::Read`] in long-lived hosts.
    Mapped,
}

/// Largest chunk handed to the hasher: a multiple of the 16 KiB v2 block, small enough that a
/// read buffer stays in L1/L2 (measured: 64 KiB reads cost a third of the kernel time 256 KiB
/// reads do when interleaved with hashing).
pub(crate) const CHUNK: usize = 64 * 1024;

/// Zero bytes for pad files, hashed without touching a buffer.
pub(crate) static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// Feeds byte ranges of files to a hasher; one per hashing thread.
#[derive(Debug)]
pub(crate) struct RangeReader {
    mode: ReadMode,
    buf: Vec<u8>,
    /// [`ReadMode::Mapped`]: the window this thread has mapped.
    windows: Windows,
    /// The file read last, kept open: consecutive pieces are mostly in the same file.
    open: Option<(PathBuf, File)>,
}

impl RangeReader {
    /// A reader using `mode` (the read buffer is allocated on first use).
    pub(crate) fn new(mode: ReadMode) -> Self {
        Self {
            mode,
            buf: Vec::new(),
            windows: Windows::default(),
            open: None,
        }
    }

    /// [`for_each_chunk`](Self::for_each_chunk) on the file at `path`, opened once and kept
    /// open while the following calls read the same path.
    ///
    /// # Errors
    /// Opening the file fails, or as [`for_each_chunk`](Self::for_each_chunk).
    pub(crate) fn for_each_chunk_at(
        &mut self,
        path: &Path,
        offset: u64,
        len: u64,
        sink: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let (path, file) = match self.open.take() {
            Some((open, file)) if open == path => (open, file),
            _ => (path.to_owned(), File::open(path)?),
        };
        let fed = self.for_each_chunk(&file, offset, len, sink);
        self.open = Some((path, file));
        fed
    }

    /// Calls `sink` with consecutive chunks of at most [`CHUNK`] bytes covering
    /// `file[offset..offset + len]`.
    ///
    /// # Errors
    /// `UnexpectedEof` if the file ends before `offset + len`; other I/O errors as they come.
    pub(crate) fn for_each_chunk(
        &mut self,
        file: &File,
        offset: u64,
        len: u64,
        mut sink: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let end = offset.saturating_add(len);
        let mut pos = offset;
        // Bytes of a chunk that straddles two mapped windows, gathered in `buf`, so chunk
        // boundaries are the same as the read path's whatever the windows are.
        let mut carry = 0usize;
        if self.mode == ReadMode::Mapped {
            while pos < end {
                let mut bytes = match self.windows.slice(file, pos, end) {
                    Ok(bytes) => bytes,
                    Err(WindowError::Short) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Err(WindowError::Io(e)) => return Err(e),
                    // Not mappable here: read the rest instead.
                    Err(WindowError::Unmappable) => break,
                };
                pos += bytes.len() as u64;
                if carry > 0 {
                    let take = (CHUNK - carry).min(bytes.len());
                    self.buf[carry..carry + take].copy_from_slice(&bytes[..take]);
                    carry += take;
                    bytes = &bytes[take..];
                    if carry == CHUNK || pos == end {
                        sink(&self.buf[..carry]);
                        carry = 0;
                    }
                }
                let whole = bytes.len() - bytes.len() % CHUNK;
                bytes[..whole].chunks(CHUNK).for_each(&mut sink);
                let rest = &bytes[whole..];
                if pos == end {
                    if !rest.is_empty() {
                        sink(rest);
                    }
                } else if !rest.is_empty() {
                    // The window ends inside a chunk: keep its start for the next window.
                    if self.buf.is_empty() {
                        self.buf = vec![0; CHUNK];
                    }
                    self.buf[..rest.len()].copy_from_slice(rest);
                    carry = rest.len();
                }
            }
        }
        if pos < end && self.buf.is_empty() {
            self.buf = vec![0; CHUNK];
        }
        if carry > 0 {
            // A window could not be mapped mid-chunk: finish that chunk by reading.
            let n =
                usize::try_from(end - pos).map_or(CHUNK - carry, |left| left.min(CHUNK - carry));
            read_exact_at(file, &mut self.buf[carry..carry + n], pos)?;
            sink(&self.buf[..carry + n]);
            pos += n as u64;
        }
        while pos < end {
            let n = usize::try_from(end - pos).map_or(CHUNK, |left| left.min(CHUNK));
            read_exact_at(file, &mut self.buf[..n], pos)?;
            sink(&self.buf[..n]);
            pos += n as u64;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file.try_clone()?;
    f.seek(SeekFrom::Start(offset))?;
    f.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(mode: ReadMode, file: &File, offset: u64, len: u64) -> io::Result<Vec<Vec<u8>>> {
        let mut chunks = Vec::new();
        RangeReader::new(mode).for_each_chunk(file, offset, len, |c| chunks.push(c.to_vec()))?;
        Ok(chunks)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn both_modes_yield_the_same_chunks_across_window_boundaries() {
        let data = pattern(9 * 1024 * 1024 + 12345);
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &data).unwrap();
        let file = File::open(tmp.path()).unwrap();
        // Unaligned start, a span over two 4 MiB windows, a tail, and the empty range.
        for (offset, len) in [
            (0, data.len()),
            (4097, 8 << 20),
            (data.len() - 10, 10),
            (5, 0),
        ] {
            let read = collect(ReadMode::Read, &file, offset as u64, len as u64).unwrap();
            let mapped = collect(ReadMode::Mapped, &file, offset as u64, len as u64).unwrap();
            assert_eq!(read, mapped, "offset {offset} len {len}");
            assert!(read.iter().all(|c| c.len() <= CHUNK && !c.is_empty()));
            assert_eq!(read.concat(), data[offset..offset + len]);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_special_file_is_read_not_mapped() {
        // /dev/zero reports length 0: a mapped read must fall back to reading it rather than
        // call it short or map it.
        let file = File::open("/dev/zero").unwrap();
        let chunks = collect(ReadMode::Mapped, &file, 0, 100_000).unwrap();
        assert_eq!(chunks.concat(), vec![0u8; 100_000]);
        assert_eq!(chunks.len(), 2, "read in {CHUNK}-byte chunks");
    }

    #[test]
    fn a_range_past_the_end_is_unexpected_eof_in_both_modes() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), pattern(100_000)).unwrap();
        let file = File::open(tmp.path()).unwrap();
        for mode in [ReadMode::Read, ReadMode::Mapped] {
            let err = collect(mode, &file, 50_000, 60_000).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{mode:?}");
        }
    }

    #[test]
    fn a_file_that_shrank_is_reported_short_before_its_window_is_used() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), pattern(6 << 20)).unwrap();
        let file = File::open(tmp.path()).unwrap();
        let mut reader = RangeReader::new(ReadMode::Mapped);
        let mut seen = 0u64;
        // The first piece maps the window 0..4 MiB.
        reader
            .for_each_chunk(&file, 0, 1 << 20, |c| seen += c.len() as u64)
            .unwrap();
        assert_eq!(seen, 1 << 20);
        // The file is cut to 1.5 MiB while that window is still mapped: the next piece, which
        // the window would hold, is reported short instead of touching lost pages.
        std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path())
            .unwrap()
            .set_len(3 << 19)
            .unwrap();
        let err = reader
            .for_each_chunk(&file, 1 << 20, 1 << 20, |c| seen += c.len() as u64)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(seen, 1 << 20, "nothing of the second piece was hashed");
    }

    #[test]
    fn one_reader_alternating_between_files_reads_each_files_bytes() {
        let a = pattern(5 << 20);
        let b: Vec<u8> = a.iter().map(|x| x ^ 0xff).collect();
        let (ta, tb) = (
            tempfile::NamedTempFile::new().unwrap(),
            tempfile::NamedTempFile::new().unwrap(),
        );
        std::fs::write(ta.path(), &a).unwrap();
        std::fs::write(tb.path(), &b).unwrap();
        let (fa, fb) = (
            File::open(ta.path()).unwrap(),
            File::open(tb.path()).unwrap(),
        );
        let mut reader = RangeReader::new(ReadMode::Mapped);
        for (offset, len) in [
            (0usize, 1usize << 20),
            (1 << 20, 3 << 20),
            (3 << 20, 2 << 20),
        ] {
            for (file, data) in [(&fa, &a), (&fb, &b)] {
                let mut got = Vec::new();
                reader
                    .for_each_chunk(file, offset as u64, len as u64, |c| {
                        got.extend_from_slice(c);
                    })
                    .unwrap();
                assert!(
                    got == data[offset..offset + len],
                    "offset {offset} len {len}"
                );
            }
        }
    }
}

//! One peer connection on the network thread: socket, buffers, handshake phase.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use freshet_engine::PeerKey;
use freshet_peerwire::MessageDecoder;
use mio::Interest;
use mio::net::TcpStream;

use super::request::TorrentId;

/// Who opened the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// We dialled it.
    Outgoing,
    /// It came to our listener.
    Incoming,
}

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Outgoing: waiting for the TCP connect; our handshake is queued.
    Connecting,
    /// Waiting for the peer's handshake.
    Handshaking,
    /// Handshake done; messages flow to the torrent.
    Established,
}

/// Bytes read per connection per wakeup before others get a turn.
pub(crate) const READ_BOUND: usize = 1024 * 1024;
/// The first read chunk of a connection; each new chunk doubles, up to [`MAX_CHUNK`].
const FIRST_CHUNK: usize = 16 * 1024;
/// The largest read chunk.
const MAX_CHUNK: usize = 256 * 1024;
/// A chunk with less room than this is replaced before reading.
const MIN_READ: usize = 16 * 1024;
/// Stop reading from a peer while this much is waiting to be sent to it.
pub(crate) const WRITE_HIGH_WATER: usize = 4 * 1024 * 1024;

/// A peer connection.
pub(crate) struct Conn {
    /// The engine's key for this peer, once the handshake is done.
    pub(crate) peer: Option<PeerKey>,
    pub(crate) stream: TcpStream,
    pub(crate) addr: SocketAddr,
    pub(crate) direction: Direction,
    pub(crate) phase: Phase,
    pub(crate) torrent: Option<TorrentId>,
    /// Received bytes not yet decoded. They always end where `chunk` begins.
    pub(crate) rbuf: BytesMut,
    /// Zeroed room the next reads land in, in the same allocation right after `rbuf`: a read
    /// moves its bytes onto `rbuf` without copying, and memory is zeroed once per chunk.
    chunk: BytesMut,
    /// The size of the next chunk.
    chunk_size: usize,
    pub(crate) wbuf: BytesMut,
    pub(crate) decoder: MessageDecoder,
    pub(crate) since: Instant,
    pub(crate) last_recv: Instant,
    pub(crate) last_send: Instant,
    pub(crate) registered: Interest,
    pub(crate) closing: Option<String>,
    /// Reading stopped because too much waits to be sent; resumed when the buffer drains.
    pub(crate) read_paused: bool,
    /// Closed on purpose after a magnet's metadata arrived: redial at once, no back-off.
    pub(crate) handoff: bool,
}

/// What a read pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// Drained to `WouldBlock`.
    Drained,
    /// Stopped at the bound; more may be waiting.
    MoreWaiting,
    /// The peer closed the connection.
    Closed,
}

impl Conn {
    /// A new connection.
    pub(crate) fn new(
        stream: TcpStream,
        addr: SocketAddr,
        direction: Direction,
        torrent: Option<TorrentId>,
        now: Instant,
    ) -> Self {
        Self {
            peer: None,
            stream,
            addr,
            direction,
            phase: match direction {
                Direction::Outgoing => Phase::Connecting,
                Direction::Incoming => Phase::Handshaking,
            },
            torrent,
            rbuf: BytesMut::new(),
            chunk: BytesMut::new(),
            chunk_size: FIRST_CHUNK,
            wbuf: BytesMut::new(),
            decoder: MessageDecoder::default(),
            since: now,
            last_recv: now,
            last_send: now,
            registered: Interest::READABLE | Interest::WRITABLE,
            closing: None,
            read_paused: false,
            handoff: false,
        }
    }

    /// The interest the current state calls for: always readable, writable only while bytes
    /// wait to be sent (or the connect is pending).
    pub(crate) fn wanted_interest(&self) -> Interest {
        if self.phase == Phase::Connecting || !self.wbuf.is_empty() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }

    /// Reads into `rbuf` until `WouldBlock`, EOF, [`READ_BOUND`] bytes, `limit` bytes (a rate
    /// limit's allowance) or the end of the read chunk; returns the outcome and the bytes read.
    pub(crate) fn read(&mut self, now: Instant, limit: usize) -> io::Result<(ReadOutcome, usize)> {
        let mut total = 0;
        let bound = READ_BOUND.min(limit);
        loop {
            if total >= bound {
                return Ok((ReadOutcome::MoreWaiting, total));
            }
            if self.chunk.len() < MIN_READ {
                if total > 0 {
                    // Decode first: the next chunk then starts with a partial message only,
                    // instead of copying everything read so far.
                    return Ok((ReadOutcome::MoreWaiting, total));
                }
                self.new_chunk();
            }
            let room = self.chunk.len().min(bound - total);
            match self.stream.read(&mut self.chunk[..room]) {
                Ok(0) => return Ok((ReadOutcome::Closed, total)),
                Ok(n) => {
                    // Contiguous with `rbuf` (same allocation): no copy.
                    let data = self.chunk.split_to(n);
                    self.rbuf.unsplit(data);
                    total += n;
                    self.last_recv = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((ReadOutcome::Drained, total));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Replaces the read chunk with a fresh zeroed one that starts with the undecoded bytes
    /// (a partial message: bounded by the decoder's message limits).
    fn new_chunk(&mut self) {
        let keep = self.rbuf.len();
        let mut chunk = BytesMut::zeroed(self.chunk_size.max(keep + MIN_READ));
        chunk[..keep].copy_from_slice(&self.rbuf);
        self.rbuf = chunk.split_to(keep);
        self.chunk = chunk;
        self.chunk_size = (self.chunk_size * 2).min(MAX_CHUNK);
    }

    /// Writes from `wbuf` until it is empty, the socket would block or `limit` bytes (a rate
    /// limit's allowance) are written; returns the bytes written.
    pub(crate) fn flush(&mut self, now: Instant, limit: usize) -> io::Result<usize> {
        let mut total = 0;
        while !self.wbuf.is_empty() && total < limit {
            let n = self.wbuf.len().min(limit - total);
            match self.stream.write(&self.wbuf[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    let _ = self.wbuf.split_to(n);
                    self.last_send = now;
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }
}

//! The `TorrentMaker` component: makes `.torrent` files on its own thread, in the shape of
//! Kamaelia's `TIPCMakeTorrent`.
//!
//! ```text
//!   inbox   ──MakeTorrent──▶ ┌──────────────┐ ──MakerReply──▶ outbox
//!   control ──Control──────▶ │ maker thread │ ──once────────▶ signal
//!                            └──────────────┘
//! ```
//!
//! Each [`MakeTorrent`] request gets exactly one [`MakerReply`], in request order, carrying
//! the request's id and either the encoded `.torrent` or an error. Hashing uses
//! [`freshet_metainfo::TorrentBuilder`] (all cores). A [`MakerControl::Shutdown`] (or dropping
//! every inbox sender) ends the thread after the request in progress; [`MakerHandle::signal`]
//! then receives [`ShutdownComplete`](crate::ShutdownComplete) once.

use std::fmt;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, select};
use freshet_bencode::OwnedValue;
use freshet_metainfo::TorrentBuilder;

use crate::{ClientGone, RequestId, ShutdownComplete};

/// Smallest piece size accepted, as log2 (16 KiB).
pub const MIN_PIECE_SIZE_LOG2: u8 = 14;
/// Largest piece size accepted, as log2 (256 MiB).
pub const MAX_PIECE_SIZE_LOG2: u8 = 28;

/// A request to make one `.torrent` from a file or directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MakeTorrent {
    /// Echoed in the reply.
    pub request_id: Option<RequestId>,
    /// The file or directory to put in the torrent.
    pub source: PathBuf,
    /// The announce URL (`None`: a trackerless torrent).
    pub tracker: Option<String>,
    /// Piece size as a power of two (14 = 16 KiB ... 28 = 256 MiB); `None`: chosen from the
    /// data size.
    pub piece_size_log2: Option<u8>,
    /// A `title` written at the top level of the metainfo (outside the info dict, so the
    /// info-hash does not depend on it).
    pub title: Option<String>,
    /// The `comment`.
    pub comment: Option<String>,
    /// BEP 19 web seeds (`url-list`).
    pub web_seeds: Vec<String>,
    /// BEP 27 private flag.
    pub private: bool,
    /// Makes a hybrid v1+v2 torrent (BEP 52).
    pub hybrid: bool,
}

impl MakeTorrent {
    /// A request for `source` with no tracker and every option at its default.
    #[must_use]
    pub fn new(source: impl Into<PathBuf>) -> Self {
        Self {
            request_id: None,
            source: source.into(),
            tracker: None,
            piece_size_log2: None,
            title: None,
            comment: None,
            web_seeds: Vec::new(),
            private: false,
            hybrid: false,
        }
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, id: RequestId) -> Self {
        self.request_id = Some(id);
        self
    }

    /// Sets the announce URL.
    #[must_use]
    pub fn with_tracker(mut self, url: impl Into<String>) -> Self {
        self.tracker = Some(url.into());
        self
    }

    /// Sets the piece size as log2.
    #[must_use]
    pub fn with_piece_size_log2(mut self, log2: u8) -> Self {
        self.piece_size_log2 = Some(log2);
        self
    }

    /// Sets the title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the comment.
    #[must_use]
    pub fn with_comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Adds a web seed.
    #[must_use]
    pub fn with_web_seed(mut self, url: impl Into<String>) -> Self {
        self.web_seeds.push(url.into());
        self
    }

    /// Sets the private flag.
    #[must_use]
    pub fn with_private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// Makes a hybrid torrent.
    #[must_use]
    pub fn with_hybrid(mut self, hybrid: bool) -> Self {
        self.hybrid = hybrid;
        self
    }
}

/// Why a torrent could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MakeError {
    /// The piece size is outside [`MIN_PIECE_SIZE_LOG2`]..=[`MAX_PIECE_SIZE_LOG2`].
    #[error("piece size 2^{0} is out of range (2^14..=2^28)")]
    PieceSize(u8),
    /// Hashing or reading the source failed (the message names the path and the OS error).
    #[error("{0}")]
    Create(String),
}

/// The one reply to a [`MakeTorrent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakerReply {
    /// The request's id, echoed.
    pub request_id: Option<RequestId>,
    /// The encoded `.torrent`, or why it could not be made.
    pub result: Result<Vec<u8>, MakeError>,
}

/// A message to the maker's control box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MakerControl {
    /// Finish the request in progress, answer nothing more, send the signal and end.
    Shutdown,
}

/// Spawns the component.
#[derive(Debug)]
pub struct TorrentMaker;

impl TorrentMaker {
    /// Starts the maker thread.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn() -> std::io::Result<MakerHandle> {
        let (in_tx, in_rx) = crossbeam_channel::unbounded();
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
        let (sig_tx, sig_rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("freshet-maker".into())
            .spawn(move || run(&in_rx, &out_tx, &ctl_rx, &sig_tx))?;
        Ok(MakerHandle {
            inbox: in_tx,
            outbox: out_rx,
            control: ctl_tx,
            signal: sig_rx,
            thread: Some(thread),
        })
    }
}

/// The caller's side of a running maker: inbox, outbox, control and signal.
///
/// Dropping it shuts the maker down and waits for the thread.
pub struct MakerHandle {
    inbox: Sender<MakeTorrent>,
    outbox: Receiver<MakerReply>,
    control: Sender<MakerControl>,
    signal: Receiver<ShutdownComplete>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for MakerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MakerHandle").finish_non_exhaustive()
    }
}

impl MakerHandle {
    /// The inbox (clone it to send from other threads).
    #[must_use]
    pub fn inbox(&self) -> &Sender<MakeTorrent> {
        &self.inbox
    }

    /// Sends a request.
    ///
    /// # Errors
    /// [`ClientGone`] once the maker has shut down.
    pub fn send(&self, request: MakeTorrent) -> Result<(), ClientGone> {
        self.inbox.send(request).map_err(|_| ClientGone)
    }

    /// The outbox: one reply per request, in order.
    #[must_use]
    pub fn outbox(&self) -> &Receiver<MakerReply> {
        &self.outbox
    }

    /// Waits up to `timeout` for the next reply.
    ///
    /// # Errors
    /// `Timeout` if nothing came, `Disconnected` after shutdown.
    pub fn next_reply(&self, timeout: Duration) -> Result<MakerReply, RecvTimeoutError> {
        self.outbox.recv_timeout(timeout)
    }

    /// Asks the maker to shut down.
    ///
    /// # Errors
    /// [`ClientGone`] if it already has.
    pub fn shutdown(&self) -> Result<(), ClientGone> {
        self.control
            .send(MakerControl::Shutdown)
            .map_err(|_| ClientGone)
    }

    /// The signal box: receives [`ShutdownComplete`] once.
    #[must_use]
    pub fn signal(&self) -> &Receiver<ShutdownComplete> {
        &self.signal
    }
}

impl Drop for MakerHandle {
    fn drop(&mut self) {
        let _ = self.control.send(MakerControl::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    inbox: &Receiver<MakeTorrent>,
    outbox: &Sender<MakerReply>,
    control: &Receiver<MakerControl>,
    signal: &Sender<ShutdownComplete>,
) {
    loop {
        // Control first, so a shutdown is seen before further queued requests.
        if control.try_recv().is_ok() {
            break;
        }
        select! {
            recv(control) -> _ => break,
            recv(inbox) -> msg => match msg {
                Ok(req) => {
                    let reply = MakerReply { request_id: req.request_id, result: make(&req) };
                    if outbox.send(reply).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            },
        }
    }
    let _ = signal.send(ShutdownComplete);
}

/// Makes one torrent (runs on the maker thread; public for callers that want it inline).
///
/// # Errors
/// [`MakeError`] for a bad piece size or a source that cannot be read or is empty.
pub fn make(req: &MakeTorrent) -> Result<Vec<u8>, MakeError> {
    let mut builder = TorrentBuilder::new(&req.source)
        .private(req.private)
        .hybrid(req.hybrid);
    if let Some(log2) = req.piece_size_log2 {
        if !(MIN_PIECE_SIZE_LOG2..=MAX_PIECE_SIZE_LOG2).contains(&log2) {
            return Err(MakeError::PieceSize(log2));
        }
        builder = builder.piece_length(1u64 << log2);
    }
    if let Some(t) = &req.tracker {
        builder = builder.tracker(t.clone());
    }
    if let Some(c) = &req.comment {
        builder = builder.comment(c.clone());
    }
    for w in &req.web_seeds {
        builder = builder.web_seed(w.clone());
    }
    let created = builder
        .build()
        .map_err(|e| MakeError::Create(e.to_string()))?;
    match &req.title {
        None => Ok(created.bytes),
        Some(title) => with_title(&created.bytes, title),
    }
}

/// Adds a top-level `title` key to encoded metainfo (outside `info`: the hash is unchanged).
fn with_title(bytes: &[u8], title: &str) -> Result<Vec<u8>, MakeError> {
    let value = freshet_bencode::decode(bytes)
        .map_err(|e| MakeError::Create(format!("re-reading the made torrent: {e}")))?
        .to_owned_value();
    let OwnedValue::Dict(mut dict) = value else {
        return Err(MakeError::Create("made torrent is not a dictionary".into()));
    };
    dict.insert(
        b"title".to_vec(),
        OwnedValue::Bytes(title.as_bytes().to_vec()),
    );
    Ok(OwnedValue::Dict(dict).encode())
}

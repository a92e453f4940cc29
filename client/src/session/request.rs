//! The inbox: what a program asks the client to do ([`Request`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use freshet_engine::FilePriority;

/// A torrent inside one client: a positive integer, allocated in sequence (1, 2, 3, ...) in the
/// order the add replies are sent, never reused while the client runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentId(pub u64);

impl fmt::Display for TorrentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A caller's tag for an add request, echoed unchanged in the one reply it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A message to the client's inbox.
///
/// Requests are handled one at a time, in the order they were sent, as soon as they arrive
/// (the network thread is woken; there is no wait for the next tick).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Request {
    /// Start a torrent. Answered by exactly one of [`Event::TorrentAdded`],
    /// [`Event::AlreadyDownloading`] or [`Event::StartFailed`], in the order the add requests
    /// were sent, each echoing `request_id`.
    ///
    /// [`Event::TorrentAdded`]: crate::Event::TorrentAdded
    /// [`Event::AlreadyDownloading`]: crate::Event::AlreadyDownloading
    /// [`Event::StartFailed`]: crate::Event::StartFailed
    AddTorrent {
        /// Echoed in the reply.
        request_id: Option<RequestId>,
        /// Where the metainfo comes from.
        source: TorrentSource,
        /// Save directory and other per-torrent options.
        options: AddOptions,
    },
    /// Stop a torrent and forget it. Answered by [`Event::Closed`] once its files are flushed
    /// (and deleted, if asked), or by [`Event::Error`] if the id is unknown.
    ///
    /// [`Event::Closed`]: crate::Event::Closed
    /// [`Event::Error`]: crate::Event::Error
    CloseTorrent {
        /// The torrent.
        id: TorrentId,
        /// Whether to delete the downloaded files too.
        data: DataOnClose,
    },
    /// Connect to a peer for a torrent (a manual `ip:port`, no tracker needed).
    AddPeer {
        /// The torrent.
        id: TorrentId,
        /// The peer's listening address.
        addr: SocketAddr,
    },
    /// Send a [`Event::Status`] for this torrent (or every torrent) now, without waiting for
    /// the tick.
    ///
    /// [`Event::Status`]: crate::Event::Status
    Status {
        /// One torrent, or `None` for all.
        id: Option<TorrentId>,
    },
    /// Send a [`Event::Status`] for this torrent now with its per-file progress and peer list
    /// filled in (Mainline's `fileinfo` and `spew`).
    ///
    /// [`Event::Status`]: crate::Event::Status
    Details {
        /// The torrent.
        id: TorrentId,
    },
    /// Pause a torrent: every peer is choked and our requests cancelled (connections stay
    /// open); its status says [`Activity::Paused`](crate::Activity::Paused). Answered by a
    /// status event.
    Pause {
        /// The torrent.
        id: TorrentId,
    },
    /// Resume a paused torrent, or one stopped by a storage error (full disk, read-only or
    /// missing files): the error is cleared, files are opened again and known peers are
    /// dialled; if the cause remains, the next disk access fails again with a new error
    /// event. Answered by a status event.
    Resume {
        /// The torrent.
        id: TorrentId,
    },
    /// Set the priority of each file (index `i` is the torrent's `i`-th real file, padding
    /// files not counted; files past the end keep theirs). `Skip` files are not downloaded.
    /// Answered by a [`Request::Details`]-style status event, or an error event if the list
    /// is longer than the torrent's file list.
    SetFilePriorities {
        /// The torrent.
        id: TorrentId,
        /// One priority per file.
        priorities: Vec<FilePriority>,
    },
    /// Set rate limits in bytes per second, `0` meaning unlimited: for one torrent (answered by
    /// a status event) or, with `id: None`, for the whole client (not answered). Limits apply
    /// to every byte read from or written to peer sockets; a torrent's traffic obeys both its
    /// own and the global limit.
    SetRateLimits {
        /// The torrent, or `None` for the global limits.
        id: Option<TorrentId>,
        /// Download limit (bytes per second, `0`: unlimited).
        down: u64,
        /// Upload limit (bytes per second, `0`: unlimited).
        up: u64,
    },
    /// Move the torrent's files to another save directory: the torrent is drained (every
    /// in-flight write finished), flushed and disconnected, its files renamed (or copied
    /// across file systems) under `to`, and it is reopened there with its resume data and
    /// settings (file priorities, sequential order, rate, seed and connection limits).
    /// Answered by [`Event::Moved`](crate::Event::Moved); on failure an error event names the
    /// file and the torrent carries on in its old place.
    MoveStorage {
        /// The torrent.
        id: TorrentId,
        /// The new save directory.
        to: PathBuf,
    },
    /// Hash every piece on disk again (also clears a storage error: pieces whose data went
    /// missing are then downloaded again): the torrent is flushed and disconnected, then
    /// reopened without its resume data (file priorities, sequential order, rate, seed and
    /// connection limits kept). Answered by a new [`Event::Checked`](crate::Event::Checked), or an
    /// error event if the id is unknown.
    Recheck {
        /// The torrent.
        id: TorrentId,
    },
    /// Stop seeding (pause) once the torrent, complete, has uploaded `ratio` times its wanted
    /// size in this session or seeded for `time`, whichever comes first; `None` for both
    /// clears the limits. Answered by a status event; reaching a limit sends
    /// [`Event::SeedLimitReached`](crate::Event::SeedLimitReached).
    SetSeedLimits {
        /// The torrent.
        id: TorrentId,
        /// Upload ratio limit.
        ratio: Option<f64>,
        /// Seeding time limit.
        time: Option<std::time::Duration>,
    },
    /// Set a connection limit: with `id: None`, the client's total
    /// ([`Config::max_connections`](crate::Config::max_connections), not answered); for one
    /// torrent, its own limit (`0`: back to
    /// [`Config::max_connections_per_torrent`](crate::Config::max_connections_per_torrent)),
    /// answered by a status event. Connections above a lowered limit are closed, newest
    /// first.
    SetConnectionLimits {
        /// The torrent, or `None` for the client's total.
        id: Option<TorrentId>,
        /// Most connections (`0` for a torrent: the client default; ignored globally).
        max: usize,
    },
    /// Switch between sequential (streaming) and rarest-first piece order. Answered by a
    /// status event.
    SetSequential {
        /// The torrent.
        id: TorrentId,
        /// `true`: lowest piece first.
        sequential: bool,
    },
    /// The DHT node's status, answered by [`Event::Dht`](crate::Event::Dht).
    DhtStatus,
}

impl Request {
    /// An add request with default options (save into the current directory) and no request id.
    #[must_use]
    pub fn add(source: TorrentSource) -> Self {
        Self::AddTorrent {
            request_id: None,
            source,
            options: AddOptions::default(),
        }
    }
}

/// Where the metainfo of an added torrent comes from.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TorrentSource {
    /// The raw bytes of a `.torrent` file.
    Bytes(Vec<u8>),
    /// A `.torrent` file on disk (read on the network thread, at most 10 MB).
    Path(PathBuf),
    /// An `http://` or `https://` URL of a `.torrent` (fetched on a worker thread, at most
    /// 10 MB; redirects, gzip and [`crate::Config::extra_root_certs`] apply).
    Url(String),
    /// A `magnet:` link with a v1 info-hash. The add is answered at once (named after `dn`, or
    /// the hex info-hash); the metadata is then fetched from peers over BEP 9 and the torrent
    /// starts. Peers come from the link's `x.pe` and `tr` trackers, [`AddOptions::peers`] and
    /// [`Request::AddPeer`], peer exchange, and the DHT when [`crate::Config::dht`] is on (a
    /// bare `magnet:?xt=urn:btih:…` then suffices). A metainfo kept from an earlier fetch (next
    /// to the resume data) is used instead of asking peers again.
    Magnet(String),
}

impl TorrentSource {
    /// Guesses the kind of a command-line argument: `magnet:`, `http(s)://`, else a path.
    #[must_use]
    pub fn from_arg(arg: &str) -> Self {
        if arg.starts_with("magnet:") {
            Self::Magnet(arg.to_owned())
        } else if arg.starts_with("http://") || arg.starts_with("https://") {
            Self::Url(arg.to_owned())
        } else {
            Self::Path(PathBuf::from(arg))
        }
    }
}

impl fmt::Debug for TorrentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Self::Path(p) => write!(f, "Path({})", p.display()),
            Self::Url(u) => write!(f, "Url({u})"),
            Self::Magnet(m) => write!(f, "Magnet({m})"),
        }
    }
}

/// Options for one added torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddOptions {
    /// The directory the torrent's file or folder is placed in (default `.`).
    pub save_dir: PathBuf,
    /// Peers to connect to straight away (as if sent with [`Request::AddPeer`]).
    pub peers: Vec<SocketAddr>,
    /// Whether to announce to the torrent's trackers (default yes).
    pub trackers: UseTrackers,
    /// For a magnet link: download once the metadata is in (the default), or stop there.
    pub after_metadata: AfterMetadata,
}

impl Default for AddOptions {
    fn default() -> Self {
        Self {
            save_dir: PathBuf::from("."),
            peers: Vec::new(),
            trackers: UseTrackers::Announce,
            after_metadata: AfterMetadata::Download,
        }
    }
}

impl AddOptions {
    /// Options saving into `dir`.
    #[must_use]
    pub fn save_to(dir: impl Into<PathBuf>) -> Self {
        Self {
            save_dir: dir.into(),
            ..Self::default()
        }
    }

    /// Adds a peer to connect to at start.
    #[must_use]
    pub fn with_peer(mut self, addr: SocketAddr) -> Self {
        self.peers.push(addr);
        self
    }

    /// Sets what a magnet link does once its metadata is in.
    #[must_use]
    pub fn with_after_metadata(mut self, after: AfterMetadata) -> Self {
        self.after_metadata = after;
        self
    }

    /// Sets whether trackers are used.
    #[must_use]
    pub fn with_trackers(mut self, trackers: UseTrackers) -> Self {
        self.trackers = trackers;
        self
    }
}

/// What a torrent added as a magnet link does once its metadata arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterMetadata {
    /// Become a normal torrent and download.
    #[default]
    Download,
    /// Report [`Event::MetadataReceived`](crate::Event::MetadataReceived), then close
    /// ([`Event::Closed`](crate::Event::Closed)) without creating any file.
    Stop,
}

/// Whether a torrent announces to its trackers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UseTrackers {
    /// Announce to the trackers in the metainfo.
    #[default]
    Announce,
    /// Never contact a tracker (manual peers only).
    Never,
}

/// What happens to downloaded files when a torrent is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataOnClose {
    /// Leave the files (and write resume data).
    #[default]
    Keep,
    /// Delete the torrent's files (and its resume data).
    Delete,
}

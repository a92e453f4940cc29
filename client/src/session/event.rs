//! The outbox: what the client reports ([`Event`]), with the status record ([`TorrentStatus`]).
//!
//! # Ordering guarantees
//!
//! - Every [`Request::AddTorrent`](crate::Request::AddTorrent) gets exactly one reply
//!   ([`Event::TorrentAdded`], [`Event::AlreadyDownloading`] or [`Event::StartFailed`]), and
//!   the replies come in the order the add requests were sent, even when an earlier one has to
//!   fetch a URL first.
//! - For one torrent: `TorrentAdded` comes first; [`Event::Checked`] comes once (and once more
//!   after each [`Request::Recheck`](crate::Request::Recheck)), after the check of existing
//!   data and before any [`Event::Completed`]; `Completed` comes at most once per add;
//!   [`Event::Closed`] is the last event for that id.
//! - On every tick the client sends one [`Event::Status`] per open torrent, in id order.
//! - Nothing is sent after the client's `signal`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use freshet_engine::FilePriority;
use freshet_metainfo::InfoHashV1;

use super::dht::DhtStatus;
use super::request::{RequestId, TorrentId};

/// A message from the client's outbox.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// An add request succeeded: the torrent has its id and is being checked or downloaded.
    TorrentAdded {
        /// The caller's request id, echoed.
        request_id: Option<RequestId>,
        /// The new torrent's id.
        id: TorrentId,
        /// The torrent's name (for a magnet link: its `dn`, or the hex info-hash, until the
        /// metadata arrives).
        name: String,
        /// Where its file or folder lives (`save_dir/name`).
        save_path: PathBuf,
        /// Its v1 info-hash (or the truncated v2 hash).
        info_hash: InfoHashV1,
    },
    /// An add request named a torrent that is already open under `id`.
    AlreadyDownloading {
        /// The caller's request id, echoed.
        request_id: Option<RequestId>,
        /// The id of the torrent already open.
        id: TorrentId,
    },
    /// An add request failed (unreadable file, undecodable metainfo, unsupported source...).
    StartFailed {
        /// The caller's request id, echoed.
        request_id: Option<RequestId>,
        /// Why, for a person.
        reason: String,
    },
    /// The check of existing data finished; from now on the torrent downloads or seeds.
    Checked {
        /// The torrent.
        id: TorrentId,
        /// Bytes of wanted data already present and verified.
        have_bytes: u64,
        /// Whether everything wanted is present (the torrent seeds).
        complete: bool,
    },
    /// Periodic (every tick) or requested status of one torrent.
    Status(TorrentStatus),
    /// A magnet link's metadata arrived from peers and matched its info-hash. Comes before the
    /// torrent's `Checked` (or, with [`AfterMetadata::Stop`](crate::AfterMetadata::Stop),
    /// just before its `Closed`).
    MetadataReceived {
        /// The torrent.
        id: TorrentId,
        /// A `.torrent` file: the fetched info dictionary verbatim, with the magnet's
        /// trackers as `announce`/`announce-list`.
        torrent: Vec<u8>,
    },
    /// Every wanted piece is downloaded and verified (sent once, not for torrents that were
    /// complete when added).
    Completed {
        /// The torrent.
        id: TorrentId,
    },
    /// A close request finished: the torrent is gone.
    Closed {
        /// The torrent.
        id: TorrentId,
    },
    /// A [`Request::MoveStorage`](crate::Request::MoveStorage) finished: the torrent now
    /// lives at `save_path`.
    Moved {
        /// The torrent.
        id: TorrentId,
        /// Its new file or folder.
        save_path: PathBuf,
    },
    /// A seed limit set with [`Request::SetSeedLimits`](crate::Request::SetSeedLimits) was
    /// reached: the torrent is paused.
    SeedLimitReached {
        /// The torrent.
        id: TorrentId,
        /// Uploaded bytes (since added) over wanted bytes.
        ratio: f64,
        /// How long it seeded.
        seeded_for: Duration,
    },
    /// Something went wrong for a torrent (or for a request naming an unknown torrent).
    Error {
        /// The torrent (or the unknown id that was named).
        id: TorrentId,
        /// What failed.
        what: String,
        /// Where: a file path, a tracker URL or a request name.
        location: String,
    },
    /// The DHT node's status, answering [`Request::DhtStatus`](crate::Request::DhtStatus)
    /// (`None`: the DHT is off).
    Dht(Option<DhtStatus>),
}

impl Event {
    /// The torrent this event is about, if any.
    #[must_use]
    pub fn torrent(&self) -> Option<TorrentId> {
        match self {
            Self::TorrentAdded { id, .. }
            | Self::AlreadyDownloading { id, .. }
            | Self::Checked { id, .. }
            | Self::Completed { id }
            | Self::MetadataReceived { id, .. }
            | Self::Closed { id }
            | Self::SeedLimitReached { id, .. }
            | Self::Moved { id, .. }
            | Self::Error { id, .. } => Some(*id),
            Self::Status(s) => Some(s.id),
            Self::StartFailed { .. } | Self::Dht(_) => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TorrentAdded { id, save_path, .. } => {
                write!(f, "New torrent {id} created in {}", save_path.display())
            }
            Self::AlreadyDownloading { id, .. } => write!(f, "Torrent {id} already downloading"),
            Self::StartFailed { reason, .. } => write!(f, "Torrent start failed: {reason}"),
            Self::Checked { id, complete, .. } => {
                if *complete {
                    write!(f, "Torrent {id} checked: complete, seeding")
                } else {
                    write!(f, "Torrent {id} checked: downloading")
                }
            }
            Self::Status(s) => write!(f, "{s}"),
            Self::Completed { id } => write!(f, "Torrent {id} completed"),
            Self::MetadataReceived { id, torrent } => {
                write!(
                    f,
                    "Torrent {id} metadata received ({} bytes)",
                    torrent.len()
                )
            }
            Self::Closed { id } => write!(f, "Torrent {id} closed"),
            Self::Moved { id, save_path } => {
                write!(f, "Torrent {id} moved to {}", save_path.display())
            }
            Self::SeedLimitReached { id, ratio, .. } => {
                write!(
                    f,
                    "Torrent {id} reached its seed limit (ratio {ratio:.2}), paused"
                )
            }
            Self::Error { id, what, location } => {
                write!(f, "Torrent {id} error: {what} ({location})")
            }
            Self::Dht(None) => f.write_str("DHT off"),
            Self::Dht(Some(d)) => write!(f, "{d}"),
        }
    }
}

/// What a torrent is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Activity {
    /// A magnet link: fetching the torrent's metadata from peers.
    FetchingMetadata,
    /// Verifying existing data.
    Checking,
    /// Fetching missing pieces.
    Downloading,
    /// Complete; serving others.
    Seeding,
    /// Paused by the user (no connections).
    Paused,
    /// Stopped: closing.
    Stopped,
    /// Stopped by a storage error (see [`TorrentStatus::error`]); `Request::Resume` or
    /// `Request::Recheck` restarts it.
    Error,
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FetchingMetadata => "fetching metadata",
            Self::Checking => "checking",
            Self::Downloading => "downloading",
            Self::Seeding => "seeding",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
            Self::Error => "error",
        })
    }
}

/// The state of a torrent's trackers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrackerState {
    /// The torrent has no trackers or trackers are off for it.
    None,
    /// No announce has finished yet.
    Announcing,
    /// The last announce succeeded.
    Working,
    /// The last announce failed (see [`TorrentStatus::tracker_error`]).
    Failing,
}

impl fmt::Display for TrackerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Announcing => "announcing",
            Self::Working => "working",
            Self::Failing => "failing",
        })
    }
}

/// A snapshot of one torrent (what Mainline reported, and a little more).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TorrentStatus {
    /// The torrent.
    pub id: TorrentId,
    /// Its name.
    pub name: String,
    /// What it is doing.
    pub activity: Activity,
    /// Fraction of wanted bytes present and verified, `0.0..=1.0` (while checking: the fraction
    /// of the data checked so far; while fetching metadata: the fraction of it received).
    pub fraction_done: f64,
    /// Wanted bytes present and verified.
    pub have_bytes: u64,
    /// Wanted bytes in total.
    pub wanted_bytes: u64,
    /// Payload download rate, bytes per second.
    pub down_rate: u64,
    /// Payload upload rate, bytes per second.
    pub up_rate: u64,
    /// Payload bytes received since the torrent was added.
    pub downloaded: u64,
    /// Payload bytes sent since the torrent was added.
    pub uploaded: u64,
    /// Estimated time to completion at the current rate (`None` when unknown or complete).
    pub eta: Option<Duration>,
    /// Peers connected (handshake done).
    pub peers: u32,
    /// Of those, peers that have every piece.
    pub seeds: u32,
    /// Seeds in the swarm according to the tracker.
    pub swarm_seeds: Option<u32>,
    /// Leechers in the swarm according to the tracker.
    pub swarm_leechers: Option<u32>,
    /// Distributed copies: how many complete copies the connected peers (and we) hold.
    pub distributed_copies: f64,
    /// Tracker state.
    pub tracker: TrackerState,
    /// The last tracker error, if any.
    pub tracker_error: Option<String>,
    /// While [`Activity::Error`]: what stopped the torrent (the text of the last
    /// [`Event::Error`], e.g. `write failed: no space left on device (os error 28)`).
    pub error: Option<String>,
    /// Per-file progress (real files, padding left out). Empty except in the reply to
    /// [`Request::Details`](crate::Request::Details).
    pub files: Vec<FileProgress>,
    /// The connected peers. Empty except in the reply to
    /// [`Request::Details`](crate::Request::Details).
    pub peer_list: Vec<PeerSummary>,
}

/// Progress of one file of a torrent (Mainline's `fileinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileProgress {
    /// Path relative to the save directory (the torrent name first for multi-file
    /// torrents), `/`-separated.
    pub path: String,
    /// File length in bytes.
    pub length: u64,
    /// Bytes of the file inside verified pieces.
    pub have_bytes: u64,
    /// Its download priority.
    pub priority: FilePriority,
}

/// One connected peer (Mainline's `spew`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerSummary {
    /// The peer's address.
    pub addr: Option<SocketAddr>,
    /// Client name and version parsed from its peer id (`None`: unknown convention).
    pub client: Option<String>,
    /// Bytes per second received from it.
    pub down_rate: u64,
    /// Bytes per second sent to it.
    pub up_rate: u64,
    /// Pieces it has.
    pub pieces: u32,
    /// We choke it.
    pub am_choking: bool,
    /// We are interested in it.
    pub am_interested: bool,
    /// It chokes us.
    pub peer_choking: bool,
    /// It is interested in us.
    pub peer_interested: bool,
    /// It sent nothing we asked for in a while.
    pub snubbed: bool,
}

impl TorrentStatus {
    /// The fraction done as a whole percentage (rounded down, 100 only when complete).
    #[must_use]
    pub fn percent(&self) -> u32 {
        // fraction_done is clamped to 0..=1, so this fits.
        (self.fraction_done.clamp(0.0, 1.0) * 100.0).floor() as u32
    }
}

impl fmt::Display for TorrentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Torrent {} status : {}%", self.id, self.percent())
    }
}

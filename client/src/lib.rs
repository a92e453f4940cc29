//! The Freshet client: the `TorrentClient` component and the `freshet` binary's building blocks.
//!
//! [`TorrentClient::spawn`] starts a component in the shape of Kamaelia's `TorrentClient`: one
//! `mio` network thread (listeners, peer sockets, UDP tracker traffic) plus a disk I/O pool and
//! a hashing pool, talked to only through four `crossbeam-channel` boxes on the returned
//! [`ClientHandle`]: the inbox ([`Request`]), the outbox ([`Event`]), control ([`Control`]) and
//! signal ([`ShutdownComplete`], sent once everything is flushed). The protocol logic lives in the
//! sans-I/O crates below (`freshet-engine` drives each torrent, `freshet-tracker` announces);
//! this crate owns the sockets, threads, files and clocks. [`commands`] has the `download`,
//! `seed`, `demo` and `daemon` entry points; [`tracker_server`] the embedded tracker;
//! [`TorrentMaker`] a second component that makes `.torrent` files (Kamaelia's
//! `TIPCMakeTorrent`). With [`Config::state_dir`] the client keeps its torrents across runs.
//!
//! ```text
//!  inbox ──Request──▶ ┌──────────────────────┐ ──jobs──▶ disk pool / hash pool
//!  control ─────────▶ │ network thread (mio) │ ◀─done──  (completions wake it)
//!  outbox ◀──Event─── │ torrents · peers     │ ◀──────▶ peers (TCP), trackers
//!  signal ◀── once ── └──────────────────────┘
//! ```
//!
//! Every add request gets exactly one reply, in request order:
//!
//! ```
//! use std::time::Duration;
//! use freshet_client::{Config, Event, Request, RequestId, TorrentClient, TorrentSource};
//!
//! let client = TorrentClient::spawn(Config::default().listen_on("127.0.0.1:0".parse()?))?;
//! client.send(Request::AddTorrent {
//!     request_id: Some(RequestId(7)),
//!     source: TorrentSource::Bytes(b"not a torrent".to_vec()),
//!     options: Default::default(),
//! })?;
//! let reply = client.next_event(Duration::from_secs(30))?;
//! assert!(matches!(reply, Event::StartFailed { request_id: Some(RequestId(7)), .. }));
//! assert!(reply.to_string().starts_with("Torrent start failed"));
//! client.shutdown()?;
//! client.signal().recv_timeout(Duration::from_secs(30))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod tracker_server;

pub mod commands;

mod maker;
pub use maker::{
    MAX_PIECE_SIZE_LOG2, MIN_PIECE_SIZE_LOG2, MakeError, MakeTorrent, MakerControl, MakerHandle,
    MakerReply, TorrentMaker, make,
};

/// File download priorities (from `freshet-engine`), for [`Request::SetFilePriorities`].
pub use freshet_engine::FilePriority;

mod session;
pub use session::{
    Activity, AddOptions, AfterMetadata, ClientGone, ClientHandle, Config, Control, DataOnClose,
    DhtConfig, DhtStatus, Event, FileProgress, LookupReport, Patron, PeerSummary, Request,
    RequestId, ShutdownComplete, TorrentClient, TorrentId, TorrentSource, TorrentStatus,
    TrackerState, UseTrackers, WakingSender,
};

//! The Freshet client library.
pub mod tracker_server;

pub mod commands;

mod session;
pub use session::{
    Activity, AddOptions, ClientGone, ClientHandle, Config, Control, DataOnClose, Event, Request,
    RequestId, ShutdownComplete, TorrentClient, TorrentId, TorrentSource, TorrentStatus,
    TrackerState, UseTrackers, WakingSender,
};

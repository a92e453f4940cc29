//! Entry points for the `freshet download`, `seed` and `demo` subcommands, with clap-free
//! option structs, built on the [`TorrentClient`](crate::TorrentClient) component's boxes.
//!
//! Each command returns a summary or a [`CommandError`] whose [`CommandError::exit_code`] the
//! binary uses. Ctrl-C: pass the flag from [`ctrl_c_flag`] (or your own) in the options; when it
//! is set the command shuts the client down cleanly (resume data written) and returns
//! [`CommandError::Interrupted`].

mod daemon;
mod demo;
mod dht;
mod download;
mod output;
mod seed;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use daemon::{DaemonOptions, daemon, default_state_dir};
pub use demo::{DemoOptions, DemoReport, demo};
pub use dht::{DhtNodeOptions, dht_node};
pub use download::{DownloadOptions, DownloadReport, download};
pub use output::{OutputMode, event_json};
pub use seed::{SeedOptions, SeedPathOptions, seed, seed_path};

use crate::{ClientHandle, Event};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// A torrent could not be started (bad file, bad metainfo, unsupported source...).
    #[error("cannot start {source_name}: {reason}")]
    StartFailed {
        /// The torrent argument.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// A running torrent failed.
    #[error("torrent {id}: {what} ({location})")]
    Torrent {
        /// The torrent id.
        id: u64,
        /// What failed.
        what: String,
        /// Where.
        location: String,
    },
    /// The data to seed is not complete.
    #[error("{name}: only {have} of {total} bytes are present and valid in {dir}")]
    Incomplete {
        /// Torrent name.
        name: String,
        /// Verified bytes.
        have: u64,
        /// Bytes in the torrent.
        total: u64,
        /// Where it looked.
        dir: String,
    },
    /// Creating a torrent or sample data failed.
    #[error("{0}")]
    Create(String),
    /// Downloaded data differs from the original (demo).
    #[error("verification failed: {0}")]
    Verify(String),
    /// A local I/O error (binding the listen address, temporary files...).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Stopped by Ctrl-C (after a clean shutdown).
    #[error("interrupted")]
    Interrupted,
    /// The client stopped unexpectedly.
    #[error("the torrent client stopped unexpectedly")]
    ClientGone,
}

impl CommandError {
    /// The process exit code: 130 interrupted, 2 bad input, 1 other failures.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Interrupted => 130,
            Self::StartFailed { .. } | Self::Incomplete { .. } => 2,
            _ => 1,
        }
    }

    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

impl From<crate::ClientGone> for CommandError {
    fn from(_: crate::ClientGone) -> Self {
        Self::ClientGone
    }
}

/// A flag set when the process receives Ctrl-C (SIGINT), installed once per process.
///
/// # Errors
/// The handler could not be installed (another one is already set).
pub fn ctrl_c_flag() -> Result<Arc<AtomicBool>, CommandError> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    if let Some(f) = FLAG.get() {
        return Ok(Arc::clone(f));
    }
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    ctrlc::set_handler(move || f.store(true, Ordering::SeqCst)).map_err(|e| CommandError::Io {
        what: "installing the Ctrl-C handler".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(Arc::clone(FLAG.get_or_init(|| flag)))
}

/// How often a command looks at its interrupt flag while waiting for events.
const POLL: Duration = Duration::from_millis(200);
/// How long a command waits for the client's shutdown signal.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// Waits for the next event, checking `interrupt` every [`POLL`]. `Ok(None)`: interrupted.
fn next_event(
    client: &ClientHandle,
    interrupt: Option<&AtomicBool>,
) -> Result<Option<Event>, CommandError> {
    loop {
        if interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) {
            return Ok(None);
        }
        match client.next_event(POLL) {
            Ok(e) => return Ok(Some(e)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(CommandError::ClientGone);
            }
        }
    }
}

/// Shuts the client down and waits (bounded) for its signal.
fn shutdown(client: ClientHandle) {
    if client.shutdown().is_ok() {
        let _ = client.signal().recv_timeout(SHUTDOWN_WAIT);
    }
    client.join();
}

/// Human-readable size (binary units).
#[must_use]
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

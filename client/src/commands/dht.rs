//! `freshet dht --listen ADDR:PORT [--bootstrap HOST:PORT]… [--seconds N] [--json]`: a
//! standalone DHT node (a client component with no torrents and no peer listener) that prints
//! its routing-table statistics periodically.

#![allow(clippy::disallowed_methods)] // A command owns the clock.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::output::{OutputMode, event_json};
use super::{CommandError, shutdown};
use crate::{Config, DhtConfig, DhtStatus, Event, Request, TorrentClient};

/// Options of `freshet dht`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DhtNodeOptions {
    /// UDP address of the node (`--listen`).
    pub listen: SocketAddr,
    /// Bootstrap nodes as `HOST:PORT` (`--bootstrap`; none: the node waits to be contacted,
    /// as a router of a private network does).
    pub bootstrap: Vec<String>,
    /// Stop after this long (`--seconds`; `None`: until interrupted).
    pub duration: Option<Duration>,
    /// Time between two statistics lines.
    pub every: Duration,
    /// Text lines or JSON objects (`--json`).
    pub output_mode: OutputMode,
    /// Keep the node id and routing table here across runs (`--state-dir`).
    pub state_dir: Option<PathBuf>,
    /// Set by a Ctrl-C handler: stop cleanly.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl DhtNodeOptions {
    /// A node on `listen` with no bootstrap nodes, printing every 5 s until interrupted.
    #[must_use]
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            bootstrap: Vec::new(),
            duration: None,
            every: Duration::from_secs(5),
            output_mode: OutputMode::Auto,
            state_dir: None,
            interrupt: None,
        }
    }
}

/// Runs the node, printing its status every `opts.every` (and once at the end); returns the
/// last status.
///
/// # Errors
/// The UDP address cannot be bound, or the client stopped.
pub fn dht_node(opts: &DhtNodeOptions) -> Result<DhtStatus, CommandError> {
    let mut config = Config::default().with_tick(Duration::from_secs(3600));
    config.listen = Vec::new();
    config.disk_threads = 1;
    config.hash_threads = 1;
    config.state_dir.clone_from(&opts.state_dir);
    let mut dht = DhtConfig::default().with_bootstrap(opts.bootstrap.clone());
    dht.listen = vec![opts.listen];
    config.dht = Some(dht);
    let client = TorrentClient::spawn(config).map_err(CommandError::io("starting the DHT node"))?;
    if client.dht_addrs().is_empty() {
        shutdown(client);
        return Err(CommandError::Io {
            what: format!("binding UDP {}", opts.listen),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        });
    }
    let start = Instant::now();
    let end = opts.duration.map(|d| start + d);
    let last = loop {
        let status = ask_status(&client)?;
        print(opts.output_mode, start, &status);
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break status;
        }
        let wake = end.map_or(now + opts.every, |e| e.min(now + opts.every));
        if !sleep_until(wake, opts.interrupt.as_deref()) {
            break status;
        }
    };
    shutdown(client);
    Ok(last)
}

/// Asks the client for its DHT status and waits for the answer (other events are skipped).
fn ask_status(client: &crate::ClientHandle) -> Result<DhtStatus, CommandError> {
    client.send(Request::DhtStatus)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match client.next_event(Duration::from_millis(200)) {
            Ok(Event::Dht(Some(s))) => return Ok(s),
            Ok(Event::Dht(None)) => return Err(CommandError::ClientGone),
            Ok(_) | Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    Err(CommandError::ClientGone)
}

fn print(mode: OutputMode, start: Instant, status: &DhtStatus) {
    let secs = start.elapsed().as_secs();
    match mode {
        OutputMode::Json => {
            let mut v = event_json(&Event::Dht(Some(status.clone())));
            v["secs"] = secs.into();
            println!("{v}");
        }
        _ => println!("[{secs:>4} s] {status}"),
    }
}

/// Sleeps until `until`, checking `interrupt`; `false` when interrupted.
fn sleep_until(until: Instant, interrupt: Option<&AtomicBool>) -> bool {
    loop {
        if interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(200)));
    }
}

//! The `TorrentClient` component: a network thread plus disk and hashing pools, talked to
//! through four crossbeam-channel boxes, as in Kamaelia.
//!
//! ```text
//!   ClientHandle                       network thread (mio)                pools
//!   ------------                       --------------------                -----
//!   inbox   ──Request──▶ (waker) ──▶  requests, listener, peers,  ──jobs──▶ disk I/O
//!   control ──Control──▶ (waker) ──▶  torrents, tick, trackers    ◀─done──  hashing
//!   outbox  ◀──Event────────────────  (status every tick)          (waker)   resume writer
//!   signal  ◀──ShutdownComplete─────  (once, after flush + resume data)
//! ```
//!
//! The network thread owns every torrent; nothing is shared behind locks. Requests and disk
//! completions wake it at once through a [`mio::Waker`], so there is no tick latency.

mod budget;
mod conn;
mod dht;
mod driver;
mod event;
mod evict;
mod fetch;
mod handover;
mod http;
mod limit;
mod meta;
mod patron;
mod pools;
mod request;
mod resume;
mod seeding;
mod settings;
mod state;
mod torrent;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, SendError, Sender};
use mio::Waker;

pub use dht::{DhtConfig, DhtStatus, LookupReport};
pub use patron::Patron;

pub use event::{Activity, Event, FileProgress, PeerSummary, TorrentStatus, TrackerState};
pub use request::{
    AddOptions, AfterMetadata, DataOnClose, Request, RequestId, TorrentId, TorrentSource,
    UseTrackers,
};

/// Settings of one client component.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Addresses to accept peers on (IPv4 and/or IPv6; port 0 = any free port). Default
    /// `0.0.0.0:0`. The first one's port is the one announced to trackers.
    pub listen: Vec<SocketAddr>,
    /// How often a status event is sent for every torrent (default 5 s).
    pub tick_interval: Duration,
    /// Most peer connections in total (default 200).
    pub max_connections: usize,
    /// Most peer connections per torrent (default 50).
    pub max_connections_per_torrent: usize,
    /// Threads doing file reads and writes (default 2).
    pub disk_threads: usize,
    /// Threads hashing pieces (default: the number of cores).
    pub hash_threads: usize,
    /// Where resume data is kept; `None`: `.freshet/` in each torrent's save directory
    /// (see the `resume` module docs for the format).
    pub resume_dir: Option<PathBuf>,
    /// How often resume data of changed torrents is written (default 30 s).
    pub resume_interval: Duration,
    /// Longest time shutdown waits for disk jobs and `stopped` announces (default 10 s).
    pub shutdown_timeout: Duration,
    /// A keep-alive is sent to a peer we have sent nothing to for this long (default 90 s;
    /// checked once a second).
    pub keepalive_interval: Duration,
    /// A peer that sent nothing (not even a keep-alive) for this long is dropped (default
    /// 180 s).
    pub peer_idle_timeout: Duration,
    /// The session's state directory (default `None`: nothing persisted). When set, every
    /// open torrent's metainfo, options and resume data are kept there and restored on the
    /// next start (see the `state` module docs for the layout); it is also the resume
    /// directory unless [`Config::resume_dir`] is set.
    pub state_dir: Option<PathBuf>,
    /// Global download limit in bytes per second (`0`, the default: unlimited); change it
    /// later with [`Request::SetRateLimits`].
    pub max_download_rate: u64,
    /// Global upload limit in bytes per second (`0`, the default: unlimited).
    pub max_upload_rate: u64,
    /// Extra CA certificates (DER) trusted for `https://` trackers and `.torrent` URLs, on top
    /// of Mozilla's root certificates (default: none). For private trackers with their own CA
    /// and for tests; certificate verification itself cannot be turned off.
    pub extra_root_certs: Vec<Vec<u8>>,
    /// Largest info dictionary fetched for a magnet link (BEP 9); a peer announcing more is
    /// dropped and nothing is allocated for it (default 16 MiB).
    pub max_metadata_size: u32,
    /// Least time between two peer-exchange (BEP 11 `ut_pex`) messages to one peer (default
    /// 60 s, the BEP's minimum; shorter only for tests). Private torrents never exchange peers.
    pub pex_interval: Duration,
    /// The BEP 5 DHT node (default: on, bound like the peer listeners, with NO bootstrap
    /// routers: it only learns nodes from `port` messages and nodes that contact it). `None`
    /// turns the DHT off: no UDP socket, no DHT bit in handshakes. Private torrents (BEP 27)
    /// never use it. With a [`Config::state_dir`], the routing table is saved there on
    /// shutdown and restored on start.
    pub dht: Option<DhtConfig>,
    /// Most bytes of received data queued for writing and hashing (default 16 MiB). Above it
    /// the client stops reading from peers until the disk and hashers catch up, which bounds
    /// memory when they lag behind the network.
    pub max_queued_receive_bytes: usize,
    /// Most bytes of blocks being read from disk for uploads at once (default 8 MiB); further
    /// requested blocks wait (as a few bytes each) until reads complete.
    pub max_queued_read_bytes: usize,
    /// A connection that has not completed its handshake after this long is dropped (default
    /// 15 s; checked once a second).
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 0))],
            tick_interval: Duration::from_secs(5),
            max_connections: 200,
            max_connections_per_torrent: 50,
            disk_threads: 2,
            hash_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            resume_dir: None,
            resume_interval: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(90),
            peer_idle_timeout: Duration::from_secs(180),
            state_dir: None,
            max_download_rate: 0,
            max_upload_rate: 0,
            extra_root_certs: Vec::new(),
            max_metadata_size: freshet_engine::DEFAULT_MAX_METADATA_SIZE,
            pex_interval: Duration::from_secs(60),
            dht: Some(DhtConfig::default()),
            max_queued_receive_bytes: 16 * 1024 * 1024,
            max_queued_read_bytes: 8 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(15),
        }
    }
}

impl Config {
    /// Listens on `addr` only.
    #[must_use]
    pub fn listen_on(mut self, addr: SocketAddr) -> Self {
        self.listen = vec![addr];
        self
    }

    /// Sets the tick interval.
    #[must_use]
    pub fn with_tick(mut self, tick: Duration) -> Self {
        self.tick_interval = tick;
        self
    }

    /// Also trusts the CA certificate `der` (DER-encoded) for `https://` URLs.
    #[must_use]
    pub fn trust_root_cert(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_root_certs.push(der.into());
        self
    }

    /// Keeps the session's torrents in `dir` (see [`Config::state_dir`]).
    #[must_use]
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Turns the DHT on with `dht` (or off with `None`).
    #[must_use]
    pub fn with_dht(mut self, dht: Option<DhtConfig>) -> Self {
        self.dht = dht;
        self
    }

    /// Sets the resume directory.
    #[must_use]
    pub fn with_resume_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.resume_dir = Some(dir.into());
        self
    }
}

/// A message to the control box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// Stop: close every connection, flush every file, write resume data, tell trackers
    /// `stopped`, then send [`ShutdownComplete`] on the signal box. Add requests that arrive
    /// afterwards (or are still fetching a URL) are answered with `StartFailed`; other
    /// requests are ignored. Torrents closed by a shutdown get no `Closed` event. Dropping
    /// every inbox sender has the same effect.
    Shutdown,
}

/// Sent once on the signal box when the client has fully shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownComplete;

/// The client has shut down; the message could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the torrent client has shut down")]
pub struct ClientGone;

/// Spawns the component.
#[derive(Debug)]
pub struct TorrentClient;

impl TorrentClient {
    /// Binds the listeners, starts the network thread and the pools, and returns the handle
    /// holding the four boxes.
    ///
    /// # Errors
    /// A listener address cannot be bound, or a thread cannot be started.
    pub fn spawn(config: Config) -> std::io::Result<ClientHandle> {
        driver::spawn(config)
    }
}

/// A sender that wakes the network thread after each message, so it is handled at once.
pub struct WakingSender<T> {
    tx: Sender<T>,
    waker: Arc<Waker>,
}

impl<T> Clone for WakingSender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            waker: Arc::clone(&self.waker),
        }
    }
}

impl<T> fmt::Debug for WakingSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WakingSender")
    }
}

impl<T> WakingSender<T> {
    /// Sends `msg` and wakes the network thread.
    ///
    /// # Errors
    /// [`ClientGone`] once the client has shut down.
    pub fn send(&self, msg: T) -> Result<(), ClientGone> {
        self.tx.send(msg).map_err(|SendError(_)| ClientGone)?;
        self.waker.wake().map_err(|_| ClientGone)
    }
}

/// The caller's side of a running client: the inbox, outbox, control and signal boxes.
///
/// Dropping the handle shuts the client down (as [`Control::Shutdown`]) and waits for it.
pub struct ClientHandle {
    inbox: WakingSender<Request>,
    outbox: Receiver<Event>,
    control: WakingSender<Control>,
    signal: Receiver<ShutdownComplete>,
    listen_addrs: Vec<SocketAddr>,
    dht_addrs: Vec<SocketAddr>,
    thread: Option<JoinHandle<()>>,
    routes: patron::SharedRoutes,
}

impl fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandle")
            .field("listen_addrs", &self.listen_addrs)
            .finish_non_exhaustive()
    }
}

impl ClientHandle {
    /// The inbox (clone it to send from other threads).
    #[must_use]
    pub fn inbox(&self) -> &WakingSender<Request> {
        &self.inbox
    }

    /// Sends a request to the inbox.
    ///
    /// # Errors
    /// [`ClientGone`] once the client has shut down.
    pub fn send(&self, request: Request) -> Result<(), ClientGone> {
        self.inbox.send(request)
    }

    /// The outbox: every [`Event`], in order, except those routed to a [`Patron`].
    #[must_use]
    pub fn outbox(&self) -> &Receiver<Event> {
        &self.outbox
    }

    /// Waits up to `timeout` for the next event.
    ///
    /// # Errors
    /// `Timeout` if nothing came, `Disconnected` after shutdown.
    pub fn next_event(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.outbox.recv_timeout(timeout)
    }

    /// The control box.
    #[must_use]
    pub fn control(&self) -> &WakingSender<Control> {
        &self.control
    }

    /// Asks the client to shut down (see [`Control::Shutdown`]).
    ///
    /// # Errors
    /// [`ClientGone`] if it already has.
    pub fn shutdown(&self) -> Result<(), ClientGone> {
        self.control.send(Control::Shutdown)
    }

    /// The signal box: receives [`ShutdownComplete`] once.
    #[must_use]
    pub fn signal(&self) -> &Receiver<ShutdownComplete> {
        &self.signal
    }

    /// A new independent handle on this client: its own outbox carrying only the events of
    /// the torrents it adds (or asks for again), its add replies going to it alone. This
    /// handle's outbox keeps everything else. See [`Patron`].
    #[must_use]
    pub fn patron(&self) -> Patron {
        Patron::new(self.inbox.clone(), &self.routes)
    }

    /// The addresses the listeners are bound to (with the real ports when 0 was asked for).
    #[must_use]
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }

    /// The UDP addresses of the DHT node (empty when the DHT is off).
    #[must_use]
    pub fn dht_addrs(&self) -> &[SocketAddr] {
        &self.dht_addrs
    }

    /// Shuts down and waits for the network thread to end.
    pub fn join(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.control.send(Control::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

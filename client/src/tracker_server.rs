//! `freshet tracker`: the sockets around [`freshet_tracker::TrackerCore`].
//!
//! One thread runs a `mio` event loop over an HTTP listener (HTTP/1.1 with keep-alive, parsed
//! with `httparse`) and a UDP socket (BEP 15). All protocol decisions are in the sans-I/O core;
//! this file only moves bytes, reads the clock and enforces connection limits.
//!
//! ```no_run
//! use freshet_client::tracker_server::{TrackerServer, TrackerServerOptions};
//! let opts = TrackerServerOptions::new(
//!     Some("127.0.0.1:6969".parse().unwrap()),
//!     Some("127.0.0.1:6969".parse().unwrap()),
//! )
//! .with_interval(60);
//! let server = TrackerServer::spawn(opts).unwrap();
//! println!("serving on {:?}", server.local_addrs());
//! server.stop().unwrap();
//! ```

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use freshet_tracker::{
    AllowList, HttpStatus, ServerConfig, ServerLimits, ServerStats, TrackerCore,
};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

const WAKER: Token = Token(0);
const UDP: Token = Token(1);
const LISTENER: Token = Token(2);
const FIRST_CONN: usize = 3;
/// Largest HTTP request head accepted.
const MAX_REQUEST: usize = 8 * 1024;
/// Most datagrams or accepts handled per readiness event before looking at other sockets.
const BATCH: usize = 1024;

/// Settings of a tracker server (no clap types; the CLI builds one of these).
#[derive(Clone, Debug)]
pub struct TrackerServerOptions {
    /// Where to serve HTTP announce/scrape (`None`: no HTTP). Port 0 picks a free port.
    pub http: Option<SocketAddr>,
    /// Where to serve BEP 15 UDP (`None`: no UDP). `[::]` serves IPv4 and IPv6.
    pub udp: Option<SocketAddr>,
    /// Protocol settings: interval, numwant, allow list, per-IP and global limits.
    pub config: ServerConfig,
    /// Most simultaneous HTTP connections; more are refused.
    pub max_http_connections: usize,
    /// Idle HTTP connections are closed after this long.
    pub http_idle_timeout: Duration,
    /// Key for connection ids and peer sampling (`None`: random).
    pub seed: Option<[u8; 32]>,
}

impl TrackerServerOptions {
    /// Defaults (interval 1800 s, any torrent, 1024 HTTP connections) on the given addresses.
    pub fn new(http: Option<SocketAddr>, udp: Option<SocketAddr>) -> Self {
        Self {
            http,
            udp,
            config: ServerConfig::default(),
            max_http_connections: 1024,
            http_idle_timeout: Duration::from_secs(30),
            seed: None,
        }
    }

    /// Sets the announce interval in seconds (peers expire after twice that).
    pub fn with_interval(mut self, secs: u32) -> Self {
        self.config.interval = secs.max(1);
        self.config.min_interval = self.config.min_interval.min(self.config.interval);
        self
    }

    /// Restricts the server to these torrents.
    pub fn with_allow(mut self, allow: AllowList) -> Self {
        self.config.allow = allow;
        self
    }

    /// Sets the flood limits.
    pub fn with_limits(mut self, limits: ServerLimits) -> Self {
        self.config.limits = limits;
        self
    }
}

/// Where a running server listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalAddrs {
    /// The HTTP listener.
    pub http: Option<SocketAddr>,
    /// The UDP socket.
    pub udp: Option<SocketAddr>,
}

/// Stops a server from any thread (for signal handlers).
#[derive(Clone)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the server loop to exit.
    pub fn stop(&self) -> io::Result<()> {
        self.flag.store(true, Ordering::SeqCst);
        self.waker.wake()
    }
}

/// A tracker server running on its own thread.
pub struct TrackerServer {
    addrs: LocalAddrs,
    stop: StopHandle,
    stats: Arc<Mutex<ServerStats>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl TrackerServer {
    /// Binds the sockets (errors surface here) and starts serving on a new thread.
    pub fn spawn(opts: TrackerServerOptions) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listener = match opts.http {
            Some(a) => Some(TcpListener::bind(a)?),
            None => None,
        };
        let mut udp = match opts.udp {
            Some(a) => Some(UdpSocket::bind(a)?),
            None => None,
        };
        if let Some(l) = &mut listener {
            poll.registry().register(l, LISTENER, Interest::READABLE)?;
        }
        if let Some(u) = &mut udp {
            poll.registry().register(u, UDP, Interest::READABLE)?;
        }
        let addrs = LocalAddrs {
            http: listener.as_ref().map(|l| l.local_addr()).transpose()?,
            udp: udp.as_ref().map(|u| u.local_addr()).transpose()?,
        };
        let flag = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(ServerStats::default()));
        let mut lp = Loop {
            poll,
            listener,
            udp,
            conns: Vec::new(),
            live: 0,
            core: TrackerCore::new(
                opts.config.clone(),
                opts.seed.unwrap_or_else(random_seed),
                now(),
            ),
            opts,
            flag: flag.clone(),
            stats: stats.clone(),
            body: Vec::with_capacity(4096),
            reply: Vec::with_capacity(2048),
        };
        let thread = std::thread::Builder::new()
            .name("freshet-tracker".into())
            .spawn(move || lp.run())?;
        Ok(Self {
            addrs,
            stop: StopHandle { flag, waker },
            stats,
            thread: Some(thread),
        })
    }

    /// The bound addresses (useful with port 0).
    pub fn local_addrs(&self) -> LocalAddrs {
        self.addrs
    }

    /// A handle that can stop the server from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Counters (refreshed about once a second and at exit).
    pub fn stats(&self) -> ServerStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Blocks until the server exits (after a [`StopHandle::stop`] or an I/O error).
    pub fn wait(mut self) -> io::Result<()> {
        self.join()
    }

    /// Stops the server, waits for its thread and returns the final counters.
    pub fn stop(mut self) -> io::Result<ServerStats> {
        self.stop.stop()?;
        self.join()?;
        Ok(self.stats())
    }

    fn join(&mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("tracker server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for TrackerServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop.stop();
            let _ = self.join();
        }
    }
}

/// Runs a server until `shutdown` is set (checked at least every second). For the CLI.
pub fn run(opts: TrackerServerOptions, shutdown: &AtomicBool) -> io::Result<ServerStats> {
    let server = TrackerServer::spawn(opts)?;
    while !shutdown.load(Ordering::SeqCst) {
        std::thread::park_timeout(Duration::from_millis(200));
    }
    server.stop()
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    written: usize,
    close_after_write: bool,
    last_active: Instant,
}

struct Loop {
    poll: Poll,
    listener: Option<TcpListener>,
    udp: Option<UdpSocket>,
    conns: Vec<Option<Conn>>,
    live: usize,
    core: TrackerCore,
    opts: TrackerServerOptions,
    flag: Arc<AtomicBool>,
    stats: Arc<Mutex<ServerStats>>,
    body: Vec<u8>,
    reply: Vec<u8>,
}

impl Loop {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_sweep = now() + Duration::from_secs(1);
        // Edge-triggered readiness: sockets whose budget ran out are serviced again without
        // waiting for a new edge.
        let (mut more_udp, mut more_accept) = (false, false);
        loop {
            let t = now();
            let until = next_sweep.min(self.core.poll_timeout());
            let wait = if more_udp || more_accept {
                Duration::ZERO
            } else {
                until.saturating_duration_since(t)
            };
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.flag.load(Ordering::SeqCst) {
                self.publish_stats();
                return Ok(());
            }
            let (mut udp_ev, mut accept_ev) = (more_udp, more_accept);
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    UDP => udp_ev = true,
                    LISTENER => accept_ev = true,
                    Token(n) => self.conn_ready(n - FIRST_CONN),
                }
            }
            more_udp = udp_ev && self.udp_ready();
            more_accept = accept_ev && self.accept();
            let t = now();
            self.core.handle_timeout(t);
            if t >= next_sweep {
                self.sweep_idle(t);
                self.publish_stats();
                next_sweep = t + Duration::from_secs(1);
            }
        }
    }

    fn publish_stats(&self) {
        if let Ok(mut s) = self.stats.lock() {
            *s = self.core.stats();
        }
    }

    /// Handles up to [`BATCH`] datagrams; returns whether more may be waiting.
    fn udp_ready(&mut self) -> bool {
        let Some(sock) = &self.udp else { return false };
        let mut buf = [0u8; 2048];
        for _ in 0..BATCH {
            let (n, from) = match sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                // ICMP errors from earlier sends and the like: skip the datagram.
                Err(_) => continue,
            };
            if self
                .core
                .handle_udp(now(), from, &buf[..n], &mut self.reply)
            {
                // UDP is lossy anyway: a full send buffer drops the reply.
                let _ = sock.send_to(&self.reply, from);
            }
        }
        true
    }

    /// Accepts up to [`BATCH`] connections; returns whether more may be waiting.
    fn accept(&mut self) -> bool {
        for _ in 0..BATCH {
            let Some(listener) = &self.listener else {
                return false;
            };
            let (mut stream, peer) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => continue,
            };
            if self.live >= self.opts.max_http_connections {
                drop(stream); // refuse: over the connection limit
                continue;
            }
            let slot = match self.conns.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    self.conns.push(None);
                    self.conns.len() - 1
                }
            };
            if self
                .poll
                .registry()
                .register(&mut stream, Token(slot + FIRST_CONN), Interest::READABLE)
                .is_err()
            {
                continue;
            }
            let _ = stream.set_nodelay(true);
            self.conns[slot] = Some(Conn {
                stream,
                peer,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                written: 0,
                close_after_write: false,
                last_active: now(),
            });
            self.live += 1;
        }
        true
    }

    fn conn_ready(&mut self, slot: usize) {
        let Some(mut c) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if self.service(&mut c, Token(slot + FIRST_CONN)) {
            self.conns[slot] = Some(c);
        } else {
            let _ = self.poll.registry().deregister(&mut c.stream);
            self.live -= 1;
        }
    }

    /// Reads, answers complete requests, writes. Returns whether to keep the connection.
    fn service(&mut self, c: &mut Conn, token: Token) -> bool {
        c.last_active = now();
        // Read what is there (bounded by MAX_REQUEST of unanswered bytes).
        let mut buf = [0u8; 4096];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    c.close_after_write = true;
                    if c.outbuf.len() == c.written {
                        return false;
                    }
                    break;
                }
                Ok(n) => {
                    if c.inbuf.len() + n > MAX_REQUEST {
                        return false;
                    }
                    c.inbuf.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        // Answer every complete request (pipelining).
        while !c.close_after_write {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            let used = match req.parse(&c.inbuf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    self.write_head(c, 400, "Bad Request", "text/plain", b"bad request", true);
                    break;
                }
            };
            let keep_alive = match req.version {
                Some(1) => !has_token(req.headers, "connection", "close"),
                _ => has_token(req.headers, "connection", "keep-alive"),
            };
            let target = req.path.unwrap_or("/").to_owned();
            let is_get = req.method == Some("GET");
            c.inbuf.drain(..used);
            if !is_get {
                self.write_head(
                    c,
                    405,
                    "Method Not Allowed",
                    "text/plain",
                    b"GET only",
                    true,
                );
                break;
            }
            let status = self
                .core
                .handle_http(now(), c.peer, &target, &mut self.body);
            let body = std::mem::take(&mut self.body);
            self.write_head(
                c,
                status.code(),
                status.reason(),
                status.content_type(),
                &body,
                !keep_alive,
            );
            self.body = body;
            if status == HttpStatus::Busy {
                c.close_after_write = true;
            }
        }
        // Write.
        while c.written < c.outbuf.len() {
            match c.stream.write(&c.outbuf[c.written..]) {
                Ok(0) => return false,
                Ok(n) => c.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        let pending = c.written < c.outbuf.len();
        if !pending {
            c.outbuf.clear();
            c.written = 0;
            if c.close_after_write {
                return false;
            }
        }
        let interest = if pending {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.poll
            .registry()
            .reregister(&mut c.stream, token, interest)
            .is_ok()
    }

    fn write_head(
        &self,
        c: &mut Conn,
        code: u16,
        reason: &str,
        content_type: &str,
        body: &[u8],
        close: bool,
    ) {
        let _ = write!(
            c.outbuf,
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        c.outbuf.extend_from_slice(body);
        if close {
            c.close_after_write = true;
        }
    }

    fn sweep_idle(&mut self, t: Instant) {
        let idle = self.opts.http_idle_timeout;
        for slot in &mut self.conns {
            if slot
                .as_ref()
                .is_some_and(|c| t.saturating_duration_since(c.last_active) > idle)
            {
                if let Some(mut c) = slot.take() {
                    let _ = self.poll.registry().deregister(&mut c.stream);
                    self.live -= 1;
                }
            }
        }
    }
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case(name)
            && String::from_utf8_lossy(h.value)
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}

#[allow(clippy::disallowed_methods)] // the socket side reads the clock and hands it to the core
fn now() -> Instant {
    Instant::now()
}

/// A key nobody can predict: std's per-process random hash keys, mixed.
fn random_seed() -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(now().elapsed().as_nanos());
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

//! The network thread: one mio `Poll` driving listeners, peer sockets, the inbox, disk
//! completions, the tick and every torrent.
//!
//! Each loop iteration reads `now` once, waits for readiness (or the earliest timer), handles
//! socket events with a bounded amount of work per connection, drains the channels, runs the
//! timers, then drains every torrent's actions and flushes write buffers, setting each socket's
//! interest from its buffer state. A failing peer is logged and dropped; it never ends the loop.

#![allow(clippy::disallowed_methods)] // The client owns the clock: `Instant::now` is its job.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use freshet_engine::{FastExtension, MetadataConfig, PeerInfo, PeerKey};
use freshet_metainfo::{InfoHashV1, Magnet};
use freshet_peerwire::{Decoded, ExtendedHandshake, Handshake, HandshakeHead, PeerId, Reserved};
use freshet_tracker::{MAX_BODY, TrackerAction, TrackerIdx};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use super::budget::Budget;
use super::conn::{Conn, Direction, Phase, ReadOutcome, WRITE_HIGH_WATER};
use super::dht::{DHT4, DHT6, DhtNode, Need, Want};
use super::event::{Activity, Event, TorrentStatus, TrackerState};
use super::evict::{self, Candidate, Standing};
use super::fetch::{MetaFetch, Outcome};
use super::handover::Handover;
use super::limit::{self, Dir, Limits, MIN_GRANT};
use super::meta::{MAX_TORRENT_FILE, TorrentMeta, torrent_file_bytes};
use super::pools::{BatchWaker, Done, Job, Pools, ResumeJob};
use super::request::{
    AddOptions, AfterMetadata, DataOnClose, Request, RequestId, TorrentId, TorrentSource,
    UseTrackers,
};
use super::seeding::SeedLimits;
use super::settings::TorrentSettings;
use super::torrent::{Action, AnnounceIdentity, OUR_REQQ, Torrent};
use super::{ClientHandle, Config, Control, ShutdownComplete, WakingSender, http, resume, state};

mod carry;

const WAKER: Token = Token(0);
const UDP4: Token = Token(62);
const UDP6: Token = Token(63);
/// Handshake flags we send: BEP 6 fast extension, BEP 10 extension protocol, and BEP 5 DHT
/// when the node runs.
fn our_flags(dht: bool) -> Reserved {
    let flags = Reserved::FAST | Reserved::EXTENSION_PROTOCOL;
    if dht { flags | Reserved::DHT } else { flags }
}
/// A torrent with fewer peers than this looks for more in the DHT at the retry interval.
const DHT_SHORT_OF_PEERS: usize = 10;
const LISTENER_BASE: usize = 1;
const CONN_BASE: usize = 64;
const HOUSEKEEPING: Duration = Duration::from_secs(1);
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts the network thread; see [`super::TorrentClient::spawn`].
pub(super) fn spawn(mut config: Config) -> io::Result<ClientHandle> {
    if config.resume_dir.is_none() {
        config.resume_dir.clone_from(&config.state_dir);
    }
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut listeners = Vec::new();
    let mut listen_addrs = Vec::new();
    if config.listen.len() > DHT4.0 - LISTENER_BASE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many listen addresses",
        ));
    }
    for (i, addr) in config.listen.iter().enumerate() {
        let mut l = TcpListener::bind(*addr)?;
        poll.registry()
            .register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)?;
        listen_addrs.push(l.local_addr()?);
        listeners.push(l);
    }
    let (inbox_tx, inbox_rx) = crossbeam_channel::unbounded();
    let (outbox_tx, outbox_rx) = crossbeam_channel::unbounded();
    let (control_tx, control_rx) = crossbeam_channel::unbounded();
    let (signal_tx, signal_rx) = crossbeam_channel::bounded(1);
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    let (fetch_tx, fetch_rx) = crossbeam_channel::unbounded();
    let (tracker_tx, tracker_rx) = crossbeam_channel::unbounded();
    let udp4 = bind_udp(&poll, "0.0.0.0:0", UDP4);
    let udp6 = bind_udp(&poll, "[::]:0", UDP6);
    let done_waker = BatchWaker::new(Arc::clone(&waker));
    let pools = Pools::start(
        config.disk_threads,
        config.hash_threads,
        &done_tx,
        &done_waker,
    )?;
    let mut random = [0u8; 12];
    rand::Rng::fill(&mut rand::rng(), &mut random[..]);
    let now = Instant::now();
    let dht = config.dht.as_ref().and_then(|c| {
        DhtNode::start(
            c,
            &listen_addrs,
            poll.registry(),
            Arc::clone(&waker),
            config.state_dir.as_deref(),
            now,
        )
    });
    let dht_addrs = dht.as_ref().map(|d| d.addrs().to_vec()).unwrap_or_default();
    let mut driver = Driver {
        announce_port: listen_addrs.first().map_or(0, SocketAddr::port),
        flags: our_flags(dht.is_some()),
        dht,
        dht_ports_due: Vec::new(),
        udp4,
        udp6,
        udp_routes: HashMap::new(),
        tracker_rx,
        tracker_tx,
        peer_id: PeerId::azureus(PeerId::FRESHET_PREFIX, random),
        poll,
        waker: Arc::clone(&waker),
        listeners,
        conns: Vec::new(),
        free: Vec::new(),
        by_peer: HashMap::new(),
        torrents: BTreeMap::new(),
        fetches: BTreeMap::new(),
        by_hash: HashMap::new(),
        next_id: 1,
        inbox: inbox_rx,
        control: control_rx,
        done: done_rx,
        fetch_rx,
        fetch_tx,
        outbox: outbox_tx,
        signal: signal_tx,
        pools: Some(pools),
        done_waker,
        pending_adds: VecDeque::new(),
        next_fetch: 0,
        closing: HashMap::new(),
        next_tick: now + config.tick_interval,
        next_housekeeping: now + HOUSEKEEPING,
        next_resume: now + config.resume_interval,
        shutdown_deadline: None,
        again: Vec::new(),
        limits: Limits::new(
            config.max_download_rate,
            config.max_upload_rate,
            Instant::now(),
        ),
        parked: Vec::new(),
        write_limited: false,
        seed_limits: SeedLimits::default(),
        moves: HashMap::new(),
        carry: HashMap::new(),
        http: http::HttpClient::new(FETCH_TIMEOUT, &config.extra_root_certs),
        budget: Budget::new(
            config.max_queued_receive_bytes,
            config.max_queued_read_bytes,
        ),
        throttled: Vec::new(),
        config,
    };
    driver.restore_state();
    let thread = std::thread::Builder::new()
        .name("freshet-net".into())
        .spawn(move || driver.run())?;
    let (outbox_rx, signal_rx, routes) = super::patron::start_router(outbox_rx, signal_rx)?;
    Ok(ClientHandle {
        inbox: WakingSender {
            tx: inbox_tx,
            waker: Arc::clone(&waker),
        },
        outbox: outbox_rx,
        control: WakingSender {
            tx: control_tx,
            waker,
        },
        signal: signal_rx,
        listen_addrs,
        dht_addrs,
        thread: Some(thread),
        routes,
    })
}

/// An add request waiting for its turn to be answered (replies go out in request order).
struct PendingAdd {
    request_id: Option<RequestId>,
    options: AddOptions,
    state: AddState,
}

enum AddState {
    Fetching(u64),
    Ready(Result<TorrentMeta, String>),
    Magnet(Magnet),
}

struct TrackerReply {
    torrent: TorrentId,
    tracker: TrackerIdx,
    result: Result<Vec<u8>, String>,
}

struct FetchDone {
    fetch: u64,
    result: Result<Vec<u8>, String>,
}

/// Why a torrent is closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseReason {
    Request(DataOnClose),
    Shutdown,
    /// Closed to be opened again with a full check of its data.
    Recheck,
    /// Closed, its files moved (destination in `Driver::moves`), then opened again there.
    Move,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseStage {
    /// Waiting for the torrent's queued jobs to finish.
    Draining,
    /// The final flush or delete is queued.
    Finishing,
}

struct Driver {
    config: Config,
    peer_id: PeerId,
    announce_port: u16,
    /// Reserved bits of our handshakes.
    flags: Reserved,
    /// The DHT node (`None`: off).
    dht: Option<DhtNode>,
    /// Connections (index, address) owed a BEP 5 `port` message once their first messages
    /// (bitfield) are queued.
    dht_ports_due: Vec<(usize, SocketAddr)>,
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    /// Which (torrent, tracker) pairs wait for datagrams from an address.
    udp_routes: HashMap<SocketAddr, Vec<(TorrentId, TrackerIdx)>>,
    tracker_rx: Receiver<TrackerReply>,
    tracker_tx: Sender<TrackerReply>,
    poll: Poll,
    waker: Arc<Waker>,
    listeners: Vec<TcpListener>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Established connections by (torrent, engine peer key).
    by_peer: HashMap<(TorrentId, PeerKey), usize>,
    torrents: BTreeMap<TorrentId, Torrent>,
    /// Magnet links still fetching their metadata (ids shared with `torrents`).
    fetches: BTreeMap<TorrentId, MetaFetch>,
    by_hash: HashMap<InfoHashV1, TorrentId>,
    next_id: u64,
    inbox: Receiver<Request>,
    control: Receiver<Control>,
    done: Receiver<Done>,
    fetch_rx: Receiver<FetchDone>,
    fetch_tx: Sender<FetchDone>,
    outbox: Sender<Event>,
    signal: Sender<ShutdownComplete>,
    pools: Option<Pools>,
    done_waker: BatchWaker,
    pending_adds: VecDeque<PendingAdd>,
    next_fetch: u64,
    closing: HashMap<TorrentId, (CloseReason, CloseStage)>,
    next_tick: Instant,
    next_housekeeping: Instant,
    next_resume: Instant,
    shutdown_deadline: Option<Instant>,
    /// Connections whose reads stopped at the bound: read again before sleeping.
    again: Vec<usize>,
    /// Rate limits (token buckets) on socket reads and writes.
    limits: Limits,
    /// Connections whose reads stopped at the rate limit: retried every `limit::RETRY`.
    parked: Vec<usize>,
    /// Whether the last flush left bytes unsent because of the upload limit.
    write_limited: bool,
    /// Seed ratio and time limits.
    seed_limits: SeedLimits,
    /// Destinations of torrents closing for a move.
    moves: HashMap<TorrentId, PathBuf>,
    /// Settings to apply when a torrent opens (restored, or reopened after recheck/move).
    carry: HashMap<InfoHashV1, TorrentSettings>,
    /// HTTP(S) client shared by announce and `.torrent` fetch threads.
    http: http::HttpClient,
    /// Bytes queued on the pools; upload reads waiting for room.
    budget: Budget,
    /// Connections whose reads stopped because the receive budget is full: read again when
    /// completions bring it under.
    throttled: Vec<usize>,
}

impl Driver {
    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let mut deadline = self.next_tick.min(self.next_housekeeping);
            if let Some(d) = self.shutdown_deadline {
                deadline = deadline.min(d);
            }
            for d in self
                .torrents
                .values()
                .filter_map(Torrent::poll_timeout)
                .chain(self.fetches.values().filter_map(MetaFetch::poll_timeout))
                .chain(self.dht.as_ref().and_then(DhtNode::poll_timeout))
            {
                deadline = deadline.min(d);
            }
            let timeout = if !self.again.is_empty() {
                Duration::ZERO
            } else if !self.parked.is_empty() || self.write_limited {
                deadline.saturating_duration_since(now).min(limit::RETRY)
            } else {
                deadline.saturating_duration_since(now)
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!("poll failed: {e}");
                break;
            }
            let now = Instant::now();
            let again = std::mem::take(&mut self.again);
            for idx in again {
                self.conn_readable(now, idx);
            }
            let mut parked = std::mem::take(&mut self.parked);
            // Round robin: parked connections are re-parked in the order they were tried,
            // so rotating makes each take a turn at being first to the refilled tokens. A
            // connection that keeps a saturated bucket empty would otherwise starve the rest
            // (a new peer's handshake was never read until the download ended).
            if !parked.is_empty() {
                parked.rotate_left(1);
            }
            for idx in parked {
                self.conn_readable(now, idx);
            }
            let mut dht_due = self
                .dht
                .as_ref()
                .and_then(DhtNode::poll_timeout)
                .is_some_and(|t| t <= now);
            for event in &events {
                match event.token() {
                    WAKER => {}
                    UDP4 | UDP6 => self.udp_readable(now, event.token()),
                    DHT4 | DHT6 => {
                        dht_due = true;
                        if let Some(d) = &mut self.dht {
                            d.handle_readable(now, event.token());
                        }
                    }
                    Token(t) if (LISTENER_BASE..CONN_BASE).contains(&t) => {
                        self.accept(now, t - LISTENER_BASE);
                    }
                    Token(t) => {
                        let idx = t - CONN_BASE;
                        if event.is_writable() {
                            self.conn_writable(now, idx);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.conn_readable(now, idx);
                        }
                    }
                }
            }
            let open = self.torrents.len() + self.fetches.len();
            self.drain_control(now);
            self.drain_inbox(now);
            self.drain_fetches();
            self.drain_done(now);
            self.drain_tracker_replies(now);
            for t in self.torrents.values_mut() {
                t.handle_timeout(now);
            }
            let fetch_ids: Vec<TorrentId> = self.fetches.keys().copied().collect();
            for id in fetch_ids {
                if let Some(f) = self.fetches.get_mut(&id)
                    && f.poll_timeout().is_some_and(|t| t <= now)
                {
                    f.handle_timeout(now);
                    self.pump_fetch_trackers(now, id);
                    self.apply_fetch_outcomes(now, id);
                }
            }
            if now >= self.next_housekeeping {
                self.next_housekeeping = now + HOUSEKEEPING;
                self.housekeeping(now);
                dht_due = true;
            }
            // A new torrent or magnet link starts its first lookup at once.
            if dht_due || self.torrents.len() + self.fetches.len() != open {
                self.dht_round(now);
            }
            if now >= self.next_tick {
                self.next_tick = now + self.config.tick_interval;
                for e in self.statuses(None) {
                    self.emit(e);
                }
            }
            if now >= self.next_resume {
                self.next_resume = now + self.config.resume_interval;
                self.save_all_resume();
                self.save_dht_state(now);
            }
            self.run_actions(now);
            self.advance_closing(now);
            self.run_actions(now);
            self.send_dht_ports();
            self.flush_all(now);
            self.reap(now);
            self.release_reads();
            if self.shutdown_finished(now) {
                break;
            }
        }
        self.finish_shutdown();
    }

    // ---- sockets ----

    fn accept(&mut self, now: Instant, i: usize) {
        loop {
            let Some(l) = self.listeners.get(i) else {
                return;
            };
            match l.accept() {
                Ok((stream, addr)) => {
                    if self.shutdown_deadline.is_some() {
                        continue; // dropping the stream closes it
                    }
                    if self.conns_of(None) >= self.config.max_connections {
                        // Full: make room by closing the least useful connection, if any.
                        match self.eviction_victim(None) {
                            Some(v) => self.evict(now, v),
                            None => continue,
                        }
                    }
                    self.insert_conn(now, stream, addr, Direction::Incoming, None);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn conn_count(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// Connections of one torrent or all (those closing count until reaped at the end of the
    /// loop iteration, as their engine peers do).
    fn conns_of(&self, torrent: Option<TorrentId>) -> usize {
        match torrent {
            None => self.conn_count(),
            Some(_) => self
                .conns
                .iter()
                .flatten()
                .filter(|c| c.torrent == torrent)
                .count(),
        }
    }

    /// The least useful connection (of one torrent, or of all), never one exchanging payload
    /// now; see the `evict` module.
    fn eviction_victim(&self, torrent: Option<TorrentId>) -> Option<usize> {
        let candidates = self.conns.iter().enumerate().filter_map(|(idx, c)| {
            let c = c.as_ref()?;
            if c.closing.is_some() || (torrent.is_some() && c.torrent != torrent) {
                return None;
            }
            let standing = if c.phase != Phase::Established {
                Standing::Handshaking
            } else {
                match (c.torrent.and_then(|t| self.torrents.get(&t)), c.peer) {
                    (Some(t), Some(key)) => t.peer_standing(key)?,
                    // A magnet link's metadata exchange.
                    _ => Standing::Waiting,
                }
            };
            Some(Candidate {
                idx,
                since: c.since,
                standing,
            })
        });
        evict::choose(candidates)
    }

    /// Closes connection `idx` at once to make room for a new peer.
    fn evict(&mut self, now: Instant, idx: usize) {
        if let Some(Some(c)) = self.conns.get_mut(idx) {
            c.closing = Some("evicted: the slot went to a new peer".into());
            if let Some(fid) = self.remove_conn(now, idx) {
                self.apply_fetch_outcomes(now, fid);
            }
        }
    }

    fn insert_conn(
        &mut self,
        now: Instant,
        mut stream: TcpStream,
        addr: SocketAddr,
        direction: Direction,
        torrent: Option<TorrentId>,
    ) -> Option<usize> {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(CONN_BASE + idx), interest)
        {
            tracing::warn!(%addr, "register failed: {e}");
            self.free.push(idx);
            return None;
        }
        let _ = stream.set_nodelay(true);
        let mut conn = Conn::new(stream, addr, direction, torrent, now);
        if direction == Direction::Outgoing
            && let Some(id) = torrent
        {
            let hash = self
                .torrents
                .get(&id)
                .map(|t| t.meta.info_hash)
                .or_else(|| self.fetches.get(&id).map(|f| f.info_hash));
            if let Some(hash) = hash {
                Handshake::new(self.flags, hash, self.peer_id).encode(&mut conn.wbuf);
            }
        }
        self.conns[idx] = Some(conn);
        Some(idx)
    }

    fn conn_writable(&mut self, now: Instant, idx: usize) {
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return;
        };
        if c.closing.is_some() {
            return;
        }
        if c.phase == Phase::Connecting {
            match c.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    c.closing = Some(format!("connect failed: {e}"));
                    return;
                }
            }
            if c.stream.peer_addr().is_err() {
                return; // not connected yet; wait for the next writable event
            }
            c.phase = Phase::Handshaking;
        }
        let allowance = self.limits.allowance(c.torrent, Dir::Up, now);
        if allowance < MIN_GRANT.min(c.wbuf.len()) {
            self.write_limited = true;
            return;
        }
        match c.flush(now, allowance) {
            Ok(n) => self.limits.consume(c.torrent, Dir::Up, n),
            Err(e) => c.closing = Some(format!("write failed: {e}")),
        }
    }

    fn conn_readable(&mut self, now: Instant, idx: usize) {
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return;
        };
        if c.closing.is_some() || c.phase == Phase::Connecting {
            return;
        }
        if c.wbuf.len() > WRITE_HIGH_WATER {
            // Let the writer catch up first; `flush_all` resumes reading once it has.
            c.read_paused = true;
            return;
        }
        if c.phase == Phase::Established && self.budget.is_receive_paused() {
            // The disk or the hashers lag: leave the data in the socket until they catch up.
            self.throttled.push(idx);
            return;
        }
        let allowance = self.limits.allowance(c.torrent, Dir::Down, now);
        if allowance < MIN_GRANT {
            self.parked.push(idx);
            return;
        }
        let (outcome, n) = match c.read(now, allowance) {
            Ok(o) => o,
            Err(e) => {
                c.closing = Some(format!("read failed: {e}"));
                return;
            }
        };
        self.limits.consume(c.torrent, Dir::Down, n);
        let limited = n >= allowance;
        self.process_input(now, idx);
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return;
        };
        match outcome {
            ReadOutcome::Closed => {
                if c.closing.is_none() {
                    c.closing = Some("closed by peer".into());
                }
            }
            ReadOutcome::MoreWaiting if limited => self.parked.push(idx),
            ReadOutcome::MoreWaiting => self.again.push(idx),
            ReadOutcome::Drained => {}
        }
    }

    /// Parses whatever is in the read buffer: the handshake, then messages.
    fn process_input(&mut self, now: Instant, idx: usize) {
        if let Some(Some(c)) = self.conns.get(idx)
            && c.phase == Phase::Handshaking
        {
            self.process_handshake(now, idx);
        }
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return;
        };
        if c.phase != Phase::Established || c.closing.is_some() {
            return;
        }
        if let Some(fid) = c.torrent.filter(|id| self.fetches.contains_key(id)) {
            self.process_fetch_input(now, idx, fid);
            return;
        }
        let (Some(tid), Some(key)) = (c.torrent, c.peer) else {
            return;
        };
        loop {
            let Some(Some(c)) = self.conns.get_mut(idx) else {
                return;
            };
            if c.closing.is_some() {
                return;
            }
            let msg = match c.decoder.decode(&mut c.rbuf) {
                Ok(Some(m)) => m,
                Ok(None) => return,
                Err(e) => {
                    c.closing = Some(format!("protocol error: {e}"));
                    return;
                }
            };
            if let freshet_peerwire::Message::Port(port) = msg {
                let addr = SocketAddr::new(c.addr.ip(), port);
                if let Some(d) = &mut self.dht {
                    d.handle_port(now, addr);
                }
                continue;
            }
            let Some(t) = self.torrents.get_mut(&tid) else {
                return;
            };
            t.handle_message(now, key, msg);
        }
    }

    /// Messages on a connection of a magnet link still fetching metadata.
    fn process_fetch_input(&mut self, now: Instant, idx: usize, fid: TorrentId) {
        loop {
            let (Some(Some(c)), Some(f)) = (self.conns.get_mut(idx), self.fetches.get_mut(&fid))
            else {
                return;
            };
            if c.closing.is_some() {
                return;
            }
            let msg = match c.decoder.decode(&mut c.rbuf) {
                Ok(Some(m)) => m,
                Ok(None) => return,
                Err(e) => {
                    c.closing = Some(format!("protocol error: {e}"));
                    return;
                }
            };
            f.handle_message(now, idx, &msg);
            if self.apply_fetch_outcomes(now, fid) {
                return;
            }
        }
    }

    /// Carries out what a magnet fetch asks (sends, drops, completion); true once complete.
    fn apply_fetch_outcomes(&mut self, now: Instant, fid: TorrentId) -> bool {
        while let Some(out) = self.fetches.get_mut(&fid).and_then(MetaFetch::poll_outcome) {
            match out {
                Outcome::Send(idx, m) => {
                    if let Some(Some(c)) = self.conns.get_mut(idx) {
                        m.encode(&mut c.wbuf);
                    }
                }
                Outcome::Drop(idx, why) => {
                    if let Some(Some(c)) = self.conns.get_mut(idx)
                        && c.closing.is_none()
                    {
                        c.closing = Some(why);
                    }
                }
                Outcome::Complete(info) => {
                    self.finish_fetch(now, fid, &info);
                    return true;
                }
            }
        }
        false
    }

    fn process_handshake(&mut self, now: Instant, idx: usize) {
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return;
        };
        // Incoming: pick the torrent from the first 48 bytes and answer.
        if c.direction == Direction::Incoming && c.torrent.is_none() {
            match HandshakeHead::decode(&c.rbuf) {
                Ok(Decoded::Incomplete { .. }) => return,
                Ok(Decoded::Complete { value, .. }) => {
                    let found = self
                        .by_hash
                        .get(&value.info_hash)
                        .and_then(|id| self.torrents.get(id))
                        .filter(|t| t.is_running());
                    let Some(t) = found else {
                        c.closing = Some("handshake for an unknown torrent".into());
                        return;
                    };
                    let (tid, hash) = (t.id, t.meta.info_hash);
                    let limit = t
                        .max_connections
                        .unwrap_or(self.config.max_connections_per_torrent);
                    if self.conns_of(Some(tid)) >= limit {
                        // Full: the least useful peer of this torrent makes room, if any.
                        match self.eviction_victim(Some(tid)) {
                            Some(v) => self.evict(now, v),
                            None => {
                                if let Some(Some(c)) = self.conns.get_mut(idx) {
                                    c.closing = Some("torrent connection limit".into());
                                }
                                return;
                            }
                        }
                    }
                    let Some(Some(c)) = self.conns.get_mut(idx) else {
                        return;
                    };
                    c.torrent = Some(tid);
                    Handshake::new(self.flags, hash, self.peer_id).encode(&mut c.wbuf);
                }
                Err(e) => {
                    c.closing = Some(format!("bad handshake: {e}"));
                    return;
                }
            }
        }
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return;
        };
        let hs = match Handshake::decode(&c.rbuf) {
            Ok(Decoded::Incomplete { .. }) => return,
            Ok(Decoded::Complete { value, consumed }) => {
                let _ = c.rbuf.split_to(consumed);
                value
            }
            Err(e) => {
                c.closing = Some(format!("bad handshake: {e}"));
                return;
            }
        };
        if let Some(f) = c.torrent.and_then(|id| self.fetches.get_mut(&id)) {
            if hs.info_hash != f.info_hash {
                c.closing = Some("handshake for another torrent".into());
            } else if hs.peer_id == self.peer_id {
                c.closing = Some("connected to ourselves".into());
            } else if !hs.reserved.contains(Reserved::EXTENSION_PROTOCOL) {
                c.closing = Some("no extension protocol: cannot fetch metadata".into());
            } else {
                c.phase = Phase::Established;
                f.handle_connected(idx, c.addr, hs.peer_id, hs.reserved)
                    .encode(&mut c.wbuf);
            }
            return;
        }
        let Some(t) = c.torrent.and_then(|id| self.torrents.get_mut(&id)) else {
            c.closing = Some("torrent gone".into());
            return;
        };
        if hs.info_hash != t.meta.info_hash {
            c.closing = Some("handshake for another torrent".into());
            return;
        }
        if hs.peer_id == self.peer_id {
            c.closing = Some("connected to ourselves".into());
            return;
        }
        self.register_peer(now, idx, hs.peer_id, hs.reserved);
    }

    /// If the torrent of connection `idx` already has a connection to `peer_id` (both sides
    /// dialled each other), closes the one the duplicate rule drops
    /// ([`freshet_engine::Duplicate`]); returns whether `idx` is still to be registered.
    fn resolve_duplicate(&mut self, idx: usize, peer_id: PeerId) -> bool {
        let Some(Some(c)) = self.conns.get(idx) else {
            return false;
        };
        let Some(t) = c.torrent.and_then(|id| self.torrents.get(&id)) else {
            return true; // refused as "torrent gone" by the caller
        };
        let Some(old_idx) = t
            .peer_with_id(peer_id)
            .and_then(|key| self.by_peer.get(&(t.id, key)).copied())
            .filter(|&o| o != idx)
        else {
            return true;
        };
        let Some(Some(old)) = self.conns.get(old_idx) else {
            return true;
        };
        if old.closing.is_some() {
            return true;
        }
        let opener = |c: &Conn| match c.direction {
            Direction::Outgoing => freshet_engine::Opener::Us,
            Direction::Incoming => freshet_engine::Opener::Them,
        };
        // Our listen port is the local port of a connection they opened; theirs is the port
        // we dialled (only read when the two were opened by different sides).
        let (ours, theirs) = if c.direction == Direction::Incoming {
            (c, old)
        } else {
            (old, c)
        };
        let dup = freshet_engine::Duplicate {
            existing: opener(old),
            new: opener(c),
            our_port: ours.stream.local_addr().map_or(0, |a| a.port()),
            their_port: theirs.addr.port(),
            ours: self.peer_id,
            theirs: peer_id,
        };
        // A peer id is only the peer's word: from another address it may be a spoofer trying
        // to push out a working connection, so only a connection from the same host can
        // replace one (libtorrent matches duplicates by address for the same reason).
        let keep = if old.addr.ip() == c.addr.ip() {
            dup.resolve()
        } else {
            freshet_engine::Keep::Existing
        };
        let (close, keep_new) = match keep {
            freshet_engine::Keep::Existing => (idx, false),
            freshet_engine::Keep::New => (old_idx, true),
        };
        tracing::debug!(peer = %c.addr, existing = %old.addr, keep_new, "duplicate connection");
        if let Some(Some(c)) = self.conns.get_mut(close) {
            c.closing = Some("duplicate connection to the same peer".into());
        }
        keep_new
    }

    /// Registers the handshaken connection `idx` with its torrent's engine: the normal
    /// post-handshake sequence (our bitfield or have-none, allowed-fast, our extension
    /// handshake) follows. Returns the engine's key, or `None` if the connection was refused
    /// (it is then marked closing).
    fn register_peer(
        &mut self,
        now: Instant,
        idx: usize,
        peer_id: PeerId,
        reserved: Reserved,
    ) -> Option<PeerKey> {
        if !self.resolve_duplicate(idx, peer_id) {
            return None;
        }
        let Some(Some(c)) = self.conns.get_mut(idx) else {
            return None;
        };
        let Some(t) = c.torrent.and_then(|id| self.torrents.get_mut(&id)) else {
            c.closing = Some("torrent gone".into());
            return None;
        };
        let info = PeerInfo {
            addr: Some(c.addr),
            id: Some(peer_id),
            fast: if reserved.contains(Reserved::FAST) {
                FastExtension::Enabled
            } else {
                FastExtension::Disabled
            },
            reqq: None,
        };
        let extensions = reserved.contains(Reserved::EXTENSION_PROTOCOL).then(|| {
            let mut h = ExtendedHandshake::default();
            h.client = Some(concat!("Freshet ", env!("CARGO_PKG_VERSION")).to_owned());
            h.request_queue = Some(OUR_REQQ);
            h.listen_port = Some(self.announce_port);
            h
        });
        let listen = (c.direction == Direction::Outgoing).then_some(c.addr);
        match t.add_peer(now, info, extensions, listen) {
            Ok(key) => {
                c.phase = Phase::Established;
                c.peer = Some(key);
                c.decoder.set_piece_count(t.geometry().num_pieces());
                if c.direction == Direction::Outgoing {
                    t.addr_connected(c.addr);
                }
                if self.dht.is_some() && reserved.contains(Reserved::DHT) {
                    self.dht_ports_due.push((idx, c.addr));
                }
                self.by_peer.insert((t.id, key), idx);
                Some(key)
            }
            Err(e) => {
                c.closing = Some(format!("refused: {e}"));
                None
            }
        }
    }

    fn flush_all(&mut self, now: Instant) {
        self.write_limited = false;
        for (idx, slot) in self.conns.iter_mut().enumerate() {
            let Some(c) = slot else { continue };
            if c.closing.is_none() && c.phase != Phase::Connecting && !c.wbuf.is_empty() {
                let allowance = self.limits.allowance(c.torrent, Dir::Up, now);
                if allowance < MIN_GRANT.min(c.wbuf.len()) {
                    self.write_limited = true;
                } else {
                    match c.flush(now, allowance) {
                        Ok(n) => {
                            self.limits.consume(c.torrent, Dir::Up, n);
                            if n >= allowance && !c.wbuf.is_empty() {
                                self.write_limited = true;
                            }
                        }
                        Err(e) => c.closing = Some(format!("write failed: {e}")),
                    }
                }
            }
            if c.read_paused && c.wbuf.len() <= WRITE_HIGH_WATER / 2 {
                c.read_paused = false;
                self.again.push(idx);
            }
            let want = c.wanted_interest();
            if c.closing.is_none() && want != c.registered {
                if let Err(e) =
                    self.poll
                        .registry()
                        .reregister(&mut c.stream, Token(CONN_BASE + idx), want)
                {
                    c.closing = Some(format!("reregister failed: {e}"));
                } else {
                    c.registered = want;
                }
            }
        }
    }

    /// Removes connections marked closing and tells their torrents.
    fn reap(&mut self, now: Instant) {
        let mut fetches_touched = Vec::new();
        for idx in 0..self.conns.len() {
            let closing = matches!(&self.conns[idx], Some(c) if c.closing.is_some());
            if closing && let Some(fid) = self.remove_conn(now, idx) {
                fetches_touched.push(fid);
            }
        }
        // A gone peer's metadata requests were handed to others: send them now.
        for id in fetches_touched {
            self.apply_fetch_outcomes(now, id);
        }
        self.again
            .retain(|&i| self.conns.get(i).is_some_and(Option::is_some));
        self.parked
            .retain(|&i| self.conns.get(i).is_some_and(Option::is_some));
        self.throttled
            .retain(|&i| self.conns.get(i).is_some_and(Option::is_some));
    }

    /// Closes connection `idx` now (its slot is free at once) and tells its torrent.
    /// Returns the magnet fetch the connection served, whose outcomes (requests handed to
    /// other peers) the caller applies.
    fn remove_conn(&mut self, now: Instant, idx: usize) -> Option<TorrentId> {
        let mut c = self.conns.get_mut(idx).and_then(Option::take)?;
        self.free.push(idx);
        // Best effort: send what is queued (a final message), then close.
        let _ = c.flush(now, usize::MAX);
        let _ = self.poll.registry().deregister(&mut c.stream);
        tracing::debug!(addr = %c.addr, reason = ?c.closing, "peer closed");
        let mut fetch = None;
        if let Some(f) = c.torrent.and_then(|id| self.fetches.get_mut(&id)) {
            f.handle_gone(now, idx);
            if c.direction == Direction::Outgoing {
                f.addr_failed(now, c.addr);
            }
            fetch = Some(f.id);
        }
        if let Some(t) = c.torrent.and_then(|id| self.torrents.get_mut(&id)) {
            if let Some(key) = c.peer {
                self.by_peer.remove(&(t.id, key));
                t.handle_peer_gone(now, key);
            }
            if c.direction == Direction::Outgoing && !c.handoff {
                t.addr_failed(now, c.addr);
            }
        }
        fetch
    }

    // ---- channels ----

    fn drain_control(&mut self, now: Instant) {
        match self.control.try_recv() {
            Ok(Control::Shutdown) | Err(TryRecvError::Disconnected) => self.begin_shutdown(now),
            Err(TryRecvError::Empty) => {}
        }
    }

    fn drain_inbox(&mut self, now: Instant) {
        loop {
            match self.inbox.try_recv() {
                Ok(req) => self.handle_request(now, req),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.begin_shutdown(now);
                    return;
                }
            }
        }
    }

    fn drain_fetches(&mut self) {
        while let Ok(f) = self.fetch_rx.try_recv() {
            for p in &mut self.pending_adds {
                if matches!(p.state, AddState::Fetching(n) if n == f.fetch) {
                    p.state = AddState::Ready(
                        f.result
                            .clone()
                            .and_then(|bytes| TorrentMeta::from_bytes(&bytes)),
                    );
                }
            }
        }
        self.answer_adds();
    }

    fn drain_done(&mut self, now: Instant) {
        self.done_waker.clear();
        while let Ok(d) = self.done.try_recv() {
            self.budget.complete(d.charge);
            if let Some(t) = self.torrents.get_mut(&d.torrent) {
                t.handle_disk(now, d.completion);
            }
        }
        if !self.budget.is_receive_paused() && !self.throttled.is_empty() {
            let mut throttled = std::mem::take(&mut self.throttled);
            throttled.sort_unstable();
            throttled.dedup();
            self.again.extend(throttled);
        }
        self.release_reads();
    }

    /// Queues a job on its pool, unless the budget holds it back (an upload read waiting for
    /// room; [`Self::release_reads`] submits it later).
    fn submit_job(&mut self, job: Job) {
        let backlogged = match &job.job {
            freshet_engine::DiskJob::Read { peer, .. } => self.is_backlogged(job.torrent, *peer),
            _ => false,
        };
        if let Some(job) = self.budget.admit(job, backlogged)
            && let Some(p) = &self.pools
        {
            p.submit(job);
        }
    }

    /// Submits the upload reads that now fit the budget.
    fn release_reads(&mut self) {
        if !self.budget.has_deferred() {
            return;
        }
        let (conns, by_peer) = (&self.conns, &self.by_peer);
        let ready = self.budget.take_ready(|torrent, peer| {
            by_peer
                .get(&(torrent, peer))
                .and_then(|&i| conns.get(i)?.as_ref())
                .is_some_and(|c| c.wbuf.len() > WRITE_HIGH_WATER)
        });
        if let Some(p) = &self.pools {
            for job in ready {
                p.submit(job);
            }
        }
    }

    /// Whether a peer's send buffer is over its high-water mark (false when it is gone).
    fn is_backlogged(&self, torrent: TorrentId, peer: PeerKey) -> bool {
        self.by_peer
            .get(&(torrent, peer))
            .and_then(|&i| self.conns.get(i)?.as_ref())
            .is_some_and(|c| c.wbuf.len() > WRITE_HIGH_WATER)
    }

    // ---- requests ----

    fn dispatch_request(&mut self, now: Instant, req: Request) {
        if self.shutdown_deadline.is_some() {
            if let Request::AddTorrent { request_id, .. } = req {
                self.pending_adds.push_back(PendingAdd {
                    request_id,
                    options: AddOptions::default(),
                    state: AddState::Ready(Err("the client is shutting down".into())),
                });
                self.answer_adds();
            }
            return;
        }
        match req {
            Request::AddTorrent {
                request_id,
                source,
                options,
            } => {
                let state = match source {
                    TorrentSource::Bytes(b) => AddState::Ready(TorrentMeta::from_bytes(&b)),
                    TorrentSource::Path(p) => AddState::Ready(read_torrent_file(&p)),
                    TorrentSource::Url(url) => {
                        let fetch = self.next_fetch;
                        self.next_fetch += 1;
                        let tx = self.fetch_tx.clone();
                        let waker = Arc::clone(&self.waker);
                        let client = self.http.clone();
                        let spawned = std::thread::Builder::new()
                            .name("freshet-fetch".into())
                            .spawn(move || {
                                let result = client.get(&url, MAX_TORRENT_FILE as usize);
                                let _ = tx.send(FetchDone { fetch, result });
                                let _ = waker.wake();
                            });
                        match spawned {
                            Ok(_) => AddState::Fetching(fetch),
                            Err(e) => AddState::Ready(Err(format!("cannot start fetch: {e}"))),
                        }
                    }
                    TorrentSource::Magnet(uri) => match Magnet::parse(&uri) {
                        Ok(m) if m.info_hashes.v1.is_some() => AddState::Magnet(m),
                        Ok(_) => AddState::Ready(Err(
                            "v2-only magnet links are not supported yet".into()
                        )),
                        Err(e) => AddState::Ready(Err(format!("invalid magnet link: {e}"))),
                    },
                };
                self.pending_adds.push_back(PendingAdd {
                    request_id,
                    options,
                    state,
                });
                self.answer_adds();
            }
            Request::CloseTorrent { id, data } => {
                if self.closing.contains_key(&id) {
                    return;
                }
                if let Some(f) = self.fetches.remove(&id) {
                    self.by_hash.remove(&f.info_hash);
                    for c in self.conns.iter_mut().flatten() {
                        if c.torrent == Some(id) && c.closing.is_none() {
                            c.closing = Some("torrent closed".into());
                        }
                    }
                    self.emit(Event::Closed { id });
                    return;
                }
                let Some(t) = self.torrents.get_mut(&id) else {
                    self.emit(Event::Error {
                        id,
                        what: "no such torrent".into(),
                        location: "close".into(),
                    });
                    return;
                };
                t.begin_close(now);
                self.limits.remove(id);
                self.closing
                    .insert(id, (CloseReason::Request(data), CloseStage::Draining));
            }
            Request::AddPeer { id, addr } => match self.torrents.get_mut(&id) {
                Some(t) => {
                    t.add_addr(now, addr);
                    self.dial(now);
                }
                None if self.fetches.contains_key(&id) => {
                    if let Some(f) = self.fetches.get_mut(&id) {
                        f.add_addr(now, addr);
                    }
                    self.dial(now);
                }
                None => self.emit(Event::Error {
                    id,
                    what: "no such torrent".into(),
                    location: "add peer".into(),
                }),
            },
            Request::Status { id } => {
                let statuses = self.statuses(id);
                if statuses.is_empty()
                    && let Some(id) = id
                {
                    self.emit(Event::Error {
                        id,
                        what: "no such torrent".into(),
                        location: "status".into(),
                    });
                }
                for s in statuses {
                    self.emit(s);
                }
            }
            Request::Details { id } => self.on_torrent(now, id, "details", |_, _| Ok(())),
            Request::Pause { id } => self.on_torrent(now, id, "pause", |t, now| {
                t.pause(now);
                Ok(())
            }),
            Request::Resume { id } => self.on_torrent(now, id, "resume", |t, now| {
                t.resume(now);
                Ok(())
            }),
            Request::SetFilePriorities { id, priorities } => {
                self.on_torrent(now, id, "set file priorities", |t, now| {
                    t.set_file_priorities(now, &priorities).map_err(|n| {
                        format!(
                            "{} priorities given, the torrent has {n} files",
                            priorities.len()
                        )
                    })
                });
            }
            Request::SetRateLimits { id: None, down, up } => {
                self.limits.set_global(down, up, now);
            }
            Request::SetRateLimits {
                id: Some(id),
                down,
                up,
            } => {
                if self.torrents.contains_key(&id) {
                    self.limits.set_torrent(id, down, up, now);
                }
                self.on_torrent(now, id, "set rate limits", |_, _| Ok(()));
            }
            Request::MoveStorage { id, to } => match self.torrents.get_mut(&id) {
                Some(_) if self.closing.contains_key(&id) => {}
                Some(t) => {
                    t.begin_close(now);
                    self.moves.insert(id, to);
                    self.closing
                        .insert(id, (CloseReason::Move, CloseStage::Draining));
                }
                None => self.emit(Event::Error {
                    id,
                    what: "no such torrent".into(),
                    location: "move storage".into(),
                }),
            },
            Request::Recheck { id } => match self.torrents.get_mut(&id) {
                Some(_) if self.closing.contains_key(&id) => {}
                Some(t) => {
                    t.begin_close(now);
                    self.closing
                        .insert(id, (CloseReason::Recheck, CloseStage::Draining));
                }
                None => self.emit(Event::Error {
                    id,
                    what: "no such torrent".into(),
                    location: "recheck".into(),
                }),
            },
            Request::SetSeedLimits { id, ratio, time } => {
                if self.torrents.contains_key(&id) {
                    self.seed_limits.set(id, ratio, time);
                }
                self.on_torrent(now, id, "set seed limits", |_, _| Ok(()));
            }
            Request::SetConnectionLimits { id, max } => {
                self.set_connection_limit(id, max);
                if let Some(id) = id {
                    self.on_torrent(now, id, "set connection limits", |_, _| Ok(()));
                }
            }
            Request::DhtStatus => {
                self.emit(Event::Dht(self.dht.as_ref().map(|d| d.status(now))));
            }
            Request::SetSequential { id, sequential } => {
                self.on_torrent(now, id, "set sequential", |t, now| {
                    t.set_sequential(now, sequential);
                    Ok(())
                });
            }
        }
    }

    /// Runs a service request on an open torrent, then answers with its detailed status (or an
    /// error event naming `what` when the torrent is unknown or the request fails).
    fn on_torrent(
        &mut self,
        now: Instant,
        id: TorrentId,
        what: &str,
        f: impl FnOnce(&mut Torrent, Instant) -> Result<(), String>,
    ) {
        let Some(t) = self.torrents.get_mut(&id) else {
            self.emit(Event::Error {
                id,
                what: "no such torrent".into(),
                location: what.into(),
            });
            return;
        };
        let result = f(t, now);
        let mut status = t.status();
        status.files = t.file_progress();
        status.peer_list = t.peer_list();
        match result {
            Ok(()) => self.emit(Event::Status(status)),
            Err(e) => self.emit(Event::Error {
                id,
                what: e,
                location: what.into(),
            }),
        }
        self.run_actions(now);
    }

    /// Answers ready add requests from the front of the queue, so replies keep request order.
    fn answer_adds(&mut self) {
        let now = Instant::now();
        while let Some(front) = self.pending_adds.front() {
            if matches!(front.state, AddState::Fetching(_)) {
                return;
            }
            let Some(p) = self.pending_adds.pop_front() else {
                return;
            };
            let result = match p.state {
                AddState::Ready(r) => r,
                AddState::Magnet(m) => {
                    self.start_fetch(now, p.request_id, &m, p.options);
                    continue;
                }
                AddState::Fetching(_) => continue,
            };
            let meta = match result {
                Ok(m) => m,
                Err(reason) => {
                    self.emit(Event::StartFailed {
                        request_id: p.request_id,
                        reason,
                    });
                    continue;
                }
            };
            if let Some(&id) = self.by_hash.get(&meta.info_hash) {
                self.emit(Event::AlreadyDownloading {
                    request_id: p.request_id,
                    id,
                });
                continue;
            }
            self.start_torrent(now, p.request_id, meta, p.options);
        }
    }

    fn start_torrent(
        &mut self,
        now: Instant,
        request_id: Option<RequestId>,
        meta: TorrentMeta,
        options: AddOptions,
    ) {
        let id = TorrentId(self.next_id);
        self.next_id += 1;
        self.emit(Event::TorrentAdded {
            request_id,
            id,
            name: meta.name.clone(),
            save_path: options.save_dir.join(&meta.name),
            info_hash: meta.info_hash,
        });
        self.open_torrent(now, id, meta, options);
    }

    /// Answers a magnet add: the torrent gets its id now and fetches its metadata.
    fn start_fetch(
        &mut self,
        now: Instant,
        request_id: Option<RequestId>,
        magnet: &Magnet,
        options: AddOptions,
    ) {
        // A parsed magnet has at least one hash; the wire id is v1 or the truncated v2.
        let Some(info_hash) = magnet.info_hashes.wire_id() else {
            return;
        };
        if let Some(&id) = self.by_hash.get(&info_hash) {
            self.emit(Event::AlreadyDownloading { request_id, id });
            return;
        }
        let saved = resume::load_metainfo(
            &resume::metainfo_path(
                self.config.resume_dir.as_deref(),
                &options.save_dir,
                &info_hash,
            ),
            &magnet.info_hashes,
        );
        if let Some(meta) = saved.filter(|_| options.after_metadata == AfterMetadata::Download) {
            // Fetched before (resume data keeps the metainfo): no need to ask peers again.
            let mut options = options;
            options.peers.extend(
                magnet
                    .peers
                    .iter()
                    .filter_map(|p| p.parse::<SocketAddr>().ok()),
            );
            self.start_torrent(now, request_id, meta, options);
            return;
        }
        let id = TorrentId(self.next_id);
        self.next_id += 1;
        // The display name is only a label until the metadata arrives; sanitised like a path.
        let name = magnet
            .display_name
            .as_deref()
            .and_then(|n| {
                freshet_metainfo::sanitize::sanitize_element(
                    n.as_bytes(),
                    freshet_metainfo::sanitize::Mode::Lenient,
                )
            })
            .unwrap_or_else(|| info_hash.to_hex());
        self.emit(Event::TorrentAdded {
            request_id,
            id,
            name: name.clone(),
            save_path: options.save_dir.join(&name),
            info_hash,
        });
        let trackers = magnet.trackers.iter().map(|t| vec![t.clone()]).collect();
        let mut mcfg = MetadataConfig::default();
        mcfg.max_size = self.config.max_metadata_size;
        let mut f = MetaFetch::new(id, magnet.info_hashes, name, options, trackers, mcfg);
        if f.options.trackers == UseTrackers::Announce {
            f.start_announcing(now, self.identity(id));
        }
        for p in magnet
            .peers
            .iter()
            .filter_map(|p| p.parse::<SocketAddr>().ok())
        {
            f.add_addr(now, p);
        }
        for p in f.options.peers.clone() {
            f.add_addr(now, p);
        }
        self.by_hash.insert(info_hash, id);
        self.fetches.insert(id, f);
        self.pump_fetch_trackers(now, id);
    }

    /// The metadata of a magnet link arrived: the fetch becomes a torrent with the same id,
    /// and its live connections are handed over to it (see [`Self::hand_over`]).
    fn finish_fetch(&mut self, now: Instant, id: TorrentId, info: &[u8]) {
        let Some(mut f) = self.fetches.remove(&id) else {
            return;
        };
        let handovers = f.take_handovers();
        self.emit(Event::MetadataReceived {
            id,
            torrent: torrent_file_bytes(info, &f.trackers),
        });
        if f.options.after_metadata == AfterMetadata::Stop {
            self.close_fetch_conns(id, "metadata complete; stopping");
            self.by_hash.remove(&f.info_hash);
            self.emit(Event::Closed { id });
            return;
        }
        match TorrentMeta::from_info_bytes(info, f.trackers.clone()) {
            Ok(meta) => {
                let path = resume::metainfo_path(
                    self.config.resume_dir.as_deref(),
                    &f.options.save_dir,
                    &meta.info_hash,
                );
                if let Err(e) = resume::save_metainfo(&meta, &path) {
                    tracing::warn!(torrent = %id, "cannot keep the fetched metainfo: {e}");
                }
                let addrs: Vec<SocketAddr> = f.addrs().collect();
                let mut options = f.options.clone();
                options.peers = addrs;
                self.open_torrent(now, id, meta, options);
                self.hand_over(now, id, handovers);
                self.dial(now);
            }
            Err(what) => {
                self.close_fetch_conns(id, "unusable metadata");
                self.by_hash.remove(&f.info_hash);
                self.emit(Event::Error {
                    id,
                    what,
                    location: "metadata".into(),
                });
                self.emit(Event::Closed { id });
            }
        }
    }

    /// Hands a finished fetch's connections to the torrent `id` that replaces it: each live,
    /// handshaken one is registered with the engine (our bitfield or have-none and extension
    /// handshake follow, as after any handshake), then what the peer said during the fetch
    /// (its bitfield/haves, choke state, extension handshake) is replayed, then any messages
    /// still buffered are processed. Dials still handshaking carry on as the torrent's own.
    /// Closing and redialling instead raced the remote's duplicate-peer check (libtorrent
    /// dropped the new connection while the old one was still open). A connection whose replay
    /// log overflowed is closed and redialled at once.
    fn hand_over(&mut self, now: Instant, id: TorrentId, handovers: Vec<Handover>) {
        if !self.torrents.contains_key(&id) {
            self.close_fetch_conns(id, "torrent did not open");
            return;
        }
        for h in handovers {
            let live = matches!(self.conns.get(h.conn), Some(Some(c))
                if c.torrent == Some(id) && c.closing.is_none() && c.peer.is_none()
                    && c.phase == Phase::Established);
            if !live {
                continue;
            }
            let (conn, peer_id, reserved) = (h.conn, h.peer_id, h.reserved);
            let Some(replay) = h.into_replay() else {
                if let Some(Some(c)) = self.conns.get_mut(conn) {
                    c.closing =
                        Some("too much said during the metadata fetch; reconnecting".into());
                    c.handoff = true;
                }
                continue;
            };
            let Some(key) = self.register_peer(now, conn, peer_id, reserved) else {
                continue;
            };
            if let Some(t) = self.torrents.get_mut(&id) {
                for m in replay {
                    t.handle_message(now, key, m);
                }
            }
            // Messages that came in with (or after) the last metadata piece.
            self.process_input(now, conn);
        }
        // Our dials that were still handshaking become the torrent's: it must not dial them
        // again. Anything else of the fetch still open is not usable by the torrent.
        for c in self.conns.iter_mut().flatten() {
            if c.torrent != Some(id) || c.closing.is_some() || c.peer.is_some() {
                continue;
            }
            if c.phase == Phase::Established {
                c.closing = Some("metadata complete; reconnecting as a torrent".into());
                c.handoff = true;
            } else if c.direction == Direction::Outgoing
                && let Some(t) = self.torrents.get_mut(&id)
            {
                t.addr_connected(c.addr);
            }
        }
    }

    /// Closes every connection still open for the fetch `id`.
    fn close_fetch_conns(&mut self, id: TorrentId, why: &str) {
        for c in self.conns.iter_mut().flatten() {
            if c.torrent == Some(id) && c.closing.is_none() {
                c.closing = Some(why.to_owned());
                c.handoff = true;
            }
        }
    }

    /// What announces say about us, with a per-torrent seed for the announcer.
    fn identity(&self, id: TorrentId) -> AnnounceIdentity {
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&self.peer_id.0[12..20]);
        AnnounceIdentity {
            peer_id: self.peer_id.0,
            port: self.announce_port,
            seed: id.0 ^ u64::from_le_bytes(tail),
        }
    }

    /// Sends a magnet fetch's pending tracker requests.
    fn pump_fetch_trackers(&mut self, now: Instant, id: TorrentId) {
        let Some(f) = self.fetches.get_mut(&id) else {
            return;
        };
        for act in f.poll_tracker(now) {
            match act {
                TrackerAction::HttpGet { tracker, url } => self.tracker_http(id, tracker, url),
                TrackerAction::SendUdp {
                    tracker,
                    host,
                    port,
                    payload,
                } => self.tracker_udp(id, tracker, &host, port, &payload),
            }
        }
        self.dial(now);
    }

    /// Creates the torrent `id` (loading resume data) and starts it.
    fn open_torrent(
        &mut self,
        now: Instant,
        id: TorrentId,
        meta: TorrentMeta,
        options: AddOptions,
    ) {
        let info_hash = meta.info_hash;
        let rpath = resume::path(
            self.config.resume_dir.as_deref(),
            &options.save_dir,
            &meta.info_hash,
        );
        let record = resume::load(&rpath);
        let announce = (options.trackers == UseTrackers::Announce).then(|| self.identity(id));
        let mut t = Torrent::new(id, meta, options.save_dir.clone(), record, announce, now);
        t.enable_pex(self.config.pex_interval);
        for addr in options.peers {
            t.add_addr(now, addr);
        }
        self.by_hash.insert(info_hash, id);
        self.torrents.insert(id, t);
        // Settings restored from the state directory or carried over a recheck or move.
        if let Some(s) = self.carry.remove(&info_hash) {
            self.apply_settings(now, id, &s);
        }
        self.save_state(id);
    }

    /// Queues the torrents saved in the state directory as adds without a request id.
    fn restore_state(&mut self) {
        let Some(dir) = self.config.state_dir.clone() else {
            return;
        };
        for saved in state::load_all(&dir) {
            if let Ok(m) = &saved.meta {
                self.carry.insert(m.info_hash, saved.settings);
            }
            self.pending_adds.push_back(PendingAdd {
                request_id: None,
                options: saved.options,
                state: AddState::Ready(saved.meta),
            });
        }
        self.answer_adds();
    }

    fn resume_path(&self, t: &Torrent) -> PathBuf {
        resume::path(
            self.config.resume_dir.as_deref(),
            &t.save_dir,
            &t.meta.info_hash,
        )
    }

    /// Writes resume data of running torrents whose state changed since the last write.
    fn save_all_resume(&mut self) {
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            if self
                .torrents
                .get(&id)
                .is_some_and(|t| t.is_running() && t.resume_changed())
            {
                self.queue_resume_save(id);
            }
        }
    }

    /// Queues a durable resume save of `id` on the resume writer (data fsync, then the
    /// record), off this thread. It counts as a pending job, so a close waits for it.
    fn queue_resume_save(&mut self, id: TorrentId) {
        let Some(t) = self.torrents.get(&id).filter(|t| t.is_checked()) else {
            return;
        };
        let path = self.resume_path(t);
        let (Some(pools), Some(t)) = (&self.pools, self.torrents.get_mut(&id)) else {
            return;
        };
        pools.save_resume(ResumeJob {
            torrent: id,
            storage: Arc::clone(&t.storage),
            geometry: Arc::clone(t.geometry()),
            record: t.resume_snapshot(),
            path,
        });
        t.pending_jobs += 1;
        t.mark_resume_saved();
    }

    // ---- timers ----

    fn housekeeping(&mut self, now: Instant) {
        for t in self.torrents.values_mut() {
            t.handle_housekeeping(now);
        }
        for e in self.seed_limits.check(now, &mut self.torrents) {
            self.emit(e);
        }
        for c in self.conns.iter_mut().flatten() {
            if c.closing.is_some() {
                continue;
            }
            if c.phase != Phase::Established {
                if now.saturating_duration_since(c.since) > self.config.handshake_timeout {
                    c.closing = Some("handshake timed out".into());
                }
                continue;
            }
            if now.saturating_duration_since(c.last_recv) > self.config.peer_idle_timeout {
                c.closing = Some("idle".into());
            } else if now.saturating_duration_since(c.last_send) > self.config.keepalive_interval
                && c.wbuf.is_empty()
            {
                freshet_peerwire::Message::Keepalive.encode(&mut c.wbuf);
            }
        }
        self.dial(now);
    }

    /// Opens outgoing connections while under the limits.
    fn dial(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        let mut per_torrent: HashMap<TorrentId, usize> = HashMap::new();
        for c in self.conns.iter().flatten() {
            if let Some(t) = c.torrent {
                *per_torrent.entry(t).or_default() += 1;
            }
        }
        let ids: Vec<TorrentId> = self
            .torrents
            .keys()
            .chain(self.fetches.keys())
            .copied()
            .collect();
        for id in ids {
            loop {
                if self.conn_count() >= self.config.max_connections
                    || per_torrent.get(&id).copied().unwrap_or(0)
                        >= self.torrent_connection_limit(id)
                {
                    break;
                }
                let next = match (self.torrents.get_mut(&id), self.fetches.get_mut(&id)) {
                    (Some(t), _) => t.next_dial(now),
                    (None, Some(f)) => f.next_dial(now),
                    (None, None) => None,
                };
                let Some(addr) = next else { break };
                if self.listen_addrs_contain(addr) {
                    continue;
                }
                match TcpStream::connect(addr) {
                    Ok(stream) => {
                        if self
                            .insert_conn(now, stream, addr, Direction::Outgoing, Some(id))
                            .is_some()
                        {
                            *per_torrent.entry(id).or_default() += 1;
                        } else {
                            self.dial_failed(now, id, addr);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(%addr, "connect failed: {e}");
                        self.dial_failed(now, id, addr);
                    }
                }
            }
        }
    }

    fn dial_failed(&mut self, now: Instant, id: TorrentId, addr: SocketAddr) {
        if let Some(t) = self.torrents.get_mut(&id) {
            t.addr_failed(now, addr);
        } else if let Some(f) = self.fetches.get_mut(&id) {
            f.addr_failed(now, addr);
        }
    }

    /// Status events for every torrent and magnet fetch (or one), in id order.
    fn statuses(&self, only: Option<TorrentId>) -> Vec<Event> {
        let mut out: Vec<TorrentStatus> = self
            .torrents
            .values()
            .map(Torrent::status)
            .chain(self.fetches.values().map(fetch_status))
            .filter(|s| only.is_none_or(|i| i == s.id))
            .collect();
        out.sort_by_key(|s| s.id);
        out.into_iter().map(Event::Status).collect()
    }

    fn listen_addrs_contain(&self, addr: SocketAddr) -> bool {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .any(|l| l == addr)
    }

    // ---- torrent actions ----

    fn run_actions(&mut self, now: Instant) {
        let mut dial_after = false;
        let ids: Vec<TorrentId> = self.torrents.keys().copied().collect();
        for id in ids {
            while let Some(action) = self.torrents.get_mut(&id).and_then(Torrent::poll_action) {
                match action {
                    Action::Send(key, msg) => {
                        if let Some(c) = self.conn_by_peer(id, key)
                            && c.closing.is_none()
                        {
                            msg.encode(&mut c.wbuf);
                        }
                    }
                    Action::Disconnect(key, why) => {
                        if let Some(c) = self.conn_by_peer(id, key)
                            && c.closing.is_none()
                        {
                            c.closing = Some(why);
                        }
                    }
                    Action::Disk(job) => {
                        let Some(t) = self.torrents.get(&id) else {
                            break;
                        };
                        let job = Job {
                            torrent: id,
                            storage: Arc::clone(&t.storage),
                            geometry: Arc::clone(t.geometry()),
                            job,
                        };
                        self.submit_job(job);
                    }
                    Action::Event(e) => {
                        // Peers known before the check finished are dialled at once, not at
                        // the next housekeeping round.
                        dial_after |= matches!(e, Event::Checked { .. });
                        self.emit(e);
                    }
                    Action::SaveResume => self.queue_resume_save(id),
                    Action::TrackerHttp { tracker, url } => self.tracker_http(id, tracker, url),
                    Action::TrackerUdp {
                        tracker,
                        host,
                        port,
                        payload,
                    } => self.tracker_udp(id, tracker, &host, port, &payload),
                }
            }
        }
        if dial_after {
            self.dial(now);
        }
    }

    fn conn_by_peer(&mut self, torrent: TorrentId, key: PeerKey) -> Option<&mut Conn> {
        let idx = *self.by_peer.get(&(torrent, key))?;
        self.conns.get_mut(idx)?.as_mut()
    }

    fn emit(&self, e: Event) {
        let _ = self.outbox.send(e);
    }

    // ---- trackers ----

    fn tracker_http(&self, torrent: TorrentId, tracker: TrackerIdx, url: String) {
        let tx = self.tracker_tx.clone();
        let waker = Arc::clone(&self.waker);
        let client = self.http.clone();
        let spawned = std::thread::Builder::new()
            .name("freshet-announce".into())
            .spawn(move || {
                let result = client.get(&url, MAX_BODY);
                let _ = tx.send(TrackerReply {
                    torrent,
                    tracker,
                    result,
                });
                let _ = waker.wake();
            });
        if let Err(e) = spawned {
            let _ = self.tracker_tx.send(TrackerReply {
                torrent,
                tracker,
                result: Err(format!("cannot start announce thread: {e}")),
            });
        }
    }

    fn tracker_udp(
        &mut self,
        torrent: TorrentId,
        tracker: TrackerIdx,
        host: &str,
        port: u16,
        payload: &[u8],
    ) {
        // Tracker hosts are usually literal addresses or resolve from the local cache; a slow
        // resolver blocks this thread (to be moved to a worker).
        let addrs: Vec<SocketAddr> = match std::net::ToSocketAddrs::to_socket_addrs(&(host, port)) {
            Ok(a) => a.collect(),
            Err(e) => {
                tracing::debug!(%host, "cannot resolve UDP tracker: {e}");
                return;
            }
        };
        for addr in addrs {
            let socket = if addr.is_ipv4() {
                self.udp4.as_ref()
            } else {
                self.udp6.as_ref()
            };
            let Some(socket) = socket else { continue };
            let routes = self.udp_routes.entry(addr).or_default();
            if !routes.contains(&(torrent, tracker)) {
                routes.push((torrent, tracker));
            }
            if let Err(e) = socket.send_to(payload, addr) {
                tracing::debug!(%addr, "UDP tracker send failed: {e}");
            }
            return;
        }
    }

    fn udp_readable(&mut self, now: Instant, token: Token) {
        let mut buf = [0u8; 2048];
        for _ in 0..256 {
            let socket = if token == UDP4 {
                self.udp4.as_ref()
            } else {
                self.udp6.as_ref()
            };
            let Some(socket) = socket else { return };
            let (n, from) = match socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!("UDP receive failed: {e}");
                    return;
                }
            };
            let Some(routes) = self.udp_routes.get(&from) else {
                continue;
            };
            let mut fetched = Vec::new();
            for &(tid, tracker) in routes {
                if let Some(t) = self.torrents.get_mut(&tid) {
                    t.handle_tracker_udp(now, tracker, &buf[..n]);
                } else if let Some(f) = self.fetches.get_mut(&tid) {
                    f.handle_tracker_udp(now, tracker, &buf[..n]);
                    fetched.push(tid);
                }
            }
            for tid in fetched {
                self.pump_fetch_trackers(now, tid);
            }
            // Peers a tracker just named are dialled now, not at the next housekeeping round.
            self.dial(now);
        }
        // More may be waiting: come back before sleeping.
        let _ = self.waker.wake();
    }

    fn drain_tracker_replies(&mut self, now: Instant) {
        let mut any = false;
        while let Ok(r) = self.tracker_rx.try_recv() {
            any = true;
            if let Some(t) = self.torrents.get_mut(&r.torrent) {
                t.handle_tracker_http(now, r.tracker, r.result);
            } else if let Some(f) = self.fetches.get_mut(&r.torrent) {
                f.handle_tracker_http(now, r.tracker, r.result);
                self.pump_fetch_trackers(now, r.torrent);
            }
        }
        // Peers a tracker just named are dialled now, not at the next housekeeping round.
        if any {
            self.dial(now);
        }
    }

    // ---- DHT ----

    /// Runs the DHT node's timers and the torrents' lookups, and hands the peers it found to
    /// their torrents (the same address lists trackers feed, so dialling and back-off are
    /// shared). Private torrents (BEP 27) never use the DHT; magnet links look for peers only.
    fn dht_round(&mut self, now: Instant) {
        let Some(dht) = &mut self.dht else { return };
        let mut needs = Vec::new();
        if self.shutdown_deadline.is_none() {
            let port = self.announce_port;
            for t in self.torrents.values() {
                if t.is_running() && !t.meta.private {
                    needs.push(Need {
                        info_hash: t.meta.info_hash,
                        want: if port == 0 {
                            Want::Peers
                        } else {
                            Want::Announce(port)
                        },
                        short: t.peer_count() < DHT_SHORT_OF_PEERS,
                    });
                }
            }
            for f in self.fetches.values() {
                needs.push(Need {
                    info_hash: f.info_hash,
                    want: Want::Peers,
                    short: true,
                });
            }
        }
        dht.handle_timeout(now, &needs);
        let found = dht.take_found();
        if found.is_empty() {
            return;
        }
        for (hash, addr) in found {
            let Some(&id) = self.by_hash.get(&hash) else {
                continue;
            };
            if let Some(t) = self.torrents.get_mut(&id) {
                t.add_addr(now, addr);
            } else if let Some(f) = self.fetches.get_mut(&id) {
                f.add_addr(now, addr);
            }
        }
        self.dial(now);
    }

    /// Sends our DHT port to peers that set the DHT bit, after their first messages.
    fn send_dht_ports(&mut self) {
        if self.dht_ports_due.is_empty() {
            return;
        }
        let port = self.dht.as_ref().map_or(0, DhtNode::port);
        for (idx, addr) in std::mem::take(&mut self.dht_ports_due) {
            if let Some(Some(c)) = self.conns.get_mut(idx)
                && c.addr == addr
                && c.closing.is_none()
                && c.phase == Phase::Established
            {
                freshet_peerwire::Message::Port(port).encode(&mut c.wbuf);
            }
        }
    }

    // ---- closing and shutdown ----

    fn advance_closing(&mut self, now: Instant) {
        let ids: Vec<TorrentId> = self.closing.keys().copied().collect();
        for id in ids {
            let Some(&(reason, stage)) = self.closing.get(&id) else {
                continue;
            };
            let Some(t) = self.torrents.get_mut(&id) else {
                self.closing.remove(&id);
                continue;
            };
            if t.pending_jobs > 0 || t.peer_count() > 0 || !t.is_tracker_stopped(now) {
                continue;
            }
            match stage {
                CloseStage::Draining => {
                    let job = match reason {
                        CloseReason::Request(DataOnClose::Delete) => {
                            freshet_engine::DiskJob::Delete
                        }
                        CloseReason::Move => match self.moves.get(&id) {
                            Some(to) => freshet_engine::DiskJob::Move(to.clone()),
                            None => freshet_engine::DiskJob::Flush,
                        },
                        _ => freshet_engine::DiskJob::Flush,
                    };
                    t.pending_jobs += 1;
                    let job = Job {
                        torrent: id,
                        storage: Arc::clone(&t.storage),
                        geometry: Arc::clone(t.geometry()),
                        job,
                    };
                    self.submit_job(job);
                    self.closing.insert(id, (reason, CloseStage::Finishing));
                }
                CloseStage::Finishing => {
                    self.closing.remove(&id);
                    let Some(t) = self.torrents.remove(&id) else {
                        continue;
                    };
                    self.by_hash.remove(&t.meta.info_hash);
                    let path = self.resume_path(&t);
                    if let (CloseReason::Move, Some(to)) = (reason, self.moves.remove(&id)) {
                        // Every write finished before the move (the torrent was drained); the
                        // resume data follows the files, so nothing is checked again.
                        let moved = to.join(&t.meta.name).symlink_metadata().is_ok();
                        let mut options = t.reopen_options();
                        if moved {
                            options.save_dir = to;
                        }
                        let new_path = resume::path(
                            self.config.resume_dir.as_deref(),
                            &options.save_dir,
                            &t.meta.info_hash,
                        );
                        if t.is_checked()
                            && let Err(e) = resume::save(&t, &new_path)
                        {
                            tracing::warn!("cannot write resume data {}: {e}", new_path.display());
                        }
                        if new_path != path {
                            resume::remove(&path);
                        }
                        if self.shutdown_deadline.is_some() {
                            continue;
                        }
                        let name = t.meta.name.clone();
                        let save_path = options.save_dir.join(&name);
                        self.carry.insert(t.meta.info_hash, self.settings_of(&t));
                        self.open_torrent(now, id, t.meta, options);
                        if moved {
                            self.emit(Event::Moved { id, save_path });
                        }
                        self.dial(now);
                        continue;
                    }
                    if matches!(reason, CloseReason::Recheck) && self.shutdown_deadline.is_none() {
                        // Flushed and disconnected: open it again without resume data, so
                        // every piece on disk is hashed; settings carry over.
                        resume::remove(&path);
                        let options = t.reopen_options();
                        self.carry.insert(t.meta.info_hash, self.settings_of(&t));
                        self.open_torrent(now, id, t.meta, options);
                        self.dial(now);
                        continue;
                    }
                    match reason {
                        CloseReason::Request(DataOnClose::Delete) => resume::remove(&path),
                        _ if !t.is_checked() => {}
                        _ => {
                            if let Err(e) = resume::save(&t, &path) {
                                tracing::warn!("cannot write resume data {}: {e}", path.display());
                            }
                        }
                    }
                    if let CloseReason::Request(_) = reason {
                        if let Some(dir) = &self.config.state_dir {
                            state::remove(dir, &t.meta.info_hash, &path);
                        }
                        self.emit(Event::Closed { id });
                    }
                }
            }
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(now + self.config.shutdown_timeout);
        for (id, f) in std::mem::take(&mut self.fetches) {
            self.by_hash.remove(&f.info_hash);
            for c in self.conns.iter_mut().flatten() {
                if c.torrent == Some(id) && c.closing.is_none() {
                    c.closing = Some("shutting down".into());
                }
            }
        }
        for (&id, t) in &mut self.torrents {
            if let std::collections::hash_map::Entry::Vacant(e) = self.closing.entry(id) {
                t.begin_close(now);
                e.insert((CloseReason::Shutdown, CloseStage::Draining));
            }
        }
        // Adds still fetching get their one reply now.
        for p in &mut self.pending_adds {
            if matches!(p.state, AddState::Fetching(_)) {
                p.state = AddState::Ready(Err("the client is shutting down".into()));
            }
        }
        self.answer_adds();
    }

    /// Queues the DHT routing table on the resume writer if it changed since the last save.
    fn save_dht_state(&mut self, now: Instant) {
        if let (Some(d), Some(pools)) = (&mut self.dht, &self.pools)
            && let Some((path, bytes)) = d.state_to_save(now)
        {
            pools.save_file(path, bytes, "DHT state");
        }
    }

    fn shutdown_finished(&self, now: Instant) -> bool {
        match self.shutdown_deadline {
            None => false,
            Some(d) => self.torrents.is_empty() || now >= d,
        }
    }

    fn finish_shutdown(mut self) {
        // Written by the resume writer before `join` below returns.
        self.save_dht_state(Instant::now());
        // Queued disk jobs finish first, so the fsync in `resume::save` covers every write.
        if let Some(p) = self.pools.take() {
            p.join();
        }
        // Torrents still open (the deadline passed): write what we know (data fsynced first).
        for t in self.torrents.values().filter(|t| t.is_checked()) {
            let path = self.resume_path(t);
            if let Err(e) = resume::save(t, &path) {
                tracing::warn!("cannot write resume data {}: {e}", path.display());
            }
        }
        for c in self.conns.iter_mut().flatten() {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
        self.conns.clear();
        let _ = self.signal.send(ShutdownComplete);
    }
}

/// The status of a magnet link still fetching its metadata.
fn fetch_status(f: &MetaFetch) -> TorrentStatus {
    TorrentStatus {
        id: f.id,
        name: f.name.clone(),
        activity: Activity::FetchingMetadata,
        fraction_done: f.fraction(),
        have_bytes: 0,
        wanted_bytes: 0,
        down_rate: 0,
        up_rate: 0,
        downloaded: 0,
        uploaded: 0,
        eta: None,
        peers: u32::try_from(f.peer_count()).unwrap_or(u32::MAX),
        seeds: 0,
        swarm_seeds: None,
        swarm_leechers: None,
        distributed_copies: 0.0,
        tracker: TrackerState::None,
        tracker_error: None,
        error: None,
        files: Vec::new(),
        peer_list: Vec::new(),
    }
}

fn bind_udp(poll: &Poll, addr: &str, token: Token) -> Option<UdpSocket> {
    let addr: SocketAddr = addr.parse().ok()?;
    let mut s = UdpSocket::bind(addr).ok()?;
    poll.registry()
        .register(&mut s, token, Interest::READABLE)
        .ok()?;
    Some(s)
}

fn read_torrent_file(path: &std::path::Path) -> Result<TorrentMeta, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_TORRENT_FILE {
        return Err(format!(
            "{}: larger than {MAX_TORRENT_FILE} bytes",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    TorrentMeta::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

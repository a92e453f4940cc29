//! The DHT glue: UDP sockets (one per address family) driving one [`freshet_dht::Dht`] node,
//! plus the per-torrent lookup schedule.
//!
//! Protocol logic lives in `freshet-dht`; this module only moves datagrams (read →
//! `handle_packet`, `poll_transmit` → `send_to`), folds the node's deadline into the event
//! loop's, resolves bootstrap host names on a helper thread, decides when each torrent's next
//! `get_peers`/`announce` lookup is due, hands the peers found back to the driver, and persists
//! the routing table (`dht.state` in the state directory: on shutdown and with the periodic
//! resume saves, when changed).

#![allow(clippy::disallowed_methods)] // The client owns the clock: `Instant::now` is its job.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use freshet_dht::{Dht, Event as DhtEvent, LookupId, NodeId, SavedState, Stats};
use freshet_metainfo::InfoHashV1;
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token, Waker};

/// Poll token of the IPv4 DHT socket.
pub(super) const DHT4: Token = Token(60);
/// Poll token of the IPv6 DHT socket.
pub(super) const DHT6: Token = Token(61);

/// DHT settings of a client ([`Config::dht`](crate::Config::dht)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DhtConfig {
    /// UDP addresses of the node (at most one IPv4 and one IPv6 is used). Empty, the default:
    /// the peer listen addresses' IPs and ports (the same port number, UDP, as libtorrent
    /// does), falling back to any free port when that UDP port is taken.
    pub listen: Vec<SocketAddr>,
    /// Bootstrap routers as `HOST:PORT`, resolved on a helper thread at start. Empty by
    /// default: the library never contacts a public router on its own (the `freshet` binary
    /// adds the well-known ones).
    pub bootstrap: Vec<String>,
    /// Time between a torrent's lookups while it has enough peers (default 10 min).
    pub lookup_interval: Duration,
    /// Time between lookups while a torrent is short of peers or fetching its metadata
    /// (default 1 min).
    pub retry_interval: Duration,
    /// Queries answered per source IP per 10 s (default 100; see `freshet_dht::Config`).
    pub max_queries_per_ip: u32,
}

impl Default for DhtConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            bootstrap: Vec::new(),
            lookup_interval: Duration::from_secs(600),
            retry_interval: Duration::from_secs(60),
            max_queries_per_ip: 100,
        }
    }
}

impl DhtConfig {
    /// Bootstraps from `nodes` (`HOST:PORT`) instead of the current list.
    #[must_use]
    pub fn with_bootstrap<S: Into<String>>(mut self, nodes: impl IntoIterator<Item = S>) -> Self {
        self.bootstrap = nodes.into_iter().map(Into::into).collect();
        self
    }
}

/// A snapshot of the client's DHT node ([`Event::Dht`](crate::Event::Dht)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DhtStatus {
    /// Our node id.
    pub node_id: NodeId,
    /// The UDP addresses the node is bound to.
    pub addrs: Vec<SocketAddr>,
    /// Routing table and activity counters.
    pub table: Stats,
    /// Torrents (and magnet links) we run lookups for.
    pub torrents: usize,
    /// Lookups finished since start.
    pub lookups_done: u64,
    /// Peer addresses the DHT handed to torrents since start.
    pub peers_found: u64,
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// The last torrent lookup that finished, if any.
    pub last_lookup: Option<LookupReport>,
}

/// How a torrent's DHT lookup went ([`DhtStatus::last_lookup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LookupReport {
    /// The torrent.
    pub info_hash: InfoHashV1,
    /// Hops of the converged lookup (1 = a node we knew).
    pub hops: u32,
    /// Queries sent.
    pub queries: u32,
    /// Peer addresses it handed to the torrent.
    pub peers: usize,
    /// `announce_peer` queries sent after it (0 for a plain `get_peers`).
    pub announced_to: usize,
    /// From its start to the first peer found, if any.
    pub first_peer_after: Option<Duration>,
    /// From its start to its end.
    pub took: Duration,
}

impl std::fmt::Display for DhtStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.table;
        write!(
            f,
            "DHT {}: {} good, {} questionable, {} bad nodes in {} buckets; {} torrents stored, \
             {} lookups running, {} done; {} peers found; {} packets in, {} out",
            self.addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            t.good,
            t.questionable,
            t.bad,
            t.non_empty_buckets,
            t.stored_torrents,
            t.active_lookups,
            self.lookups_done,
            self.peers_found,
            self.packets_in,
            self.packets_out,
        )
    }
}

/// What a torrent wants from the DHT this round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// Find peers only (a magnet link still fetching its metadata).
    Peers,
    /// Find peers, then announce that we accept peers on this TCP port.
    Announce(u16),
}

/// One torrent's need, as the driver sees it this round.
#[derive(Debug, Clone, Copy)]
pub(super) struct Need {
    pub(super) info_hash: InfoHashV1,
    pub(super) want: Want,
    /// Fewer peers than it would like: look again after the retry interval.
    pub(super) short: bool,
}

#[derive(Debug)]
struct Schedule {
    want: Want,
    next: Instant,
    running: Option<LookupId>,
    /// When the running lookup started, and when it found its first peer.
    started: Instant,
    first_peer: Option<Instant>,
    /// Peers handed over by the running lookup (bounded by [`MAX_PEERS_PER_LOOKUP`]).
    forwarded: usize,
    short: bool,
}

/// The client's DHT node and its sockets.
pub(super) struct DhtNode {
    node: Dht,
    config: DhtConfig,
    udp4: Option<UdpSocket>,
    udp6: Option<UdpSocket>,
    addrs: Vec<SocketAddr>,
    waker: Arc<Waker>,
    /// Resolved bootstrap addresses, once the helper thread is done.
    resolving: Option<Receiver<Vec<SocketAddr>>>,
    schedules: HashMap<InfoHashV1, Schedule>,
    lookups: HashMap<LookupId, InfoHashV1>,
    found: Vec<(InfoHashV1, SocketAddr)>,
    state_file: Option<PathBuf>,
    /// What the state file holds now (written only when this changes).
    saved: Option<Vec<u8>>,
    pings_left: u32,
    pings_reset: Instant,
    last_lookup: Option<LookupReport>,
    lookups_done: u64,
    peers_found: u64,
    packets_in: u64,
    packets_out: u64,
}

impl DhtNode {
    /// Binds the sockets, restores the saved routing table from `state_dir` and starts
    /// resolving the bootstrap routers. `None` (logged) when no socket could be bound.
    pub(super) fn start(
        config: &DhtConfig,
        peer_listen: &[SocketAddr],
        registry: &Registry,
        waker: Arc<Waker>,
        state_dir: Option<&Path>,
        now: Instant,
    ) -> Option<Self> {
        let wanted: &[SocketAddr] = if config.listen.is_empty() {
            peer_listen
        } else {
            &config.listen
        };
        // Only the derived address may move to another port; a configured one is exact.
        let fallback = config.listen.is_empty();
        let udp4 = wanted
            .iter()
            .find(|a| a.is_ipv4())
            .and_then(|a| bind(registry, *a, DHT4, fallback));
        let udp6 = wanted
            .iter()
            .find(|a| a.is_ipv6())
            .and_then(|a| bind(registry, *a, DHT6, fallback));
        let addrs: Vec<SocketAddr> = [&udp4, &udp6]
            .into_iter()
            .flatten()
            .filter_map(|s| s.local_addr().ok())
            .collect();
        if addrs.is_empty() {
            tracing::warn!("DHT off: no UDP socket could be bound for {wanted:?}");
            return None;
        }
        let state_file = state_dir.map(|d| d.join(STATE_FILE));
        let saved_state = state_file.as_deref().and_then(load_state);
        if let Some(s) = &saved_state {
            tracing::info!(nodes = s.nodes.len(), "DHT routing table restored");
        }
        let node = Dht::new(
            now,
            freshet_dht::Config {
                saved_state,
                max_queries_per_ip: config.max_queries_per_ip,
                ..freshet_dht::Config::default()
            },
        );
        let resolving = (!config.bootstrap.is_empty())
            .then(|| resolve_in_background(config.bootstrap.clone(), Arc::clone(&waker)))
            .flatten();
        tracing::info!(id = %node.id(), ?addrs, "DHT node started");
        Some(Self {
            node,
            config: config.clone(),
            udp4,
            udp6,
            addrs,
            waker,
            resolving,
            schedules: HashMap::new(),
            lookups: HashMap::new(),
            found: Vec::new(),
            state_file,
            saved: None,
            pings_left: PINGS_PER_MINUTE,
            pings_reset: now + Duration::from_secs(60),
            last_lookup: None,
            lookups_done: 0,
            peers_found: 0,
            packets_in: 0,
            packets_out: 0,
        })
    }

    /// The UDP addresses the node is bound to.
    pub(super) fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The port we advertise to peers in BEP 5 `port` messages.
    pub(super) fn port(&self) -> u16 {
        self.addrs.first().map_or(0, SocketAddr::port)
    }

    /// Reads up to a bounded number of datagrams from the socket behind `token`.
    pub(super) fn handle_readable(&mut self, now: Instant, token: Token) {
        let mut buf = [0u8; RECV_BUF];
        for _ in 0..READ_BOUND {
            let socket = if token == DHT4 {
                self.udp4.as_ref()
            } else {
                self.udp6.as_ref()
            };
            let Some(socket) = socket else { return };
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    self.packets_in += 1;
                    self.node.handle_packet(now, from, &buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flush();
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // ICMP errors surface here on some systems; the socket stays usable.
                    tracing::debug!("DHT receive failed: {e}");
                    self.flush();
                    return;
                }
            }
            // Answer as we go, so a flood cannot pile up replies.
            self.flush();
        }
        // More may be waiting: come back before sleeping.
        let _ = self.waker.wake();
    }

    /// A peer told us its DHT port (BEP 5 `port` message): ping it (bounded per minute).
    pub(super) fn handle_port(&mut self, now: Instant, addr: SocketAddr) {
        if now >= self.pings_reset {
            self.pings_left = PINGS_PER_MINUTE;
            self.pings_reset = now + Duration::from_secs(60);
        }
        if addr.port() == 0 || self.pings_left == 0 {
            return;
        }
        self.pings_left -= 1;
        self.node.ping(now, addr);
        self.flush();
    }

    /// When [`Self::handle_timeout`] must next run. Lookups held back until the table is
    /// ready add no deadline (the bootstrap's replies and timeouts wake the loop instead).
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let lookups = self
            .schedules
            .values()
            .filter(|s| s.running.is_none() && self.table_ready())
            .map(|s| s.next)
            .min();
        match (self.node.poll_timeout(), lookups) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the node's timers, starts the lookups that are due for `needs` (every torrent that
    /// may use the DHT now; others are forgotten) and sends what the node queued.
    pub(super) fn handle_timeout(&mut self, now: Instant, needs: &[Need]) {
        if let Some(rx) = &self.resolving
            && let Ok(addrs) = rx.try_recv()
        {
            self.resolving = None;
            let usable: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| {
                    (a.is_ipv4() && self.udp4.is_some()) || (a.is_ipv6() && self.udp6.is_some())
                })
                .collect();
            tracing::info!(?usable, "DHT bootstrapping");
            if !usable.is_empty() {
                self.node.bootstrap(now, &usable);
            }
        }
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        let wanted: HashSet<InfoHashV1> = needs.iter().map(|n| n.info_hash).collect();
        self.schedules.retain(|h, _| wanted.contains(h));
        let table_ready = self.table_ready();
        for need in needs {
            let s = self.schedules.entry(need.info_hash).or_insert(Schedule {
                want: need.want,
                next: now,
                running: None,
                started: now,
                first_peer: None,
                forwarded: 0,
                short: need.short,
            });
            s.short = need.short;
            if s.want != need.want {
                // Metadata arrived (or the port changed): announce as soon as possible.
                s.want = need.want;
                s.next = now;
            }
            if s.running.is_some() || s.next > now || !table_ready {
                continue;
            }
            let lid = match need.want {
                Want::Peers => self.node.get_peers(now, need.info_hash),
                Want::Announce(port) => self.node.announce(now, need.info_hash, port),
            };
            s.running = Some(lid);
            s.started = now;
            s.first_peer = None;
            s.forwarded = 0;
            self.lookups.insert(lid, need.info_hash);
        }
        self.drain_events(now);
        self.flush();
    }

    /// Peers the DHT found since the last call, for the driver to add to its torrents.
    pub(super) fn take_found(&mut self) -> Vec<(InfoHashV1, SocketAddr)> {
        std::mem::take(&mut self.found)
    }

    /// A snapshot for [`Event::Dht`](crate::Event::Dht).
    pub(super) fn status(&self, now: Instant) -> DhtStatus {
        DhtStatus {
            node_id: self.node.id(),
            addrs: self.addrs.clone(),
            table: self.node.stats(now),
            torrents: self.schedules.len(),
            lookups_done: self.lookups_done,
            peers_found: self.peers_found,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
            last_lookup: self.last_lookup,
        }
    }

    /// The node id and routing table to write to the state directory, as (path, bytes), if
    /// there is one and they changed since the last call (called on shutdown and with the
    /// periodic resume saves, so a crash loses little; the resume writer thread writes them).
    /// The bytes count as saved once handed out: if that write fails (logged), the next change
    /// to the table is saved again.
    pub(super) fn state_to_save(&mut self, now: Instant) -> Option<(PathBuf, Vec<u8>)> {
        let path = self.state_file.as_ref()?;
        let state = self.node.saved_state(now);
        let bytes = state.encode();
        if self.saved.as_deref() == Some(bytes.as_slice()) {
            return None;
        }
        tracing::debug!(
            nodes = state.nodes.len(),
            "DHT routing table queued for saving"
        );
        self.saved = Some(bytes.clone());
        Some((path.clone(), bytes))
    }

    /// Whether torrent lookups may start: they wait while a bootstrap is still under way and
    /// the table is empty (started now, they would have no node to ask).
    fn table_ready(&self) -> bool {
        !self.node.routing_table().is_empty()
            || (self.resolving.is_none() && self.node.active_lookups() == 0)
    }

    fn drain_events(&mut self, now: Instant) {
        while let Some(ev) = self.node.poll_event() {
            match ev {
                DhtEvent::PeersFound {
                    lookup,
                    info_hash,
                    peers,
                    hop,
                } => {
                    let Some(s) = self
                        .lookups
                        .get(&lookup)
                        .and_then(|h| self.schedules.get_mut(h))
                    else {
                        continue;
                    };
                    let room = MAX_PEERS_PER_LOOKUP.saturating_sub(s.forwarded);
                    let n = peers.len().min(room);
                    s.forwarded += n;
                    if n > 0 && s.first_peer.is_none() {
                        s.first_peer = Some(now);
                    }
                    self.peers_found += n as u64;
                    tracing::debug!(%info_hash, hop, n, "DHT peers found");
                    self.found
                        .extend(peers.into_iter().take(n).map(|p| (info_hash, p)));
                }
                DhtEvent::LookupDone {
                    lookup,
                    hops,
                    queries,
                    announced_to,
                    ..
                } => {
                    self.lookups_done += 1;
                    let Some(hash) = self.lookups.remove(&lookup) else {
                        continue;
                    };
                    if let Some(s) = self.schedules.get_mut(&hash) {
                        let short = s.short || s.forwarded == 0;
                        let wait = if short {
                            self.config.retry_interval
                        } else {
                            self.config.lookup_interval
                        };
                        s.running = None;
                        s.next = now + wait;
                        self.last_lookup = Some(LookupReport {
                            info_hash: hash,
                            hops,
                            queries,
                            peers: s.forwarded,
                            announced_to,
                            first_peer_after: s.first_peer.map(|t| t - s.started),
                            took: now - s.started,
                        });
                        tracing::info!(
                            info_hash = %hash, hops, queries, announced_to, peers = s.forwarded,
                            "DHT lookup done"
                        );
                    }
                }
                _ => {}
            }
        }
    }

    fn flush(&mut self) {
        while let Some((to, bytes)) = self.node.poll_transmit() {
            let socket = if to.is_ipv4() {
                self.udp4.as_ref()
            } else {
                self.udp6.as_ref()
            };
            let Some(socket) = socket else { continue };
            match socket.send_to(&bytes, to) {
                Ok(_) => self.packets_out += 1,
                Err(e) => tracing::debug!(%to, "DHT send failed: {e}"),
            }
        }
    }
}

fn bind(registry: &Registry, addr: SocketAddr, token: Token, fallback: bool) -> Option<UdpSocket> {
    let mut socket = match UdpSocket::bind(addr) {
        Ok(s) => s,
        Err(e) if fallback && addr.port() != 0 => {
            tracing::warn!(%addr, "DHT: cannot bind UDP ({e}); using any free port");
            UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).ok()?
        }
        Err(e) => {
            tracing::warn!(%addr, "DHT: cannot bind UDP: {e}");
            return None;
        }
    };
    registry
        .register(&mut socket, token, Interest::READABLE)
        .ok()?;
    Some(socket)
}

fn load_state(path: &Path) -> Option<SavedState> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() > MAX_STATE_FILE {
        tracing::warn!(
            "{}: larger than {MAX_STATE_FILE} bytes; ignored",
            path.display()
        );
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    match SavedState::decode(&bytes) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("{}: corrupt DHT state ignored: {e}", path.display());
            None
        }
    }
}

/// Resolves `HOST:PORT` names on a helper thread (DNS may block); the result arrives on the
/// returned channel and wakes the network thread.
fn resolve_in_background(
    names: Vec<String>,
    waker: Arc<Waker>,
) -> Option<Receiver<Vec<SocketAddr>>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("freshet-dht-resolve".into())
        .spawn(move || {
            let mut out = Vec::new();
            for name in &names {
                match name.to_socket_addrs() {
                    Ok(addrs) => out.extend(addrs),
                    Err(e) => tracing::warn!(%name, "cannot resolve DHT bootstrap node: {e}"),
                }
            }
            let _ = tx.send(out);
            let _ = waker.wake();
        });
    match spawned {
        Ok(_) => Some(rx),
        Err(e) => {
            tracing::warn!("cannot start the DHT resolver thread: {e}");
            None
        }
    }
}

/// The routing table's file in the state directory.
const STATE_FILE: &str = "dht.state";
/// Largest state file read (1,000 IPv6 contacts take 38 kB).
const MAX_STATE_FILE: u64 = 256 * 1024;
/// Datagrams read per readiness event before other work gets a turn.
const READ_BOUND: usize = 256;
/// Receive buffer: larger than any Ethernet datagram; longer ones are truncated garbage.
const RECV_BUF: usize = 2048;
/// Peer addresses one lookup may hand to its torrent.
const MAX_PEERS_PER_LOOKUP: usize = 500;
/// Nodes learned from `port` messages pinged per minute.
const PINGS_PER_MINUTE: u32 = 64;

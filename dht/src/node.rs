//! The DHT node state machine.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use freshet_metainfo::InfoHashV1;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{
    Body, CompactNodeV4, CompactNodeV6, DecodeError, ErrorBody, InsertOutcome, K, Lookup,
    LookupKind, Message, NodeId, PeerStore, Query, Response, RoutingTable, SavedState,
    TokenSecrets, TransactionId,
};

/// Node configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our node id; random (from the node's RNG) when `None`.
    pub id: Option<NodeId>,
    /// Seed for the node's RNG; drawn from the OS when `None`.
    pub rng_seed: Option<[u8; 32]>,
    /// Bootstrap routers contacted by [`Dht::new`]. Empty by default: the application decides.
    pub bootstrap: Vec<SocketAddr>,
    /// BEP 43 read-only mode: send `ro=1`, never answer queries.
    pub read_only: bool,
    /// How long to wait for a reply before a query counts as failed.
    pub query_timeout: Duration,
    /// `v` sent in every message (BEP 20 style client id), if any.
    pub version: Option<Vec<u8>>,
    /// Peers stored per info-hash.
    pub max_peers_per_hash: usize,
    /// Info-hashes with stored peers.
    pub max_torrents: usize,
    /// Peers returned in one `get_peers` reply.
    pub max_values_per_reply: usize,
    /// Queries answered per source IP per [`RATE_WINDOW`]; the rest are dropped unanswered
    /// (limits reflection and table churn from one flooding host).
    pub max_queries_per_ip: u32,
    /// State saved by [`Dht::saved_state`] before a restart: its id is reused (unless `id` is
    /// set) and its nodes seed the first bootstrap lookup.
    pub saved_state: Option<SavedState>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            id: None,
            rng_seed: None,
            bootstrap: Vec::new(),
            read_only: false,
            query_timeout: Duration::from_secs(2),
            version: Some(b"FR01".to_vec()),
            max_peers_per_hash: 200,
            max_torrents: 10_000,
            max_values_per_reply: 50,
            max_queries_per_ip: 100,
            saved_state: None,
        }
    }
}

/// A snapshot of the node for status output (`freshet dht` prints these).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Good nodes in the routing table.
    pub good: usize,
    /// Questionable nodes.
    pub questionable: usize,
    /// Bad nodes awaiting replacement.
    pub bad: usize,
    /// Buckets holding at least one node.
    pub non_empty_buckets: usize,
    /// Info-hashes with peers announced to us.
    pub stored_torrents: usize,
    /// Lookups in progress.
    pub active_lookups: usize,
    /// Queries awaiting a reply.
    pub pending_queries: usize,
}

/// Handle to a lookup started by [`Dht::get_peers`], [`Dht::announce`] or [`Dht::bootstrap`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct LookupId(pub u64);

/// Output events, taken with [`Dht::poll_event`].
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A `get_peers`/`announce` lookup learned peers (only addresses not reported before by this
    /// lookup). May come several times per lookup, always before its `LookupDone`.
    PeersFound {
        /// The lookup.
        lookup: LookupId,
        /// The torrent.
        info_hash: InfoHashV1,
        /// New peer addresses.
        peers: Vec<SocketAddr>,
        /// Hop of the node that returned them (1 = a node known at the start).
        hop: u32,
    },
    /// A lookup finished.
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// The target id (info-hash or node id).
        target: NodeId,
        /// Hop count of the converged lookup.
        hops: u32,
        /// Queries sent.
        queries: u32,
        /// Nodes that answered among the K closest.
        responded: usize,
        /// For announces: how many `announce_peer` queries were sent.
        announced_to: usize,
    },
}

/// A BEP 5 DHT node, sans-I/O.
///
/// Methods are of four kinds: getters; `handle_*` inputs ([`Dht::handle_packet`],
/// [`Dht::handle_timeout`]); commands ([`Dht::bootstrap`], [`Dht::get_peers`],
/// [`Dht::announce`]); and `poll_*` outputs ([`Dht::poll_transmit`], [`Dht::poll_event`],
/// [`Dht::poll_timeout`]).
///
/// Driving contract: after each input or command, drain `poll_transmit` (send each datagram
/// from the node's one UDP socket) and `poll_event` until they return `None`, then wait for a
/// packet or until `poll_timeout`, whichever is first, and call `handle_timeout(now)` when the
/// deadline passes (spurious calls are harmless). `now` must never go backwards.
#[derive(Debug)]
pub struct Dht {
    config: Config,
    id: NodeId,
    rng: ChaCha8Rng,
    table: RoutingTable,
    tokens: TokenSecrets,
    peers: PeerStore,
    pending: BTreeMap<u16, Pending>,
    next_tid: u16,
    lookups: BTreeMap<LookupId, LookupState>,
    next_lookup: u64,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    next_expiry: Instant,
    query_counts: BTreeMap<IpAddr, u32>,
    rate_window_end: Instant,
}

#[derive(Debug)]
struct Pending {
    addr: SocketAddr,
    id: Option<NodeId>,
    deadline: Instant,
    purpose: Purpose,
}

#[derive(Debug, Clone, Copy)]
enum Purpose {
    Lookup(LookupId),
    Ping,
    Announce,
}

#[derive(Debug)]
struct LookupState {
    lookup: Lookup,
    info_hash: Option<InfoHashV1>,
    announce_port: Option<u16>,
    peers_seen: BTreeSet<SocketAddr>,
}

impl Dht {
    /// A node that starts at `now` and, if `config.bootstrap` is not empty, bootstraps from it.
    pub fn new(now: Instant, config: Config) -> Self {
        let mut rng = match config.rng_seed {
            Some(seed) => ChaCha8Rng::from_seed(seed),
            None => ChaCha8Rng::from_os_rng(),
        };
        let saved_id = config.saved_state.as_ref().map(|s| s.id);
        let id = config
            .id
            .or(saved_id)
            .unwrap_or_else(|| NodeId::random(&mut rng));
        let tokens = TokenSecrets::new(now, &mut rng);
        let next_tid = rng.random();
        let mut dht = Self {
            peers: PeerStore::new(config.max_peers_per_hash, config.max_torrents),
            config,
            id,
            rng,
            table: RoutingTable::new(id, now),
            tokens,
            pending: BTreeMap::new(),
            next_tid,
            lookups: BTreeMap::new(),
            next_lookup: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_expiry: now + PEER_EXPIRY_EVERY,
            query_counts: BTreeMap::new(),
            rate_window_end: now + RATE_WINDOW,
        };
        let saved: Vec<(NodeId, SocketAddr)> = dht
            .config
            .saved_state
            .take()
            .map(|s| s.nodes)
            .unwrap_or_default();
        if !dht.config.bootstrap.is_empty() || !saved.is_empty() {
            let nodes = dht.config.bootstrap.clone();
            let lookup = Lookup::new(id, LookupKind::FindNode, saved, nodes);
            dht.insert_lookup(now, lookup, None, None);
        }
        dht
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The routing table.
    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    /// Peers announced to this node for `info_hash` and not yet expired (at most 50).
    pub fn stored_peers(&self, now: Instant, info_hash: &InfoHashV1) -> Vec<SocketAddr> {
        self.peers.peers(now, info_hash, 50)
    }

    /// The id and routing-table contacts to persist (good nodes first, at most 1,000).
    pub fn saved_state(&self, now: Instant) -> SavedState {
        let mut nodes: Vec<&crate::NodeEntry> = self
            .table
            .buckets()
            .iter()
            .flat_map(|b| b.nodes())
            .collect();
        nodes.sort_by_key(|n| n.status(now) != crate::NodeStatus::Good);
        SavedState {
            id: self.id,
            nodes: nodes.iter().take(1_000).map(|n| (n.id, n.addr)).collect(),
        }
    }

    /// Routing-table and activity counters at `now`.
    pub fn stats(&self, now: Instant) -> Stats {
        let (good, questionable, bad) = self.table.stats(now);
        Stats {
            good,
            questionable,
            bad,
            non_empty_buckets: self
                .table
                .buckets()
                .iter()
                .filter(|b| !b.nodes().is_empty())
                .count(),
            stored_torrents: self.peers.torrent_count(),
            active_lookups: self.lookups.len(),
            pending_queries: self.pending.len(),
        }
    }

    /// Number of lookups still running.
    pub fn active_lookups(&self) -> usize {
        self.lookups.len()
    }

    /// Command: look up our own id starting from `nodes` (and the table), filling the table.
    pub fn bootstrap(&mut self, now: Instant, nodes: &[SocketAddr]) -> LookupId {
        let target = self.id;
        self.start_lookup(
            now,
            target,
            LookupKind::FindNode,
            nodes.to_vec(),
            None,
            None,
        )
    }

    /// Command: find peers for `info_hash`. Results come as [`Event::PeersFound`]; peers that
    /// were announced to this node itself come first, with `hop` 0.
    pub fn get_peers(&mut self, now: Instant, info_hash: InfoHashV1) -> LookupId {
        let seeds = self.fallback_seeds();
        let lid = LookupId(self.next_lookup);
        let local = self
            .peers
            .peers(now, &info_hash, self.config.max_values_per_reply);
        if !local.is_empty() {
            self.events.push_back(Event::PeersFound {
                lookup: lid,
                info_hash,
                peers: local.clone(),
                hop: 0,
            });
        }
        let lid2 = self.start_lookup(
            now,
            info_hash.into(),
            LookupKind::GetPeers,
            seeds,
            Some(info_hash),
            None,
        );
        debug_assert_eq!(lid, lid2);
        if let Some(ls) = self.lookups.get_mut(&lid) {
            ls.peers_seen.extend(local);
        }
        lid
    }

    /// Command: find peers for `info_hash`, then announce that we listen on `port` to the K
    /// closest nodes that gave us a token.
    pub fn announce(&mut self, now: Instant, info_hash: InfoHashV1, port: u16) -> LookupId {
        let seeds = self.fallback_seeds();
        self.start_lookup(
            now,
            info_hash.into(),
            LookupKind::GetPeers,
            seeds,
            Some(info_hash),
            Some(port),
        )
    }

    /// Command: ping `addr`, a node learned out of band (a BEP 5 `port` message from a peer);
    /// it joins the routing table if it answers. Ignored while a query to `addr` is pending.
    pub fn ping(&mut self, now: Instant, addr: SocketAddr) {
        if self.pending.values().any(|p| p.addr == addr) {
            return;
        }
        self.send_query(now, addr, None, Query::Ping { id: self.id }, Purpose::Ping);
    }

    /// Input: one UDP payload from `from`. Garbage is dropped (or answered with a KRPC error).
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, packet: &[u8]) {
        let msg = match Message::decode(packet) {
            Ok(m) => m,
            Err(DecodeError::UnknownMethod { transaction_id, .. }) if !self.config.read_only => {
                self.send_error(
                    from,
                    transaction_id,
                    ErrorBody::METHOD_UNKNOWN,
                    b"Method Unknown",
                );
                return;
            }
            Err(_) => return,
        };
        match msg.body {
            Body::Query(q) => self.handle_query(now, from, msg.transaction_id, msg.read_only, q),
            Body::Response(r) => self.handle_response(now, from, &msg.transaction_id, r),
            Body::Error(_) => {
                if let Some(p) = self.take_pending(from, &msg.transaction_id) {
                    // The node is alive but refused: count as a failed query for the lookup.
                    if let Purpose::Lookup(lid) = p.purpose {
                        if let Some(ls) = self.lookups.get_mut(&lid) {
                            ls.lookup.on_failure(from);
                        }
                        self.drive_lookup(now, lid);
                    }
                }
            }
        }
    }

    /// Input: time has reached `now`. Expires queries, rotates token secrets, refreshes stale
    /// buckets and drops expired peers. Harmless if nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        let mut touched = BTreeSet::new();
        for tid in expired {
            let Some(p) = self.pending.remove(&tid) else {
                continue;
            };
            if let Some(id) = p.id {
                self.table.mark_failed(now, id);
            }
            if let Purpose::Lookup(lid) = p.purpose {
                if let Some(ls) = self.lookups.get_mut(&lid) {
                    ls.lookup.on_failure(p.addr);
                }
                touched.insert(lid);
            }
        }
        for lid in touched {
            self.drive_lookup(now, lid);
        }
        self.tokens.handle_timeout(now, &mut self.rng);
        if now >= self.next_expiry {
            self.peers.expire(now);
            self.next_expiry = now + PEER_EXPIRY_EVERY;
        }
        if !self.table.is_empty() {
            for index in self.table.buckets_to_refresh(now) {
                self.table.touch_bucket(now, index);
                let target = self.id.random_in_bucket(index, &mut self.rng);
                self.start_lookup(now, target, LookupKind::FindNode, Vec::new(), None, None);
            }
        }
    }

    /// Output: the next datagram to send, as `(destination, payload)`.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// Output: the next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Output: when [`Dht::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.tokens.next_rotation().min(self.next_expiry);
        if let Some(p) = self.pending.values().map(|p| p.deadline).min() {
            t = t.min(p);
        }
        if let Some(r) = self.table.next_refresh() {
            t = t.min(r);
        }
        Some(t)
    }

    fn fallback_seeds(&self) -> Vec<SocketAddr> {
        if self.table.is_empty() {
            self.config.bootstrap.clone()
        } else {
            Vec::new()
        }
    }

    fn start_lookup(
        &mut self,
        now: Instant,
        target: NodeId,
        kind: LookupKind,
        seeds: Vec<SocketAddr>,
        info_hash: Option<InfoHashV1>,
        announce_port: Option<u16>,
    ) -> LookupId {
        let known = self
            .table
            .closest(now, &target, K)
            .into_iter()
            .map(|n| (n.id, n.addr));
        let lookup = Lookup::new(target, kind, known, seeds);
        self.insert_lookup(now, lookup, info_hash, announce_port)
    }

    fn insert_lookup(
        &mut self,
        now: Instant,
        lookup: Lookup,
        info_hash: Option<InfoHashV1>,
        announce_port: Option<u16>,
    ) -> LookupId {
        let lid = LookupId(self.next_lookup);
        self.next_lookup += 1;
        self.lookups.insert(
            lid,
            LookupState {
                lookup,
                info_hash,
                announce_port,
                peers_seen: BTreeSet::new(),
            },
        );
        self.drive_lookup(now, lid);
        lid
    }

    /// Sends the lookup's next queries, or finishes it.
    fn drive_lookup(&mut self, now: Instant, lid: LookupId) {
        let Some(ls) = self.lookups.get_mut(&lid) else {
            return;
        };
        let queries = ls.lookup.next_queries();
        let target = ls.lookup.target();
        let kind = ls.lookup.kind();
        for (id, addr, _hop) in queries {
            let q = match kind {
                LookupKind::FindNode => Query::FindNode {
                    id: self.id,
                    target,
                },
                LookupKind::GetPeers => Query::GetPeers {
                    id: self.id,
                    info_hash: InfoHashV1(target.0),
                },
            };
            self.send_query(now, addr, id, q, Purpose::Lookup(lid));
        }
        let done = self.lookups.get(&lid).is_some_and(|ls| ls.lookup.is_done());
        if !done {
            return;
        }
        let Some(ls) = self.lookups.remove(&lid) else {
            return;
        };
        let mut announced_to = 0;
        if let (Some(port), Some(info_hash)) = (ls.announce_port, ls.info_hash) {
            for (id, addr, token) in ls.lookup.closest_responded(K) {
                let Some(token) = token else { continue };
                let q = Query::AnnouncePeer {
                    id: self.id,
                    info_hash,
                    port,
                    token,
                    implied_port: None,
                };
                self.send_query(now, addr, Some(id), q, Purpose::Announce);
                announced_to += 1;
            }
        }
        self.events.push_back(Event::LookupDone {
            lookup: lid,
            target: ls.lookup.target(),
            hops: ls.lookup.hops(),
            queries: ls.lookup.queries(),
            responded: ls.lookup.closest_responded(K).len(),
            announced_to,
        });
    }

    fn handle_query(
        &mut self,
        now: Instant,
        from: SocketAddr,
        t: TransactionId,
        sender_read_only: bool,
        q: Query,
    ) {
        if self.config.read_only || !self.admit_query(now, from.ip()) {
            return;
        }
        if !sender_read_only {
            let outcome = self.table.insert(now, q.id(), from, false);
            self.maybe_ping(now, outcome);
        }
        let mut r = Response::with_id(self.id);
        match q {
            Query::Ping { .. } => {}
            Query::FindNode { target, .. } => self.fill_nodes(now, &target, &mut r),
            Query::GetPeers { info_hash, .. } => {
                r.token = Some(self.tokens.token_for(from.ip()).0);
                r.values = self
                    .peers
                    .peers(now, &info_hash, self.config.max_values_per_reply);
                self.fill_nodes(now, &info_hash.into(), &mut r);
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                token,
                implied_port,
                ..
            } => {
                if !self.tokens.is_valid(from.ip(), &token) {
                    self.send_error(from, t, ErrorBody::PROTOCOL, b"bad token");
                    return;
                }
                let port = if implied_port == Some(true) {
                    from.port()
                } else {
                    port
                };
                self.peers
                    .add(now, info_hash, SocketAddr::new(from.ip(), port));
            }
        }
        let msg = Message {
            transaction_id: t,
            version: self.config.version.clone(),
            read_only: false,
            your_ip: Some(from),
            body: Body::Response(r),
        };
        self.transmits.push_back((from, msg.to_bytes()));
    }

    fn handle_response(&mut self, now: Instant, from: SocketAddr, t: &TransactionId, r: Response) {
        let Some(p) = self.take_pending(from, t) else {
            return;
        };
        let outcome = self.table.insert(now, r.id, from, true);
        self.maybe_ping(now, outcome);
        let Purpose::Lookup(lid) = p.purpose else {
            return;
        };
        let Some(ls) = self.lookups.get_mut(&lid) else {
            return;
        };
        let nodes = r
            .nodes
            .iter()
            .map(|n| (n.id, SocketAddr::V4(n.addr)))
            .chain(r.nodes6.iter().map(|n| (n.id, SocketAddr::V6(n.addr))))
            .filter(|(id, _)| *id != self.id);
        let hop = ls.lookup.hop_of(from).unwrap_or(1);
        ls.lookup.on_response(from, r.id, nodes, r.token);
        if let Some(info_hash) = ls.info_hash {
            let new: Vec<SocketAddr> = r
                .values
                .iter()
                .copied()
                .filter(|a| ls.peers_seen.insert(*a))
                .collect();
            if !new.is_empty() {
                self.events.push_back(Event::PeersFound {
                    lookup: lid,
                    info_hash,
                    peers: new,
                    hop,
                });
            }
        }
        self.drive_lookup(now, lid);
    }

    fn fill_nodes(&self, now: Instant, target: &NodeId, r: &mut Response) {
        for n in self.table.closest(now, target, K * 2) {
            match n.addr {
                SocketAddr::V4(a) if r.nodes.len() < K => {
                    r.nodes.push(CompactNodeV4 { id: n.id, addr: a })
                }
                SocketAddr::V6(a) if r.nodes6.len() < K => {
                    r.nodes6.push(CompactNodeV6 { id: n.id, addr: a })
                }
                _ => {}
            }
        }
    }

    /// Per-IP query budget; the table of counters is bounded by [`MAX_TRACKED_IPS`].
    fn admit_query(&mut self, now: Instant, ip: IpAddr) -> bool {
        if now >= self.rate_window_end {
            self.query_counts.clear();
            self.rate_window_end = now + RATE_WINDOW;
        }
        let tracked = self.query_counts.len();
        match self.query_counts.get_mut(&ip) {
            Some(n) if *n >= self.config.max_queries_per_ip => false,
            Some(n) => {
                *n += 1;
                true
            }
            None if tracked >= MAX_TRACKED_IPS => false,
            None => {
                self.query_counts.insert(ip, 1);
                true
            }
        }
    }

    fn maybe_ping(&mut self, now: Instant, outcome: InsertOutcome) {
        if let InsertOutcome::PingFirst(addr, id) = outcome {
            if !self.pending.values().any(|p| p.addr == addr) {
                self.send_query(
                    now,
                    addr,
                    Some(id),
                    Query::Ping { id: self.id },
                    Purpose::Ping,
                );
            }
        }
    }

    fn take_pending(&mut self, from: SocketAddr, t: &TransactionId) -> Option<Pending> {
        let tid = u16::from_be_bytes(<[u8; 2]>::try_from(t.0.as_slice()).ok()?);
        if self.pending.get(&tid)?.addr != from {
            return None;
        }
        self.pending.remove(&tid)
    }

    fn send_query(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        id: Option<NodeId>,
        q: Query,
        purpose: Purpose,
    ) {
        // Find a free transaction id (at most 65,536 can be pending; bounded by the loop).
        let mut tid = self.next_tid;
        for _ in 0..=u16::MAX {
            if !self.pending.contains_key(&tid) {
                break;
            }
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1);
        let msg = Message {
            transaction_id: TransactionId(tid.to_be_bytes().to_vec()),
            version: self.config.version.clone(),
            read_only: self.config.read_only,
            your_ip: None,
            body: Body::Query(q),
        };
        self.pending.insert(
            tid,
            Pending {
                addr,
                id,
                deadline: now + self.config.query_timeout,
                purpose,
            },
        );
        self.transmits.push_back((addr, msg.to_bytes()));
    }

    fn send_error(&mut self, to: SocketAddr, t: TransactionId, code: i64, text: &[u8]) {
        let msg = Message {
            transaction_id: t,
            version: self.config.version.clone(),
            read_only: false,
            your_ip: None,
            body: Body::Error(ErrorBody {
                code,
                message: text.to_vec(),
            }),
        };
        self.transmits.push_back((to, msg.to_bytes()));
    }
}

const PEER_EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// Window of the per-IP query budget ([`Config::max_queries_per_ip`]).
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Distinct source IPs whose queries are answered within one [`RATE_WINDOW`].
pub const MAX_TRACKED_IPS: usize = 4096;

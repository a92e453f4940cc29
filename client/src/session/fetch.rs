//! A magnet link waiting for its metadata: the socket-side glue around `freshet-engine`'s
//! [`MetadataFetch`] (BEP 9), plus the peer addresses to dial and the magnet's trackers.
//!
//! The protocol decisions (which piece to ask whom, timeouts, verification, whom to drop)
//! are the engine's; this module maps connection slots to engine peer keys, builds our
//! extension handshake, and keeps the dial list with back-off.
//!
//! Peer exchange (BEP 11) is receive-only here: we offer `ut_pex` and take at most 50 added
//! peers per message (the engine's [`Pex`] rules) into the dial list, but send nothing, since
//! whether the torrent is private is unknown until the metadata arrives. A peer that offers no
//! metadata but does offer `ut_pex` is kept connected as a source of peers.
//!
//! Each connection also keeps a [`Handover`]: its handshake and the messages the torrent will
//! need, so that once the metadata is in, the driver hands the live connections to the new
//! torrent instead of closing and redialling them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_engine::{
    MetadataAction, MetadataConfig, MetadataDropReason, MetadataFetch, PeerKey, Pex, PexAction,
    PexConfig,
};
use freshet_metainfo::{InfoHashV1, InfoHashes};
use freshet_peerwire::{
    EXTENDED_HANDSHAKE_ID, ExtendedHandshake, Message, PeerId, Reserved, UT_METADATA, UT_PEX,
    extended_message,
};
use freshet_tracker::{
    Announcer, AnnouncerConfig, AnnouncerEvent, Progress, TrackerAction, TrackerIdx,
};

use super::handover::Handover;
use super::request::{AddOptions, TorrentId};
use super::torrent::AnnounceIdentity;

/// The id we ask peers to use for `ut_metadata` messages to us.
pub(crate) const OUR_UT_METADATA_ID: u8 = 2;
/// The id we ask peers to use for `ut_pex` messages to us.
pub(crate) const OUR_UT_PEX_ID: u8 = 1;
/// Most known peer addresses per torrent or magnet fetch. A torrent forgets its least
/// promising address to make room for one from a tracker, the DHT or a manual add; peer
/// exchange and magnet fetches add none beyond it.
pub(crate) const MAX_KNOWN_ADDRS: usize = 2000;

/// What the fetch asks of the driver, per connection slot.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Queue this message on connection `conn`.
    Send(usize, Message),
    /// Close connection `conn`.
    Drop(usize, String),
    /// The metadata is complete and verified.
    Complete(Bytes),
}

/// One known address: when to dial next, failures so far, whether a connection is open.
#[derive(Debug, Clone, Copy)]
struct Dial {
    next_try: Instant,
    failures: u32,
    busy: bool,
}

/// One magnet link waiting for its metadata.
pub(crate) struct MetaFetch {
    pub(crate) id: TorrentId,
    /// The id used in handshakes (v1, or the truncated v2 hash).
    pub(crate) info_hash: InfoHashV1,
    pub(crate) name: String,
    pub(crate) options: AddOptions,
    pub(crate) trackers: Vec<Vec<String>>,
    machine: MetadataFetch,
    addrs: BTreeMap<SocketAddr, Dial>,
    /// Addresses proven to lie about the metadata: never dialled again.
    banned: BTreeSet<SocketAddr>,
    /// Connection slot → engine key, and back (keys are never reused).
    keys: HashMap<usize, PeerKey>,
    conns: HashMap<PeerKey, (usize, SocketAddr)>,
    /// Per engine key: what the connection hands over to the torrent.
    handovers: HashMap<PeerKey, Handover>,
    /// Peers whose extended handshake offered `ut_pex`.
    pex_peers: BTreeSet<PeerKey>,
    /// Receive side of peer exchange (never fed handshakes, so it never sends).
    pex: Pex,
    next_key: usize,
    announcer: Option<Announcer>,
}

impl MetaFetch {
    /// A fetch of the info dictionary named by `target`.
    ///
    /// # Panics
    /// If `target` carries no hash (the magnet parser guarantees one).
    pub(crate) fn new(
        id: TorrentId,
        target: InfoHashes,
        name: String,
        options: AddOptions,
        trackers: Vec<Vec<String>>,
        config: MetadataConfig,
    ) -> Self {
        // A parsed magnet always has at least one hash.
        let info_hash = target.wire_id().expect("magnet without an info-hash");
        Self {
            id,
            info_hash,
            name,
            options,
            trackers,
            machine: MetadataFetch::new(target, config),
            addrs: BTreeMap::new(),
            banned: BTreeSet::new(),
            keys: HashMap::new(),
            conns: HashMap::new(),
            handovers: HashMap::new(),
            pex_peers: BTreeSet::new(),
            pex: Pex::new(PexConfig::default()),
            next_key: 0,
            announcer: None,
        }
    }

    /// Announces to the magnet's trackers to find peers (left is reported as 1: unknown).
    pub(crate) fn start_announcing(&mut self, now: Instant, identity: AnnounceIdentity) {
        if self.trackers.iter().all(Vec::is_empty) {
            return;
        }
        let mut a = Announcer::new(
            self.info_hash,
            self.trackers.clone(),
            AnnouncerConfig::new(PeerId(identity.peer_id), identity.port, identity.seed),
        );
        a.start(
            now,
            Progress {
                uploaded: 0,
                downloaded: 0,
                left: 1,
            },
        );
        self.announcer = Some(a);
    }

    /// Tracker requests to send, after applying the announcer's events (new peers).
    pub(crate) fn poll_tracker(&mut self, now: Instant) -> Vec<TrackerAction> {
        let Some(a) = &mut self.announcer else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(act) = a.poll_action() {
            out.push(act);
        }
        let mut found = Vec::new();
        while let Some(ev) = a.poll_event() {
            if let AnnouncerEvent::Announced { peers, .. } = ev {
                found.extend(peers);
            }
        }
        for addr in found {
            self.add_addr(now, addr);
        }
        out
    }

    /// An HTTP announce reply.
    pub(crate) fn handle_tracker_http(
        &mut self,
        now: Instant,
        tracker: TrackerIdx,
        body: Result<Vec<u8>, String>,
    ) {
        if let Some(a) = &mut self.announcer {
            a.handle_http_response(now, tracker, body.as_deref().map_err(Clone::clone));
        }
    }

    /// A UDP tracker datagram.
    pub(crate) fn handle_tracker_udp(&mut self, now: Instant, tracker: TrackerIdx, data: &[u8]) {
        if let Some(a) = &mut self.announcer {
            a.handle_udp_datagram(now, tracker, data);
        }
    }

    /// Runs the announcer's and the fetch's timers if due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some(a) = &mut self.announcer
            && a.poll_timeout().is_some_and(|t| t <= now)
        {
            a.handle_timeout(now);
        }
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
        }
    }

    /// When [`Self::handle_timeout`] should run next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let a = self.announcer.as_ref().and_then(Announcer::poll_timeout);
        let m = self.machine.poll_timeout();
        a.into_iter().chain(m).min()
    }

    /// Fraction of the metadata received.
    pub(crate) fn fraction(&self) -> f64 {
        self.machine.fraction()
    }

    /// Connected peers.
    pub(crate) fn peer_count(&self) -> usize {
        self.conns.len()
    }

    /// Known peer addresses not proven to lie (handed to the torrent once the metadata is in).
    pub(crate) fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.addrs.keys().copied()
    }

    /// Adds an address to dial (unless it was banned, or the list is full).
    pub(crate) fn add_addr(&mut self, now: Instant, addr: SocketAddr) {
        if self.banned.contains(&addr) || self.addrs.len() >= MAX_KNOWN_ADDRS {
            return;
        }
        self.addrs.entry(addr).or_insert(Dial {
            next_try: now,
            failures: 0,
            busy: false,
        });
    }

    /// The next address to dial now.
    pub(crate) fn next_dial(&mut self, now: Instant) -> Option<SocketAddr> {
        let (addr, st) = self
            .addrs
            .iter_mut()
            .find(|(_, d)| !d.busy && d.next_try <= now)?;
        st.busy = true;
        Some(*addr)
    }

    /// A dial or connection to `addr` ended; retry with back-off.
    pub(crate) fn addr_failed(&mut self, now: Instant, addr: SocketAddr) {
        if let Some(st) = self.addrs.get_mut(&addr) {
            st.failures = st.failures.saturating_add(1);
            st.next_try =
                now + Duration::from_secs(2u64.saturating_pow(st.failures.min(8)).min(300));
            st.busy = false;
        }
    }

    /// A handshaken connection on slot `conn` from `addr` whose handshake carried `peer_id`
    /// and `reserved`: returns our extension handshake.
    pub(crate) fn handle_connected(
        &mut self,
        conn: usize,
        addr: SocketAddr,
        peer_id: PeerId,
        reserved: Reserved,
    ) -> Message {
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        self.keys.insert(conn, key);
        self.conns.insert(key, (conn, addr));
        self.handovers
            .insert(key, Handover::new(conn, peer_id, reserved));
        self.pex.handle_peer_connected(key, Some(addr));
        let mut h = ExtendedHandshake::default();
        h.extensions
            .insert(UT_METADATA.to_owned(), OUR_UT_METADATA_ID);
        h.extensions.insert(UT_PEX.to_owned(), OUR_UT_PEX_ID);
        h.client = Some(concat!("Freshet ", env!("CARGO_PKG_VERSION")).to_owned());
        extended_message(EXTENDED_HANDSHAKE_ID, |out| h.encode_payload(out))
    }

    /// The connection on slot `conn` is gone.
    pub(crate) fn handle_gone(&mut self, now: Instant, conn: usize) {
        if let Some(key) = self.keys.remove(&conn) {
            self.conns.remove(&key);
            self.handovers.remove(&key);
            self.pex_peers.remove(&key);
            self.pex.handle_peer_gone(key);
            self.machine.handle_peer_gone(now, key);
        }
    }

    /// A message on a handshaken connection; read the results with [`Self::poll_outcome`].
    /// Messages other than the extension handshake, `ut_metadata` and `ut_pex` are not needed
    /// before the metadata is known: those the torrent will need are kept for the handover.
    pub(crate) fn handle_message(&mut self, now: Instant, conn: usize, msg: &Message) {
        let Some(&key) = self.keys.get(&conn) else {
            return;
        };
        if let Some(h) = self.handovers.get_mut(&key) {
            h.record(msg);
        }
        let Message::Extended { id, payload } = msg else {
            return;
        };
        match *id {
            EXTENDED_HANDSHAKE_ID => {
                // An undecodable handshake counts as offering nothing.
                let h = ExtendedHandshake::decode(payload).unwrap_or_default();
                if h.extension_id(UT_PEX).is_some() {
                    self.pex_peers.insert(key);
                }
                self.machine.handle_extended_handshake(now, key, &h);
            }
            OUR_UT_METADATA_ID => self.machine.handle_payload(now, key, payload),
            OUR_UT_PEX_ID => {
                self.pex.handle_payload(now, key, payload);
                let mut found = Vec::new();
                while let Some(a) = self.pex.poll_action() {
                    if let PexAction::Discovered { addrs, .. } = a {
                        found.extend(addrs);
                    }
                }
                for addr in found {
                    self.add_addr(now, addr);
                }
            }
            _ => {}
        }
    }

    /// Takes the connections still open, for handing over to the torrent once the metadata
    /// is in (the fetch keeps no connection after this).
    pub(crate) fn take_handovers(&mut self) -> Vec<Handover> {
        self.keys.clear();
        self.conns.clear();
        let mut out: Vec<Handover> = self.handovers.drain().map(|(_, h)| h).collect();
        out.sort_by_key(|h| h.conn);
        out
    }

    /// The next thing to do on a connection, if any.
    pub(crate) fn poll_outcome(&mut self) -> Option<Outcome> {
        loop {
            match self.machine.poll_action()? {
                MetadataAction::Send { peer, message } => {
                    if let Some(&(conn, _)) = self.conns.get(&peer) {
                        return Some(Outcome::Send(conn, message));
                    }
                }
                MetadataAction::Drop {
                    peer,
                    reason: MetadataDropReason::NoMetadata,
                } if self.pex_peers.contains(&peer) => {
                    // No metadata, but it may tell us about peers that have it: keep it.
                }
                MetadataAction::Drop { peer, reason } => {
                    let Some((conn, addr)) = self.conns.remove(&peer) else {
                        continue;
                    };
                    self.handovers.remove(&peer);
                    self.pex_peers.remove(&peer);
                    self.pex.handle_peer_gone(peer);
                    self.keys.remove(&conn);
                    if reason.is_ban() {
                        self.banned.insert(addr);
                        self.addrs.remove(&addr);
                    }
                    return Some(Outcome::Drop(conn, reason.to_string()));
                }
                MetadataAction::Complete(info) => return Some(Outcome::Complete(info)),
                _ => {}
            }
        }
    }
}

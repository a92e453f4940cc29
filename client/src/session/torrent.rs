//! One torrent inside the client: `freshet-engine`'s [`engine::Torrent`] state machine plus what
//! only the client knows (metainfo, save directory, storage, peer addresses to dial, tracker
//! state, rates). Engine actions are translated into driver [`Action`]s here.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use freshet_engine::{
    self as engine, AnnounceEvent, DiskCompletion, DiskJob, FileStorage, Geometry, PeerInfo,
    PeerKey, Pex, PexAction, PexConfig, PieceSet, ResumeRecord, Start, Storage,
};
use freshet_peerwire::{
    EXTENDED_HANDSHAKE_ID, ExtendedHandshake, METADATA_PIECE_LEN, Message, MetadataMessage,
    UT_METADATA, UT_PEX, extended_message,
};
use freshet_tracker::{
    Announcer, AnnouncerConfig, AnnouncerEvent, Progress, TrackerAction, TrackerIdx,
};

use super::event::{Activity, Event, TorrentStatus, TrackerState};
use super::evict::Standing;
use super::meta::TorrentMeta;
use super::request::TorrentId;

mod service;

/// Samples kept for the rates (one per housekeeping second).
const RATE_WINDOW: usize = 5;
/// The extended message id we ask peers to use for `ut_metadata` messages to us.
const OUR_UT_METADATA_ID: u8 = super::fetch::OUR_UT_METADATA_ID;
/// The extended message id we ask peers to use for `ut_pex` messages to us.
const OUR_UT_PEX_ID: u8 = super::fetch::OUR_UT_PEX_ID;
use super::fetch::MAX_KNOWN_ADDRS;
/// Longest wait for `stopped` announces when a torrent closes.
const STOP_ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(5);
/// The request queue we advertise (BEP 10 `reqq`) and the engine's `max_incoming_requests`.
/// Transmission sizes its pipeline from it (500 held it near 7 MB/s, libtorrent's 2000 near
/// 31 MiB/s); memory stays bounded by the upload read budget and the send high-water mark,
/// not by this.
pub(crate) const OUR_REQQ: u32 = 4096;

/// What a torrent needs to announce: our peer id, listening port and a seed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnnounceIdentity {
    pub(crate) peer_id: [u8; 20],
    pub(crate) port: u16,
    pub(crate) seed: u64,
}

/// Something the driver must do for a torrent.
#[derive(Debug)]
pub(crate) enum Action {
    /// Queue a message to a peer.
    Send(PeerKey, Message),
    /// Run a storage job.
    Disk(DiskJob),
    /// Close a peer connection (the engine already forgot it).
    Disconnect(PeerKey, String),
    /// GET a tracker URL on a worker thread; feed the body to `handle_tracker_http`.
    TrackerHttp {
        /// Which tracker.
        tracker: TrackerIdx,
        /// The announce URL.
        url: String,
    },
    /// Send a UDP tracker datagram; feed replies from that address to `handle_tracker_udp`.
    TrackerUdp {
        /// Which tracker.
        tracker: TrackerIdx,
        /// Host to resolve.
        host: String,
        /// Port.
        port: u16,
        /// The datagram.
        payload: Vec<u8>,
    },
    /// Write resume data now.
    SaveResume,
    /// Report an event.
    Event(Event),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Checking {
        checked: u32,
        total: u32,
    },
    Running,
    /// Stopped by a storage fault (the engine's; its text kept for the status).
    Errored(String),
    Closing,
}

/// A known peer address and when to try it next.
#[derive(Debug, Clone, Copy)]
struct AddrState {
    next_try: Instant,
    failures: u32,
    connected: bool,
}

/// A rate over a sliding window of one-second samples of a growing total.
#[derive(Debug, Default)]
struct Rate {
    last_total: u64,
    samples: VecDeque<u64>,
}

impl Rate {
    fn sample(&mut self, total: u64) {
        self.samples
            .push_back(total.saturating_sub(self.last_total));
        self.last_total = total;
        while self.samples.len() > RATE_WINDOW {
            self.samples.pop_front();
        }
    }

    fn per_second(&self) -> u64 {
        if self.samples.is_empty() {
            return 0;
        }
        self.samples.iter().sum::<u64>() / self.samples.len() as u64
    }
}

/// One torrent inside the client.
pub(crate) struct Torrent {
    pub(crate) id: TorrentId,
    pub(crate) meta: TorrentMeta,
    pub(crate) save_dir: PathBuf,
    pub(crate) storage: Arc<dyn Storage>,
    /// Disk jobs submitted and not completed yet.
    pub(crate) pending_jobs: u32,
    pub(crate) tracker: TrackerState,
    pub(crate) tracker_error: Option<String>,
    pub(crate) swarm_seeds: Option<u32>,
    pub(crate) swarm_leechers: Option<u32>,
    /// This torrent's connection limit (`None`: the client's default).
    pub(crate) max_connections: Option<usize>,
    engine: engine::Torrent,
    announcer: Option<Announcer>,
    /// When `stopped` was asked for, and whether it finished.
    stopping: Option<(Instant, bool)>,
    phase: Phase,
    addrs: BTreeMap<SocketAddr, AddrState>,
    down: Rate,
    up: Rate,
    actions: VecDeque<Action>,
    completed_sent: bool,
    checked: bool,
    /// What each connected peer says it has (for seed counts and distributed copies).
    peer_sets: HashMap<PeerKey, PieceSet>,
    /// Address and peer id of each connected peer (for the peer list).
    peer_ids: HashMap<PeerKey, (Option<SocketAddr>, Option<freshet_peerwire::PeerId>)>,
    /// The id each peer wants for `ut_metadata` messages, from its extension handshake.
    their_ut_metadata: HashMap<PeerKey, u8>,
    /// Metadata pieces sent to each peer (bounded, see `serve_metadata`).
    metadata_served: HashMap<PeerKey, usize>,
    /// Peer exchange (BEP 11); `None` for private torrents or until enabled.
    pex: Option<Pex>,
    /// (pieces, downloaded, uploaded) when resume data was last written by the periodic save.
    saved_at: Option<(u32, u64, u64)>,
    base_downloaded: u64,
    base_uploaded: u64,
}

impl Torrent {
    /// A torrent saving under `save_dir`. `resume` is a decoded resume record, if one exists.
    pub(crate) fn new(
        id: TorrentId,
        meta: TorrentMeta,
        save_dir: PathBuf,
        resume: Option<ResumeRecord>,
        announce: Option<AnnounceIdentity>,
        now: Instant,
    ) -> Self {
        let geometry = Arc::clone(&meta.geometry);
        let storage: Arc<dyn Storage> =
            Arc::new(FileStorage::new(save_dir.clone(), Arc::clone(&geometry)));
        let stats: Vec<Option<engine::FileStat>> = (0..geometry.files().len())
            .map(|i| storage.file_stat(i))
            .collect();
        let any_file = geometry
            .files()
            .iter()
            .zip(&stats)
            .any(|(f, s)| !f.is_padding() && s.is_some());
        let start = match resume {
            Some(record) => Start::Resume { record, stats },
            None if any_file => Start::Recheck,
            None => Start::Empty,
        };
        let mut config = engine::Config::default();
        config.info_hash = Some(meta.info_hash);
        // Loopback swarms and small swarms: more upload slots than the classic 4.
        config.unchoke_slots = 8;
        config.min_pipeline = 64;
        config.max_incoming_requests = OUR_REQQ as usize;
        // Local swarms put every peer on 127.0.0.1: a ban there covers one ip:port only.
        config.ban_policy = engine::BanPolicy::ByAddrOnLoopback;
        let engine = engine::Torrent::new(geometry, config, start, now);
        let stats = engine.stats();
        let phase = if engine.is_checking() {
            Phase::Checking {
                checked: 0,
                total: engine.geometry().num_pieces(),
            }
        } else {
            Phase::Running
        };
        let announcer = announce
            .filter(|_| meta.trackers.iter().any(|t| !t.is_empty()))
            .map(|a| {
                Announcer::new(
                    meta.info_hash,
                    meta.trackers.clone(),
                    AnnouncerConfig::new(freshet_tracker::PeerId(a.peer_id), a.port, a.seed),
                )
            });
        let mut t = Self {
            id,
            meta,
            save_dir,
            storage,
            pending_jobs: 0,
            tracker: if announcer.is_some() {
                TrackerState::Announcing
            } else {
                TrackerState::None
            },
            tracker_error: None,
            swarm_seeds: None,
            swarm_leechers: None,
            max_connections: None,
            engine,
            announcer,
            stopping: None,
            phase,
            addrs: BTreeMap::new(),
            down: Rate::default(),
            up: Rate::default(),
            actions: VecDeque::new(),
            completed_sent: false,
            checked: false,
            peer_sets: HashMap::new(),
            peer_ids: HashMap::new(),
            their_ut_metadata: HashMap::new(),
            metadata_served: HashMap::new(),
            pex: None,
            saved_at: None,
            base_downloaded: stats.downloaded,
            base_uploaded: stats.uploaded,
        };
        t.down.last_total = stats.downloaded;
        t.up.last_total = stats.uploaded;
        if t.phase == Phase::Running {
            t.finish_check();
        }
        t.pump(now);
        t
    }

    // ---- getters ----

    /// The torrent's geometry.
    pub(crate) fn geometry(&self) -> &Arc<Geometry> {
        &self.meta.geometry
    }

    /// Whether the torrent accepts peers (checked, not closing or errored).
    pub(crate) fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// Whether the check of existing data finished (resume data may be written).
    pub(crate) fn is_checked(&self) -> bool {
        self.checked
    }

    /// Whether every wanted piece is verified.
    pub(crate) fn is_complete(&self) -> bool {
        self.engine.is_complete()
    }

    /// How useful an established peer is, for choosing whom to evict (`None`: unknown key).
    pub(crate) fn peer_standing(&self, key: PeerKey) -> Option<Standing> {
        self.engine.peer_stats(key).map(|s| Standing::of(&s))
    }

    /// Connected peers.
    pub(crate) fn peer_count(&self) -> usize {
        self.engine.stats().peers
    }

    /// Bytes of verified pieces.
    pub(crate) fn have_bytes(&self) -> u64 {
        let g = self.geometry();
        self.engine
            .have()
            .iter()
            .map(|p| u64::from(g.piece_size(p)))
            .sum()
    }

    /// Bytes still missing.
    pub(crate) fn left_bytes(&self) -> u64 {
        self.geometry()
            .total_len()
            .saturating_sub(self.have_bytes())
    }

    /// Payload totals of this session (downloaded, uploaded).
    pub(crate) fn session_totals(&self) -> (u64, u64) {
        let s = self.engine.stats();
        (
            s.downloaded.saturating_sub(self.base_downloaded),
            s.uploaded.saturating_sub(self.base_uploaded),
        )
    }

    /// Whether pieces or transfer totals changed since [`Self::mark_resume_saved`].
    pub(crate) fn resume_changed(&self) -> bool {
        let s = self.engine.stats();
        self.saved_at != Some((s.pieces_have, s.downloaded, s.uploaded))
    }

    /// Records that resume data matching the current state was written.
    pub(crate) fn mark_resume_saved(&mut self) {
        let s = self.engine.stats();
        self.saved_at = Some((s.pieces_have, s.downloaded, s.uploaded));
    }

    /// The engine's resume record without file stats (the writer takes them after its flush).
    pub(crate) fn resume_snapshot(&self) -> ResumeRecord {
        self.engine.resume_record()
    }

    /// The status record.
    pub(crate) fn status(&self) -> TorrentStatus {
        let (total, have) = self.wanted_and_have();
        let frac = have as f64 / total.max(1) as f64;
        let (activity, fraction) = match &self.phase {
            &Phase::Checking { checked, total } => (
                Activity::Checking,
                f64::from(checked) / f64::from(total.max(1)),
            ),
            Phase::Running if self.engine.is_paused() => (Activity::Paused, frac),
            Phase::Running if self.is_complete() => (Activity::Seeding, 1.0),
            Phase::Running => (Activity::Downloading, frac),
            Phase::Errored(_) => (Activity::Error, frac),
            Phase::Closing => (Activity::Stopped, frac),
        };
        let down_rate = self.down.per_second();
        let eta = (activity == Activity::Downloading && down_rate > 0)
            .then(|| Duration::from_secs((total - have).div_ceil(down_rate)));
        let (downloaded, uploaded) = self.session_totals();
        let (peers, seeds, copies) = self.swarm_view();
        TorrentStatus {
            id: self.id,
            name: self.meta.name.clone(),
            activity,
            fraction_done: fraction,
            have_bytes: have,
            wanted_bytes: total,
            down_rate,
            up_rate: self.up.per_second(),
            downloaded,
            uploaded,
            eta,
            peers,
            seeds,
            swarm_seeds: self.swarm_seeds,
            swarm_leechers: self.swarm_leechers,
            distributed_copies: copies,
            tracker: self.tracker,
            tracker_error: self.tracker_error.clone(),
            error: match &self.phase {
                Phase::Errored(e) => Some(e.clone()),
                _ => None,
            },
            files: Vec::new(),
            peer_list: Vec::new(),
        }
    }

    /// (peers, seeds among them, distributed copies), from the piece sets peers announced.
    fn swarm_view(&self) -> (u32, u32, f64) {
        let n = self.geometry().num_pieces();
        let peers = u32::try_from(self.peer_sets.len()).unwrap_or(u32::MAX);
        let seeds = self.peer_sets.values().filter(|s| s.is_full()).count();
        let mut min = u32::MAX;
        let mut above = 0u32;
        let avail: Vec<u32> = self
            .geometry()
            .pieces()
            .map(|p| {
                let others = self.peer_sets.values().filter(|s| s.contains(p)).count();
                u32::try_from(others).unwrap_or(u32::MAX)
                    + u32::from(self.engine.have().contains(p))
            })
            .collect();
        for &a in &avail {
            min = min.min(a);
        }
        for &a in &avail {
            if a > min {
                above += 1;
            }
        }
        let copies = if n == 0 {
            0.0
        } else {
            f64::from(min) + f64::from(above) / f64::from(n)
        };
        (peers, u32::try_from(seeds).unwrap_or(u32::MAX), copies)
    }

    // ---- commands ----

    /// Adds a peer address to dial.
    pub(crate) fn add_addr(&mut self, now: Instant, addr: SocketAddr) {
        if !self.addrs.contains_key(&addr) && self.addrs.len() >= MAX_KNOWN_ADDRS {
            // Trackers and DHT lookups keep naming peers for as long as the torrent runs: the
            // least promising address makes room, so the list stays bounded.
            make_room(&mut self.addrs);
        }
        self.addrs.entry(addr).or_insert(AddrState {
            next_try: now,
            failures: 0,
            connected: false,
        });
    }

    /// The next address to dial now (marked as connected until [`Self::addr_failed`]).
    ///
    /// A complete torrent dials too: a seed must reach leechers that never dial out
    /// themselves (Transmission does not dial loopback peers; firewalled leechers).
    pub(crate) fn next_dial(&mut self, now: Instant) -> Option<SocketAddr> {
        if !self.is_running() {
            return None;
        }
        let (addr, st) = self
            .addrs
            .iter_mut()
            .find(|(_, s)| !s.connected && s.next_try <= now)?;
        st.connected = true;
        Some(*addr)
    }

    /// A dial or connection to `addr` ended: try again later, backing off exponentially.
    pub(crate) fn addr_failed(&mut self, now: Instant, addr: SocketAddr) {
        if let Some(st) = self.addrs.get_mut(&addr) {
            st.connected = false;
            st.failures = st.failures.saturating_add(1);
            let secs = 2u64.saturating_pow(st.failures.min(8)).min(300);
            st.next_try = now + Duration::from_secs(secs);
        }
    }

    /// An outgoing connection to `addr` completed its handshake.
    pub(crate) fn addr_connected(&mut self, addr: SocketAddr) {
        if let Some(st) = self.addrs.get_mut(&addr) {
            st.connected = true;
            st.failures = 0;
        }
    }

    /// Turns peer exchange on with `interval` between messages to a peer (never for a private
    /// torrent). Applies to peers added from now on.
    pub(crate) fn enable_pex(&mut self, interval: Duration) {
        if self.meta.private {
            return;
        }
        let mut config = PexConfig::default();
        config.interval = interval;
        self.pex = Some(Pex::new(config));
    }

    /// Starts closing: the engine drops every peer, flushes and announces `stopped`.
    pub(crate) fn begin_close(&mut self, now: Instant) {
        if self.phase == Phase::Closing {
            return;
        }
        self.phase = Phase::Closing;
        self.engine.shutdown(now);
        self.pump(now);
    }

    /// Registers a handshaken peer with the engine. If the peer speaks the extension protocol
    /// (BEP 10), our extension handshake follows the engine's first messages. `listen` is the
    /// peer's listen address when known (we dialled it), for peer exchange.
    pub(crate) fn add_peer(
        &mut self,
        now: Instant,
        info: PeerInfo,
        extensions: Option<ExtendedHandshake>,
        listen: Option<SocketAddr>,
    ) -> Result<PeerKey, engine::AddPeerError> {
        let ident = (info.addr, info.id);
        let r = self.engine.add_peer(now, info);
        if let Ok(k) = r {
            self.peer_ids.insert(k, ident);
            self.peer_sets
                .insert(k, PieceSet::new(self.geometry().num_pieces()));
            if let Some(pex) = &mut self.pex {
                pex.handle_peer_connected(k, listen);
            }
        }
        self.pump(now);
        if let (Ok(k), Some(mut ext)) = (&r, extensions) {
            let size = u32::try_from(self.meta.info_bytes.len()).ok();
            if !self.meta.private
                && let Some(size) = size
            {
                ext.extensions
                    .insert(UT_METADATA.to_owned(), OUR_UT_METADATA_ID);
                ext.metadata_size = Some(size);
            }
            if self.pex.is_some() {
                ext.extensions.insert(UT_PEX.to_owned(), OUR_UT_PEX_ID);
            }
            let msg = extended_message(EXTENDED_HANDSHAKE_ID, |out| ext.encode_payload(out));
            self.actions.push_back(Action::Send(*k, msg));
        }
        r
    }

    /// The registered connection, if any, of the peer with id `id`.
    pub(crate) fn peer_with_id(&self, id: freshet_peerwire::PeerId) -> Option<PeerKey> {
        self.peer_ids
            .iter()
            .find_map(|(k, (_, pid))| (*pid == Some(id)).then_some(*k))
    }

    // ---- inputs ----

    /// A peer's connection is gone.
    pub(crate) fn handle_peer_gone(&mut self, now: Instant, peer: PeerKey) {
        self.peer_sets.remove(&peer);
        self.peer_ids.remove(&peer);
        self.their_ut_metadata.remove(&peer);
        self.metadata_served.remove(&peer);
        if let Some(pex) = &mut self.pex {
            pex.handle_peer_gone(peer);
        }
        self.engine.handle_peer_closed(now, peer);
        self.pump(now);
    }

    /// A message from a peer. A `bitfield` or `have all` that comes late (aria2 1.36 sends
    /// them mid-connection) is taken by the engine as a batch of `have`s; the status mirror
    /// below does the same (pieces are only ever added).
    pub(crate) fn handle_message(&mut self, now: Instant, peer: PeerKey, msg: Message) {
        if let Message::Extended {
            id: EXTENDED_HANDSHAKE_ID,
            payload,
        } = &msg
        {
            // The peer's `reqq` bounds how many requests we keep in flight to it.
            if let Ok(h) = ExtendedHandshake::decode(payload) {
                if let Some(reqq) = h.request_queue {
                    self.engine.set_peer_reqq(peer, reqq as usize);
                }
                match h.extension_id(UT_METADATA) {
                    Some(id) => self.their_ut_metadata.insert(peer, id),
                    None => self.their_ut_metadata.remove(&peer),
                };
                let remote = self.peer_ids.get(&peer).and_then(|(a, _)| *a);
                if let (Some(pex), Some(remote)) = (&mut self.pex, remote) {
                    pex.handle_extended_handshake(now, peer, remote, &h);
                }
            }
            self.pump_pex(now);
            return;
        }
        if let Message::Extended {
            id: OUR_UT_PEX_ID,
            payload,
        } = &msg
        {
            if let Some(pex) = &mut self.pex {
                pex.handle_payload(now, peer, payload);
            }
            self.pump_pex(now);
            return;
        }
        if let Message::Extended {
            id: OUR_UT_METADATA_ID,
            payload,
        } = &msg
        {
            self.serve_metadata(peer, payload);
            return;
        }
        let n = self.geometry().num_pieces();
        if let Some(set) = self.peer_sets.get_mut(&peer) {
            match &msg {
                Message::Have(p) if p.0 < n => {
                    set.insert(*p);
                }
                Message::Bitfield(bf) => {
                    if let Some(new) = PieceSet::from_bitfield_bytes(bf.as_wire(), n) {
                        for p in new.iter() {
                            set.insert(p);
                        }
                    }
                }
                Message::HaveAll => *set = PieceSet::full(n),
                _ => {}
            }
        }
        self.engine.handle_message(now, peer, msg);
        self.pump(now);
    }

    /// Answers a BEP 9 metadata request from our copy of the info dictionary.
    fn serve_metadata(&mut self, peer: PeerKey, payload: &bytes::Bytes) {
        let Some(&their_id) = self.their_ut_metadata.get(&peer) else {
            return;
        };
        // Each piece is served at most twice per peer: a request flood cannot make us queue
        // more than twice the metadata for one connection.
        let pieces = self
            .meta
            .info_bytes
            .len()
            .div_ceil(METADATA_PIECE_LEN as usize);
        let served = self.metadata_served.entry(peer).or_insert(0);
        if *served >= 2 * pieces + 2 {
            return;
        }
        *served += 1;
        let Ok(Some(MetadataMessage::Request { piece })) = MetadataMessage::decode(payload) else {
            return;
        };
        let total = u32::try_from(self.meta.info_bytes.len()).unwrap_or(u32::MAX);
        let reply = match MetadataMessage::piece_len(total, piece) {
            Some(len) if !self.meta.private => {
                let start = piece as usize * METADATA_PIECE_LEN as usize;
                MetadataMessage::Data {
                    piece,
                    total_size: total,
                    data: self.meta.info_bytes.slice(start..start + len as usize),
                }
            }
            _ => MetadataMessage::Reject { piece },
        };
        let msg = extended_message(their_id, |out| reply.encode_payload(out));
        self.actions.push_back(Action::Send(peer, msg));
    }

    /// A disk or hash job finished.
    pub(crate) fn handle_disk(&mut self, now: Instant, done: DiskCompletion) {
        self.pending_jobs = self.pending_jobs.saturating_sub(1);
        self.engine.handle_disk(now, done);
        self.pump(now);
    }

    /// Runs the engine's and the announcer's timers if due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
            self.pump(now);
        }
        if let Some(a) = &mut self.announcer
            && a.poll_timeout().is_some_and(|t| t <= now)
        {
            a.handle_timeout(now);
            self.pump_tracker(now);
        }
        if let Some(pex) = &mut self.pex
            && pex.poll_timeout().is_some_and(|t| t <= now)
        {
            pex.handle_timeout(now);
            self.pump_pex(now);
        }
    }

    /// The body of an HTTP announce (or why it failed).
    pub(crate) fn handle_tracker_http(
        &mut self,
        now: Instant,
        tracker: TrackerIdx,
        body: Result<Vec<u8>, String>,
    ) {
        if let Some(a) = &mut self.announcer {
            a.handle_http_response(now, tracker, body.as_deref().map_err(Clone::clone));
            self.pump_tracker(now);
        }
    }

    /// A datagram from a UDP tracker's address.
    pub(crate) fn handle_tracker_udp(&mut self, now: Instant, tracker: TrackerIdx, data: &[u8]) {
        if let Some(a) = &mut self.announcer {
            a.handle_udp_datagram(now, tracker, data);
            self.pump_tracker(now);
        }
    }

    /// Whether the `stopped` announces are done (or timed out, or there are no trackers).
    pub(crate) fn is_tracker_stopped(&self, now: Instant) -> bool {
        match (&self.announcer, self.stopping) {
            (None, _) => true,
            (Some(_), Some((since, done))) => {
                done || now.saturating_duration_since(since) >= STOP_ANNOUNCE_TIMEOUT
            }
            (Some(_), None) => false,
        }
    }

    /// Once a second: rate samples.
    pub(crate) fn handle_housekeeping(&mut self, now: Instant) {
        let s = self.engine.stats();
        self.down.sample(s.downloaded);
        self.up.sample(s.uploaded);
        let progress = self.progress();
        if let Some(a) = &mut self.announcer {
            a.set_progress(progress);
        }
        self.handle_timeout(now);
    }

    /// When the engine, the announcer or peer exchange next wants [`Self::handle_timeout`].
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let t = self.engine.poll_timeout();
        let a = self.announcer.as_ref().and_then(Announcer::poll_timeout);
        let p = self.pex.as_ref().and_then(Pex::poll_timeout);
        t.into_iter().chain(a).chain(p).min()
    }

    /// Takes the next action, if any.
    #[must_use]
    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        let a = self.actions.pop_front();
        if let Some(Action::Disk(_)) = &a {
            self.pending_jobs += 1;
        }
        a
    }

    // ---- private helpers ----

    fn progress(&self) -> Progress {
        let (downloaded, uploaded) = self.session_totals();
        Progress {
            uploaded,
            downloaded,
            left: self.left_bytes(),
        }
    }

    /// Moves peer exchange's messages into our actions and its discoveries into the known
    /// addresses (the list trackers feed, so back-off and limits are shared).
    fn pump_pex(&mut self, now: Instant) {
        let Some(pex) = &mut self.pex else {
            return;
        };
        let mut found = Vec::new();
        while let Some(a) = pex.poll_action() {
            match a {
                PexAction::Send { peer, message } => {
                    self.actions.push_back(Action::Send(peer, message));
                }
                PexAction::Discovered { addrs, .. } => found.extend(addrs),
                _ => {}
            }
        }
        for addr in found {
            if self.addrs.len() >= MAX_KNOWN_ADDRS {
                break;
            }
            self.add_addr(now, addr);
        }
    }

    /// Moves the announcer's actions into ours and applies its events.
    fn pump_tracker(&mut self, now: Instant) {
        let Some(a) = &mut self.announcer else {
            return;
        };
        while let Some(act) = a.poll_action() {
            match act {
                TrackerAction::HttpGet { tracker, url } => {
                    self.actions.push_back(Action::TrackerHttp { tracker, url });
                }
                TrackerAction::SendUdp {
                    tracker,
                    host,
                    port,
                    payload,
                } => self.actions.push_back(Action::TrackerUdp {
                    tracker,
                    host,
                    port,
                    payload,
                }),
            }
        }
        let mut found = Vec::new();
        while let Some(ev) = a.poll_event() {
            match ev {
                AnnouncerEvent::Announced {
                    peers,
                    complete,
                    incomplete,
                    ..
                } => {
                    self.tracker = TrackerState::Working;
                    self.tracker_error = None;
                    if complete.is_some() {
                        self.swarm_seeds = complete;
                    }
                    if incomplete.is_some() {
                        self.swarm_leechers = incomplete;
                    }
                    found.extend(peers);
                }
                AnnouncerEvent::Warning { message, .. } => {
                    tracing::warn!(torrent = %self.id, "tracker warning: {message}");
                }
                AnnouncerEvent::Error { message, .. } => {
                    self.tracker = TrackerState::Failing;
                    self.tracker_error = Some(message);
                }
                AnnouncerEvent::Stopped => {
                    if let Some((since, _)) = self.stopping {
                        self.stopping = Some((since, true));
                    }
                }
            }
        }
        for addr in found {
            self.add_addr(now, addr);
        }
    }

    fn on_announce(&mut self, now: Instant, ev: AnnounceEvent) {
        let progress = self.progress();
        let Some(a) = &mut self.announcer else {
            return;
        };
        match ev {
            AnnounceEvent::Started => a.start(now, progress),
            AnnounceEvent::Completed => a.completed(now, progress),
            AnnounceEvent::Stopped => {
                self.stopping = Some((now, false));
                a.stop(now, progress);
            }
        }
        self.pump_tracker(now);
    }

    /// Moves the engine's actions into ours, translating events.
    fn pump(&mut self, now: Instant) {
        while let Some(a) = self.engine.poll_action() {
            match a {
                engine::Action::Send { peer, message } => {
                    self.actions.push_back(Action::Send(peer, message));
                }
                engine::Action::Disconnect { peer, reason } => {
                    self.peer_sets.remove(&peer);
                    self.peer_ids.remove(&peer);
                    self.their_ut_metadata.remove(&peer);
                    self.metadata_served.remove(&peer);
                    if let Some(pex) = &mut self.pex {
                        pex.handle_peer_gone(peer);
                    }
                    self.actions
                        .push_back(Action::Disconnect(peer, reason.to_string()));
                }
                engine::Action::Disk(job) => self.actions.push_back(Action::Disk(job)),
                engine::Action::Announce(ev) => self.on_announce(now, ev),
                engine::Action::Event(e) => self.on_engine_event(e),
                _ => {}
            }
        }
    }

    fn on_engine_event(&mut self, e: engine::Event) {
        match e {
            engine::Event::CheckProgress { checked, total } => {
                if let Phase::Checking { .. } = self.phase {
                    self.phase = Phase::Checking { checked, total };
                }
            }
            engine::Event::CheckFinished { .. } => {
                if let Phase::Checking { .. } = self.phase {
                    self.phase = Phase::Running;
                }
                self.finish_check();
            }
            engine::Event::Completed => {
                if !self.completed_sent {
                    self.completed_sent = true;
                    self.actions
                        .push_back(Action::Event(Event::Completed { id: self.id }));
                }
                self.actions.push_back(Action::SaveResume);
            }
            engine::Event::StorageFailed(fault) => self.on_storage_fault(&fault),
            engine::Event::ResumeDue => self.actions.push_back(Action::SaveResume),
            // A piece fully written before a storage error was verified after it: the
            // periodic save skips stopped torrents, so save now.
            engine::Event::PieceVerified(_) if matches!(self.phase, Phase::Errored(_)) => {
                self.actions.push_back(Action::SaveResume);
            }
            engine::Event::HashFailed { piece, .. } => {
                tracing::warn!(torrent = %self.id, %piece, "piece failed its hash check");
            }
            engine::Event::PeerBanned(peer) => {
                tracing::warn!(torrent = %self.id, %peer, "peer banned for corrupt data");
            }
            _ => {}
        }
    }

    /// The engine stopped on a storage fault (it already dropped the peers and gave up the
    /// blocks not written): report it with the file's path, refuse peers until `resume`,
    /// and save resume data listing only the verified pieces.
    fn on_storage_fault(&mut self, fault: &engine::StorageFault) {
        let what = fault.to_string();
        tracing::warn!(torrent = %self.id, path = ?fault.path, "storage failed: {what}");
        let location = fault.path.as_ref().map_or_else(
            || self.save_dir.join(&self.meta.name).display().to_string(),
            |p| p.display().to_string(),
        );
        if self.phase != Phase::Closing {
            self.phase = Phase::Errored(what.clone());
            self.actions.push_back(Action::SaveResume);
        }
        self.actions.push_back(Action::Event(Event::Error {
            id: self.id,
            what,
            location,
        }));
    }

    fn finish_check(&mut self) {
        if self.checked {
            return;
        }
        self.checked = true;
        let complete = self.is_complete();
        self.completed_sent = complete;
        self.actions.push_back(Action::Event(Event::Checked {
            id: self.id,
            have_bytes: self.have_bytes(),
            complete,
        }));
    }
}

/// Forgets the known address least worth dialling: not connected, most failed dials, then
/// the latest retry time.
fn make_room(addrs: &mut BTreeMap<SocketAddr, AddrState>) {
    let worst = addrs
        .iter()
        .filter(|(_, s)| !s.connected)
        .max_by_key(|(_, s)| (s.failures, s.next_try))
        .map(|(a, _)| *a);
    if let Some(a) = worst {
        addrs.remove(&a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // Any instant will do; only offsets matter.
    fn make_room_forgets_the_most_failed_unconnected_address() {
        let t0 = Instant::now();
        let st = |failures, connected| AddrState {
            next_try: t0 + Duration::from_secs(u64::from(failures)),
            failures,
            connected,
        };
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let mut addrs = BTreeMap::from([
            (addr(1), st(0, false)),
            (addr(2), st(5, false)),
            (addr(3), st(9, true)),
        ]);
        make_room(&mut addrs);
        assert_eq!(
            addrs.keys().copied().collect::<Vec<_>>(),
            [addr(1), addr(3)]
        );
        make_room(&mut addrs);
        assert_eq!(addrs.keys().copied().collect::<Vec<_>>(), [addr(3)]);
        make_room(&mut addrs);
        assert_eq!(addrs.len(), 1, "a connected address is never forgotten");
    }
}

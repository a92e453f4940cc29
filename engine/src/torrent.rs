//! The per-torrent sans-I/O state machine, wiring peers, the piece picker, the choker and
//! storage jobs together.

mod check;
mod choke;
mod config;
mod peer;
mod timer;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_peerwire::{Bitfield, Message, allowed_fast_set};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha1::{Digest, Sha1};

pub use config::{
    AddPeerError, BanPolicy, Config, FastExtension, PeerInfo, PeerStats, Start, Stats,
};

use crate::rate::RateWindow;
use crate::{
    Action, AnnounceEvent, BlockReceipt, BlockRef, DigestMode, DisconnectReason, DiskCompletion,
    DiskJob, Event, FilePriority, Geometry, HashOutcome, PeerKey, PickOrder, PieceIndex,
    PiecePriority, PieceSet, PieceState, PieceTracker, ResumeRecord, StorageError, StorageFault,
    UnfinishedPiece, Verdict,
};
use check::Checking;
use peer::Peer;
use timer::{Timer, TimerTable};

/// One torrent's state machine.
///
/// Method kinds: getters (`&self`); `handle_*(now, ..)` for input from peers, disk and timers;
/// commands (`add_peer`, `set_file_priority`, `shutdown`, ...); and `poll_*` for output.
///
/// **Driving contract:** after each input or command, drain [`Torrent::poll_action`] until it
/// returns `None`, then wait until [`Torrent::poll_timeout`] (or the next input) and call
/// [`Torrent::handle_timeout`]. `now` must never go backwards. Every `Action::Disk` job must be
/// run (in any order, on any thread) and its completion passed to [`Torrent::handle_disk`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use freshet_engine::{Config, FileSpec, Geometry, PieceHashes, Start, Torrent};
///
/// let geometry = Arc::new(Geometry::new(
///     16384,
///     vec![FileSpec::new(&["a.bin"], 20000)],
///     PieceHashes { v1: Some(vec![[0; 20]; 2]), v2: None },
/// )?);
/// let now = Instant::now();
/// let mut t = Torrent::new(geometry, Config::default(), Start::Empty, now);
/// while let Some(action) = t.poll_action() {
///     println!("{action:?}"); // Announce(Started)
/// }
/// assert!(t.poll_timeout().is_some());
/// t.handle_timeout(now + Duration::from_secs(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Torrent {
    geometry: Arc<Geometry>,
    config: Config,
    tracker: PieceTracker,
    peers: BTreeMap<PeerKey, Peer>,
    next_key: usize,
    rng: ChaCha8Rng,
    timers: TimerTable,
    actions: VecDeque<Action>,
    file_priority: Vec<FilePriority>,
    pending: BTreeMap<PieceIndex, Pending>,
    /// Per failed piece: for each block, who sent which SHA-1 (smart ban).
    failed_history: BTreeMap<PieceIndex, Vec<Vec<BlockWitness>>>,
    banned_ids: BTreeSet<[u8; 20]>,
    /// Banned addresses, keyed by [`BanPolicy::key`].
    banned_addrs: BTreeSet<SocketAddr>,
    phase: Phase,
    /// Writes still running for pieces given up after a storage fault (their completions are
    /// ignored; downloading resumes only once none is left).
    orphan_writes: BTreeMap<PieceIndex, u32>,
    stats: Stats,
    optimistic: Option<PeerKey>,
    full_set: PieceSet,
    scratch: Vec<BlockRef>,
    tick: Duration,
}

/// The torrent's lifecycle. Data needed in one phase only lives in its variant.
///
/// ```text
/// Checking ──▶ Active ◀──▶ Paused
///    │           │           │
///    └───────────┴─ fault ───┴──▶ Errored(fault) ──resume──▶ Recovering ──writes drained──▶ Active
/// any ──shutdown──▶ Stopped
/// ```
#[derive(Debug)]
enum Phase {
    Checking(Checking),
    Active,
    Paused,
    /// Stopped by a storage fault: no peers, no requests, no uploads.
    Errored(StorageFault),
    /// `resume` after a fault: waiting for writes issued before the fault to finish.
    Recovering,
    Stopped,
}

/// Who sent a block of a piece that later failed, and the SHA-1 of what they sent.
#[derive(Debug, Clone, Copy)]
struct BlockWitness {
    peer: PeerKey,
    digest: [u8; 20],
}

#[derive(Debug)]
struct Pending {
    blocks: Vec<Option<Bytes>>,
    written: Vec<bool>,
    writes: u32,
    outcome: Option<HashOutcome>,
}

impl Torrent {
    /// A torrent over `geometry`, starting as `start` says.
    #[must_use]
    pub fn new(geometry: Arc<Geometry>, config: Config, start: Start, now: Instant) -> Self {
        let rng = match config.rng_seed {
            Some(seed) => ChaCha8Rng::from_seed(seed),
            None => ChaCha8Rng::from_os_rng(),
        };
        let mut tracker = PieceTracker::new(Arc::clone(&geometry));
        tracker.initial_random = config.initial_random_pieces;
        tracker.endgame = config.endgame;
        let n = geometry.num_pieces();
        let mut t = Self {
            file_priority: vec![FilePriority::Normal; geometry.files().len()],
            full_set: PieceSet::full(n),
            geometry,
            tracker,
            peers: BTreeMap::new(),
            next_key: 0,
            rng,
            timers: TimerTable::default(),
            actions: VecDeque::new(),
            pending: BTreeMap::new(),
            failed_history: BTreeMap::new(),
            banned_ids: BTreeSet::new(),
            banned_addrs: BTreeSet::new(),
            phase: Phase::Active,
            orphan_writes: BTreeMap::new(),
            stats: Stats::default(),
            optimistic: None,
            scratch: Vec::new(),
            tick: Duration::from_secs(1),
            config,
        };
        t.timers.set(Timer::Tick, now + t.tick);
        t.timers.set(Timer::Choke, now + t.config.choke_interval);
        t.timers
            .set(Timer::Optimistic, now + t.config.optimistic_interval);
        t.timers.set(Timer::Resume, now + t.config.resume_interval);
        t.actions
            .push_back(Action::Announce(AnnounceEvent::Started));
        match start {
            Start::Empty => {}
            Start::Recheck => t.start_check(t.geometry.pieces().collect()),
            Start::Verified(set) => {
                for p in set.iter().filter(|p| p.0 < n) {
                    t.tracker.mark_have(p);
                }
            }
            Start::Resume { record, stats } => t.apply_resume(record, &stats),
        }
        t
    }

    // ---- getters ----

    /// The torrent's geometry.
    #[must_use]
    pub fn geometry(&self) -> &Arc<Geometry> {
        &self.geometry
    }

    /// Verified pieces.
    #[must_use]
    pub fn have(&self) -> &PieceSet {
        self.tracker.have()
    }

    /// Whether every wanted piece is verified.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.tracker.is_complete() && !self.is_checking()
    }

    /// Whether existing data is being checked.
    #[must_use]
    pub fn is_checking(&self) -> bool {
        matches!(self.phase, Phase::Checking(_))
    }

    /// The storage fault that stopped the torrent, while it is stopped by one.
    #[must_use]
    pub fn fault(&self) -> Option<&StorageFault> {
        match &self.phase {
            Phase::Errored(f) => Some(f),
            _ => None,
        }
    }

    /// The piece tracker (read-only).
    #[must_use]
    pub fn pieces(&self) -> &PieceTracker {
        &self.tracker
    }

    /// Transfer totals.
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats {
            peers: self.peers.len(),
            pieces_have: self.tracker.have().count(),
            ..self.stats
        }
    }

    /// Connected peers.
    pub fn peers(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.peers.keys().copied()
    }

    /// A snapshot of one peer's connection state and rates.
    #[must_use]
    pub fn peer_stats(&self, peer: PeerKey) -> Option<PeerStats> {
        let p = self.peers.get(&peer)?;
        Some(PeerStats {
            download_rate: p.download.rate(self.tick),
            upload_rate: p.upload.rate(self.tick),
            pieces: if p.seed {
                self.geometry.num_pieces()
            } else {
                p.has.count()
            },
            am_choking: p.am_choking,
            am_interested: p.am_interested,
            peer_choking: p.peer_choking,
            peer_interested: p.peer_interested,
            snubbed: p.snubbed,
            requests_out: p.outstanding.len(),
            downloaded: p.download.total(),
            uploaded: p.upload.total(),
        })
    }

    /// Whether we currently unchoke `peer`.
    #[must_use]
    pub fn is_unchoking(&self, peer: PeerKey) -> bool {
        self.peers.get(&peer).is_some_and(|p| !p.am_choking)
    }

    /// Per-file priorities.
    #[must_use]
    pub fn file_priorities(&self) -> &[FilePriority] {
        &self.file_priority
    }

    /// A resume record of the current state. Only blocks whose write completed are listed as
    /// received. The caller fills in file stats (after a flush) with
    /// [`ResumeRecord::capture_file_stats`] and stamps wall-clock times.
    #[must_use]
    pub fn resume_record(&self) -> ResumeRecord {
        let unfinished = self
            .pending
            .iter()
            .filter(|(p, _)| self.tracker.state(**p) == PieceState::InFlight)
            .filter_map(|(p, pend)| {
                let blocks: Vec<u32> = pend
                    .written
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| **w)
                    .map(|(i, _)| i as u32)
                    .collect();
                (!blocks.is_empty()).then_some(UnfinishedPiece { piece: *p, blocks })
            })
            .collect();
        ResumeRecord {
            info_hash: self.config.info_hash,
            pieces: self.tracker.have().clone(),
            files: Vec::new(),
            unfinished,
            uploaded: self.stats.uploaded,
            downloaded: self.stats.downloaded,
            added_time: 0,
            completed_time: None,
        }
    }

    // ---- output ----

    /// The next action for the driver, if any.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Torrent::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ---- commands ----

    /// Registers a connected, handshaken peer and queues our bitfield for it.
    pub fn add_peer(&mut self, now: Instant, info: PeerInfo) -> Result<PeerKey, AddPeerError> {
        match self.phase {
            Phase::Stopped => return Err(AddPeerError::Stopped),
            Phase::Errored(_) => return Err(AddPeerError::Errored),
            _ => {}
        }
        if info.id.is_some_and(|id| self.banned_ids.contains(&id.0))
            || info
                .addr
                .is_some_and(|a| self.banned_addrs.contains(&self.config.ban_policy.key(a)))
        {
            return Err(AddPeerError::Banned);
        }
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        let n = self.geometry.num_pieces();
        let fast = info.fast == FastExtension::Enabled;
        let have = self.tracker.have();
        let first = if fast && have.is_full() {
            Message::HaveAll
        } else if fast && have.is_empty() {
            Message::HaveNone
        } else {
            Message::Bitfield(Bitfield::from_wire_unchecked_len(&have.to_bitfield_bytes()))
        };
        self.send(key, first);
        let mut allowed_fast_out = Vec::new();
        if fast && let (Some(ih), Some(SocketAddr::V4(v4))) = (self.config.info_hash, info.addr) {
            allowed_fast_out = allowed_fast_set(&ih, *v4.ip(), n, self.config.allowed_fast_count);
            for p in &allowed_fast_out {
                self.send(key, Message::AllowedFast(*p));
            }
        }
        self.peers.insert(
            key,
            Peer {
                info,
                has: PieceSet::new(n),
                seed: false,
                got_first_message: false,
                am_choking: true,
                am_interested: false,
                peer_choking: true,
                peer_interested: false,
                outstanding: VecDeque::new(),
                reading: BTreeSet::new(),
                allowed_fast_in: Vec::new(),
                allowed_fast_out,
                download: RateWindow::default(),
                upload: RateWindow::default(),
                last_data: now,
                snubbed: false,
                hash_failures: 0,
                unchoked_since: None,
                last_choked: None,
            },
        );
        Ok(key)
    }

    /// Sets a peer's `reqq` (from its extension handshake).
    pub fn set_peer_reqq(&mut self, peer: PeerKey, reqq: usize) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.info.reqq = Some(reqq);
        }
    }

    /// Changes a file's priority; pieces take the highest priority of the files they overlap.
    pub fn set_file_priority(&mut self, now: Instant, file: usize, priority: FilePriority) {
        if file >= self.file_priority.len() || self.file_priority[file] == priority {
            return;
        }
        self.file_priority[file] = priority;
        let range = self.geometry.file_pieces(file);
        for p in range {
            let piece = PieceIndex(p);
            if self.tracker.priority(piece) != PiecePriority::Urgent {
                let prio = self.piece_priority_from_files(piece);
                self.tracker.set_priority(piece, prio);
            }
        }
        self.actions
            .push_back(Action::Disk(DiskJob::SetFilePriorities(
                self.file_priority.clone(),
            )));
        self.after_wanted_change(now);
    }

    /// Switches between rarest-first and sequential (streaming) piece order.
    pub fn set_pick_order(&mut self, now: Instant, order: PickOrder) {
        self.tracker.order_mode = order;
        self.refill_all(now);
    }

    /// Downloads the pieces covering bytes `range` of the torrent before anything else.
    pub fn download_range_first(&mut self, now: Instant, range: std::ops::Range<u64>) {
        if range.start >= range.end || range.start >= self.geometry.total_len() {
            return;
        }
        let pl = u64::from(self.geometry.piece_len());
        let last = (range.end.min(self.geometry.total_len()) - 1) / pl;
        for p in range.start / pl..=last {
            // p < num_pieces, a u32.
            let piece = PieceIndex(p as u32);
            if self.tracker.priority(piece) != PiecePriority::Skip {
                self.tracker.set_priority(piece, PiecePriority::Urgent);
            }
        }
        self.refill_all(now);
    }

    /// Pauses downloading and uploading: cancels our requests, chokes every peer and drops
    /// queued uploads. Connections stay open. Ignored unless the torrent is active.
    pub fn pause(&mut self, _now: Instant) {
        if !matches!(self.phase, Phase::Active) {
            return;
        }
        self.phase = Phase::Paused;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            let outstanding = std::mem::take(&mut p.outstanding);
            p.reading.clear();
            let was_unchoked = !p.am_choking;
            p.am_choking = true;
            p.unchoked_since = None;
            for (b, _) in outstanding {
                self.tracker.cancel_request(&b, k);
                self.send(k, Message::Cancel(b));
            }
            if was_unchoked {
                self.send(k, Message::Choke);
            }
        }
    }

    /// Resumes after [`Torrent::pause`], or after a storage fault (see
    /// [`Event::StorageFailed`]): the fault is cleared and downloading restarts once every
    /// write issued before the fault has completed. Files are opened again by the storage as
    /// needed; if the cause is not fixed, the next disk job fails again.
    pub fn resume(&mut self, now: Instant) {
        match self.phase {
            Phase::Paused => {
                self.phase = Phase::Active;
                self.run_choker(now);
                self.refill_all(now);
            }
            Phase::Errored(_) => {
                self.phase = Phase::Recovering;
                self.finish_recovery(now);
            }
            _ => {}
        }
    }

    /// Whether the torrent is paused.
    #[must_use]
    pub fn is_paused(&self) -> bool {
        matches!(self.phase, Phase::Paused)
    }

    /// Moves the data to another save directory (a `DiskJob::Move`).
    pub fn move_storage(&mut self, to: std::path::PathBuf) {
        self.actions.push_back(Action::Disk(DiskJob::Move(to)));
    }

    /// Deletes the downloaded data (a `DiskJob::Delete`); call after [`Torrent::shutdown`].
    pub fn delete_data(&mut self) {
        self.actions.push_back(Action::Disk(DiskJob::Delete));
    }

    /// Stops the torrent: disconnects every peer, flushes storage and announces `stopped`.
    /// Save a resume record after the flush completes.
    pub fn shutdown(&mut self, _now: Instant) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.drop_peer(k, DisconnectReason::Shutdown);
        }
        self.phase = Phase::Stopped;
        self.timers = TimerTable::default();
        self.actions.push_back(Action::Disk(DiskJob::Flush));
        self.actions
            .push_back(Action::Announce(AnnounceEvent::Stopped));
    }

    // ---- input ----

    /// A peer's connection closed (or the driver dropped it).
    pub fn handle_peer_closed(&mut self, now: Instant, peer: PeerKey) {
        if let Some(p) = self.peers.remove(&peer) {
            self.forget_peer(p, peer);
            self.refill_all(now);
        }
    }

    /// A decoded message from `peer`.
    pub fn handle_message(&mut self, now: Instant, peer: PeerKey, message: Message) {
        let downloading = self.is_downloading();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let first = !p.got_first_message;
        p.got_first_message = true;
        let fast = p.info.fast == FastExtension::Enabled;
        match message {
            Message::Keepalive | Message::Port(_) | Message::SuggestPiece(_) => {}
            // The driver handles extension messages (BEP 10) itself.
            Message::Extended { .. } => {}
            // We serve no BEP 52 hashes (the engine keeps no merkle trees): say so.
            Message::HashRequest(req) => self.send(peer, Message::HashReject(req)),
            Message::Hashes { .. } | Message::HashReject(_) => {}
            Message::Choke => {
                p.peer_choking = true;
                if !fast {
                    // Without the fast extension a choke discards every pending request.
                    let lost = std::mem::take(&mut p.outstanding);
                    for (b, _) in lost {
                        self.tracker.cancel_request(&b, peer);
                    }
                }
            }
            Message::Unchoke => {
                p.peer_choking = false;
                p.last_data = now;
                self.fill_requests(now, peer);
            }
            Message::Interested => {
                p.peer_interested = true;
                self.maybe_unchoke_now(now, peer);
            }
            Message::NotInterested => p.peer_interested = false,
            Message::Have(index) => {
                let Some(piece) = self.geometry.piece(index.0) else {
                    return self.misbehaved(peer, "have index out of range");
                };
                if p.seed || !p.has.insert(piece) {
                    return;
                }
                self.tracker.inc_availability(piece);
                if !p.am_interested
                    && matches!(
                        self.tracker.state(piece),
                        PieceState::Queued | PieceState::InFlight
                    )
                    && downloading
                {
                    p.am_interested = true;
                    self.send(peer, Message::Interested);
                }
                self.fill_requests(now, peer);
                self.check_both_seeding(peer);
            }
            Message::Bitfield(bf) => {
                let n = self.geometry.num_pieces();
                let Some(set) = PieceSet::from_bitfield_bytes(bf.as_wire(), n) else {
                    return self.misbehaved(peer, "bitfield length or spare bits");
                };
                if first {
                    self.set_peer_pieces(now, peer, set);
                } else {
                    // Some clients (aria2 1.36) resend their bitfield later on; like libtorrent
                    // we take it as a batch of `have`s (pieces are never un-had).
                    self.add_late_pieces(now, peer, &set);
                }
            }
            Message::HaveAll | Message::HaveNone => {
                if !fast {
                    return self.misbehaved(peer, "fast message without the fast extension");
                }
                let n = self.geometry.num_pieces();
                let all = matches!(message, Message::HaveAll);
                if first {
                    let set = if all {
                        PieceSet::full(n)
                    } else {
                        PieceSet::new(n)
                    };
                    self.set_peer_pieces(now, peer, set);
                } else if all {
                    // A late have-all: every piece as a `have`. A late have-none says nothing.
                    self.add_late_pieces(now, peer, &PieceSet::full(n));
                }
            }
            Message::Request(block) => self.on_request(peer, block, fast),
            Message::Cancel(block) => {
                let was_queued = p.reading.remove(&block);
                if was_queued && fast {
                    self.send(peer, Message::RejectRequest(block));
                }
            }
            Message::RejectRequest(block) => {
                if !fast {
                    return self.misbehaved(peer, "fast message without the fast extension");
                }
                if let Some(pos) = p.outstanding.iter().position(|(b, _)| *b == block) {
                    p.outstanding.remove(pos);
                    self.tracker.cancel_request(&block, peer);
                    self.fill_requests(now, peer);
                }
            }
            Message::AllowedFast(index) => {
                if !fast {
                    return self.misbehaved(peer, "fast message without the fast extension");
                }
                if let Some(piece) = self.geometry.piece(index.0)
                    && !p.allowed_fast_in.contains(&piece)
                    && p.allowed_fast_in.len() < MAX_ALLOWED_FAST
                {
                    p.allowed_fast_in.push(piece);
                    self.fill_requests(now, peer);
                }
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => self.on_piece(now, peer, piece, offset, data),
            _ => {}
        }
    }

    /// A disk job finished.
    pub fn handle_disk(&mut self, now: Instant, completion: DiskCompletion) {
        match completion {
            DiskCompletion::Written { block, result } => {
                if let Some(n) = self.orphan_writes.get_mut(&block.piece) {
                    // Its piece was given up after a fault: nothing to record.
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.orphan_writes.remove(&block.piece);
                    }
                    return self.finish_recovery(now);
                }
                let Some(pend) = self.pending.get_mut(&block.piece) else {
                    if let Err(e) = result {
                        self.storage_failed(now, &e);
                    }
                    return;
                };
                pend.writes = pend.writes.saturating_sub(1);
                if let Err(e) = result {
                    return self.storage_failed(now, &e);
                }
                if let Some(i) = self.geometry.block_index(&block) {
                    pend.written[i as usize] = true;
                }
                if pend.writes == 0 && pend.outcome.is_some() {
                    self.finish_piece(now, block.piece);
                }
            }
            DiskCompletion::Read {
                peer,
                block,
                result,
            } => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                if !p.reading.remove(&block) {
                    return; // cancelled meanwhile
                }
                match result {
                    Ok(data) => {
                        p.upload.add(data.len() as u64);
                        self.stats.uploaded += data.len() as u64;
                        self.send(
                            peer,
                            Message::Piece {
                                piece: block.piece,
                                offset: block.offset,
                                data,
                            },
                        );
                    }
                    // Only verified pieces are read: their data must be there.
                    Err(e) => self.storage_failed(now, &e),
                }
            }
            DiskCompletion::Hashed { piece, result } => {
                if let Phase::Checking(c) = &mut self.phase
                    && c.in_flight.remove(&piece)
                {
                    let ok = matches!(&result, Ok(o) if o.verdict == Verdict::Passed);
                    c.checked += 1;
                    if ok {
                        c.valid += 1;
                        self.tracker.mark_have(piece);
                    }
                    let (checked, total) = (c.checked, c.total);
                    self.actions
                        .push_back(Action::Event(Event::CheckProgress { checked, total }));
                    self.pump_check(now);
                    return;
                }
                if !self.pending.contains_key(&piece) {
                    return; // given up after a fault
                }
                let outcome = match result {
                    Ok(o) => o,
                    Err(e) => {
                        // Its data cannot be read back: download it again.
                        self.pending.remove(&piece);
                        if self.tracker.state(piece) == PieceState::InFlight {
                            self.tracker.abandon(piece);
                        }
                        return self.storage_failed(now, &e);
                    }
                };
                let Some(pend) = self.pending.get_mut(&piece) else {
                    return;
                };
                pend.outcome = Some(outcome);
                if pend.writes == 0 {
                    self.finish_piece(now, piece);
                }
            }
            DiskCompletion::Done { result, .. } => {
                if let Err(e) = result {
                    self.storage_failed(now, &e);
                }
            }
        }
    }

    /// Runs expired timers. Harmless if called early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.expired(Timer::Tick, now) {
            self.timers.set(Timer::Tick, now + self.tick);
            self.on_tick(now);
        }
        if self.timers.expired(Timer::Optimistic, now) {
            self.timers
                .set(Timer::Optimistic, now + self.config.optimistic_interval);
            self.optimistic = None;
            self.run_choker(now);
            self.timers
                .set(Timer::Choke, now + self.config.choke_interval);
        }
        if self.timers.expired(Timer::Choke, now) {
            self.timers
                .set(Timer::Choke, now + self.config.choke_interval);
            self.run_choker(now);
        }
        if self.timers.expired(Timer::Resume, now) {
            self.timers
                .set(Timer::Resume, now + self.config.resume_interval);
            self.actions.push_back(Action::Event(Event::ResumeDue));
        }
    }

    // ---- private: peers ----

    fn send(&mut self, peer: PeerKey, message: Message) {
        self.actions.push_back(Action::Send { peer, message });
    }

    fn misbehaved(&mut self, peer: PeerKey, what: &'static str) {
        self.drop_peer(peer, DisconnectReason::PeerMisbehaved(what));
    }

    /// The one place a peer is dropped by the engine.
    fn drop_peer(&mut self, peer: PeerKey, reason: DisconnectReason) {
        let Some(p) = self.peers.remove(&peer) else {
            return;
        };
        if reason == DisconnectReason::Banned {
            if let Some(id) = p.info.id {
                self.banned_ids.insert(id.0);
            }
            if let Some(a) = p.info.addr {
                self.banned_addrs.insert(self.config.ban_policy.key(a));
            }
            self.actions
                .push_back(Action::Event(Event::PeerBanned(peer)));
        }
        self.forget_peer(p, peer);
        self.actions.push_back(Action::Disconnect { peer, reason });
    }

    fn forget_peer(&mut self, p: Peer, key: PeerKey) {
        for (b, _) in &p.outstanding {
            self.tracker.cancel_request(b, key);
        }
        if p.seed {
            self.tracker.remove_seed();
        } else {
            self.tracker.remove_peer_pieces(&p.has);
        }
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
    }

    fn set_peer_pieces(&mut self, now: Instant, peer: PeerKey, set: PieceSet) {
        let downloading = self.is_downloading();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if set.is_full() {
            p.seed = true;
            self.tracker.add_seed();
        } else {
            self.tracker.add_peer_pieces(&set);
        }
        p.has = set;
        let want = downloading && self.tracker.wants_any_of(&p.has);
        if want && !p.am_interested {
            p.am_interested = true;
            self.send(peer, Message::Interested);
        }
        self.check_both_seeding(peer);
        self.fill_requests(now, peer);
    }

    /// Pieces a peer announced after its first message (a late bitfield or have-all): each
    /// new one counts as a `have`; interest and requests are updated once for the batch.
    fn add_late_pieces(&mut self, now: Instant, peer: PeerKey, set: &PieceSet) {
        let downloading = self.is_downloading();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.seed {
            return;
        }
        let mut added = false;
        for piece in set.iter() {
            if p.has.insert(piece) {
                self.tracker.inc_availability(piece);
                added = true;
            }
        }
        if !added {
            return;
        }
        if downloading && !p.am_interested && self.tracker.wants_any_of(&p.has) {
            p.am_interested = true;
            self.send(peer, Message::Interested);
        }
        self.fill_requests(now, peer);
        self.check_both_seeding(peer);
    }

    fn check_both_seeding(&mut self, peer: PeerKey) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        if self.tracker.have().is_full() && (p.seed || p.has.is_full()) {
            self.drop_peer(peer, DisconnectReason::BothSeeding);
        }
    }

    fn on_request(&mut self, peer: PeerKey, block: BlockRef, fast: bool) {
        if !self.geometry.is_servable(&block) {
            return self.misbehaved(peer, "request outside the piece or over 16 KiB");
        }
        let limit = self.config.max_incoming_requests;
        let have = self.tracker.have().contains(block.piece);
        let paused = matches!(self.phase, Phase::Paused);
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let allowed = !paused && (!p.am_choking || p.allowed_fast_out.contains(&block.piece));
        if !have || !allowed || p.reading.len() >= limit || p.reading.contains(&block) {
            if fast {
                self.send(peer, Message::RejectRequest(block));
            }
            return;
        }
        p.reading.insert(block);
        self.actions
            .push_back(Action::Disk(DiskJob::Read { peer, block }));
    }

    fn on_piece(
        &mut self,
        now: Instant,
        peer: PeerKey,
        piece: PieceIndex,
        offset: u32,
        data: Bytes,
    ) {
        let Ok(len) = u32::try_from(data.len()) else {
            return self.misbehaved(peer, "piece message too long");
        };
        let block = BlockRef::new(piece, offset, len);
        if matches!(self.phase, Phase::Errored(_) | Phase::Recovering) {
            return; // nothing is written until the fault is cleared
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let was_requested = match p.outstanding.iter().position(|(b, _)| *b == block) {
            Some(pos) => {
                p.outstanding.remove(pos);
                true
            }
            None => false,
        };
        p.download.add(u64::from(len));
        self.stats.downloaded += u64::from(len);
        p.last_data = now;
        p.snubbed = false;
        if !was_requested && self.geometry.block_index(&block).is_none() {
            return self.misbehaved(peer, "unrequested piece data");
        }
        match self.tracker.on_block_received(&block, peer) {
            BlockReceipt::Accepted { complete, cancel } => {
                if let Some(other) = cancel {
                    if let Some(o) = self.peers.get_mut(&other)
                        && let Some(pos) = o.outstanding.iter().position(|(b, _)| *b == block)
                    {
                        o.outstanding.remove(pos);
                        self.send(other, Message::Cancel(block));
                    }
                }
                let blocks = self.geometry.blocks_in_piece(piece) as usize;
                let pend = self.pending.entry(piece).or_insert_with(|| Pending {
                    blocks: vec![None; blocks],
                    written: vec![false; blocks],
                    writes: 0,
                    outcome: None,
                });
                if let Some(i) = self.geometry.block_index(&block) {
                    pend.blocks[i as usize] = Some(data.clone());
                }
                pend.writes += 1;
                self.actions
                    .push_back(Action::Disk(DiskJob::Write { block, data }));
                if complete {
                    self.start_hash(piece);
                }
            }
            BlockReceipt::Duplicate | BlockReceipt::NotInFlight => {}
        }
        self.fill_requests(now, peer);
    }

    fn start_hash(&mut self, piece: PieceIndex) {
        let Some(pend) = self.pending.get(&piece) else {
            return;
        };
        let block_digests = if self.failed_history.contains_key(&piece) {
            DigestMode::WithBlocks
        } else {
            DigestMode::PieceOnly
        };
        self.actions.push_back(Action::Disk(DiskJob::Hash {
            piece,
            blocks: pend.blocks.clone(),
            block_digests,
        }));
    }

    fn finish_piece(&mut self, now: Instant, piece: PieceIndex) {
        let Some(mut pend) = self.pending.remove(&piece) else {
            return;
        };
        if !pend.written.iter().all(|w| *w) {
            // A hash started before a write of this piece failed: its data is not all on
            // disk, so the verdict does not count (the piece was put back to wanted).
            pend.outcome = None;
            self.pending.insert(piece, pend);
            return;
        }
        let Some(outcome) = pend.outcome else {
            return;
        };
        match outcome.verdict {
            Verdict::Passed => {
                self.tracker.on_hash_passed(piece);
                if let (Some(history), Some(good)) =
                    (self.failed_history.remove(&piece), &outcome.block_digests)
                {
                    let mut liars = BTreeSet::new();
                    for (i, senders) in history.iter().enumerate() {
                        for w in senders {
                            if good.get(i).is_some_and(|g| *g != w.digest) {
                                liars.insert(w.peer);
                            }
                        }
                    }
                    for peer in liars {
                        self.drop_peer(peer, DisconnectReason::Banned);
                    }
                }
                self.actions
                    .push_back(Action::Event(Event::PieceVerified(piece)));
                let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
                for k in &keys {
                    self.send(*k, Message::Have(piece));
                }
                if self.tracker.is_complete() {
                    self.on_complete();
                } else {
                    for k in keys {
                        self.update_interest(k);
                    }
                }
            }
            Verdict::Failed => {
                let senders = self.tracker.on_hash_failed(piece);
                self.stats.failed += u64::from(self.geometry.piece_size(piece));
                // Remember who sent which block, to find the liar when the piece later passes.
                let history = self.failed_history.entry(piece).or_default();
                history.resize(pend.blocks.len(), Vec::new());
                for (i, (b, who)) in pend.blocks.iter().zip(&senders).enumerate() {
                    if let Some(b) = b
                        && history[i].len() < MAX_HISTORY
                    {
                        history[i].push(BlockWitness {
                            peer: *who,
                            digest: Sha1::digest(b).into(),
                        });
                    }
                }
                let mut contributors: Vec<PeerKey> = senders.clone();
                contributors.sort();
                contributors.dedup();
                self.actions.push_back(Action::Event(Event::HashFailed {
                    piece,
                    contributors: contributors.clone(),
                }));
                for c in contributors {
                    if let Some(p) = self.peers.get_mut(&c) {
                        p.hash_failures += 1;
                        if p.hash_failures >= self.config.ban_after_failures {
                            self.drop_peer(c, DisconnectReason::Banned);
                        }
                    }
                }
                self.refill_all(now);
            }
        }
    }

    fn on_complete(&mut self) {
        self.actions.push_back(Action::Event(Event::Completed));
        self.actions
            .push_back(Action::Announce(AnnounceEvent::Completed));
        self.actions.push_back(Action::Disk(DiskJob::Flush));
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            if let Some(p) = self.peers.get_mut(&k)
                && p.am_interested
            {
                p.am_interested = false;
                self.send(k, Message::NotInterested);
            }
            self.check_both_seeding(k);
        }
    }

    fn update_interest(&mut self, peer: PeerKey) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        if !p.am_interested || !p.outstanding.is_empty() {
            return;
        }
        if !self.tracker.wants_any_of(&p.has) {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.am_interested = false;
            }
            self.send(peer, Message::NotInterested);
        }
    }

    fn is_downloading(&self) -> bool {
        matches!(self.phase, Phase::Active)
    }

    fn pipeline_target(&self, p: &Peer) -> usize {
        if p.snubbed {
            return 1;
        }
        let rate = p.download.last(self.tick).max(p.download.rate(self.tick));
        let by_rate = (rate as f64 * self.config.pipeline_duration.as_secs_f64()
            / f64::from(crate::BLOCK_LEN))
        .ceil() as usize;
        let cap = p
            .info
            .reqq
            .unwrap_or(usize::MAX)
            .min(self.config.max_pipeline)
            .max(1);
        by_rate.max(self.config.min_pipeline).min(cap)
    }

    fn fill_requests(&mut self, now: Instant, peer: PeerKey) {
        if !self.is_downloading() {
            return;
        }
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        if !p.am_interested {
            return;
        }
        let target = self.pipeline_target(p);
        if p.outstanding.len() >= target {
            return;
        }
        let want = target - p.outstanding.len();
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        if p.peer_choking {
            // Allowed-fast pieces are arbitrary; in sequential (streaming) mode they would
            // complete out of order, so we wait for an unchoke instead.
            if p.allowed_fast_in.is_empty() || self.tracker.order_mode == PickOrder::Sequential {
                self.scratch = out;
                return;
            }
            let mut allowed = PieceSet::new(self.geometry.num_pieces());
            for piece in &p.allowed_fast_in {
                if p.seed || p.has.contains(*piece) {
                    allowed.insert(*piece);
                }
            }
            self.tracker
                .pick(peer, &allowed, want, &mut self.rng, &mut out);
        } else if p.seed {
            self.tracker
                .pick(peer, &self.full_set, want, &mut self.rng, &mut out);
        } else {
            self.tracker
                .pick(peer, &p.has, want, &mut self.rng, &mut out);
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            for b in &out {
                p.outstanding.push_back((*b, now));
            }
        }
        for b in &out {
            self.send(peer, Message::Request(*b));
        }
        let empty = out.is_empty();
        self.scratch = out;
        if empty {
            self.update_interest(peer);
        }
    }

    fn refill_all(&mut self, now: Instant) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            let want = self.is_downloading()
                && self
                    .peers
                    .get(&k)
                    .is_some_and(|p| !p.am_interested && self.tracker.wants_any_of(&p.has));
            if want && let Some(p) = self.peers.get_mut(&k) {
                p.am_interested = true;
                self.send(k, Message::Interested);
            }
            self.fill_requests(now, k);
        }
    }

    fn after_wanted_change(&mut self, now: Instant) {
        if self.tracker.is_complete() {
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            for k in keys {
                if let Some(p) = self.peers.get_mut(&k)
                    && p.am_interested
                    && p.outstanding.is_empty()
                {
                    p.am_interested = false;
                    self.send(k, Message::NotInterested);
                }
            }
        } else {
            self.refill_all(now);
        }
    }

    fn on_tick(&mut self, now: Instant) {
        let timeout = self.config.request_timeout;
        let snub = self.config.snub_timeout;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            p.download.tick();
            p.upload.tick();
            if !p.outstanding.is_empty() && now.saturating_duration_since(p.last_data) >= snub {
                p.snubbed = true;
            }
            let mut expired = Vec::new();
            p.outstanding.retain(|(b, sent)| {
                let keep = now.saturating_duration_since(*sent) < timeout;
                if !keep {
                    expired.push(*b);
                }
                keep
            });
            // Withdraw timed-out requests so a re-request (maybe to the same peer) is not
            // answered twice.
            for b in expired {
                self.tracker.cancel_request(&b, k);
                self.send(k, Message::Cancel(b));
            }
            self.fill_requests(now, k);
        }
    }

    /// The one place a storage failure is handled. The first fault stops the torrent: every
    /// peer is dropped (which withdraws our requests and their queued uploads), verified
    /// pieces stay verified, and one [`Event::StorageFailed`] is sent. Pieces in progress:
    /// - with writes still running: given up (back to wanted); those writes are counted in
    ///   `orphan_writes` and ignored when they complete;
    /// - every block written, hash running: kept, so the piece can still be verified;
    /// - some blocks written: back to wanted with only the written blocks kept (listed in the
    ///   resume record), the rest (data not written) dropped.
    ///
    /// Later failures while stopped are not reported again; after `shutdown` they are
    /// reported but change nothing.
    fn storage_failed(&mut self, _now: Instant, error: &StorageError) {
        let fault = StorageFault::from(error);
        match self.phase {
            Phase::Errored(_) | Phase::Recovering => return,
            Phase::Stopped => {
                self.actions
                    .push_back(Action::Event(Event::StorageFailed(fault)));
                return;
            }
            Phase::Checking(_) | Phase::Active | Phase::Paused => {}
        }
        self.phase = Phase::Errored(fault.clone());
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.drop_peer(k, DisconnectReason::StorageFailed);
        }
        for (piece, mut pend) in std::mem::take(&mut self.pending) {
            if pend.writes == 0 && pend.written.iter().all(|w| *w) {
                self.pending.insert(piece, pend);
                continue;
            }
            if self.tracker.state(piece) == PieceState::InFlight {
                self.tracker.abandon(piece);
            }
            if pend.writes > 0 {
                *self.orphan_writes.entry(piece).or_default() += pend.writes;
            } else if pend.written.iter().any(|w| *w) {
                self.tracker.restore_partial(piece, &pend.written);
                for (b, w) in pend.blocks.iter_mut().zip(&pend.written) {
                    if !*w {
                        *b = None;
                    }
                }
                pend.outcome = None;
                self.pending.insert(piece, pend);
            }
        }
        self.actions
            .push_back(Action::Event(Event::StorageFailed(fault)));
    }

    /// Leaves `Recovering` for `Active` once no write from before the fault is running.
    fn finish_recovery(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Recovering) && self.orphan_writes.is_empty() {
            self.phase = Phase::Active;
            self.run_choker(now);
            self.refill_all(now);
        }
    }

    fn piece_priority_from_files(&self, piece: PieceIndex) -> PiecePriority {
        let start = self.geometry.piece_offset(piece);
        let len = self.geometry.piece_size(piece) as usize;
        let mut best = PiecePriority::Skip;
        for span in self.geometry.spans(start, len) {
            if self.geometry.files()[span.file].is_padding() {
                continue;
            }
            let p = match self.file_priority[span.file] {
                FilePriority::Skip => PiecePriority::Skip,
                FilePriority::Low => PiecePriority::Low,
                FilePriority::Normal => PiecePriority::Normal,
                FilePriority::High => PiecePriority::High,
            };
            best = best.max(p);
        }
        best
    }
}

/// Cap on allowed-fast pieces we accept from one peer.
const MAX_ALLOWED_FAST: usize = 32;
/// Cap on remembered senders per block of a failed piece.
const MAX_HISTORY: usize = 8;

#[cfg(test)]
mod tests;

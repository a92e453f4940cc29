//! Fetching a magnet link's info dictionary from peers (BEP 9 `ut_metadata` over BEP 10),
//! sans-I/O.
//!
//! A [`MetadataFetch`] takes peers' extended handshakes and `ut_metadata` payloads with
//! `now`, and returns [`MetadataAction`]s: requests to send, peers to drop, and at the end the
//! verified info bytes.
//!
//! # Rules
//!
//! - The metadata size is taken from the first usable peer's `metadata_size`; a size above
//!   [`MetadataConfig::max_size`] (16 MiB by default) is never used, and nothing is allocated
//!   from it: the peer is dropped ([`MetadataDropReason::Oversized`]). Peers announcing another
//!   size than the one in use wait (they are used if the current size turns out wrong).
//! - Missing 16 KiB pieces are spread over the usable peers, at most
//!   [`MetadataConfig::max_in_flight_per_peer`] each. A request not answered within
//!   [`MetadataConfig::request_timeout`] goes back to the pool; a `reject` does too, and the
//!   rejecting peer rests for [`MetadataConfig::reject_backoff`]. Peers that keep timing out
//!   or rejecting are dropped.
//! - When every piece is in, the bytes must hash to the target: SHA-1 for a v1 info-hash,
//!   SHA-256 for a v2 one (both when both are known). A failure with one contributor drops
//!   and bans that peer ([`MetadataDropReason::HashMismatch`]). With several contributors
//!   the culprit is unknown: the fetch switches to *single-source* rounds (all pieces from
//!   one peer), so the next failure names exactly one peer.
//! - Data for a piece that was not requested from that peer is ignored.
//!
//! # Driving
//!
//! After every `handle_*` call, drain [`MetadataFetch::poll_action`]; call
//! [`MetadataFetch::handle_timeout`] at [`MetadataFetch::poll_timeout`]. `now` never goes
//! backwards.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_metainfo::{InfoHashV1, InfoHashV2, InfoHashes};
use freshet_peerwire::{
    ExtendedHandshake, METADATA_PIECE_LEN, Message, MetadataMessage, UT_METADATA, extended_message,
};
use sha1::Digest as _;

use crate::PeerKey;

/// Default largest metadata accepted: 16 MiB.
pub const DEFAULT_MAX_METADATA_SIZE: u32 = 16 * 1024 * 1024;

/// Settings of a [`MetadataFetch`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MetadataConfig {
    /// Largest `metadata_size` used (default [`DEFAULT_MAX_METADATA_SIZE`]).
    pub max_size: u32,
    /// Requests outstanding to one peer at most (default 4).
    pub max_in_flight_per_peer: usize,
    /// A request unanswered this long is asked elsewhere (default 10 s).
    pub request_timeout: Duration,
    /// A peer that rejected a request gets none for this long (default 5 s).
    pub reject_backoff: Duration,
    /// Timeouts plus rejects after which a peer is dropped (default 8).
    pub max_failures: u32,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        Self {
            max_size: DEFAULT_MAX_METADATA_SIZE,
            max_in_flight_per_peer: 4,
            request_timeout: Duration::from_secs(10),
            reject_backoff: Duration::from_secs(5),
            max_failures: 8,
        }
    }
}

/// Output of a [`MetadataFetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataAction {
    /// Send `message` (a `ut_metadata` request) to `peer`.
    Send {
        /// The peer.
        peer: PeerKey,
        /// The message.
        message: Message,
    },
    /// Close the connection to `peer`; the fetch has forgotten it.
    Drop {
        /// The peer.
        peer: PeerKey,
        /// Why ([`MetadataDropReason::is_ban`]: never reconnect it for this torrent).
        reason: MetadataDropReason,
    },
    /// The info dictionary, verified against the info-hash(es). The last action.
    Complete(Bytes),
}

/// Why a [`MetadataFetch`] drops a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataDropReason {
    /// The peer does not offer `ut_metadata` or did not say the metadata size.
    NoMetadata,
    /// The announced metadata size is zero or above the configured maximum.
    Oversized {
        /// What the peer announced.
        size: u32,
        /// The maximum.
        max: u32,
    },
    /// A payload that is not a valid `ut_metadata` message.
    InvalidMessage,
    /// Data whose `total_size` differs from the size the peer announced.
    SizeChanged,
    /// Too many timeouts and rejects.
    Unresponsive,
    /// Metadata taken from this peer alone did not hash to the info-hash.
    HashMismatch,
}

impl MetadataDropReason {
    /// Whether the peer is proven to lie and must not be reconnected for this torrent.
    #[must_use]
    pub const fn is_ban(self) -> bool {
        matches!(self, Self::HashMismatch | Self::SizeChanged)
    }
}

impl fmt::Display for MetadataDropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMetadata => f.write_str("peer does not offer metadata"),
            Self::Oversized { size, max } => {
                write!(f, "metadata size {size} out of range (max {max})")
            }
            Self::InvalidMessage => f.write_str("invalid ut_metadata message"),
            Self::SizeChanged => f.write_str("metadata total_size differs from the handshake"),
            Self::Unresponsive => f.write_str("too many metadata requests timed out or rejected"),
            Self::HashMismatch => f.write_str("metadata does not match the info-hash"),
        }
    }
}

/// One metadata piece.
#[derive(Debug, Clone)]
enum Slot {
    Missing,
    Requested { peer: PeerKey, deadline: Instant },
    Have { data: Bytes, from: PeerKey },
}

/// A peer that offers metadata.
#[derive(Debug)]
struct FetchPeer {
    /// The id the peer wants `ut_metadata` messages under.
    ext_id: u8,
    /// The `metadata_size` it announced (already bounded).
    size: u32,
    in_flight: usize,
    failures: u32,
    resting_until: Option<Instant>,
}

/// The BEP 9 fetch of one torrent's info dictionary; see the module docs for the rules.
#[derive(Debug)]
pub struct MetadataFetch {
    target: InfoHashes,
    config: MetadataConfig,
    /// Size being fetched; `pieces` has `size.div_ceil(16 KiB)` slots.
    size: Option<u32>,
    pieces: Vec<Slot>,
    peers: BTreeMap<PeerKey, FetchPeer>,
    /// Once a mixed round failed: every round takes all pieces from one peer.
    single_source: bool,
    actions: VecDeque<MetadataAction>,
    complete: bool,
    /// Peers dropped for lying (keys are never reused, so this only guards late messages).
    banned: BTreeSet<PeerKey>,
}

impl MetadataFetch {
    /// A fetch of the info dictionary named by `target` (at least one hash must be set).
    ///
    /// # Panics
    /// If `target` has neither a v1 nor a v2 hash (a caller bug).
    #[must_use]
    pub fn new(target: InfoHashes, config: MetadataConfig) -> Self {
        assert!(target.is_some(), "MetadataFetch needs an info-hash");
        Self {
            target,
            config,
            size: None,
            pieces: Vec::new(),
            peers: BTreeMap::new(),
            single_source: false,
            actions: VecDeque::new(),
            complete: false,
            banned: BTreeSet::new(),
        }
    }

    // ---- getters ----

    /// The metadata size being fetched, once a peer announced a usable one.
    #[must_use]
    pub fn size(&self) -> Option<u32> {
        self.size
    }

    /// Fraction of the metadata received (0.0 until a size is known).
    #[must_use]
    pub fn fraction(&self) -> f64 {
        if self.pieces.is_empty() {
            return 0.0;
        }
        let have = self
            .pieces
            .iter()
            .filter(|s| matches!(s, Slot::Have { .. }))
            .count();
        have as f64 / self.pieces.len() as f64
    }

    /// Peers offering metadata.
    #[must_use]
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Whether the verified metadata was handed out.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    // ---- inputs ----

    /// A peer's extended handshake. A peer that offers `ut_metadata` with a usable size is
    /// asked for pieces; one announcing an oversized (or zero) size, or no metadata at all, is
    /// dropped. A repeated handshake only updates the peer's `ut_metadata` id.
    pub fn handle_extended_handshake(
        &mut self,
        now: Instant,
        peer: PeerKey,
        handshake: &ExtendedHandshake,
    ) {
        if self.complete || self.banned.contains(&peer) {
            return;
        }
        let (Some(ext_id), Some(size)) =
            (handshake.extension_id(UT_METADATA), handshake.metadata_size)
        else {
            if !self.peers.contains_key(&peer) {
                self.drop_peer(peer, MetadataDropReason::NoMetadata);
            }
            return;
        };
        if let Some(p) = self.peers.get_mut(&peer) {
            p.ext_id = ext_id;
            return;
        }
        if size == 0 || size > self.config.max_size {
            let max = self.config.max_size;
            self.drop_peer(peer, MetadataDropReason::Oversized { size, max });
            return;
        }
        self.peers.insert(
            peer,
            FetchPeer {
                ext_id,
                size,
                in_flight: 0,
                failures: 0,
                resting_until: None,
            },
        );
        if self.size.is_none() {
            self.choose_size();
        }
        self.assign(now);
    }

    /// A `ut_metadata` payload from `peer` (sent under the id we advertised).
    pub fn handle_payload(&mut self, now: Instant, peer: PeerKey, payload: &Bytes) {
        if self.complete || !self.peers.contains_key(&peer) {
            return;
        }
        let msg = match MetadataMessage::decode(payload) {
            Ok(Some(m)) => m,
            Ok(None) => return, // unknown msg_type: ignored (BEP 9)
            Err(_) => {
                self.drop_peer(peer, MetadataDropReason::InvalidMessage);
                self.assign(now);
                return;
            }
        };
        match msg {
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => self.on_data(now, peer, piece, total_size, data),
            MetadataMessage::Reject { piece } => self.on_reject(now, peer, piece),
            // Requests are served by the torrent once it has the metadata; a fetch has none.
            _ => {}
        }
    }

    /// `peer`'s connection is gone: its outstanding requests go back to the pool.
    pub fn handle_peer_gone(&mut self, now: Instant, peer: PeerKey) {
        if self.peers.contains_key(&peer) {
            self.forget(peer);
            self.assign(now);
        }
    }

    /// Expires overdue requests and ends rests; harmless when called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.complete {
            return;
        }
        let mut timed_out = Vec::new();
        for slot in &mut self.pieces {
            if let Slot::Requested { peer, deadline } = *slot
                && deadline <= now
            {
                *slot = Slot::Missing;
                timed_out.push(peer);
            }
        }
        for peer in timed_out {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.in_flight = p.in_flight.saturating_sub(1);
                p.failures += 1;
            }
            self.drop_if_failing(peer);
        }
        for p in self.peers.values_mut() {
            if p.resting_until.is_some_and(|t| t <= now) {
                p.resting_until = None;
            }
        }
        self.assign(now);
    }

    // ---- output ----

    /// The next action, if any.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<MetadataAction> {
        self.actions.pop_front()
    }

    /// When [`Self::handle_timeout`] should run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.complete {
            return None;
        }
        let deadlines = self.pieces.iter().filter_map(|s| match s {
            Slot::Requested { deadline, .. } => Some(*deadline),
            _ => None,
        });
        let rests = self.peers.values().filter_map(|p| p.resting_until);
        deadlines.chain(rests).min()
    }

    // ---- private helpers ----

    fn on_data(&mut self, now: Instant, peer: PeerKey, piece: u32, total_size: u32, data: Bytes) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if total_size != p.size {
            self.drop_peer(peer, MetadataDropReason::SizeChanged);
            self.assign(now);
            return;
        }
        let Some(slot) = self.pieces.get_mut(piece as usize) else {
            return;
        };
        if !matches!(slot, Slot::Requested { peer: q, .. } if *q == peer) {
            return; // not asked of this peer (or already timed out): ignored
        }
        *slot = Slot::Have { data, from: peer };
        p.in_flight = p.in_flight.saturating_sub(1);
        if self.pieces.iter().all(|s| matches!(s, Slot::Have { .. })) {
            self.verify(now);
        } else {
            self.assign(now);
        }
    }

    fn on_reject(&mut self, now: Instant, peer: PeerKey, piece: u32) {
        let Some(slot) = self.pieces.get_mut(piece as usize) else {
            return;
        };
        if !matches!(slot, Slot::Requested { peer: q, .. } if *q == peer) {
            return;
        }
        *slot = Slot::Missing;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.in_flight = p.in_flight.saturating_sub(1);
            p.failures += 1;
            p.resting_until = Some(now + self.config.reject_backoff);
        }
        self.drop_if_failing(peer);
        self.assign(now);
    }

    fn verify(&mut self, now: Instant) {
        let size = self.size.unwrap_or(0) as usize;
        let mut all = Vec::with_capacity(size);
        let mut contributors = BTreeSet::new();
        for slot in &self.pieces {
            if let Slot::Have { data, from } = slot {
                all.extend_from_slice(data);
                contributors.insert(*from);
            }
        }
        if matches_target(&self.target, &all) {
            self.complete = true;
            self.actions
                .push_back(MetadataAction::Complete(Bytes::from(all)));
            return;
        }
        self.reset_pieces();
        if contributors.len() == 1 {
            for peer in contributors {
                self.drop_peer(peer, MetadataDropReason::HashMismatch);
            }
        } else {
            self.single_source = true;
        }
        self.assign(now);
    }

    fn drop_if_failing(&mut self, peer: PeerKey) {
        if self
            .peers
            .get(&peer)
            .is_some_and(|p| p.failures >= self.config.max_failures)
        {
            self.drop_peer(peer, MetadataDropReason::Unresponsive);
        }
    }

    /// Forgets `peer` (returning its requests to the pool) and tells the driver to close it.
    fn drop_peer(&mut self, peer: PeerKey, reason: MetadataDropReason) {
        self.forget(peer);
        if reason.is_ban() {
            self.banned.insert(peer);
        }
        self.actions
            .push_back(MetadataAction::Drop { peer, reason });
    }

    /// Removes `peer`: its requests go back to the pool (in single-source rounds, what it
    /// sent too), and if nobody left agrees with the size in use, another size is chosen.
    fn forget(&mut self, peer: PeerKey) {
        self.peers.remove(&peer);
        let single = self.single_source;
        for slot in &mut self.pieces {
            let release = match slot {
                Slot::Requested { peer: p, .. } => *p == peer,
                Slot::Have { from, .. } => single && *from == peer,
                Slot::Missing => false,
            };
            if release {
                *slot = Slot::Missing;
            }
        }
        if self.size.is_some() && !self.peers.values().any(|p| Some(p.size) == self.size) {
            self.size = None;
            self.choose_size();
        }
    }

    fn reset_pieces(&mut self) {
        for slot in &mut self.pieces {
            *slot = Slot::Missing;
        }
        for p in self.peers.values_mut() {
            p.in_flight = 0;
        }
    }

    /// Takes the size most peers announced (ties: the smallest) and sizes the piece table.
    fn choose_size(&mut self) {
        let mut votes: BTreeMap<u32, usize> = BTreeMap::new();
        for p in self.peers.values() {
            *votes.entry(p.size).or_default() += 1;
        }
        let best = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(&s, _)| s);
        self.size = best;
        let n = best.map_or(0, |s| s.div_ceil(METADATA_PIECE_LEN)) as usize;
        self.pieces = vec![Slot::Missing; n];
    }

    /// Hands missing pieces to peers with room, in key order.
    fn assign(&mut self, now: Instant) {
        let Some(size) = self.size else {
            return;
        };
        if self.complete {
            return;
        }
        let candidates: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.size == size && p.resting_until.is_none_or(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        if self.single_source {
            // One peer per round: the owner of any outstanding or received piece, else the
            // first candidate.
            let owner = self.pieces.iter().find_map(|s| match s {
                Slot::Requested { peer, .. } | Slot::Have { from: peer, .. } => Some(*peer),
                Slot::Missing => None,
            });
            let chosen = owner.or_else(|| candidates.first().copied());
            if let Some(peer) = chosen.filter(|p| candidates.contains(p)) {
                self.fill(now, peer);
            }
            return;
        }
        for peer in candidates {
            self.fill(now, peer);
        }
    }

    /// Requests missing pieces from `peer` up to its in-flight bound.
    fn fill(&mut self, now: Instant, peer: PeerKey) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let deadline = now + self.config.request_timeout;
        for (i, slot) in self.pieces.iter_mut().enumerate() {
            if p.in_flight >= self.config.max_in_flight_per_peer {
                break;
            }
            if matches!(slot, Slot::Missing) {
                *slot = Slot::Requested { peer, deadline };
                p.in_flight += 1;
                // i < pieces.len() <= max_size / 16 KiB, fits in u32.
                let req = MetadataMessage::Request { piece: i as u32 };
                let message = extended_message(p.ext_id, |out| req.encode_payload(out));
                self.actions
                    .push_back(MetadataAction::Send { peer, message });
            }
        }
    }
}

/// Whether `info` hashes to every hash `target` carries.
#[must_use]
pub fn matches_target(target: &InfoHashes, info: &[u8]) -> bool {
    let v1_ok = target
        .v1
        .is_none_or(|h| InfoHashV1(sha1::Sha1::digest(info).into()) == h);
    let v2_ok = target
        .v2
        .is_none_or(|h| InfoHashV2(sha2::Sha256::digest(info).into()) == h);
    v1_ok && v2_ok && target.is_some()
}

#[cfg(test)]
mod tests;

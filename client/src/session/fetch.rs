//! Fetching a magnet link's metadata from peers (BEP 9 `ut_metadata`), sans-I/O.
//!
//! A [`MetaFetch`] stands in for a torrent until its info dictionary is known. Peers that speak
//! the extension protocol are asked for every missing 16 KiB metadata piece; when all pieces are
//! in, their SHA-1 must equal the info-hash, otherwise everything is discarded and asked again.
//! The metadata size a peer announces is bounded by [`MAX_METADATA`] before anything is
//! allocated.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_metainfo::InfoHashV1;
use freshet_peerwire::{
    EXTENDED_HANDSHAKE_ID, ExtendedHandshake, METADATA_PIECE_LEN, Message, MetadataMessage,
    UT_METADATA, extended_message,
};
use freshet_tracker::{
    Announcer, AnnouncerConfig, AnnouncerEvent, Progress, TrackerAction, TrackerIdx,
};
use sha1::{Digest, Sha1};

use super::request::{AddOptions, TorrentId};
use super::torrent::AnnounceIdentity;

/// Largest metadata accepted (the `.torrent` size limit).
pub(crate) const MAX_METADATA: u32 = 10_000_000;
/// The id we ask peers to use for `ut_metadata` messages to us.
const OUR_UT_METADATA_ID: u8 = 2;

/// What a message did to the fetch.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Keep going; send these messages (to the connection given).
    Continue(Vec<Message>),
    /// Drop this connection.
    Drop(String),
    /// The metadata is complete and verified.
    Complete(Bytes),
}

#[derive(Debug, Default)]
struct PeerMeta {
    their_id: Option<u8>,
}

/// One magnet link waiting for its metadata.
pub(crate) struct MetaFetch {
    pub(crate) id: TorrentId,
    pub(crate) info_hash: InfoHashV1,
    pub(crate) name: String,
    pub(crate) options: AddOptions,
    pub(crate) trackers: Vec<Vec<String>>,
    addrs: BTreeMap<SocketAddr, (Instant, u32, bool)>,
    size: Option<u32>,
    pieces: Vec<Option<Bytes>>,
    peers: HashMap<usize, PeerMeta>,
    announcer: Option<Announcer>,
}

impl MetaFetch {
    /// A fetch for `info_hash`.
    pub(crate) fn new(
        id: TorrentId,
        info_hash: InfoHashV1,
        name: String,
        options: AddOptions,
        trackers: Vec<Vec<String>>,
    ) -> Self {
        Self {
            id,
            info_hash,
            name,
            options,
            trackers,
            addrs: BTreeMap::new(),
            size: None,
            pieces: Vec::new(),
            peers: HashMap::new(),
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
            AnnouncerConfig::new(
                freshet_tracker::PeerId(identity.peer_id),
                identity.port,
                identity.seed,
            ),
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

    /// Runs the announcer's timers if due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some(a) = &mut self.announcer
            && a.poll_timeout().is_some_and(|t| t <= now)
        {
            a.handle_timeout(now);
        }
    }

    /// When [`Self::handle_timeout`] should run next.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.announcer.as_ref().and_then(Announcer::poll_timeout)
    }

    /// Fraction of the metadata received.
    pub(crate) fn fraction(&self) -> f64 {
        if self.pieces.is_empty() {
            return 0.0;
        }
        let have = self.pieces.iter().filter(|p| p.is_some()).count();
        have as f64 / self.pieces.len() as f64
    }

    /// Connected peers.
    pub(crate) fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Known peer addresses (handed to the torrent once the metadata is in).
    pub(crate) fn addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.addrs.keys().copied()
    }

    /// Adds an address to dial.
    pub(crate) fn add_addr(&mut self, now: Instant, addr: SocketAddr) {
        self.addrs.entry(addr).or_insert((now, 0, false));
    }

    /// The next address to dial now.
    pub(crate) fn next_dial(&mut self, now: Instant) -> Option<SocketAddr> {
        let (addr, st) = self
            .addrs
            .iter_mut()
            .find(|(_, (next, _, busy))| !*busy && *next <= now)?;
        st.2 = true;
        Some(*addr)
    }

    /// A dial or connection to `addr` ended; retry with back-off.
    pub(crate) fn addr_failed(&mut self, now: Instant, addr: SocketAddr) {
        if let Some(st) = self.addrs.get_mut(&addr) {
            st.1 = st.1.saturating_add(1);
            st.0 = now + Duration::from_secs(2u64.saturating_pow(st.1.min(8)).min(300));
            st.2 = false;
        }
    }

    /// A handshaken connection: returns our extension handshake to send.
    pub(crate) fn handle_connected(&mut self, conn: usize) -> Message {
        self.peers.insert(conn, PeerMeta::default());
        let mut h = ExtendedHandshake::default();
        h.extensions
            .insert(UT_METADATA.to_owned(), OUR_UT_METADATA_ID);
        h.client = Some(concat!("Freshet ", env!("CARGO_PKG_VERSION")).to_owned());
        extended_message(EXTENDED_HANDSHAKE_ID, |out| h.encode_payload(out))
    }

    /// A connection is gone.
    pub(crate) fn handle_gone(&mut self, conn: usize) {
        self.peers.remove(&conn);
    }

    /// A message on a handshaken connection.
    pub(crate) fn handle_message(&mut self, conn: usize, msg: Message) -> Outcome {
        let Message::Extended { id, payload } = msg else {
            // Bitfields, haves, keep-alives: not needed before the metadata is known.
            return Outcome::Continue(Vec::new());
        };
        if id == EXTENDED_HANDSHAKE_ID {
            if self.peers.get(&conn).is_some_and(|p| p.their_id.is_some()) {
                // Requests go out once per peer; a repeated handshake changes nothing.
                return Outcome::Continue(Vec::new());
            }
            let Ok(h) = ExtendedHandshake::decode(&payload) else {
                return Outcome::Drop("bad extension handshake".into());
            };
            let (Some(their_id), Some(size)) = (h.extension_id(UT_METADATA), h.metadata_size)
            else {
                return Outcome::Drop("peer does not offer metadata".into());
            };
            if size == 0 || size > MAX_METADATA {
                return Outcome::Drop(format!("metadata size {size} out of range"));
            }
            match self.size {
                None => {
                    self.size = Some(size);
                    self.pieces = vec![None; size.div_ceil(METADATA_PIECE_LEN) as usize];
                }
                Some(s) if s != size => {
                    return Outcome::Drop(format!("metadata size {size}, others said {s}"));
                }
                Some(_) => {}
            }
            if let Some(p) = self.peers.get_mut(&conn) {
                p.their_id = Some(their_id);
            }
            let requests = self
                .pieces
                .iter()
                .enumerate()
                .filter(|(_, p)| p.is_none())
                .map(|(i, _)| {
                    // i < pieces.len() <= MAX_METADATA / 16 KiB, fits in u32.
                    let req = MetadataMessage::Request { piece: i as u32 };
                    extended_message(their_id, |out| req.encode_payload(out))
                })
                .collect();
            return Outcome::Continue(requests);
        }
        if id != OUR_UT_METADATA_ID {
            return Outcome::Continue(Vec::new());
        }
        match MetadataMessage::decode(&payload) {
            Ok(Some(MetadataMessage::Data {
                piece,
                total_size,
                data,
            })) => {
                if Some(total_size) != self.size {
                    return Outcome::Drop("metadata total_size changed".into());
                }
                if let Some(slot) = self.pieces.get_mut(piece as usize) {
                    *slot = Some(data);
                }
                self.try_complete()
            }
            Ok(Some(MetadataMessage::Reject { .. })) => {
                Outcome::Drop("peer rejected a metadata request".into())
            }
            Ok(_) => Outcome::Continue(Vec::new()),
            Err(e) => Outcome::Drop(format!("bad ut_metadata message: {e}")),
        }
    }

    fn try_complete(&mut self) -> Outcome {
        if self.pieces.is_empty() || self.pieces.iter().any(Option::is_none) {
            return Outcome::Continue(Vec::new());
        }
        let mut all = Vec::with_capacity(self.size.unwrap_or(0) as usize);
        for p in self.pieces.iter().flatten() {
            all.extend_from_slice(p);
        }
        let digest: [u8; 20] = Sha1::digest(&all).into();
        if digest == self.info_hash.0 {
            Outcome::Complete(Bytes::from(all))
        } else {
            // Someone sent bad data; start over (the sender cannot be told apart).
            for p in &mut self.pieces {
                *p = None;
            }
            Outcome::Drop("metadata does not match the info-hash".into())
        }
    }
}

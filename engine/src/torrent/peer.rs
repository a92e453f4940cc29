//! What a torrent knows about one connected peer.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use crate::rate::RateWindow;
use crate::{BlockRef, PieceIndex, PieceSet};

use super::PeerInfo;

#[derive(Debug)]
pub(super) struct Peer {
    pub(super) info: PeerInfo,
    pub(super) has: PieceSet,
    pub(super) seed: bool,
    pub(super) got_first_message: bool,
    pub(super) am_choking: bool,
    pub(super) am_interested: bool,
    pub(super) peer_choking: bool,
    pub(super) peer_interested: bool,
    /// Our requests at the peer, oldest first (answers usually come in this order, so the
    /// match is found at the front and removed in O(1)).
    pub(super) outstanding: VecDeque<(BlockRef, Instant)>,
    /// The peer's requests being read from disk for it (a set: the queue can hold thousands,
    /// and each request and completion looks one up).
    pub(super) reading: BTreeSet<BlockRef>,
    pub(super) allowed_fast_in: Vec<PieceIndex>,
    pub(super) allowed_fast_out: Vec<PieceIndex>,
    pub(super) download: RateWindow,
    pub(super) upload: RateWindow,
    pub(super) last_data: Instant,
    pub(super) snubbed: bool,
    pub(super) hash_failures: u32,
    pub(super) unchoked_since: Option<Instant>,
    pub(super) last_choked: Option<Instant>,
}

//! What a torrent knows about one connected peer.

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
    pub(super) outstanding: Vec<(BlockRef, Instant)>,
    /// Requests being read from disk for this peer.
    pub(super) reading: Vec<BlockRef>,
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

//! Piece state and request picking: the [`PieceTracker`].
//!
//! # Invariants
//!
//! Every piece is in exactly one [`PieceState`], and only `PieceTracker` methods move it:
//!
//! ```text
//!             set_priority(>skip)            pick() starts it
//!  NotNeeded ───────────────────▶ Queued ─────────────────────▶ InFlight ──hash passed──▶ Have
//!      ▲ ◀─────────────────────── │  ▲                             │
//!      │     set_priority(skip)   │  └─── hash failed, abandon() ──┘
//!      └──────────────────────────┴──── mark_have() (resume/recheck) from any state ──▶ Have
//! ```
//!
//! - `Queued` pieces, and only they, are in the rarest-first order, sorted by
//!   (priority descending, availability ascending) in buckets; moving a piece between adjacent
//!   buckets is O(1), so `Have` messages and priority changes are cheap.
//! - An `InFlight` piece has one [`BlockState`] per 16 KiB block. A block is `Requested` by at
//!   most two peers (two only in endgame), `Received` from exactly one.
//! - A priority change never aborts an `InFlight` piece; it is finished and kept.
//!
//! These are checked against a naive model by a proptest in this module.

use std::sync::Arc;

use rand::Rng;

use crate::{BlockRef, Geometry, PeerKey, PieceIndex, PieceSet};

/// The state of one piece (see the module docs for the transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceState {
    /// Verified and stored.
    Have,
    /// Wanted, nothing requested yet.
    Queued,
    /// Some blocks requested or received, or being hashed.
    InFlight,
    /// Not wanted (priority skip) and not had.
    NotNeeded,
}

/// Download priority of one piece (the highest priority of the files it overlaps, or
/// [`PiecePriority::Urgent`] for a "download this range first" request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PiecePriority {
    /// Not wanted.
    Skip,
    /// After everything else.
    Low,
    /// Default.
    Normal,
    /// Before normal pieces.
    High,
    /// Before everything (streaming deadline, range-first hook).
    Urgent,
}

impl PiecePriority {
    fn level(self) -> usize {
        match self {
            Self::Skip => 0,
            Self::Low => 1,
            Self::Normal => 2,
            Self::High => 3,
            Self::Urgent => 4,
        }
    }
}

/// The state of one block of an in-flight piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    /// Nobody has been asked for it.
    Open,
    /// Asked of one peer, or of two in endgame.
    Requested(PeerKey, Option<PeerKey>),
    /// Arrived from this peer.
    Received(PeerKey),
}

/// How new pieces are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PickOrder {
    /// Rarest first, random among equally rare (after a few random first pieces).
    #[default]
    RarestFirst,
    /// Lowest index first (streaming).
    Sequential,
}

/// Whether blocks already requested from one peer may also be requested from a second one
/// once nothing is left unrequested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endgame {
    /// Duplicate the last requests (cancel the loser on arrival).
    #[default]
    Enabled,
    /// Never duplicate requests (for comparison and tests).
    Disabled,
}

/// What happened to a received block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockReceipt {
    /// New data. `complete` means the whole piece is now here and should be hashed; `cancel`
    /// names another peer that was also asked for this block (endgame) and should get a cancel.
    Accepted {
        /// Every block of the piece is now received.
        complete: bool,
        /// Another peer with an outstanding request for the same block.
        cancel: Option<PeerKey>,
    },
    /// We already had this block; drop it.
    Duplicate,
    /// The piece is not in flight (had, skipped or never started); drop it.
    NotInFlight,
}

#[derive(Debug, Clone)]
struct Partial {
    piece: PieceIndex,
    blocks: Vec<BlockState>,
    open: u32,
    received: u32,
    hashing: bool,
}

/// Per-piece download state, availability and the request picker for one torrent.
#[derive(Debug, Clone)]
pub struct PieceTracker {
    geometry: Arc<Geometry>,
    state: Vec<PieceState>,
    prio: Vec<PiecePriority>,
    avail: Vec<u32>,
    seeds: u32,
    /// Queued pieces, bucketed by key.
    order: Vec<u32>,
    /// Position of each piece in `order`, or `NONE`.
    pos: Vec<u32>,
    /// Start of each key's bucket in `order`, stored for keys `..=top`; every bucket above
    /// `top` is empty and starts at `order.len()` (see [`Self::start`]).
    bucket_start: Vec<u32>,
    /// Highest key whose bucket start is stored. Only grows, so walks stay below it.
    top: usize,
    partial: Vec<Partial>,
    /// Index into `partial`, or `NONE`.
    partial_slot: Vec<u32>,
    have: PieceSet,
    wanted_missing: u32,
    seq_cursor: u32,
    /// New-piece order.
    pub order_mode: PickOrder,
    /// Pick random pieces until this many are complete.
    pub initial_random: u32,
    /// Endgame behaviour.
    pub endgame: Endgame,
}

impl PieceTracker {
    /// A tracker with nothing downloaded and every piece at normal priority.
    #[must_use]
    pub fn new(geometry: Arc<Geometry>) -> Self {
        let n = geometry.num_pieces();
        // Every piece starts Queued at normal priority with availability 0: one bucket.
        let normal_key = (LEVELS - PiecePriority::Normal.level()) * AVAIL_STRIDE;
        let bucket_start = (0..=NUM_KEYS)
            .map(|k| if k <= normal_key { 0 } else { n })
            .collect();
        Self {
            state: vec![PieceState::Queued; n as usize],
            prio: vec![PiecePriority::Normal; n as usize],
            avail: vec![0; n as usize],
            seeds: 0,
            order: (0..n).collect(),
            pos: (0..n).collect(),
            bucket_start,
            top: normal_key,
            partial: Vec::new(),
            partial_slot: vec![NONE; n as usize],
            have: PieceSet::new(n),
            wanted_missing: n,
            seq_cursor: 0,
            order_mode: PickOrder::RarestFirst,
            initial_random: 4,
            endgame: Endgame::Enabled,
            geometry,
        }
    }

    /// The state of `piece`.
    #[must_use]
    pub fn state(&self, piece: PieceIndex) -> PieceState {
        self.state[piece.as_usize()]
    }

    /// The priority of `piece`.
    #[must_use]
    pub fn priority(&self, piece: PieceIndex) -> PiecePriority {
        self.prio[piece.as_usize()]
    }

    /// How many connected peers have `piece` (seeds included).
    #[must_use]
    pub fn availability(&self, piece: PieceIndex) -> u32 {
        self.avail[piece.as_usize()] + self.seeds
    }

    /// The pieces we have.
    #[must_use]
    pub fn have(&self) -> &PieceSet {
        &self.have
    }

    /// Whether every wanted piece is had.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.wanted_missing == 0
    }

    /// Number of wanted pieces not yet had.
    #[must_use]
    pub fn wanted_missing(&self) -> u32 {
        self.wanted_missing
    }

    /// Number of pieces waiting in the queue (wanted, not started).
    #[must_use]
    pub fn queued(&self) -> usize {
        self.order.len()
    }

    /// Whether the picker is in endgame: nothing wanted is left unstarted.
    #[must_use]
    pub fn is_endgame(&self) -> bool {
        self.order.is_empty() && self.wanted_missing > 0
    }

    /// In-flight pieces and their block states.
    pub fn in_flight(&self) -> impl Iterator<Item = (PieceIndex, &[BlockState])> {
        self.partial.iter().map(|p| (p.piece, p.blocks.as_slice()))
    }

    /// Block states of `piece` if it is in flight.
    #[must_use]
    pub fn blocks(&self, piece: PieceIndex) -> Option<&[BlockState]> {
        let slot = self.partial_slot[piece.as_usize()];
        (slot != NONE).then(|| self.partial[slot as usize].blocks.as_slice())
    }

    /// Whether `piece` is wanted by us and `has` holds it (decides interest).
    #[must_use]
    pub fn wants_any_of(&self, has: &PieceSet) -> bool {
        if has.is_full() {
            return self.wanted_missing > 0;
        }
        if self.wanted_missing == 0 {
            return false;
        }
        has.iter().any(|p| {
            matches!(
                self.state[p.as_usize()],
                PieceState::Queued | PieceState::InFlight
            )
        })
    }

    /// Sets the priority of `piece`. A `Queued` piece set to skip becomes `NotNeeded`, and back.
    pub fn set_priority(&mut self, piece: PieceIndex, prio: PiecePriority) {
        let i = piece.as_usize();
        let old = self.prio[i];
        if old == prio {
            return;
        }
        let had = self.state[i] == PieceState::Have;
        if !had {
            match (old == PiecePriority::Skip, prio == PiecePriority::Skip) {
                (true, false) => self.wanted_missing += 1,
                (false, true) => self.wanted_missing -= 1,
                _ => {}
            }
        }
        match self.state[i] {
            PieceState::Queued => {
                let from = self.key(piece);
                self.prio[i] = prio;
                if prio == PiecePriority::Skip {
                    self.order_remove(piece, from);
                    self.state[i] = PieceState::NotNeeded;
                } else {
                    let to = self.key(piece);
                    self.order_move(piece, from, to);
                }
            }
            PieceState::NotNeeded => {
                self.prio[i] = prio;
                if prio != PiecePriority::Skip {
                    self.state[i] = PieceState::Queued;
                    self.order_insert(piece);
                    self.seq_cursor = self.seq_cursor.min(piece.0);
                }
            }
            PieceState::Have | PieceState::InFlight => self.prio[i] = prio,
        }
    }

    /// A peer announced `piece` (`have`).
    pub fn inc_availability(&mut self, piece: PieceIndex) {
        self.change_avail(piece, true);
    }

    /// A peer that had `piece` left.
    pub fn dec_availability(&mut self, piece: PieceIndex) {
        self.change_avail(piece, false);
    }

    /// A peer with the pieces in `set` connected (`bitfield`). Seeds should use
    /// [`Self::add_seed`], which is O(1).
    pub fn add_peer_pieces(&mut self, set: &PieceSet) {
        for p in set.iter() {
            self.change_avail(p, true);
        }
    }

    /// A peer with the pieces in `set` left.
    pub fn remove_peer_pieces(&mut self, set: &PieceSet) {
        for p in set.iter() {
            self.change_avail(p, false);
        }
    }

    /// A peer with every piece connected (`have all` or a full bitfield).
    pub fn add_seed(&mut self) {
        self.seeds += 1;
    }

    /// A seed left.
    pub fn remove_seed(&mut self) {
        self.seeds = self.seeds.saturating_sub(1);
    }

    /// Picks up to `want` blocks to request from `peer`, which has the pieces in `has`, and
    /// marks them requested. Order: blocks of in-flight pieces first, then new pieces (random
    /// until [`Self::initial_random`] pieces are had, then rarest first or sequential), then, in
    /// endgame, blocks already requested from one other peer.
    pub fn pick<R: Rng + ?Sized>(
        &mut self,
        peer: PeerKey,
        has: &PieceSet,
        want: usize,
        rng: &mut R,
        out: &mut Vec<BlockRef>,
    ) {
        let target = out.len() + want;
        for slot in 0..self.partial.len() {
            if out.len() >= target {
                return;
            }
            let p = &self.partial[slot];
            if !p.hashing && p.open > 0 && has.contains(p.piece) {
                self.take_open(slot, peer, target, out);
            }
        }
        while out.len() < target {
            let Some(piece) = self.next_new_piece(has, rng) else {
                break;
            };
            let slot = self.start_piece(piece);
            self.take_open(slot, peer, target, out);
        }
        if out.len() < target && self.order.is_empty() && self.endgame == Endgame::Enabled {
            self.take_endgame(peer, has, target, out);
        }
    }

    /// A block arrived from `from`.
    pub fn on_block_received(&mut self, block: &BlockRef, from: PeerKey) -> BlockReceipt {
        let Some(idx) = self.geometry.block_index(block) else {
            return BlockReceipt::NotInFlight;
        };
        let slot = self.partial_slot[block.piece.as_usize()];
        if slot == NONE {
            return BlockReceipt::NotInFlight;
        }
        let p = &mut self.partial[slot as usize];
        if p.hashing {
            return BlockReceipt::Duplicate;
        }
        let b = &mut p.blocks[idx as usize];
        let cancel = match *b {
            BlockState::Received(_) => return BlockReceipt::Duplicate,
            BlockState::Open => {
                p.open -= 1;
                None
            }
            BlockState::Requested(a, other) => {
                if a == from {
                    other
                } else {
                    Some(a)
                }
            }
        };
        *b = BlockState::Received(from);
        p.received += 1;
        let complete = p.received as usize == p.blocks.len();
        if complete {
            p.hashing = true;
        }
        BlockReceipt::Accepted { complete, cancel }
    }

    /// `peer` will not deliver `block` (timeout, reject, choke, disconnect). Returns whether
    /// the peer had it requested.
    pub fn cancel_request(&mut self, block: &BlockRef, peer: PeerKey) -> bool {
        let Some(idx) = self.geometry.block_index(block) else {
            return false;
        };
        let slot = self.partial_slot[block.piece.as_usize()];
        if slot == NONE {
            return false;
        }
        let p = &mut self.partial[slot as usize];
        let b = &mut p.blocks[idx as usize];
        match *b {
            BlockState::Requested(a, None) if a == peer => {
                *b = BlockState::Open;
                p.open += 1;
                true
            }
            BlockState::Requested(a, Some(c)) if a == peer => {
                *b = BlockState::Requested(c, None);
                true
            }
            BlockState::Requested(a, Some(c)) if c == peer => {
                *b = BlockState::Requested(a, None);
                true
            }
            _ => false,
        }
    }

    /// The hash of an in-flight piece passed: it becomes `Have`. Returns who sent each block.
    pub fn on_hash_passed(&mut self, piece: PieceIndex) -> Vec<PeerKey> {
        let senders = self.take_partial(piece);
        self.set_have_state(piece);
        senders
    }

    /// The hash of an in-flight piece failed: it goes back to the queue. Returns who sent each
    /// block, in block order.
    pub fn on_hash_failed(&mut self, piece: PieceIndex) -> Vec<PeerKey> {
        let senders = self.take_partial(piece);
        let i = piece.as_usize();
        if self.state[i] == PieceState::InFlight {
            if self.prio[i] == PiecePriority::Skip {
                self.state[i] = PieceState::NotNeeded;
            } else {
                self.state[i] = PieceState::Queued;
                self.order_insert(piece);
                self.seq_cursor = self.seq_cursor.min(piece.0);
            }
        }
        senders
    }

    /// Gives up an in-flight piece without a verdict (its data could not be stored): it goes
    /// back to the queue like a failed piece. Returns who sent each block, in block order.
    pub fn abandon(&mut self, piece: PieceIndex) -> Vec<PeerKey> {
        self.on_hash_failed(piece)
    }

    /// Marks `piece` had without downloading it (resume data or a recheck).
    pub fn mark_have(&mut self, piece: PieceIndex) {
        self.take_partial(piece);
        self.set_have_state(piece);
    }

    /// Puts a piece whose blocks `received` are already stored (resume) in flight, so only the
    /// missing blocks are requested. Ignored unless the piece is `Queued`.
    pub fn restore_partial(&mut self, piece: PieceIndex, received: &[bool]) {
        if self.state[piece.as_usize()] != PieceState::Queued {
            return;
        }
        let slot = self.start_piece(piece);
        let p = &mut self.partial[slot];
        for (b, &r) in p.blocks.iter_mut().zip(received) {
            if r {
                // Restored data has no sender; attribute it to a placeholder peer.
                *b = BlockState::Received(RESUMED);
                p.open -= 1;
                p.received += 1;
            }
        }
        if p.received as usize == p.blocks.len() {
            p.hashing = true;
        }
    }

    /// In-flight pieces whose blocks have all arrived (they are being hashed).
    pub fn hashing(&self) -> impl Iterator<Item = PieceIndex> + '_ {
        self.partial.iter().filter(|p| p.hashing).map(|p| p.piece)
    }

    // ---- private helpers ----

    fn set_have_state(&mut self, piece: PieceIndex) {
        let i = piece.as_usize();
        match self.state[i] {
            PieceState::Have => return,
            PieceState::Queued => {
                let k = self.key(piece);
                self.order_remove(piece, k);
            }
            PieceState::InFlight | PieceState::NotNeeded => {}
        }
        if self.prio[i] != PiecePriority::Skip {
            self.wanted_missing -= 1;
        }
        self.state[i] = PieceState::Have;
        self.have.insert(piece);
    }

    fn take_partial(&mut self, piece: PieceIndex) -> Vec<PeerKey> {
        let slot = self.partial_slot[piece.as_usize()];
        if slot == NONE {
            return Vec::new();
        }
        let p = self.partial.swap_remove(slot as usize);
        self.partial_slot[piece.as_usize()] = NONE;
        if let Some(moved) = self.partial.get(slot as usize) {
            self.partial_slot[moved.piece.as_usize()] = slot;
        }
        p.blocks
            .iter()
            .filter_map(|b| match b {
                BlockState::Received(k) => Some(*k),
                _ => None,
            })
            .collect()
    }

    fn start_piece(&mut self, piece: PieceIndex) -> usize {
        let k = self.key(piece);
        self.order_remove(piece, k);
        self.state[piece.as_usize()] = PieceState::InFlight;
        let n = self.geometry.blocks_in_piece(piece);
        self.partial.push(Partial {
            piece,
            blocks: vec![BlockState::Open; n as usize],
            open: n,
            received: 0,
            hashing: false,
        });
        let slot = self.partial.len() - 1;
        // partial.len() <= num_pieces <= u32::MAX.
        self.partial_slot[piece.as_usize()] = slot as u32;
        slot
    }

    fn take_open(&mut self, slot: usize, peer: PeerKey, target: usize, out: &mut Vec<BlockRef>) {
        let geometry = &self.geometry;
        let p = &mut self.partial[slot];
        for (i, b) in p.blocks.iter_mut().enumerate() {
            if out.len() >= target || p.open == 0 {
                break;
            }
            if *b == BlockState::Open {
                *b = BlockState::Requested(peer, None);
                p.open -= 1;
                // i < blocks_in_piece, a u32.
                out.push(geometry.block(p.piece, i as u32));
            }
        }
    }

    fn take_endgame(
        &mut self,
        peer: PeerKey,
        has: &PieceSet,
        target: usize,
        out: &mut Vec<BlockRef>,
    ) {
        let geometry = &self.geometry;
        for p in &mut self.partial {
            if p.hashing || !has.contains(p.piece) {
                continue;
            }
            for (i, b) in p.blocks.iter_mut().enumerate() {
                if out.len() >= target {
                    return;
                }
                if let BlockState::Requested(a, None) = *b
                    && a != peer
                {
                    *b = BlockState::Requested(a, Some(peer));
                    out.push(geometry.block(p.piece, i as u32));
                }
            }
        }
    }

    fn next_new_piece<R: Rng + ?Sized>(
        &mut self,
        has: &PieceSet,
        rng: &mut R,
    ) -> Option<PieceIndex> {
        if self.order.is_empty() || has.is_empty() {
            return None;
        }
        // Urgent pieces come first in every mode (they fill the first buckets).
        if self.start(AVAIL_STRIDE) > 0
            && let Some(p) = self.scan_buckets(has, rng, 0..AVAIL_STRIDE)
        {
            return Some(p);
        }
        if self.order_mode == PickOrder::Sequential {
            return self.next_sequential(has);
        }
        if self.have.count() < self.initial_random {
            let n = self.order.len();
            let start = rng.random_range(0..n);
            return (0..n)
                .map(|i| PieceIndex(self.order[(start + i) % n]))
                .find(|p| has.contains(*p));
        }
        // Few pieces on offer: walking the peer's set is cheaper than walking the order.
        if (has.count() as usize) < self.order.len() / 16 {
            let mut best: Option<(usize, PieceIndex)> = None;
            let mut ties = 0u32;
            for p in has.iter() {
                if self.state[p.as_usize()] != PieceState::Queued {
                    continue;
                }
                let k = self.key(p);
                match best {
                    Some((bk, _)) if k > bk => {}
                    Some((bk, _)) if k == bk => {
                        ties += 1;
                        if rng.random_range(0..=ties) == 0 {
                            best = Some((k, p));
                        }
                    }
                    _ => {
                        best = Some((k, p));
                        ties = 0;
                    }
                }
            }
            return best.map(|(_, p)| p);
        }
        // Buckets are contiguous: start at the bucket of the first queued piece.
        let first = self.key(PieceIndex(self.order[0])).max(AVAIL_STRIDE);
        self.scan_buckets(has, rng, first..NUM_KEYS)
    }

    fn scan_buckets<R: Rng + ?Sized>(
        &self,
        has: &PieceSet,
        rng: &mut R,
        keys: std::ops::Range<usize>,
    ) -> Option<PieceIndex> {
        let len = self.order.len();
        for k in keys {
            let s = self.start(k) as usize;
            if s >= len {
                break; // every later bucket is empty
            }
            let e = self.start(k + 1) as usize;
            if s == e {
                continue;
            }
            let n = e - s;
            let start = if n > 1 { rng.random_range(0..n) } else { 0 };
            for i in 0..n {
                let p = PieceIndex(self.order[s + (start + i) % n]);
                if has.contains(p) {
                    return Some(p);
                }
            }
        }
        None
    }

    fn next_sequential(&mut self, has: &PieceSet) -> Option<PieceIndex> {
        let n = self.state.len() as u32;
        while self.seq_cursor < n
            && matches!(
                self.state[self.seq_cursor as usize],
                PieceState::Have | PieceState::NotNeeded
            )
        {
            self.seq_cursor += 1;
        }
        (self.seq_cursor..n)
            .map(PieceIndex)
            .find(|p| self.state[p.as_usize()] == PieceState::Queued && has.contains(*p))
    }

    fn key(&self, piece: PieceIndex) -> usize {
        let i = piece.as_usize();
        let level = self.prio[i].level().max(1);
        (LEVELS - level) * AVAIL_STRIDE + (self.avail[i] as usize).min(AVAIL_STRIDE - 1)
    }

    fn change_avail(&mut self, piece: PieceIndex, up: bool) {
        let i = piece.as_usize();
        if i >= self.avail.len() {
            return;
        }
        let queued = self.state[i] == PieceState::Queued;
        let from = if queued { self.key(piece) } else { 0 };
        if up {
            self.avail[i] += 1;
        } else {
            self.avail[i] = self.avail[i].saturating_sub(1);
        }
        if queued {
            let to = self.key(piece);
            self.order_move(piece, from, to);
        }
    }

    /// Where bucket `k` starts in `order`.
    fn start(&self, k: usize) -> u32 {
        if k > self.top {
            self.order.len() as u32
        } else {
            self.bucket_start[k]
        }
    }

    /// Makes bucket starts up to `key` explicit (they are empty buckets at the end).
    fn extend_top(&mut self, key: usize) {
        if key > self.top {
            let len = self.order.len() as u32;
            for k in self.top + 1..=key {
                self.bucket_start[k] = len;
            }
            self.top = key;
        }
    }

    fn swap(&mut self, a: u32, b: u32) {
        self.order.swap(a as usize, b as usize);
        self.pos[self.order[a as usize] as usize] = a;
        self.pos[self.order[b as usize] as usize] = b;
    }

    /// Moves `piece` from bucket `k` to `k + 1` (`k < top`).
    fn step_up(&mut self, piece: PieceIndex, k: usize) {
        let last = self.bucket_start[k + 1] - 1;
        self.swap(self.pos[piece.as_usize()], last);
        self.bucket_start[k + 1] -= 1;
    }

    /// Moves `piece` from bucket `k` to `k - 1` (`k <= top`).
    fn step_down(&mut self, piece: PieceIndex, k: usize) {
        let first = self.bucket_start[k];
        self.swap(self.pos[piece.as_usize()], first);
        self.bucket_start[k] += 1;
    }

    fn order_move(&mut self, piece: PieceIndex, from: usize, to: usize) {
        self.extend_top(to);
        for k in from..to {
            self.step_up(piece, k);
        }
        for k in (to + 1..=from).rev() {
            self.step_down(piece, k);
        }
    }

    fn order_insert(&mut self, piece: PieceIndex) {
        let to = self.key(piece);
        self.extend_top(to);
        self.order.push(piece.0);
        // order.len() <= num_pieces <= u32::MAX.
        self.pos[piece.as_usize()] = (self.order.len() - 1) as u32;
        // The new last element belongs to the top bucket; walk it down.
        for k in (to + 1..=self.top).rev() {
            self.step_down(piece, k);
        }
    }

    fn order_remove(&mut self, piece: PieceIndex, from: usize) {
        for k in from..self.top {
            self.step_up(piece, k);
        }
        // Now in the top bucket, which ends the order: swap to the very end and drop it.
        let last = (self.order.len() - 1) as u32;
        self.swap(self.pos[piece.as_usize()], last);
        self.order.pop();
        self.pos[piece.as_usize()] = NONE;
    }
}

/// Availability values above this share one bucket.
const AVAIL_STRIDE: usize = 256;
/// Priority levels that are queued (Low, Normal, High, Urgent).
const LEVELS: usize = 4;
const NUM_KEYS: usize = LEVELS * AVAIL_STRIDE;
const NONE: u32 = u32::MAX;
/// Sender recorded for blocks restored from resume data.
const RESUMED: PeerKey = PeerKey(usize::MAX);

#[cfg(test)]
mod tests;

//! The engine's outbox: [`Action`]s for the driver and [`Event`]s for the user.

use std::fmt;

use freshet_peerwire::Message;

use crate::{DiskJob, PeerKey, PieceIndex, StorageFault};

/// Something the driver must do. Drained with `Torrent::poll_action`, in order.
///
/// Ordering guarantees:
/// - for one peer, `Send` actions are in wire order, and the first one after `add_peer` is the
///   bitfield (or `HaveAll`/`HaveNone`);
/// - a `Disconnect` is the last action naming that peer;
/// - every `Event::PieceVerified` comes after all `Disk(Write)` jobs of that piece completed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Encode and send `message` to `peer`.
    Send {
        /// The peer.
        peer: PeerKey,
        /// The message.
        message: Message,
    },
    /// Close the connection to `peer`; the engine has already forgotten it.
    Disconnect {
        /// The peer.
        peer: PeerKey,
        /// Why (a [`DisconnectReason::Banned`] peer must not be reconnected this session).
        reason: DisconnectReason,
    },
    /// Run a disk job and feed its completion to `Torrent::handle_disk`.
    Disk(DiskJob),
    /// Tell the trackers.
    Announce(AnnounceEvent),
    /// Something the user may want to know.
    Event(Event),
}

/// Why the engine drops a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer broke the protocol (`what` names the rule).
    PeerMisbehaved(&'static str),
    /// The peer sent data that failed verification; never reconnect it this session.
    Banned,
    /// Both sides are seeds: the connection is useless.
    BothSeeding,
    /// The torrent is shutting down.
    Shutdown,
    /// A storage failure stopped the torrent.
    StorageFailed,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerMisbehaved(what) => write!(f, "peer misbehaved: {what}"),
            Self::Banned => f.write_str("banned for sending corrupt data"),
            Self::BothSeeding => f.write_str("both sides are seeding"),
            Self::Shutdown => f.write_str("shutting down"),
            Self::StorageFailed => f.write_str("storage failed"),
        }
    }
}

/// A tracker announce the driver should send (BEP 3 `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceEvent {
    /// The torrent started.
    Started,
    /// Every wanted piece is now verified.
    Completed,
    /// The torrent stopped.
    Stopped,
}

/// A notification for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A piece passed its hash check and is stored.
    PieceVerified(PieceIndex),
    /// A downloaded piece failed its hash check and will be downloaded again.
    HashFailed {
        /// The piece.
        piece: PieceIndex,
        /// Peers that sent blocks of it.
        contributors: Vec<PeerKey>,
    },
    /// A peer was banned for corrupt data.
    PeerBanned(PeerKey),
    /// Checking existing data: `checked` of `total` pieces done.
    CheckProgress {
        /// Pieces checked so far.
        checked: u32,
        /// Pieces to check.
        total: u32,
    },
    /// Checking finished; downloading starts.
    CheckFinished {
        /// Pieces found valid.
        valid: u32,
    },
    /// Every wanted piece is verified.
    Completed,
    /// A disk job failed: the torrent stopped (peers dropped, blocks not yet written given up,
    /// verified pieces kept) until `Torrent::resume`. Sent once per fault.
    StorageFailed(StorageFault),
    /// Time to save a resume record (see `Torrent::resume_record`).
    ResumeDue,
}

//! A metadata connection handed over to the torrent that replaces a finished magnet fetch.
//!
//! While a magnet link fetches its metadata, its peers are already handshaken for the torrent's
//! info-hash. Closing them and dialling again once the metadata is in races the remote's
//! duplicate-peer check (python3-libtorrent drops a second connection from a peer id it still
//! has open, so the download waited 2–3 s for the next attempt). Instead, the fetch keeps, per
//! connection, what the handshake said and the messages the torrent will need (what the peer
//! has, its choke and interest state, its extension handshake), and the driver registers the
//! connection with the new torrent and replays them, as libtorrent does.

use freshet_peerwire::{EXTENDED_HANDSHAKE_ID, Message, PeerId, Reserved};

/// Most messages kept for one connection; a peer that sends more (a long fetch from a busy
/// downloader announcing many `have`s) is reconnected instead of handed over.
const MAX_REPLAY: usize = 4096;
/// Most bytes (encoded message sizes) kept for one connection. A peer may send bitfields of up
/// to 1 MiB while the piece count is unknown; without this bound, repeated ones would pin up
/// to [`MAX_REPLAY`] MiB of receive buffers per connection.
const MAX_REPLAY_BYTES: usize = 2 * 1024 * 1024;

/// What a metadata connection will hand over: its handshake and the replay log.
#[derive(Debug)]
pub(crate) struct Handover {
    /// The driver's connection slot.
    pub(crate) conn: usize,
    /// The peer id from the peer's handshake.
    pub(crate) peer_id: PeerId,
    /// The reserved bits from the peer's handshake.
    pub(crate) reserved: Reserved,
    replay: Replay,
}

/// The messages to replay, in arrival order, unless there were too many to keep.
#[derive(Debug)]
enum Replay {
    /// Every message the torrent needs, in order, and their encoded size in bytes.
    Kept(Vec<Message>, usize),
    /// More than [`MAX_REPLAY`] messages or [`MAX_REPLAY_BYTES`] bytes arrived: the log is
    /// incomplete (and was dropped) and must not be replayed.
    Overflowed,
}

impl Handover {
    /// A connection on slot `conn` whose handshake carried `peer_id` and `reserved`.
    pub(crate) fn new(conn: usize, peer_id: PeerId, reserved: Reserved) -> Self {
        Self {
            conn,
            peer_id,
            reserved,
            replay: Replay::Kept(Vec::new(), 0),
        }
    }

    /// Keeps `msg` if the torrent needs it: what the peer has (`bitfield`, `have`, `have
    /// all`/`none`), its choke and interest state, allowed-fast and suggested pieces, and its
    /// extension handshake. Requests, data and metadata/pex payloads are not kept.
    pub(crate) fn record(&mut self, msg: &Message) {
        let needed = match msg {
            Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::Have(_)
            | Message::Bitfield(_)
            | Message::HaveAll
            | Message::HaveNone
            | Message::AllowedFast(_)
            | Message::SuggestPiece(_) => true,
            Message::Extended { id, .. } => *id == EXTENDED_HANDSHAKE_ID,
            _ => false,
        };
        if !needed {
            return;
        }
        if let Replay::Kept(log, bytes) = &mut self.replay {
            let size = msg.encoded_len();
            if log.len() >= MAX_REPLAY || *bytes + size > MAX_REPLAY_BYTES {
                self.replay = Replay::Overflowed;
            } else {
                *bytes += size;
                log.push(msg.clone());
            }
        }
    }

    /// The messages to replay to the torrent, in arrival order, or `None` if the log
    /// overflowed (the connection must then be closed and redialled).
    pub(crate) fn into_replay(self) -> Option<Vec<Message>> {
        match self.replay {
            Replay::Kept(log, _) => Some(log),
            Replay::Overflowed => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use freshet_peerwire::{Bitfield, PieceIndex};

    use super::*;

    fn handover() -> Handover {
        Handover::new(3, PeerId([7; 20]), Reserved([0; 8]))
    }

    #[test]
    fn keeps_state_messages_in_order_and_skips_the_rest() {
        let mut h = handover();
        let ext = Message::Extended {
            id: EXTENDED_HANDSHAKE_ID,
            payload: Bytes::from_static(b"de"),
        };
        let metadata = Message::Extended {
            id: 2,
            payload: Bytes::from_static(b"d8:msg_typei0ee"),
        };
        for m in [
            Message::HaveAll,
            ext.clone(),
            metadata,
            Message::Keepalive,
            Message::Port(6881),
            Message::Unchoke,
            Message::Have(PieceIndex(4)),
        ] {
            h.record(&m);
        }
        assert_eq!(h.conn, 3);
        assert_eq!(
            h.into_replay().unwrap(),
            vec![
                Message::HaveAll,
                ext,
                Message::Unchoke,
                Message::Have(PieceIndex(4))
            ]
        );
    }

    #[test]
    fn an_overflowing_log_is_not_replayed() {
        let mut h = handover();
        for i in 0..MAX_REPLAY {
            h.record(&Message::Have(PieceIndex(u32::try_from(i).unwrap())));
        }
        h.record(&Message::Keepalive);
        assert_eq!(h.into_replay().map(|l| l.len()), Some(MAX_REPLAY));
        let mut h = handover();
        for i in 0..=MAX_REPLAY {
            h.record(&Message::Have(PieceIndex(u32::try_from(i).unwrap())));
        }
        assert!(h.into_replay().is_none());
    }

    #[test]
    fn large_bitfields_overflow_the_byte_bound() {
        let mut h = handover();
        let big = Message::Bitfield(Bitfield::new(8 * 1024 * 1024));
        h.record(&big);
        assert_eq!(h.into_replay().map(|l| l.len()), Some(1));
        let mut h = handover();
        for _ in 0..3 {
            h.record(&big);
        }
        assert!(h.into_replay().is_none(), "3 MiB of bitfields kept");
    }
}

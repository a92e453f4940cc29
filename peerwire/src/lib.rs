//! The BitTorrent peer wire protocol as types and a streaming codec.
//!
//! `freshet-peerwire` turns the bytes two peers exchange into typed values and back: the
//! BEP 3 handshake with its reserved-bit flags, every core, Fast (BEP 6), DHT port (BEP 5)
//! and v2 (BEP 52) message, and the BEP 10 extension protocol with the `ut_metadata` (BEP 9)
//! and `ut_pex` (BEP 11) payloads. It performs no I/O, reads no clock and draws no
//! randomness: callers feed bytes in and take bytes out.
//!
//! Start from [`Handshake`], [`MessageDecoder`] and [`Message`].
//!
//! ```text
//!  socket ──bytes──▶ BytesMut ──MessageDecoder::decode──▶ Message ──▶ engine
//!  socket ◀─bytes─── BytesMut ◀──Message::encode────────── Message ◀── engine
//! ```
//!
//! ```
//! use bytes::BytesMut;
//! use freshet_metainfo::InfoHashV1;
//! use freshet_peerwire::{
//!     BlockRef, Decoded, Handshake, Message, MessageDecoder, PeerId, PieceIndex, Reserved,
//! };
//!
//! // Our side: a handshake, then `interested` and a request, all into one send buffer.
//! let ours = Handshake::new(
//!     Reserved::FAST | Reserved::EXTENSION_PROTOCOL,
//!     InfoHashV1([0xaa; 20]),
//!     PeerId::azureus(PeerId::FRESHET_PREFIX, [7; 12]),
//! );
//! let mut wire = BytesMut::new();
//! ours.encode(&mut wire);
//! Message::Interested.encode(&mut wire);
//! Message::Request(BlockRef::new(PieceIndex(0), 0, 16384)).encode(&mut wire);
//!
//! // Their side: parse the handshake (reporting consumption), then frame messages.
//! let Decoded::Complete { value: theirs, consumed } = Handshake::decode(&wire)? else {
//!     unreachable!("all 68 bytes are there")
//! };
//! assert_eq!(theirs, ours);
//! let _ = wire.split_to(consumed);
//! let decoder = MessageDecoder::default();
//! assert_eq!(decoder.decode(&mut wire)?, Some(Message::Interested));
//! assert!(matches!(decoder.decode(&mut wire)?, Some(Message::Request(b)) if b.len == 16384));
//! assert_eq!(decoder.decode(&mut wire)?, None);
//! # Ok::<(), freshet_peerwire::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod bitfield;
pub use bitfield::Bitfield;

mod decoder;
pub use decoder::{FrameKind, Limits, MessageDecoder, UnknownMessages};

mod error;
pub use error::{BitfieldError, Error, InvalidMessage, PeerIncompatible, PeerMisbehaved};

mod extended;
pub use extended::{
    EXTENDED_HANDSHAKE_ID, ExtendedHandshake, METADATA_PIECE_LEN, MetadataMessage, PexFlags,
    PexMessage, UT_METADATA, UT_PEX, encode_extended, extended_message,
};

mod fast_set;
pub use fast_set::{DEFAULT_ALLOWED_FAST_COUNT, allowed_fast_set};

mod handshake;
pub use handshake::{Handshake, HandshakeHead, PROTOCOL, Reserved};

mod message;
pub use message::{HashRequest, Message, MessageId, PiecesRoot};

mod peer_id;
pub use peer_id::{ClientInfo, PeerId};

mod types;
pub use types::{BlockRef, PieceIndex};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Result of an incremental decoder: a value and the bytes it used, or how many more bytes
/// are needed before trying again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decoded<T> {
    /// A whole value was read from the first `consumed` bytes of the input.
    Complete {
        /// The value.
        value: T,
        /// Bytes used; the caller discards them.
        consumed: usize,
    },
    /// The input is a valid prefix; at least `needed` more bytes are required.
    Incomplete {
        /// Lower bound on the missing bytes.
        needed: usize,
    },
}

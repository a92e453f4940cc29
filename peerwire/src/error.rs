//! Errors, split by whose fault they are (malformed bytes, protocol abuse, incompatibility).
//!
//! Map an [`Error`] to an action in one place: every variant means "drop this connection";
//! [`Error::PeerMisbehaved`] additionally justifies banning the peer.

/// Everything this crate reports about bytes that came from a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes do not form a valid message.
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] InvalidMessage),
    /// The bytes are well formed but break a limit or rule of the protocol.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// The peer speaks something we cannot work with.
    #[error("peer incompatible: {0}")]
    PeerIncompatible(#[from] PeerIncompatible),
}

/// Malformed bytes: the message cannot be parsed as what its id says it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// A fixed-size message (or part) has the wrong length.
    #[error("{msg} message has length {got}, expected {expected}")]
    IncorrectLength {
        /// Message name.
        msg: &'static str,
        /// Length the protocol requires (length prefix value).
        expected: u32,
        /// Length the peer sent.
        got: u32,
    },
    /// A variable-size message is shorter than its fixed fields.
    #[error("{msg} message has length {got}, at least {min} required")]
    TooShort {
        /// Message name.
        msg: &'static str,
        /// Smallest valid length prefix.
        min: u32,
        /// Length the peer sent.
        got: u32,
    },
    /// The `hashes` payload is not a whole number of 32-byte SHA-256 hashes.
    #[error("hashes message carries {got} hash bytes, not a multiple of 32")]
    HashesNotWhole {
        /// Number of bytes after the fixed fields.
        got: u32,
    },
    /// A message id this crate does not know (BEP 3, 5, 6, 10, 52).
    #[error("unknown message id {id} (length {len})")]
    UnknownMessageId {
        /// The id byte.
        id: u8,
        /// Its length prefix.
        len: u32,
    },
    /// A bitfield that does not fit the torrent.
    #[error("bitfield: {0}")]
    Bitfield(#[from] BitfieldError),
    /// An extension payload is not valid bencode.
    #[error("{msg}: invalid bencode: {detail}")]
    Bencode {
        /// Extension message name.
        msg: &'static str,
        /// What the bencode decoder reported (kind and byte offset).
        detail: String,
    },
    /// An extension payload field is missing or has the wrong type or value.
    #[error("{msg}: field `{field}` {problem}")]
    ExtensionField {
        /// Extension message name.
        msg: &'static str,
        /// Field name.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Well-formed bytes that break a rule or a limit we enforce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// A length prefix larger than the maximum for that message type. Detected from the
    /// 5-byte header alone, before anything is buffered.
    #[error("{msg} message length {len} exceeds the maximum {max}")]
    MessageTooLong {
        /// Message name.
        msg: &'static str,
        /// Length the peer claimed.
        len: u32,
        /// Largest length accepted for this message type.
        max: u32,
    },
}

/// The peer speaks something other than the BitTorrent peer protocol we implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerIncompatible {
    /// The handshake does not start with `\x13BitTorrent protocol`.
    #[error(
        "handshake protocol string mismatch at byte {offset} (got 0x{got:02x}, expected 0x{expected:02x}): not a plain BitTorrent handshake"
    )]
    ProtocolString {
        /// Offset of the first differing byte.
        offset: usize,
        /// Byte received there.
        got: u8,
        /// Byte expected there.
        expected: u8,
    },
}

/// A bitfield that does not match the torrent's piece count, or an operation on mismatched sets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BitfieldError {
    /// Wire length is not `ceil(pieces / 8)`.
    #[error("{got} bytes for {pieces} pieces, expected {expected}")]
    WrongLength {
        /// Number of pieces in the torrent.
        pieces: u32,
        /// Expected byte length.
        expected: usize,
        /// Received byte length.
        got: usize,
    },
    /// A bit past the last piece is set (BEP 3: spare bits must be zero).
    #[error("spare bit for nonexistent piece {bit} is set (torrent has {pieces} pieces)")]
    SpareBitSet {
        /// Index of the first offending bit.
        bit: u32,
        /// Number of pieces in the torrent.
        pieces: u32,
    },
    /// A piece index past the end.
    #[error("piece {index} out of range (bitfield has {pieces} pieces)")]
    OutOfRange {
        /// The index.
        index: u32,
        /// Number of pieces.
        pieces: u32,
    },
    /// Two bitfields of different sizes were combined.
    #[error("bitfield lengths differ: {left} vs {right} pieces")]
    LengthMismatch {
        /// Length of the receiver.
        left: u32,
        /// Length of the argument.
        right: u32,
    },
}

impl From<BitfieldError> for Error {
    fn from(e: BitfieldError) -> Self {
        Self::InvalidMessage(InvalidMessage::Bitfield(e))
    }
}

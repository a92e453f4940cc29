//! Peer wire messages (BEP 3, 5, 6, 10, 52) and their encoder.
//!
//! Every message after the handshake is framed as a 4-byte big-endian length, a 1-byte id
//! and a payload; length 0 is a keep-alive. Encoding writes straight into the caller's
//! `BytesMut` (one `reserve`, no temporary buffers); [`Message::encode_head`] leaves out a
//! trailing `Bytes` payload so a piece can be sent with a vectored write.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::bitfield::Bitfield;
use crate::types::{BlockRef, PieceIndex};

/// One peer wire message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// Length prefix 0: keeps the connection open.
    Keepalive,
    /// BEP 3 `choke`: the sender will not serve requests.
    Choke,
    /// BEP 3 `unchoke`: the sender will serve requests.
    Unchoke,
    /// BEP 3 `interested`: the sender wants pieces from the receiver.
    Interested,
    /// BEP 3 `not interested`.
    NotInterested,
    /// BEP 3 `have`: the sender completed and verified a piece.
    Have(PieceIndex),
    /// BEP 3 `bitfield`: the pieces the sender has; only right after the handshake.
    ///
    /// Decoded against [`crate::Limits::piece_count`] when it is set (exact length, zero spare
    /// bits); otherwise every received bit counts as a piece and the caller re-checks with
    /// [`Bitfield::with_piece_count`] once the metadata is known.
    Bitfield(Bitfield),
    /// BEP 3 `request`: asks for a block.
    Request(BlockRef),
    /// BEP 3 `piece`: a block of data. `data` is a zero-copy slice of the receive buffer.
    Piece {
        /// Piece the block belongs to.
        piece: PieceIndex,
        /// Byte offset inside the piece.
        offset: u32,
        /// Block contents.
        data: Bytes,
    },
    /// BEP 3 `cancel`: withdraws a request.
    Cancel(BlockRef),
    /// BEP 5 `port`: the sender's DHT port.
    Port(u16),
    /// BEP 6 `suggest piece`.
    SuggestPiece(PieceIndex),
    /// BEP 6 `have all`: replaces the bitfield of a seeder.
    HaveAll,
    /// BEP 6 `have none`: replaces an empty bitfield.
    HaveNone,
    /// BEP 6 `reject request`: a request that will not be served.
    RejectRequest(BlockRef),
    /// BEP 6 `allowed fast`: a piece the receiver may request while choked.
    AllowedFast(PieceIndex),
    /// BEP 10 extended message; id 0 is the extended handshake, others are the ids the
    /// receiver assigned in its handshake's `m` dictionary. `payload` is zero-copy.
    Extended {
        /// Extended message id.
        id: u8,
        /// Everything after the extended id (bencode, maybe followed by raw data).
        payload: Bytes,
    },
    /// BEP 52 `hash request`.
    HashRequest(HashRequest),
    /// BEP 52 `hashes`: the requested hashes, then the proof (uncle) hashes.
    Hashes {
        /// The request this answers.
        request: HashRequest,
        /// Concatenated 32-byte SHA-256 hashes (zero-copy).
        hashes: Bytes,
    },
    /// BEP 52 `hash reject`.
    HashReject(HashRequest),
}

impl Message {
    /// The message id byte, or `None` for a keep-alive.
    #[must_use]
    pub const fn id(&self) -> Option<MessageId> {
        Some(match self {
            Self::Keepalive => return None,
            Self::Choke => MessageId::Choke,
            Self::Unchoke => MessageId::Unchoke,
            Self::Interested => MessageId::Interested,
            Self::NotInterested => MessageId::NotInterested,
            Self::Have(_) => MessageId::Have,
            Self::Bitfield(_) => MessageId::Bitfield,
            Self::Request(_) => MessageId::Request,
            Self::Piece { .. } => MessageId::Piece,
            Self::Cancel(_) => MessageId::Cancel,
            Self::Port(_) => MessageId::Port,
            Self::SuggestPiece(_) => MessageId::SuggestPiece,
            Self::HaveAll => MessageId::HaveAll,
            Self::HaveNone => MessageId::HaveNone,
            Self::RejectRequest(_) => MessageId::RejectRequest,
            Self::AllowedFast(_) => MessageId::AllowedFast,
            Self::Extended { .. } => MessageId::Extended,
            Self::HashRequest(_) => MessageId::HashRequest,
            Self::Hashes { .. } => MessageId::Hashes,
            Self::HashReject(_) => MessageId::HashReject,
        })
    }

    /// The message's name as the BEPs spell it (for logs and errors).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self.id() {
            None => "keep-alive",
            Some(id) => id.name(),
        }
    }

    /// Number of bytes [`Message::encode`] writes, length prefix included.
    ///
    /// # Panics
    /// When a payload is larger than the 32-bit length prefix can describe (a caller bug).
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        4 + self.payload_len()
    }

    /// Appends the framed message to `out`.
    ///
    /// # Panics
    /// When a payload is larger than the 32-bit length prefix can describe (a caller bug).
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        if let Some(tail) = self.encode_head(out) {
            out.put_slice(&tail);
        }
    }

    /// Appends the message to `out` except for a trailing `Bytes` payload (the data of
    /// `piece`, the payload of `extended`, the hashes of `hashes`), which it returns so the
    /// caller can send `out` and the payload with one vectored write and no copy.
    ///
    /// # Panics
    /// When a payload is larger than the 32-bit length prefix can describe (a caller bug).
    pub fn encode_head(&self, out: &mut BytesMut) -> Option<Bytes> {
        let len =
            u32::try_from(self.payload_len()).expect("message payload exceeds u32::MAX bytes");
        out.put_u32(len);
        let id = self.id()?;
        out.put_u8(id as u8);
        match self {
            Self::Keepalive
            | Self::Choke
            | Self::Unchoke
            | Self::Interested
            | Self::NotInterested
            | Self::HaveAll
            | Self::HaveNone => None,
            Self::Have(p) | Self::SuggestPiece(p) | Self::AllowedFast(p) => {
                out.put_u32(p.0);
                None
            }
            Self::Bitfield(bf) => {
                out.put_slice(bf.as_wire());
                None
            }
            Self::Request(b) | Self::Cancel(b) | Self::RejectRequest(b) => {
                out.put_u32(b.piece.0);
                out.put_u32(b.offset);
                out.put_u32(b.len);
                None
            }
            Self::Piece {
                piece,
                offset,
                data,
            } => {
                out.put_u32(piece.0);
                out.put_u32(*offset);
                Some(data.clone())
            }
            Self::Port(port) => {
                out.put_u16(*port);
                None
            }
            Self::Extended { id, payload } => {
                out.put_u8(*id);
                Some(payload.clone())
            }
            Self::HashRequest(r) | Self::HashReject(r) => {
                r.encode_fields(out);
                None
            }
            Self::Hashes { request, hashes } => {
                request.encode_fields(out);
                Some(hashes.clone())
            }
        }
    }

    /// Length prefix value: id byte plus payload.
    fn payload_len(&self) -> usize {
        match self {
            Self::Keepalive => 0,
            Self::Choke
            | Self::Unchoke
            | Self::Interested
            | Self::NotInterested
            | Self::HaveAll
            | Self::HaveNone => 1,
            Self::Have(_) | Self::SuggestPiece(_) | Self::AllowedFast(_) => 5,
            Self::Bitfield(bf) => 1 + bf.as_wire().len(),
            Self::Request(_) | Self::Cancel(_) | Self::RejectRequest(_) => 13,
            Self::Piece { data, .. } => 9 + data.len(),
            Self::Port(_) => 3,
            Self::Extended { payload, .. } => 2 + payload.len(),
            Self::HashRequest(_) | Self::HashReject(_) => HashRequest::MESSAGE_LEN as usize,
            Self::Hashes { hashes, .. } => HashRequest::MESSAGE_LEN as usize + hashes.len(),
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Have(p) | Self::SuggestPiece(p) | Self::AllowedFast(p) => {
                write!(f, "{} {}", self.name(), p.0)
            }
            Self::Bitfield(bf) => write!(f, "bitfield {bf}"),
            Self::Request(b) | Self::Cancel(b) | Self::RejectRequest(b) => {
                write!(f, "{} {b}", self.name())
            }
            Self::Piece {
                piece,
                offset,
                data,
            } => {
                write!(f, "piece {} bytes {}+{}", piece.0, offset, data.len())
            }
            Self::Port(p) => write!(f, "port {p}"),
            Self::Extended { id, payload } => {
                write!(f, "extended id {id} ({} bytes)", payload.len())
            }
            Self::Hashes { request, hashes } => {
                write!(f, "hashes {request} ({} hashes)", hashes.len() / 32)
            }
            Self::HashRequest(r) | Self::HashReject(r) => write!(f, "{} {r}", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

/// Message id bytes, named as in the BEPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum MessageId {
    /// [BEP 3](https://www.bittorrent.org/beps/bep_0003.html) `choke`.
    Choke = 0,
    /// BEP 3 `unchoke`.
    Unchoke = 1,
    /// BEP 3 `interested`.
    Interested = 2,
    /// BEP 3 `not interested`.
    NotInterested = 3,
    /// BEP 3 `have`.
    Have = 4,
    /// BEP 3 `bitfield`.
    Bitfield = 5,
    /// BEP 3 `request`.
    Request = 6,
    /// BEP 3 `piece`.
    Piece = 7,
    /// BEP 3 `cancel`.
    Cancel = 8,
    /// [BEP 5](https://www.bittorrent.org/beps/bep_0005.html) `port`.
    Port = 9,
    /// [BEP 6](https://www.bittorrent.org/beps/bep_0006.html) `suggest piece`.
    SuggestPiece = 0x0d,
    /// BEP 6 `have all`.
    HaveAll = 0x0e,
    /// BEP 6 `have none`.
    HaveNone = 0x0f,
    /// BEP 6 `reject request`.
    RejectRequest = 0x10,
    /// BEP 6 `allowed fast`.
    AllowedFast = 0x11,
    /// [BEP 10](https://www.bittorrent.org/beps/bep_0010.html) `extended`.
    Extended = 20,
    /// [BEP 52](https://www.bittorrent.org/beps/bep_0052.html) `hash request`.
    HashRequest = 21,
    /// BEP 52 `hashes`.
    Hashes = 22,
    /// BEP 52 `hash reject`.
    HashReject = 23,
}

impl MessageId {
    /// The id for a byte, if known.
    #[must_use]
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Choke,
            1 => Self::Unchoke,
            2 => Self::Interested,
            3 => Self::NotInterested,
            4 => Self::Have,
            5 => Self::Bitfield,
            6 => Self::Request,
            7 => Self::Piece,
            8 => Self::Cancel,
            9 => Self::Port,
            0x0d => Self::SuggestPiece,
            0x0e => Self::HaveAll,
            0x0f => Self::HaveNone,
            0x10 => Self::RejectRequest,
            0x11 => Self::AllowedFast,
            20 => Self::Extended,
            21 => Self::HashRequest,
            22 => Self::Hashes,
            23 => Self::HashReject,
            _ => return None,
        })
    }

    /// The name as the BEPs spell it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Choke => "choke",
            Self::Unchoke => "unchoke",
            Self::Interested => "interested",
            Self::NotInterested => "not interested",
            Self::Have => "have",
            Self::Bitfield => "bitfield",
            Self::Request => "request",
            Self::Piece => "piece",
            Self::Cancel => "cancel",
            Self::Port => "port",
            Self::SuggestPiece => "suggest piece",
            Self::HaveAll => "have all",
            Self::HaveNone => "have none",
            Self::RejectRequest => "reject request",
            Self::AllowedFast => "allowed fast",
            Self::Extended => "extended",
            Self::HashRequest => "hash request",
            Self::Hashes => "hashes",
            Self::HashReject => "hash reject",
        }
    }
}

/// The root of a file's piece-layer Merkle tree (BEP 52 `pieces root`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PiecesRoot(pub [u8; 32]);

impl fmt::Debug for PiecesRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PiecesRoot({self})")
    }
}

impl fmt::Display for PiecesRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The fields shared by BEP 52 `hash request`, `hashes` and `hash reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// Which file's tree.
    pub pieces_root: PiecesRoot,
    /// Tree layer the hashes come from; 0 is the 16 KiB block layer.
    pub base_layer: u32,
    /// Offset of the first hash within that layer.
    pub index: u32,
    /// Number of hashes requested from the base layer.
    pub length: u32,
    /// Number of ancestor layers to include proof (uncle) hashes for.
    pub proof_layers: u32,
}

impl HashRequest {
    /// Length prefix of `hash request`/`hash reject` (id + 32 + 4 × 4 = 49).
    pub const MESSAGE_LEN: u32 = 49;

    /// Checks the BEP 52 rules for a request: `length` is a power of two of at least 2,
    /// at most `max_length`, and `index` is a multiple of `length`. A request breaking them
    /// should be answered with `hash reject`.
    #[must_use]
    pub fn is_well_formed(&self, max_length: u32) -> bool {
        self.length >= 2
            && self.length.is_power_of_two()
            && self.length <= max_length
            && self.index % self.length == 0
    }

    fn encode_fields(&self, out: &mut BytesMut) {
        out.put_slice(&self.pieces_root.0);
        out.put_u32(self.base_layer);
        out.put_u32(self.index);
        out.put_u32(self.length);
        out.put_u32(self.proof_layers);
    }

    pub(crate) fn decode_fields(b: &[u8; 48]) -> Self {
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut root = [0u8; 32];
        root.copy_from_slice(&b[..32]);
        Self {
            pieces_root: PiecesRoot(root),
            base_layer: word(32),
            index: word(36),
            length: word(40),
            proof_layers: word(44),
        }
    }
}

impl fmt::Display for HashRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "root {} layer {} index {} length {} proof layers {}",
            self.pieces_root, self.base_layer, self.index, self.length, self.proof_layers
        )
    }
}

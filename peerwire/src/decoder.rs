//! Framing: turns a byte stream into [`Message`]s, whatever the split of the stream.
//!
//! The length prefix and id are checked against per-type limits as soon as the 5-byte header
//! has arrived, so an oversize or impossible frame is rejected before any of it is buffered,
//! and nothing is ever allocated from a length the peer claimed. `piece`, `extended` and
//! `hashes` payloads come out as `Bytes` slices of the receive buffer (no copy).

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use crate::Decoded;
use crate::bitfield::{Bitfield, wire_len};
use crate::error::{Error, InvalidMessage, PeerMisbehaved};
use crate::message::{HashRequest, Message, MessageId};
use crate::types::{BlockRef, PieceIndex};

/// Per-connection limits the decoder enforces from the frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest block accepted in a `piece` message. Default 16 KiB, the size every client
    /// requests; raise it only if you request larger blocks.
    pub max_block_len: u32,
    /// Largest `extended` message (length prefix value). Default 1 MiB.
    pub max_extended_len: u32,
    /// The torrent's piece count, when known: a `bitfield` must then be exactly
    /// `ceil(pieces / 8)` bytes with zero spare bits. `None` before the metadata is known
    /// (magnet links); then [`Limits::max_unknown_bitfield_len`] applies.
    pub piece_count: Option<u32>,
    /// Largest bitfield payload accepted while the piece count is unknown. Default 1 MiB
    /// (8 Mi pieces).
    pub max_unknown_bitfield_len: u32,
    /// Largest number of 32-byte hashes in a BEP 52 `hashes` message. Default 8192 + 64.
    pub max_hashes: u32,
    /// What to do with a message id this crate does not know. Default
    /// [`UnknownMessages::Reject`].
    pub unknown_messages: UnknownMessages,
}

/// Policy for message ids outside BEP 3, 5, 6, 10 and 52.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownMessages {
    /// Fail with [`InvalidMessage::UnknownMessageId`] as soon as the header arrives.
    #[default]
    Reject,
    /// Drop the frame and go on, if it is no longer than [`Limits::max_extended_len`]
    /// (longer is [`PeerMisbehaved::MessageTooLong`]). The frame is still buffered whole
    /// before it is dropped.
    Skip,
}

/// What a complete or announced frame holds, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameKind {
    /// Length prefix 0.
    Keepalive,
    /// A known message.
    Message(MessageId),
    /// An unknown id that [`UnknownMessages::Skip`] lets through, to be dropped.
    Skipped(u8),
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_block_len: 16 * 1024,
            max_extended_len: 1024 * 1024,
            piece_count: None,
            max_unknown_bitfield_len: 1024 * 1024,
            max_hashes: 8192 + 64,
            unknown_messages: UnknownMessages::Reject,
        }
    }
}

impl Limits {
    /// Sets the piece count (builder style).
    #[must_use]
    pub const fn with_piece_count(mut self, pieces: u32) -> Self {
        self.piece_count = Some(pieces);
        self
    }

    /// Sets the largest accepted block (builder style).
    #[must_use]
    pub const fn with_max_block_len(mut self, len: u32) -> Self {
        self.max_block_len = len;
        self
    }

    /// Sets the largest accepted `extended` message (builder style).
    #[must_use]
    pub const fn with_max_extended_len(mut self, len: u32) -> Self {
        self.max_extended_len = len;
        self
    }
}

/// Streaming message decoder. It holds only the [`Limits`]; the caller owns the buffer.
///
/// Driving contract: append received bytes to a `BytesMut`, then call
/// [`MessageDecoder::decode`] until it returns `Ok(None)`. After an `Err` the stream is not
/// resynchronisable: drop the connection.
///
/// ```
/// use bytes::BytesMut;
/// use freshet_peerwire::{Message, MessageDecoder, PieceIndex};
///
/// let dec = MessageDecoder::default();
/// let mut buf = BytesMut::from(&[0, 0, 0, 5, 4, 0, 0][..]); // `have`, 2 bytes short
/// assert_eq!(dec.decode(&mut buf).unwrap(), None);
/// buf.extend_from_slice(&[0, 7, 0, 0, 0, 0]); // rest of `have 7`, then a keep-alive
/// assert_eq!(dec.decode(&mut buf).unwrap(), Some(Message::Have(PieceIndex(7))));
/// assert_eq!(dec.decode(&mut buf).unwrap(), Some(Message::Keepalive));
/// assert_eq!(dec.decode(&mut buf).unwrap(), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct MessageDecoder {
    limits: Limits,
}

impl MessageDecoder {
    /// A decoder with the given limits.
    #[must_use]
    pub const fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// The limits in force (getter).
    #[must_use]
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sets the piece count once the metadata is known (command).
    pub fn set_piece_count(&mut self, pieces: u32) {
        self.limits.piece_count = Some(pieces);
    }

    /// Takes the next whole message off the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not yet hold a whole message (nothing is removed,
    /// except frames dropped by [`UnknownMessages::Skip`]); use
    /// [`MessageDecoder::frame_status`] to learn how many bytes are missing.
    ///
    /// # Errors
    /// [`PeerMisbehaved::MessageTooLong`] or [`InvalidMessage`] naming the message and length.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Message>, Error> {
        loop {
            let (kind, total) = match self.frame_status(buf)? {
                Decoded::Incomplete { .. } => return Ok(None),
                Decoded::Complete { value, consumed } => (value, consumed),
            };
            let id = match kind {
                FrameKind::Keepalive => {
                    buf.advance(total);
                    return Ok(Some(Message::Keepalive));
                }
                FrameKind::Skipped(_) => {
                    buf.advance(total);
                    continue;
                }
                FrameKind::Message(id) => id,
            };
            return if has_tail(id) {
                let frame = buf.split_to(total).freeze();
                parse(id, &frame[5..], &self.limits, |r| {
                    frame.slice(r.start + 5..r.end + 5)
                })
                .map(Some)
            } else {
                let body = &buf[5..total];
                let msg = parse(id, body, &self.limits, |r| Bytes::copy_from_slice(&body[r]))?;
                buf.advance(total);
                Ok(Some(msg))
            };
        }
    }

    /// Decodes the message at the start of `input`, reporting how many bytes it used
    /// (including any frames dropped by [`UnknownMessages::Skip`] before it). Payloads are
    /// zero-copy slices of `input`.
    ///
    /// # Errors
    /// As for [`MessageDecoder::decode`].
    pub fn decode_bytes(&self, input: &Bytes) -> Result<Decoded<Message>, Error> {
        let mut skipped = 0;
        loop {
            let rest = &input[skipped..];
            let (kind, total) = match self.frame_status(rest)? {
                Decoded::Incomplete { needed } => return Ok(Decoded::Incomplete { needed }),
                Decoded::Complete { value, consumed } => (value, consumed),
            };
            let value = match kind {
                FrameKind::Keepalive => Message::Keepalive,
                FrameKind::Skipped(_) => {
                    skipped += total;
                    continue;
                }
                FrameKind::Message(id) => {
                    let base = skipped + 5;
                    parse(id, &rest[5..total], &self.limits, |r| {
                        input.slice(r.start + base..r.end + base)
                    })?
                }
            };
            return Ok(Decoded::Complete {
                value,
                consumed: skipped + total,
            });
        }
    }

    /// Looks at the frame header at the start of `input` without consuming anything.
    ///
    /// `Complete { value, consumed }` means the whole frame (`consumed` bytes, of kind
    /// `value`) is present; `Incomplete { needed }` gives a lower bound on the missing bytes,
    /// exact once the 5-byte header has arrived and always within the limits.
    ///
    /// # Errors
    /// An unknown id (unless skipped), a length impossible for the id, or a length above the
    /// limits.
    #[inline]
    pub fn frame_status(&self, input: &[u8]) -> Result<Decoded<FrameKind>, Error> {
        let Some(prefix) = input.first_chunk::<4>() else {
            return Ok(Decoded::Incomplete {
                needed: 4 - input.len(),
            });
        };
        let len = u32::from_be_bytes(*prefix);
        if len == 0 {
            return Ok(Decoded::Complete {
                value: FrameKind::Keepalive,
                consumed: 4,
            });
        }
        let Some(&id_byte) = input.get(4) else {
            return Ok(Decoded::Incomplete { needed: 1 });
        };
        let kind = match MessageId::from_u8(id_byte) {
            Some(id) => {
                self.check_len(id, len)?;
                FrameKind::Message(id)
            }
            None => match self.limits.unknown_messages {
                UnknownMessages::Reject => {
                    return Err(InvalidMessage::UnknownMessageId { id: id_byte, len }.into());
                }
                UnknownMessages::Skip if len > self.limits.max_extended_len => {
                    let max = self.limits.max_extended_len;
                    return Err(PeerMisbehaved::MessageTooLong {
                        msg: "unknown",
                        len,
                        max,
                    }
                    .into());
                }
                UnknownMessages::Skip => FrameKind::Skipped(id_byte),
            },
        };
        // `len` is now bounded by the limits, so this cannot overflow on 32-bit targets
        // for any sane limits; saturate anyway.
        let total = (len as usize).saturating_add(4);
        if input.len() < total {
            return Ok(Decoded::Incomplete {
                needed: total - input.len(),
            });
        }
        Ok(Decoded::Complete {
            value: kind,
            consumed: total,
        })
    }

    #[inline]
    fn check_len(&self, id: MessageId, len: u32) -> Result<(), Error> {
        let msg = id.name();
        let exact = |expected: u32| -> Result<(), Error> {
            if len == expected {
                Ok(())
            } else {
                Err(InvalidMessage::IncorrectLength {
                    msg,
                    expected,
                    got: len,
                }
                .into())
            }
        };
        let range = |min: u32, max: u32| -> Result<(), Error> {
            if len < min {
                Err(InvalidMessage::TooShort { msg, min, got: len }.into())
            } else if len > max {
                Err(PeerMisbehaved::MessageTooLong { msg, len, max }.into())
            } else {
                Ok(())
            }
        };
        match id {
            MessageId::Choke
            | MessageId::Unchoke
            | MessageId::Interested
            | MessageId::NotInterested
            | MessageId::HaveAll
            | MessageId::HaveNone => exact(1),
            MessageId::Have | MessageId::SuggestPiece | MessageId::AllowedFast => exact(5),
            MessageId::Request | MessageId::Cancel | MessageId::RejectRequest => exact(13),
            MessageId::Port => exact(3),
            MessageId::HashRequest | MessageId::HashReject => exact(HashRequest::MESSAGE_LEN),
            MessageId::Bitfield => match self.limits.piece_count {
                // wire_len(u32) <= 2^29, so the + 1 cannot overflow.
                Some(pieces) => exact(wire_len(pieces) as u32 + 1),
                None => range(1, self.limits.max_unknown_bitfield_len.saturating_add(1)),
            },
            MessageId::Piece => range(9, self.limits.max_block_len.saturating_add(9)),
            MessageId::Extended => range(2, self.limits.max_extended_len),
            MessageId::Hashes => {
                let max = self
                    .limits
                    .max_hashes
                    .saturating_mul(32)
                    .saturating_add(HashRequest::MESSAGE_LEN);
                range(HashRequest::MESSAGE_LEN, max)?;
                let got = len - HashRequest::MESSAGE_LEN;
                if got % 32 != 0 {
                    return Err(InvalidMessage::HashesNotWhole { got }.into());
                }
                Ok(())
            }
        }
    }
}

/// Messages whose payload ends in a `Bytes` slice.
const fn has_tail(id: MessageId) -> bool {
    matches!(
        id,
        MessageId::Piece | MessageId::Extended | MessageId::Hashes
    )
}

/// Parses a frame body (after the id byte) whose length was already checked by
/// `check_len`. `tail(range)` returns `body[range]` as `Bytes`.
#[inline]
fn parse(
    id: MessageId,
    body: &[u8],
    limits: &Limits,
    tail: impl FnOnce(Range<usize>) -> Bytes,
) -> Result<Message, Error> {
    let word = |i: usize| -> u32 {
        // Callers index only within lengths fixed by `check_len`; `get` keeps this panic-free
        // even if that ever changed.
        body.get(i..i + 4)
            .map_or(0, |w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    let block = || BlockRef {
        piece: PieceIndex(word(0)),
        offset: word(4),
        len: word(8),
    };
    let fields = || -> HashRequest {
        let mut f = [0u8; 48];
        if let Some(src) = body.get(..48) {
            f.copy_from_slice(src);
        }
        HashRequest::decode_fields(&f)
    };
    Ok(match id {
        MessageId::Choke => Message::Choke,
        MessageId::Unchoke => Message::Unchoke,
        MessageId::Interested => Message::Interested,
        MessageId::NotInterested => Message::NotInterested,
        MessageId::HaveAll => Message::HaveAll,
        MessageId::HaveNone => Message::HaveNone,
        MessageId::Have => Message::Have(PieceIndex(word(0))),
        MessageId::SuggestPiece => Message::SuggestPiece(PieceIndex(word(0))),
        MessageId::AllowedFast => Message::AllowedFast(PieceIndex(word(0))),
        MessageId::Request => Message::Request(block()),
        MessageId::Cancel => Message::Cancel(block()),
        MessageId::RejectRequest => Message::RejectRequest(block()),
        MessageId::Port => Message::Port(
            body.get(..2)
                .map_or(0, |p| u16::from_be_bytes([p[0], p[1]])),
        ),
        MessageId::Bitfield => Message::Bitfield(match limits.piece_count {
            Some(pieces) => Bitfield::from_wire(body, pieces)?,
            None => Bitfield::from_wire_unchecked_len(body),
        }),
        MessageId::Piece => Message::Piece {
            piece: PieceIndex(word(0)),
            offset: word(4),
            data: tail(8..body.len()),
        },
        MessageId::Extended => Message::Extended {
            id: body.first().copied().unwrap_or_default(),
            payload: tail(1..body.len()),
        },
        MessageId::HashRequest => Message::HashRequest(fields()),
        MessageId::HashReject => Message::HashReject(fields()),
        MessageId::Hashes => Message::Hashes {
            request: fields(),
            hashes: tail(48..body.len()),
        },
    })
}

//! `ut_metadata` (BEP 9): fetching the info dictionary from peers in 16 KiB pieces.

use bytes::{BufMut, Bytes, BytesMut};

use super::{decode_dict, opt_int, put_int_entry, req_int_in, trailing};
use crate::error::{Error, InvalidMessage};

const MSG: &str = "ut_metadata";

/// Size of every metadata piece but the last (BEP 9).
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

/// A `ut_metadata` message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataMessage {
    /// `msg_type` 0: asks for metadata piece `piece`.
    Request {
        /// Metadata piece index.
        piece: u32,
    },
    /// `msg_type` 1: a metadata piece; `data` follows the dictionary (zero-copy).
    Data {
        /// Metadata piece index.
        piece: u32,
        /// Size of the whole info dictionary.
        total_size: u32,
        /// The piece's bytes.
        data: Bytes,
    },
    /// `msg_type` 2: the sender will not send piece `piece`.
    Reject {
        /// Metadata piece index.
        piece: u32,
    },
}

impl MetadataMessage {
    /// Parses a `ut_metadata` payload. Returns `Ok(None)` for an unknown `msg_type`, which
    /// BEP 9 says to ignore.
    ///
    /// For `Data`, the data length must be exactly what `total_size` and `piece` imply
    /// (16 KiB, or the remainder for the last piece).
    ///
    /// # Errors
    /// Invalid bencode, missing or ill-typed fields, or data of the wrong length.
    pub fn decode(payload: &Bytes) -> Result<Option<Self>, Error> {
        let (dict, used) = decode_dict(payload, MSG)?;
        let Some(msg_type) = opt_int(&dict, "msg_type", MSG)? else {
            return Err(InvalidMessage::ExtensionField {
                msg: MSG,
                field: "msg_type",
                problem: "is missing",
            }
            .into());
        };
        let piece = req_int_in(&dict, "piece", MSG)?;
        Ok(Some(match msg_type {
            0 => Self::Request { piece },
            2 => Self::Reject { piece },
            1 => {
                let total_size: u32 = req_int_in(&dict, "total_size", MSG)?;
                let data = trailing(payload, used);
                let expected =
                    Self::piece_len(total_size, piece).ok_or(InvalidMessage::ExtensionField {
                        msg: MSG,
                        field: "piece",
                        problem: "is past the end of the metadata",
                    })?;
                if data.len() != expected as usize {
                    return Err(InvalidMessage::ExtensionField {
                        msg: MSG,
                        field: "data",
                        problem: "length does not match total_size and piece",
                    }
                    .into());
                }
                Self::Data {
                    piece,
                    total_size,
                    data,
                }
            }
            _ => return Ok(None),
        }))
    }

    /// Length of metadata piece `piece` for metadata of `total_size` bytes, or `None` if the
    /// piece does not exist.
    #[must_use]
    pub fn piece_len(total_size: u32, piece: u32) -> Option<u32> {
        let start = u64::from(piece) * u64::from(METADATA_PIECE_LEN);
        let remaining = u64::from(total_size)
            .checked_sub(start)
            .filter(|&r| r > 0)?;
        // min(...) <= METADATA_PIECE_LEN fits u32.
        Some(remaining.min(u64::from(METADATA_PIECE_LEN)) as u32)
    }

    /// Appends the payload (dictionary, then the data for `Data`) to `out`.
    pub fn encode_payload(&self, out: &mut BytesMut) {
        out.put_u8(b'd');
        match self {
            Self::Request { piece } => {
                put_int_entry(out, "msg_type", 0);
                put_int_entry(out, "piece", i64::from(*piece));
                out.put_u8(b'e');
            }
            Self::Reject { piece } => {
                put_int_entry(out, "msg_type", 2);
                put_int_entry(out, "piece", i64::from(*piece));
                out.put_u8(b'e');
            }
            Self::Data {
                piece,
                total_size,
                data,
            } => {
                put_int_entry(out, "msg_type", 1);
                put_int_entry(out, "piece", i64::from(*piece));
                put_int_entry(out, "total_size", i64::from(*total_size));
                out.put_u8(b'e');
                out.put_slice(data);
            }
        }
    }
}

//! The extension protocol (BEP 10) and the payloads of the extensions we speak.
//!
//! An [`crate::Message::Extended`] carries an extended id and a payload. Id 0 is the
//! [`ExtendedHandshake`]; other ids are those the *receiver* assigned to extension names in
//! its handshake's `m` dictionary. This module only reads and writes payloads; which id means
//! what on a connection is the caller's bookkeeping.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use freshet_bencode::{DecodeOptions, Dict, Value};

use crate::error::{Error, InvalidMessage};
use crate::message::Message;

mod handshake;
pub use handshake::ExtendedHandshake;

mod metadata;
pub use metadata::{METADATA_PIECE_LEN, MetadataMessage};

mod pex;
pub use pex::{PexFlags, PexMessage};

/// Extended message id of the extended handshake (BEP 10).
pub const EXTENDED_HANDSHAKE_ID: u8 = 0;
/// Extension name of metadata exchange (BEP 9) in the `m` dictionary.
pub const UT_METADATA: &str = "ut_metadata";
/// Extension name of peer exchange (BEP 11) in the `m` dictionary.
pub const UT_PEX: &str = "ut_pex";

/// Appends a whole `extended` message (length prefix, id 20, `ext_id`, payload) to `out`,
/// with the payload written in place by `write` and the length patched afterwards, so no
/// temporary buffer is needed.
///
/// # Panics
/// If `write` produces more than `u32::MAX` bytes (a caller bug).
pub fn encode_extended(out: &mut BytesMut, ext_id: u8, write: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_u32(0);
    out.put_u8(20);
    out.put_u8(ext_id);
    write(out);
    let len =
        u32::try_from(out.len() - start - 4).expect("extended payload exceeds u32::MAX bytes");
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Builds a [`Message::Extended`] from a payload writer (allocates the payload).
pub fn extended_message(ext_id: u8, write: impl FnOnce(&mut BytesMut)) -> Message {
    let mut buf = BytesMut::new();
    write(&mut buf);
    Message::Extended {
        id: ext_id,
        payload: buf.freeze(),
    }
}

/// Bencode limits for extension payloads: tiny nesting, bounded item count.
fn decode_options() -> DecodeOptions {
    DecodeOptions {
        max_depth: 8,
        max_items: 100_000,
    }
}

/// Decodes the bencoded dictionary at the start of `payload`; returns it and the number of
/// bytes it used (trailing data follows, as in `ut_metadata`).
fn decode_dict<'a>(payload: &'a [u8], msg: &'static str) -> Result<(Dict<'a>, usize), Error> {
    let (value, used) =
        decode_options()
            .decode_prefix(payload)
            .map_err(|e| InvalidMessage::Bencode {
                msg,
                detail: e.to_string(),
            })?;
    match value {
        Value::Dict(d) => Ok((d, used)),
        _ => Err(InvalidMessage::ExtensionField {
            msg,
            field: "<root>",
            problem: "is not a dictionary",
        }
        .into()),
    }
}

/// Optional integer field; present with another type is an error.
fn opt_int(dict: &Dict<'_>, key: &'static str, msg: &'static str) -> Result<Option<i64>, Error> {
    match dict.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v.as_int().map(Some).ok_or_else(|| {
            InvalidMessage::ExtensionField {
                msg,
                field: key,
                problem: "is not an integer",
            }
            .into()
        }),
    }
}

/// Optional integer field that must fit `T`.
fn opt_int_in<T: TryFrom<i64>>(
    dict: &Dict<'_>,
    key: &'static str,
    msg: &'static str,
) -> Result<Option<T>, Error> {
    opt_int(dict, key, msg)?
        .map(|v| {
            T::try_from(v).map_err(|_| {
                InvalidMessage::ExtensionField {
                    msg,
                    field: key,
                    problem: "is out of range",
                }
                .into()
            })
        })
        .transpose()
}

/// Required integer field that must fit `T`.
fn req_int_in<T: TryFrom<i64>>(
    dict: &Dict<'_>,
    key: &'static str,
    msg: &'static str,
) -> Result<T, Error> {
    opt_int_in(dict, key, msg)?.ok_or_else(|| {
        InvalidMessage::ExtensionField {
            msg,
            field: key,
            problem: "is missing",
        }
        .into()
    })
}

/// Optional byte-string field; present with another type is an error.
fn opt_bytes<'a>(
    dict: &Dict<'a>,
    key: &'static str,
    msg: &'static str,
) -> Result<Option<&'a [u8]>, Error> {
    match dict.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v.as_bytes().map(Some).ok_or_else(|| {
            InvalidMessage::ExtensionField {
                msg,
                field: key,
                problem: "is not a byte string",
            }
            .into()
        }),
    }
}

/// Writes a bencode byte-string header `<len>:` without allocating.
fn put_string_header(out: &mut BytesMut, len: usize) {
    // fmt::Write for BytesMut never fails (it grows the buffer).
    let _ = write!(out, "{len}:");
}

/// Writes `key` then an integer value.
fn put_int_entry(out: &mut BytesMut, key: &str, v: i64) {
    freshet_bencode::write_bytes(out, key.as_bytes());
    freshet_bencode::write_int(out, v);
}

/// Writes `key` then a byte-string value.
fn put_bytes_entry(out: &mut BytesMut, key: &str, v: &[u8]) {
    freshet_bencode::write_bytes(out, key.as_bytes());
    freshet_bencode::write_bytes(out, v);
}

/// Slices the data after the dictionary (zero-copy when `payload` is `Bytes`).
fn trailing(payload: &Bytes, used: usize) -> Bytes {
    payload.slice(used.min(payload.len())..)
}

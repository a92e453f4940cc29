//! Zero-copy, strict bencode (BEP 3): a `nom` decoder whose byte strings borrow from the
//! input, and a canonical encoder (dictionary keys sorted).
//!
//! The decoder rejects everything BEP 3 does not allow (leading zeros, `-0`, empty integers,
//! `i64` overflow, lengths past the end, duplicate keys) and bounds nesting depth and item
//! count, so hostile input can neither overflow the stack nor make it allocate much more than
//! the input's size. Unsorted dictionary keys are accepted and reported by
//! [`Dict::is_canonical`]. Every error carries an [`ErrorKind`] and a byte offset.
//! This crate performs no I/O of its own (it can write into an `io::Write` you pass it).
//!
//! Start with [`decode`] / [`decode_prefix`] (and [`DecodeOptions`] for custom limits),
//! [`Value`] and its accessors, and [`OwnedValue`] / [`DictBuilder`] for encoding. With the
//! `serde` feature, `to_bytes` / `from_bytes` (de)serialize `#[derive]`d types (fields
//! may borrow `&str` / `&[u8]` from the input) and `from_value` reads one decoded value.
//!
//! ```
//! use freshet_bencode::{decode, decode_prefix, DictBuilder, ErrorKind};
//!
//! let torrent = b"d8:announce9:http://x/4:infod6:lengthi3e4:name1:aee\n";
//! // Real .torrent files often end with a stray newline: decode_prefix leaves it alone.
//! let (value, used) = decode_prefix(torrent)?;
//! assert_eq!(used, torrent.len() - 1);
//! let root = value.as_dict().expect("a dictionary");
//! let info = root.get(b"info").and_then(|v| v.as_dict()).expect("an info dictionary");
//! assert_eq!(info.get(b"length").and_then(|v| v.as_int()), Some(3));
//! assert_eq!(info.raw(), b"d6:lengthi3e4:name1:ae"); // hash these bytes for the info-hash
//! assert!(root.is_canonical());
//!
//! // The encoder sorts keys.
//! let built = DictBuilder::new().str(b"name", "a").int(b"length", 3).finish();
//! assert_eq!(built, info.raw());
//!
//! // Errors say what and where.
//! let err = decode(b"li03ee").unwrap_err();
//! assert_eq!(err.kind(), &ErrorKind::LeadingZero);
//! assert_eq!(err.to_string(), "leading zero in integer at byte 2");
//! # Ok::<(), freshet_bencode::Error>(())
//! ```
//!
//! With the `serde` feature:
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct File<'a> {
//!     length: u64,
//!     #[serde(borrow)]
//!     path: Vec<&'a str>,
//! }
//! let bytes = freshet_bencode::to_bytes(&File { length: 5, path: vec!["a", "b.txt"] })?;
//! assert_eq!(bytes, b"d6:lengthi5e4:pathl1:a5:b.txtee");
//! let file: File<'_> = freshet_bencode::from_bytes(&bytes)?;
//! assert_eq!(file.path, ["a", "b.txt"]);
//! let err = freshet_bencode::from_bytes::<File<'_>>(b"d6:length1:x4:pathlee").unwrap_err();
//! assert_eq!(err.path(), Some("length"));
//! # }
//! # Ok::<(), freshet_bencode::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod decode;
pub use decode::{DecodeOptions, decode, decode_prefix};

#[cfg(feature = "serde")]
mod de;
#[cfg(feature = "serde")]
pub use de::from_value;

#[cfg(feature = "serde")]
mod de_bytes;
#[cfg(feature = "serde")]
pub use de_bytes::{from_bytes, from_bytes_with};

mod encode;
pub use encode::{DictBuilder, write_bytes, write_int};

mod error;
pub use error::{Error, ErrorKind};

#[cfg(feature = "serde")]
mod ser;
#[cfg(feature = "serde")]
pub use ser::{MapSer, SeqSer, Serializer, to_bytes};

mod value;
pub use value::{Dict, List, OwnedValue, Value};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

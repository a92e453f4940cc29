//! freshet-metainfo: `.torrent` files (v1, v2, hybrid), info-hashes, magnet links and torrent
//! creation. Performs no network I/O.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod infohash;
pub use infohash::{InfoHashParseError, InfoHashV1, InfoHashV2};

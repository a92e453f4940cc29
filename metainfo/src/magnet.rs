//! Magnet links (BEP 9, BEP 53): parse and format.
//!
//! Formatting writes parameters in a fixed order (`xt` v1, `xt` v2, `dn`, `tr`…, `ws`…,
//! `xl`, `so`, `x.pe`…) and percent-encodes every byte outside `A-Z a-z 0-9 - _ . ~`, so
//! `parse(format(m)) == m` and formatting a parsed canonical link gives the same string.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::infohash::{InfoHashParseError, InfoHashV1, InfoHashV2, InfoHashes};

/// Bytes escaped in magnet values: everything but RFC 3986 unreserved characters.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Longest magnet link accepted, in bytes (a guard against absurd inputs).
const MAX_MAGNET_LEN: usize = 64 * 1024;

/// A parsed magnet link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Magnet {
    /// The info-hashes from `xt=urn:btih:` (v1) and `xt=urn:btmh:1220…` (v2).
    pub info_hashes: InfoHashes,
    /// `dn`: display name.
    pub display_name: Option<String>,
    /// `tr`: tracker URLs, in order (each its own tier).
    pub trackers: Vec<String>,
    /// `ws`: web seed URLs (BEP 19).
    pub web_seeds: Vec<String>,
    /// `x.pe`: peer addresses (`host:port`).
    pub peers: Vec<String>,
    /// `so`: BEP 53 select-only file indices as inclusive ranges.
    pub select_only: Vec<(u32, u32)>,
    /// `xl`: exact length of the content in bytes.
    pub exact_length: Option<u64>,
}

/// Why a magnet link could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MagnetError {
    /// The text does not start with `magnet:?` (and is not a bare info-hash).
    #[error("not a magnet link (expected \"magnet:?\")")]
    NotMagnet,
    /// The link is longer than the accepted maximum.
    #[error("magnet link is {0} bytes long, limit is {MAX_MAGNET_LEN}")]
    TooLong(usize),
    /// No `xt=urn:btih:` or `xt=urn:btmh:` parameter.
    #[error("magnet link has no BitTorrent info-hash (xt=urn:btih: or xt=urn:btmh:)")]
    MissingInfoHash,
    /// An `xt` value could not be decoded.
    #[error("bad info-hash in magnet parameter xt: {0}")]
    BadInfoHash(#[from] InfoHashParseError),
    /// A `btmh` multihash that is not SHA-256 (`1220` prefix).
    #[error("unsupported multihash in xt=urn:btmh: (only SHA-256, prefix 1220)")]
    UnsupportedMultihash,
    /// A parameter value that is not valid percent-encoded UTF-8.
    #[error("magnet parameter {0} is not valid UTF-8 after percent-decoding")]
    BadEncoding(&'static str),
    /// A numeric parameter (`xl`, `so`) that is not a number or range.
    #[error("magnet parameter {name} has an invalid value {value:?}")]
    BadNumber {
        /// Parameter name.
        name: &'static str,
        /// The offending value.
        value: String,
    },
}

impl Magnet {
    /// Parses a magnet link. Also accepts `magnet:///?…` and a bare 40-hex or 32-base32
    /// info-hash (as Transmission does). Unknown and malformed extra parameters are ignored.
    ///
    /// # Errors
    /// [`MagnetError`] when the text is not a magnet link or carries no usable info-hash.
    pub fn parse(text: &str) -> Result<Self, MagnetError> {
        let text = text.trim();
        if text.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong(text.len()));
        }
        if (text.len() == 40 || text.len() == 32) && !text.contains(':') {
            let v1 = InfoHashV1::from_text(text)?;
            return Ok(Self {
                info_hashes: InfoHashes {
                    v1: Some(v1),
                    v2: None,
                },
                ..Self::default()
            });
        }
        let lower_prefix = text.get(..7).map(str::to_ascii_lowercase);
        if lower_prefix.as_deref() != Some("magnet:") {
            return Err(MagnetError::NotMagnet);
        }
        let rest = &text[7..];
        let rest = rest.trim_start_matches('/');
        let query = rest.strip_prefix('?').ok_or(MagnetError::NotMagnet)?;
        let mut m = Self::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "xt" => m.parse_xt(&decode(value, "xt")?)?,
                "dn" if m.display_name.is_none() => {
                    m.display_name = Some(decode(&value.replace('+', " "), "dn")?);
                }
                "tr" => push_nonempty(&mut m.trackers, decode(value, "tr")?),
                "ws" => push_nonempty(&mut m.web_seeds, decode(value, "ws")?),
                "x.pe" => push_nonempty(&mut m.peers, decode(value, "x.pe")?),
                "xl" => {
                    let v = decode(value, "xl")?;
                    m.exact_length = Some(v.parse().map_err(|_| MagnetError::BadNumber {
                        name: "xl",
                        value: v.clone(),
                    })?);
                }
                "so" => m.select_only = parse_select_only(&decode(value, "so")?)?,
                _ => {}
            }
        }
        if !m.info_hashes.is_some() {
            return Err(MagnetError::MissingInfoHash);
        }
        Ok(m)
    }

    fn parse_xt(&mut self, xt: &str) -> Result<(), MagnetError> {
        let lower = xt.to_ascii_lowercase();
        if let Some(h) = lower.strip_prefix("urn:btih:") {
            // Keep the original case for base32 decoding (from_text upper-cases itself).
            let v1 = InfoHashV1::from_text(&xt[xt.len() - h.len()..])?;
            self.info_hashes.v1.get_or_insert(v1);
        } else if let Some(h) = lower.strip_prefix("urn:btmh:") {
            let digest = h
                .strip_prefix("1220")
                .ok_or(MagnetError::UnsupportedMultihash)?;
            let v2 = InfoHashV2::from_hex(digest)?;
            self.info_hashes.v2.get_or_insert(v2);
        }
        Ok(())
    }

    /// The canonical text form (see the module docs for the parameter order).
    #[must_use]
    pub fn to_uri(&self) -> String {
        let mut out = String::from("magnet:?");
        let mut sep = "";
        let mut put = |out: &mut String, key: &str, value: &str, encode: bool| {
            out.push_str(sep);
            out.push_str(key);
            out.push('=');
            if encode {
                out.extend(utf8_percent_encode(value, VALUE));
            } else {
                out.push_str(value);
            }
            sep = "&";
        };
        if let Some(v1) = self.info_hashes.v1 {
            put(&mut out, "xt", &format!("urn:btih:{}", v1.to_hex()), false);
        }
        if let Some(v2) = self.info_hashes.v2 {
            put(
                &mut out,
                "xt",
                &format!("urn:btmh:1220{}", v2.to_hex()),
                false,
            );
        }
        if let Some(dn) = &self.display_name {
            put(&mut out, "dn", dn, true);
        }
        for tr in &self.trackers {
            put(&mut out, "tr", tr, true);
        }
        for ws in &self.web_seeds {
            put(&mut out, "ws", ws, true);
        }
        if let Some(xl) = self.exact_length {
            put(&mut out, "xl", &xl.to_string(), false);
        }
        if !self.select_only.is_empty() {
            let so: Vec<String> = self
                .select_only
                .iter()
                .map(|&(a, b)| {
                    if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    }
                })
                .collect();
            put(&mut out, "so", &so.join(","), false);
        }
        for pe in &self.peers {
            put(&mut out, "x.pe", pe, true);
        }
        out
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

impl FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn decode(value: &str, name: &'static str) -> Result<String, MagnetError> {
    percent_decode_str(value)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| MagnetError::BadEncoding(name))
}

fn push_nonempty(list: &mut Vec<String>, value: String) {
    if !value.is_empty() {
        list.push(value);
    }
}

fn parse_select_only(value: &str) -> Result<Vec<(u32, u32)>, MagnetError> {
    let bad = || MagnetError::BadNumber {
        name: "so",
        value: value.to_owned(),
    };
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            let a: u32 = a.parse().map_err(|_| bad())?;
            let b: u32 = b.parse().map_err(|_| bad())?;
            if a > b { Err(bad()) } else { Ok((a, b)) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "d2354010a3ca4ade5b7427bb093a62a3899ff381";

    fn check_transmission_fields(m: &Magnet) {
        assert_eq!(m.info_hashes.v1.unwrap().to_hex(), HASH);
        assert_eq!(m.display_name.as_deref(), Some("Display Name"));
        assert_eq!(
            m.trackers,
            [
                "http://tracker.openbittorrent.com/announce",
                "http://tracker.opentracker.org/announce"
            ]
        );
        assert_eq!(m.web_seeds, ["http://server.webseed.org/path/to/file"]);
    }

    #[test]
    fn parses_transmissions_magnet_variants() {
        let hex = format!(
            "magnet:?xt=urn:btih:{HASH}&dn=Display%20Name&tr=http%3A%2F%2Ftracker.openbittorrent.com%2Fannounce&tr=http%3A%2F%2Ftracker.opentracker.org%2Fannounce&ws=http%3A%2F%2Fserver.webseed.org%2Fpath%2Fto%2Ffile"
        );
        check_transmission_fields(&Magnet::parse(&hex).unwrap());
        let junk = format!(
            "magnet:?xt=urn:btih:{HASH}&empty&dn=Display%20Name&tr=http%3A%2F%2Ftracker.openbittorrent.com%2Fannounce&empty_again&tr=http%3A%2F%2Ftracker.opentracker.org%2Fannounce&=&ws=http%3A%2F%2Fserver.webseed.org%2Fpath%2Fto%2Ffile"
        );
        check_transmission_fields(&Magnet::parse(&junk).unwrap());
        let b32 = "magnet:?xt=urn:btih:2I2UAEFDZJFN4W3UE65QSOTCUOEZ744B&dn=Display%20Name&ws=http%3A%2F%2Fserver.webseed.org%2Fpath%2Fto%2Ffile&tr=http%3A%2F%2Ftracker.openbittorrent.com%2Fannounce&tr=http%3A%2F%2Ftracker.opentracker.org%2Fannounce";
        check_transmission_fields(&Magnet::parse(b32).unwrap());
        let authority = hex.replacen("magnet:?", "magnet:///?", 1);
        check_transmission_fields(&Magnet::parse(&authority).unwrap());
    }

    #[test]
    fn bare_hashes_are_accepted_without_trackers() {
        for text in [HASH, "2I2UAEFDZJFN4W3UE65QSOTCUOEZ744B"] {
            let m = Magnet::parse(text).unwrap();
            assert_eq!(m.info_hashes.v1.unwrap().to_hex(), HASH);
            assert!(m.trackers.is_empty() && m.web_seeds.is_empty());
        }
    }

    #[test]
    fn round_trips_a_canonical_link_byte_for_byte() {
        let text = "magnet:?xt=urn:btih:14ffe5dd23188fd5cb53a1d47f1289db70abf31e&dn=ubuntu_12_04_1_desktop_32_bit&tr=http%3A%2F%2Ftracker.publicbt.com%2Fannounce&tr=udp%3A%2F%2Ftracker.publicbt.com%3A80&ws=http%3A%2F%2Ftransmissionbt.com";
        let m = Magnet::parse(text).unwrap();
        assert_eq!(m.trackers.len(), 2);
        assert_eq!(m.to_uri(), text);
    }

    #[test]
    fn parses_and_formats_v2_and_bep53_fields() {
        let v2 = "caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e";
        let text = format!(
            "magnet:?xt=urn:btmh:1220{v2}&dn=bittorrent-v2-test&xl=1534222888&so=0,2,4-6&x.pe=127.0.0.1%3A6881"
        );
        let m = Magnet::parse(&text).unwrap();
        assert_eq!(m.info_hashes.v2.unwrap().to_hex(), v2);
        assert!(m.info_hashes.v1.is_none());
        assert_eq!(m.exact_length, Some(1_534_222_888));
        assert_eq!(m.select_only, [(0, 0), (2, 2), (4, 6)]);
        assert_eq!(m.peers, ["127.0.0.1:6881"]);
        assert_eq!(m.to_uri(), text);
    }

    #[test]
    fn rejects_non_magnets_and_missing_hashes() {
        assert_eq!(Magnet::parse("http://x"), Err(MagnetError::NotMagnet));
        assert_eq!(Magnet::parse(""), Err(MagnetError::NotMagnet));
        assert_eq!(
            Magnet::parse("magnet:?dn=x&tr=y"),
            Err(MagnetError::MissingInfoHash)
        );
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:abc"),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert_eq!(
            Magnet::parse("magnet:?xt=urn:btmh:1114aa"),
            Err(MagnetError::UnsupportedMultihash)
        );
    }
}

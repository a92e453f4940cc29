//! Info-hash newtypes: the identity of a torrent on the wire.

use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE32_NOPAD, HEXLOWER_PERMISSIVE};

/// The BitTorrent v1 info-hash: SHA-1 of the raw bytes of the `info` dictionary (BEP 3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV1(pub [u8; 20]);

/// The BitTorrent v2 info-hash: SHA-256 of the raw bytes of the `info` dictionary (BEP 52).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV2(pub [u8; 32]);

/// Why a textual info-hash could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfoHashParseError {
    /// The text had a length that is neither the hex nor the base32 form.
    #[error("info-hash text has length {got}, expected {expected}")]
    BadLength {
        /// Accepted lengths, described for a person.
        expected: &'static str,
        /// Length of the text that was given.
        got: usize,
    },
    /// The text had the right length but a character outside the alphabet.
    #[error("info-hash text is not valid {0}")]
    BadEncoding(&'static str),
}

impl InfoHashV1 {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// The raw 20 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lower-case hex (40 characters).
    #[must_use]
    pub fn to_hex(&self) -> String {
        HEXLOWER_PERMISSIVE.encode(&self.0)
    }

    /// Upper-case RFC 4648 base32 without padding (32 characters), as old magnet links use.
    #[must_use]
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// Parses 40 hex digits or 32 base32 characters (either case).
    ///
    /// # Errors
    /// [`InfoHashParseError`] when the text is neither form.
    pub fn from_text(text: &str) -> Result<Self, InfoHashParseError> {
        let mut out = [0u8; 20];
        match text.len() {
            40 => decode_into(&HEXLOWER_PERMISSIVE, text.as_bytes(), &mut out, "hex")?,
            32 => decode_into(
                &BASE32_NOPAD,
                text.to_ascii_uppercase().as_bytes(),
                &mut out,
                "base32",
            )?,
            got => {
                return Err(InfoHashParseError::BadLength {
                    expected: "40 (hex) or 32 (base32)",
                    got,
                });
            }
        }
        Ok(Self(out))
    }
}

impl InfoHashV2 {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// The raw 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 20 bytes, used where a v2 swarm needs a v1-sized id (handshake, trackers, DHT).
    #[must_use]
    pub fn truncated(&self) -> InfoHashV1 {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        InfoHashV1(out)
    }

    /// Lower-case hex (64 characters).
    #[must_use]
    pub fn to_hex(&self) -> String {
        HEXLOWER_PERMISSIVE.encode(&self.0)
    }

    /// Parses 64 hex digits.
    ///
    /// # Errors
    /// [`InfoHashParseError`] when the text is not 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, InfoHashParseError> {
        if text.len() != 64 {
            return Err(InfoHashParseError::BadLength {
                expected: "64 (hex)",
                got: text.len(),
            });
        }
        let mut out = [0u8; 32];
        decode_into(&HEXLOWER_PERMISSIVE, text.as_bytes(), &mut out, "hex")?;
        Ok(Self(out))
    }
}

/// The info-hashes a torrent or magnet link carries: v1, v2 or both (hybrid).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct InfoHashes {
    /// SHA-1 info-hash (BEP 3), present for v1 and hybrid torrents.
    pub v1: Option<InfoHashV1>,
    /// SHA-256 info-hash (BEP 52), present for v2 and hybrid torrents.
    pub v2: Option<InfoHashV2>,
}

impl InfoHashes {
    /// True when at least one hash is present.
    #[must_use]
    pub fn is_some(&self) -> bool {
        self.v1.is_some() || self.v2.is_some()
    }

    /// The 20-byte id used on the wire: the v1 hash, else the truncated v2 hash.
    #[must_use]
    pub fn wire_id(&self) -> Option<InfoHashV1> {
        self.v1.or_else(|| self.v2.map(|h| h.truncated()))
    }
}

fn decode_into(
    encoding: &data_encoding::Encoding,
    text: &[u8],
    out: &mut [u8],
    name: &'static str,
) -> Result<(), InfoHashParseError> {
    match encoding.decode_len(text.len()) {
        Ok(n) if n == out.len() => encoding
            .decode_mut(text, out)
            .map(|_| ())
            .map_err(|_| InfoHashParseError::BadEncoding(name)),
        _ => Err(InfoHashParseError::BadEncoding(name)),
    }
}

impl fmt::Display for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV1({self})")
    }
}

impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({self})")
    }
}

impl FromStr for InfoHashV1 {
    type Err = InfoHashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_text(s)
    }
}

impl FromStr for InfoHashV2 {
    type Err = InfoHashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl From<[u8; 20]> for InfoHashV1 {
    fn from(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }
}

impl From<[u8; 32]> for InfoHashV2 {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base32_forms_agree() {
        let hex = "c0fda1edafd1e9a2b4e6ec5b1a6c3eaf4d3b3c0e";
        let h: InfoHashV1 = hex.parse().unwrap();
        assert_eq!(h.to_hex(), hex);
        let b32 = h.to_base32();
        assert_eq!(b32.len(), 32);
        assert_eq!(InfoHashV1::from_text(&b32.to_lowercase()).unwrap(), h);
    }

    #[test]
    fn rejects_wrong_length_and_alphabet() {
        assert!(matches!(
            InfoHashV1::from_text("abc"),
            Err(InfoHashParseError::BadLength { got: 3, .. })
        ));
        let bad = "z".repeat(40);
        assert_eq!(
            InfoHashV1::from_text(&bad),
            Err(InfoHashParseError::BadEncoding("hex"))
        );
    }

    #[test]
    fn v2_truncates_to_first_twenty_bytes() {
        let mut raw = [0u8; 32];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap();
        }
        let h = InfoHashV2(raw);
        assert_eq!(&h.truncated().0[..], &raw[..20]);
        assert_eq!(InfoHashV2::from_hex(&h.to_hex()).unwrap(), h);
    }
}

//! The BEP 3 handshake: `\x13BitTorrent protocol`, 8 reserved bytes, info-hash, peer id.
//!
//! Parsing is incremental: give it whatever has arrived and it either completes, says how
//! many more bytes it needs, or rejects the stream as soon as the protocol string differs.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

use bytes::{BufMut, BytesMut};
use freshet_metainfo::InfoHashV1;

use crate::Decoded;
use crate::error::{Error, PeerIncompatible};
use crate::peer_id::PeerId;

/// The 19-byte protocol string, preceded on the wire by its length byte 19.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// The handshake both peers send first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// Feature flags.
    pub reserved: Reserved,
    /// The torrent: the v1 info-hash, or for a v2 torrent the SHA-256 info-hash truncated to
    /// 20 bytes (`InfoHashV2::truncated`, BEP 52).
    pub info_hash: InfoHashV1,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// Encoded length: 1 + 19 + 8 + 20 + 20.
    pub const LEN: usize = 68;
    /// Length of the part before the peer id (enough to pick the torrent of an incoming
    /// connection).
    pub const HEAD_LEN: usize = 48;

    /// Makes a handshake.
    #[must_use]
    pub const fn new(reserved: Reserved, info_hash: InfoHashV1, peer_id: PeerId) -> Self {
        Self {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// Parses a handshake from the start of `input`.
    ///
    /// Returns [`Decoded::Complete`] with `consumed == 68`, or [`Decoded::Incomplete`] with
    /// the number of bytes still missing. Bytes after the handshake are not looked at.
    ///
    /// # Errors
    /// [`PeerIncompatible::ProtocolString`] as soon as a received byte of the protocol
    /// string differs (so an encrypted or non-BitTorrent stream fails on its first byte).
    pub fn decode(input: &[u8]) -> Result<Decoded<Self>, Error> {
        let head = match HandshakeHead::decode(input)? {
            Decoded::Complete { value, .. } => value,
            Decoded::Incomplete { needed } => {
                return Ok(Decoded::Incomplete {
                    needed: needed + 20,
                });
            }
        };
        let Some(rest) = input.get(Self::HEAD_LEN..Self::LEN) else {
            return Ok(Decoded::Incomplete {
                needed: Self::LEN - input.len(),
            });
        };
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(rest);
        Ok(Decoded::Complete {
            value: Self {
                reserved: head.reserved,
                info_hash: head.info_hash,
                peer_id: PeerId(peer_id),
            },
            consumed: Self::LEN,
        })
    }

    /// Writes the 68 bytes into `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(Self::LEN);
        out.put_slice(&self.to_bytes());
    }

    /// The 68 wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 68] {
        let mut b = [0u8; 68];
        b[0] = 19;
        b[1..20].copy_from_slice(PROTOCOL);
        b[20..28].copy_from_slice(&self.reserved.0);
        b[28..48].copy_from_slice(&self.info_hash.0);
        b[48..68].copy_from_slice(&self.peer_id.0);
        b
    }
}

/// The first 48 bytes of a handshake: enough for a listener to find the torrent and answer
/// before the peer id arrives (BEP 3 allows the initiator to wait for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandshakeHead {
    /// Feature flags.
    pub reserved: Reserved,
    /// The torrent asked for.
    pub info_hash: InfoHashV1,
}

impl HandshakeHead {
    /// Parses the first 48 bytes of a handshake; see [`Handshake::decode`].
    ///
    /// # Errors
    /// [`PeerIncompatible::ProtocolString`] as soon as the protocol string differs.
    pub fn decode(input: &[u8]) -> Result<Decoded<Self>, Error> {
        let mut expected = [0u8; 20];
        expected[0] = 19;
        expected[1..].copy_from_slice(PROTOCOL);
        for (offset, (&got, &want)) in input.iter().zip(&expected).enumerate() {
            if got != want {
                return Err(PeerIncompatible::ProtocolString {
                    offset,
                    got,
                    expected: want,
                }
                .into());
            }
        }
        let Some(head) = input.get(..Handshake::HEAD_LEN) else {
            return Ok(Decoded::Incomplete {
                needed: Handshake::HEAD_LEN - input.len(),
            });
        };
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&head[20..28]);
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&head[28..48]);
        Ok(Decoded::Complete {
            value: Self {
                reserved: Reserved(reserved),
                info_hash: InfoHashV1(info_hash),
            },
            consumed: Handshake::HEAD_LEN,
        })
    }
}

/// The 8 reserved bytes of the handshake, used as feature flags.
///
/// Combine the named flags with `|` and test with [`Reserved::contains`]. Unknown bits are
/// kept as received.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// No flags.
    pub const NONE: Self = Self([0; 8]);
    /// DHT support, BEP 5: `0x01` in byte 7.
    pub const DHT: Self = Self::bit(7, 0x01);
    /// Fast extension, BEP 6: `0x04` in byte 7.
    pub const FAST: Self = Self::bit(7, 0x04);
    /// Upgrade to BitTorrent v2, BEP 52: `0x10` in byte 7.
    pub const V2_UPGRADE: Self = Self::bit(7, 0x10);
    /// Extension protocol, BEP 10: `0x10` in byte 5.
    pub const EXTENSION_PROTOCOL: Self = Self::bit(5, 0x10);

    const fn bit(byte: usize, mask: u8) -> Self {
        let mut b = [0u8; 8];
        b[byte] = mask;
        Self(b)
    }

    /// Whether every flag set in `flags` is set here.
    #[must_use]
    pub fn contains(self, flags: Self) -> bool {
        self & flags == flags
    }

    /// Both peers' common flags (what the connection may use).
    #[must_use]
    pub fn common(self, other: Self) -> Self {
        self & other
    }
}

impl BitOr for Reserved {
    type Output = Self;
    fn bitor(mut self, rhs: Self) -> Self {
        self |= rhs;
        self
    }
}

impl BitOrAssign for Reserved {
    fn bitor_assign(&mut self, rhs: Self) {
        for (a, b) in self.0.iter_mut().zip(rhs.0) {
            *a |= b;
        }
    }
}

impl BitAnd for Reserved {
    type Output = Self;
    fn bitand(mut self, rhs: Self) -> Self {
        for (a, b) in self.0.iter_mut().zip(rhs.0) {
            *a &= b;
        }
        self
    }
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reserved({self})")
    }
}

impl fmt::Display for Reserved {
    /// The 16 hex digits, then the names of the known flags that are set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        let names = [
            (Self::DHT, " dht"),
            (Self::FAST, " fast"),
            (Self::EXTENSION_PROTOCOL, " ext"),
            (Self::V2_UPGRADE, " v2"),
        ];
        for (flag, name) in names {
            if self.contains(flag) {
                f.write_str(name)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handshake for {} from {} [{}]",
            self.info_hash, self.peer_id, self.reserved
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; 68] {
        let mut b = Vec::new();
        b.push(19u8); // pstrlen
        b.extend_from_slice(b"BitTorrent protocol"); // pstr
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x05]); // reserved: ext, fast, dht
        b.extend_from_slice(&[0xaa; 20]); // info_hash
        b.extend_from_slice(b"-LT2080-abcdefghijkl"); // peer_id
        b.try_into().unwrap()
    }

    #[test]
    fn decodes_bep3_handshake_with_named_flags() {
        let bytes = sample();
        let Decoded::Complete {
            value: hs,
            consumed,
        } = Handshake::decode(&bytes).unwrap()
        else {
            panic!("incomplete")
        };
        assert_eq!(consumed, 68);
        assert!(
            hs.reserved
                .contains(Reserved::EXTENSION_PROTOCOL | Reserved::FAST | Reserved::DHT)
        );
        assert!(!hs.reserved.contains(Reserved::V2_UPGRADE));
        assert_eq!(hs.info_hash, InfoHashV1([0xaa; 20]));
        assert_eq!(&hs.peer_id.0, b"-LT2080-abcdefghijkl");
        assert_eq!(hs.to_bytes(), bytes);
        assert_eq!(
            hs.to_string(),
            "handshake for aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa from -LT2080-abcdefghijkl \
             [0000000000100005 dht fast ext]"
        );
    }

    #[test]
    fn flag_positions_match_the_beps() {
        assert_eq!(Reserved::DHT.0, [0, 0, 0, 0, 0, 0, 0, 0x01]);
        assert_eq!(Reserved::FAST.0, [0, 0, 0, 0, 0, 0, 0, 0x04]);
        assert_eq!(Reserved::V2_UPGRADE.0, [0, 0, 0, 0, 0, 0, 0, 0x10]);
        assert_eq!(Reserved::EXTENSION_PROTOCOL.0, [0, 0, 0, 0, 0, 0x10, 0, 0]);
    }

    #[test]
    fn partial_input_says_how_many_bytes_are_missing() {
        let bytes = sample();
        for n in 0..68 {
            assert_eq!(
                Handshake::decode(&bytes[..n]).unwrap(),
                Decoded::Incomplete { needed: 68 - n },
                "prefix {n}"
            );
        }
        assert!(matches!(
            HandshakeHead::decode(&bytes[..48]).unwrap(),
            Decoded::Complete { consumed: 48, .. }
        ));
    }

    #[test]
    fn rejects_wrong_protocol_string_on_first_differing_byte() {
        let mut bytes = sample();
        bytes[5] = b'x';
        let err = Handshake::decode(&bytes[..6]).unwrap_err();
        assert_eq!(
            err,
            Error::PeerIncompatible(PeerIncompatible::ProtocolString {
                offset: 5,
                got: b'x',
                expected: b'o'
            })
        );
        assert!(err.to_string().contains("byte 5"));
        assert!(Handshake::decode(&[0x47]).is_err()); // "GET /" is not a handshake
    }
}

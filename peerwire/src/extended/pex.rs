//! `ut_pex` (BEP 11): peer exchange, compact peer lists with per-peer flags.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use bytes::{BufMut, BytesMut};

use super::{decode_dict, opt_bytes, put_string_header};
use crate::error::{Error, InvalidMessage};

const MSG: &str = "ut_pex";

/// Per-peer flags of `added.f` / `added6.f` (BEP 11).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// `0x01`: prefers encryption.
    pub const PREFERS_ENCRYPTION: Self = Self(0x01);
    /// `0x02`: seed / upload only.
    pub const UPLOAD_ONLY: Self = Self(0x02);
    /// `0x04`: supports uTP.
    pub const SUPPORTS_UTP: Self = Self(0x04);
    /// `0x08`: supports `ut_holepunch`.
    pub const SUPPORTS_HOLEPUNCH: Self = Self(0x08);
    /// `0x10`: reachable (the sender connected to it, outgoing connection).
    pub const REACHABLE: Self = Self(0x10);

    /// Whether every flag of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl fmt::Debug for PexFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PexFlags({:#04x})", self.0)
    }
}

impl fmt::Display for PexFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::PREFERS_ENCRYPTION, "e"),
            (Self::UPLOAD_ONLY, "s"),
            (Self::SUPPORTS_UTP, "u"),
            (Self::SUPPORTS_HOLEPUNCH, "h"),
            (Self::REACHABLE, "r"),
        ];
        for (flag, name) in names {
            f.write_str(if self.contains(flag) { name } else { "-" })?;
        }
        Ok(())
    }
}

/// A `ut_pex` message: peers added and dropped since the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PexMessage {
    /// `added` with `added.f`: new IPv4 peers.
    pub added: Vec<(SocketAddrV4, PexFlags)>,
    /// `added6` with `added6.f`: new IPv6 peers.
    pub added6: Vec<(SocketAddrV6, PexFlags)>,
    /// `dropped`: IPv4 peers gone.
    pub dropped: Vec<SocketAddrV4>,
    /// `dropped6`: IPv6 peers gone.
    pub dropped6: Vec<SocketAddrV6>,
}

impl PexMessage {
    /// Parses a `ut_pex` payload. Missing lists are empty; a flags string shorter than its
    /// address list leaves the remaining peers with no flags, extra flags are ignored.
    ///
    /// # Errors
    /// Invalid bencode, a non-dictionary payload, a field that is not a byte string, or an
    /// address list that is not a whole number of compact entries (6 or 18 bytes).
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let (dict, _) = decode_dict(payload, MSG)?;
        let list = |key: &'static str, size: usize| -> Result<&[u8], Error> {
            let b = opt_bytes(&dict, key, MSG)?.unwrap_or_default();
            if b.len() % size != 0 {
                return Err(InvalidMessage::ExtensionField {
                    msg: MSG,
                    field: key,
                    problem: "is not a whole number of compact addresses",
                }
                .into());
            }
            Ok(b)
        };
        let flags = |key: &'static str| -> Result<&[u8], Error> {
            Ok(opt_bytes(&dict, key, MSG)?.unwrap_or_default())
        };
        let with_flags = |addrs: &[u8], size: usize, f: &[u8]| -> Vec<(usize, PexFlags)> {
            (0..addrs.len() / size)
                .map(|i| (i * size, PexFlags(f.get(i).copied().unwrap_or(0))))
                .collect()
        };
        let added_raw = list("added", 6)?;
        let added6_raw = list("added6", 18)?;
        Ok(Self {
            added: with_flags(added_raw, 6, flags("added.f")?)
                .into_iter()
                .map(|(at, f)| (v4(&added_raw[at..at + 6]), f))
                .collect(),
            added6: with_flags(added6_raw, 18, flags("added6.f")?)
                .into_iter()
                .map(|(at, f)| (v6(&added6_raw[at..at + 18]), f))
                .collect(),
            dropped: list("dropped", 6)?.chunks_exact(6).map(v4).collect(),
            dropped6: list("dropped6", 18)?.chunks_exact(18).map(v6).collect(),
        })
    }

    /// Appends the bencoded payload (keys sorted, empty lists written as empty strings as
    /// libtorrent does) to `out`.
    pub fn encode_payload(&self, out: &mut BytesMut) {
        out.put_u8(b'd');
        freshet_bencode::write_bytes(out, b"added");
        put_string_header(out, self.added.len() * 6);
        for (a, _) in &self.added {
            put_v4(out, a);
        }
        freshet_bencode::write_bytes(out, b"added.f");
        put_string_header(out, self.added.len());
        for (_, f) in &self.added {
            out.put_u8(f.0);
        }
        freshet_bencode::write_bytes(out, b"added6");
        put_string_header(out, self.added6.len() * 18);
        for (a, _) in &self.added6 {
            put_v6(out, a);
        }
        freshet_bencode::write_bytes(out, b"added6.f");
        put_string_header(out, self.added6.len());
        for (_, f) in &self.added6 {
            out.put_u8(f.0);
        }
        freshet_bencode::write_bytes(out, b"dropped");
        put_string_header(out, self.dropped.len() * 6);
        for a in &self.dropped {
            put_v4(out, a);
        }
        freshet_bencode::write_bytes(out, b"dropped6");
        put_string_header(out, self.dropped6.len() * 18);
        for a in &self.dropped6 {
            put_v6(out, a);
        }
        out.put_u8(b'e');
    }
}

/// Reads a 6-byte compact IPv4 address (callers pass exactly 6 bytes).
fn v4(b: &[u8]) -> SocketAddrV4 {
    let mut ip = [0u8; 4];
    ip.copy_from_slice(&b[..4]);
    SocketAddrV4::new(Ipv4Addr::from(ip), u16::from_be_bytes([b[4], b[5]]))
}

/// Reads an 18-byte compact IPv6 address (callers pass exactly 18 bytes).
fn v6(b: &[u8]) -> SocketAddrV6 {
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&b[..16]);
    SocketAddrV6::new(Ipv6Addr::from(ip), u16::from_be_bytes([b[16], b[17]]), 0, 0)
}

fn put_v4(out: &mut BytesMut, a: &SocketAddrV4) {
    out.put_slice(&a.ip().octets());
    out.put_u16(a.port());
}

fn put_v6(out: &mut BytesMut, a: &SocketAddrV6) {
    out.put_slice(&a.ip().octets());
    out.put_u16(a.port());
}

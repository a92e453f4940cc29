//! The BEP 10 extended handshake (extended id 0).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};

use super::{
    EXTENDED_HANDSHAKE_ID, decode_dict, encode_extended, opt_bytes, opt_int_in, put_bytes_entry,
    put_int_entry, put_string_header,
};
use crate::error::{Error, InvalidMessage};

const MSG: &str = "extended handshake";

/// The extended handshake: which extensions the sender supports under which ids, and a few
/// facts about the sender. Unknown keys are ignored when decoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ExtendedHandshake {
    /// `m`: extension name → the extended id the *sender* wants to receive it under. Id 0
    /// means the sender disables that extension.
    pub extensions: BTreeMap<String, u8>,
    /// `p`: the sender's TCP listen port.
    pub listen_port: Option<u16>,
    /// `v`: client name and version (lossily decoded as UTF-8).
    pub client: Option<String>,
    /// `yourip`: the receiver's address as the sender sees it (4 or 16 bytes).
    pub your_ip: Option<IpAddr>,
    /// `ipv4`: the sender's own IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// `ipv6`: the sender's own IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// `reqq`: how many outstanding requests the sender accepts.
    pub request_queue: Option<u32>,
    /// `metadata_size`: size of the info dictionary in bytes (BEP 9).
    pub metadata_size: Option<u32>,
    /// `upload_only` = 1: the sender will not download (BEP 21 partial seed).
    pub upload_only: bool,
}

impl ExtendedHandshake {
    /// The id under which the sender wants to receive extension `name`, if it is enabled.
    #[must_use]
    pub fn extension_id(&self, name: &str) -> Option<u8> {
        self.extensions.get(name).copied().filter(|&id| id != 0)
    }

    /// Parses an extended handshake payload (the bytes after the extended id).
    ///
    /// Lenient where the BEPs are informal: `m` entries that are not integers in 0..=255
    /// are skipped, a `yourip`/`ipv4`/`ipv6` of the wrong length is ignored, `v` is decoded
    /// lossily. Trailing bytes after the dictionary are ignored.
    ///
    /// # Errors
    /// Invalid bencode, a non-dictionary payload, or a known integer field of the wrong type
    /// or out of range.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let (dict, _) = decode_dict(payload, MSG)?;
        let mut extensions = BTreeMap::new();
        match dict.get(b"m") {
            None => {}
            Some(m) => {
                let m = m.as_dict().ok_or(InvalidMessage::ExtensionField {
                    msg: MSG,
                    field: "m",
                    problem: "is not a dictionary",
                })?;
                for (name, id) in m.iter() {
                    let Ok(name) = std::str::from_utf8(name) else {
                        continue;
                    };
                    let Some(id) = id.as_int().and_then(|i| u8::try_from(i).ok()) else {
                        continue;
                    };
                    extensions.insert(name.to_owned(), id);
                }
            }
        }
        let your_ip = opt_bytes(&dict, "yourip", MSG)?.and_then(ip_from_bytes);
        let ipv4 = opt_bytes(&dict, "ipv4", MSG)?
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(Ipv4Addr::from);
        let ipv6 = opt_bytes(&dict, "ipv6", MSG)?
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(Ipv6Addr::from);
        let upload_only = opt_int_in::<i64>(&dict, "upload_only", MSG)?.is_some_and(|v| v != 0);
        Ok(Self {
            extensions,
            listen_port: opt_int_in(&dict, "p", MSG)?,
            client: opt_bytes(&dict, "v", MSG)?.map(|v| String::from_utf8_lossy(v).into_owned()),
            your_ip,
            ipv4,
            ipv6,
            request_queue: opt_int_in(&dict, "reqq", MSG)?,
            metadata_size: opt_int_in(&dict, "metadata_size", MSG)?,
            upload_only,
        })
    }

    /// Appends the bencoded payload (canonical: keys sorted) to `out`.
    pub fn encode_payload(&self, out: &mut BytesMut) {
        out.put_u8(b'd');
        if let Some(ip) = self.ipv4 {
            put_bytes_entry(out, "ipv4", &ip.octets());
        }
        if let Some(ip) = self.ipv6 {
            put_bytes_entry(out, "ipv6", &ip.octets());
        }
        freshet_bencode::write_bytes(out, b"m");
        out.put_u8(b'd');
        for (name, id) in &self.extensions {
            put_string_header(out, name.len());
            out.put_slice(name.as_bytes());
            freshet_bencode::write_int(out, i64::from(*id));
        }
        out.put_u8(b'e');
        if let Some(size) = self.metadata_size {
            put_int_entry(out, "metadata_size", i64::from(size));
        }
        if let Some(port) = self.listen_port {
            put_int_entry(out, "p", i64::from(port));
        }
        if let Some(reqq) = self.request_queue {
            put_int_entry(out, "reqq", i64::from(reqq));
        }
        if self.upload_only {
            put_int_entry(out, "upload_only", 1);
        }
        if let Some(v) = &self.client {
            put_bytes_entry(out, "v", v.as_bytes());
        }
        match self.your_ip {
            Some(IpAddr::V4(ip)) => put_bytes_entry(out, "yourip", &ip.octets()),
            Some(IpAddr::V6(ip)) => put_bytes_entry(out, "yourip", &ip.octets()),
            None => {}
        }
        out.put_u8(b'e');
    }

    /// Appends the whole framed `extended` message (id 0) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        encode_extended(out, EXTENDED_HANDSHAKE_ID, |out| self.encode_payload(out));
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::from(v4))
    } else {
        <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
    }
}

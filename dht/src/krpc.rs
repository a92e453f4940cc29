//! KRPC messages (BEP 5 "KRPC Protocol") with BEP 32 `nodes6`, BEP 42 `ip` and BEP 43 `ro`.
//!
//! [`Message::decode`] turns one UDP payload into a typed [`Message`]; [`Message::encode`]
//! writes canonical bencode (keys sorted), so a canonical packet decodes and re-encodes to the
//! same bytes. Unknown keys are ignored on decode and therefore not re-encoded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use freshet_bencode::{DecodeOptions, Dict, Value, write_bytes, write_int};
use freshet_metainfo::InfoHashV1;

use crate::NodeId;

/// Largest KRPC packet we decode (the largest UDP payload).
pub const MAX_PACKET_LEN: usize = 65_535;

/// Opaque transaction id (`t`), echoed by the responder.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct TransactionId(pub Vec<u8>);

/// One KRPC message: the envelope keys plus a query, response or error body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    /// `t`: transaction id.
    pub transaction_id: TransactionId,
    /// `v`: client version string, if sent.
    pub version: Option<Vec<u8>>,
    /// `ro`: the sender is read-only (BEP 43) and must not be added to routing tables.
    pub read_only: bool,
    /// `ip`: the address the responder saw us at (BEP 42), if sent.
    pub your_ip: Option<SocketAddr>,
    /// The query, response or error.
    pub body: Body,
}

/// The three KRPC message types (`y` = `q`, `r`, `e`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Body {
    /// `y = q`.
    Query(Query),
    /// `y = r`.
    Response(Response),
    /// `y = e`.
    Error(ErrorBody),
}

/// A KRPC query (`q` plus its `a` arguments).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Query {
    /// `ping`.
    Ping {
        /// Querying node's id.
        id: NodeId,
    },
    /// `find_node`.
    FindNode {
        /// Querying node's id.
        id: NodeId,
        /// Id being looked up.
        target: NodeId,
    },
    /// `get_peers`.
    GetPeers {
        /// Querying node's id.
        id: NodeId,
        /// Torrent whose peers are wanted.
        info_hash: InfoHashV1,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// Querying node's id.
        id: NodeId,
        /// Torrent being announced.
        info_hash: InfoHashV1,
        /// Port the peer listens on (ignored when `implied_port` is `Some(true)`).
        port: u16,
        /// Token from an earlier `get_peers` response.
        token: Vec<u8>,
        /// `implied_port`: use the UDP source port instead of `port` (`None` = key absent).
        implied_port: Option<bool>,
    },
}

/// A KRPC response (`r`). Responses do not name their query; match them by transaction id.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Response {
    /// Responding node's id.
    pub id: NodeId,
    /// `nodes`: compact IPv4 node infos (26 bytes each). Omitted when empty.
    pub nodes: Vec<CompactNodeV4>,
    /// `nodes6`: compact IPv6 node infos (38 bytes each, BEP 32). Omitted when empty.
    pub nodes6: Vec<CompactNodeV6>,
    /// `values`: compact peer addresses (6 or 18 bytes each). Omitted when empty.
    pub values: Vec<SocketAddr>,
    /// `token` for a later `announce_peer`.
    pub token: Option<Vec<u8>>,
}

/// A KRPC error (`e = [code, message]`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ErrorBody {
    /// Error code (see [`ErrorBody::GENERIC`] and friends).
    pub code: i64,
    /// Human-readable message bytes.
    pub message: Vec<u8>,
}

/// An IPv4 node contact: id plus address (26 bytes on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CompactNodeV4 {
    /// Node id.
    pub id: NodeId,
    /// UDP address.
    pub addr: SocketAddrV4,
}

/// An IPv6 node contact: id plus address (38 bytes on the wire, BEP 32).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CompactNodeV6 {
    /// Node id.
    pub id: NodeId,
    /// UDP address.
    pub addr: SocketAddrV6,
}

/// Why a packet is not a valid KRPC message. Carries the message kind and key involved.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet is larger than [`MAX_PACKET_LEN`].
    #[error("KRPC packet of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Packet length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid bencode.
    #[error("KRPC packet is not valid bencode: {0}")]
    Bencode(#[from] freshet_bencode::Error),
    /// A required key is absent.
    #[error("{msg}: missing key `{key}`")]
    MissingKey {
        /// Message kind.
        msg: &'static str,
        /// Key name.
        key: &'static str,
    },
    /// A key has the wrong bencode type.
    #[error("{msg}: key `{key}` is a {got}, expected a {expected}")]
    WrongType {
        /// Message kind.
        msg: &'static str,
        /// Key name.
        key: &'static str,
        /// Expected type name.
        expected: &'static str,
        /// Actual type name.
        got: &'static str,
    },
    /// A byte string has an impossible length.
    #[error("{msg}: key `{key}` has length {got}, expected {expected}")]
    BadLength {
        /// Message kind.
        msg: &'static str,
        /// Key name.
        key: &'static str,
        /// What lengths are allowed.
        expected: &'static str,
        /// Actual length.
        got: usize,
    },
    /// An integer is out of its allowed range.
    #[error("{msg}: key `{key}` has out-of-range value {got}")]
    OutOfRange {
        /// Message kind.
        msg: &'static str,
        /// Key name.
        key: &'static str,
        /// Actual value.
        got: i64,
    },
    /// `y` is not `q`, `r` or `e`.
    #[error("unknown KRPC message type `y` = {0:?}")]
    UnknownType(String),
    /// A query method we do not implement; the node should reply with error 204.
    #[error("unknown KRPC query method {method:?}")]
    UnknownMethod {
        /// Transaction id to answer to.
        transaction_id: TransactionId,
        /// The method name (lossy UTF-8, at most 32 bytes kept).
        method: String,
    },
}

impl Message {
    /// Decodes one UDP payload. Never panics; allocation is bounded by the packet length.
    pub fn decode(packet: &[u8]) -> Result<Self, DecodeError> {
        if packet.len() > MAX_PACKET_LEN {
            return Err(DecodeError::TooLarge {
                len: packet.len(),
                max: MAX_PACKET_LEN,
            });
        }
        let opts = DecodeOptions {
            max_depth: MAX_DEPTH,
            max_items: MAX_ITEMS,
        };
        let value = opts.decode(packet)?;
        let top = value.as_dict().ok_or(DecodeError::WrongType {
            msg: "message",
            key: "<root>",
            expected: "dictionary",
            got: value.type_name(),
        })?;
        const M: &str = "message";
        let transaction_id = TransactionId(req_bytes(top, M, "t")?.to_vec());
        let version = opt_bytes(top, M, "v")?.map(<[u8]>::to_vec);
        let read_only = match opt_int(top, M, "ro")? {
            None | Some(0) => false,
            Some(1) => true,
            Some(got) => {
                return Err(DecodeError::OutOfRange {
                    msg: M,
                    key: "ro",
                    got,
                });
            }
        };
        let your_ip = match opt_bytes(top, M, "ip")? {
            None => None,
            Some(b) => Some(decode_addr(b).ok_or(DecodeError::BadLength {
                msg: M,
                key: "ip",
                expected: "6 or 18",
                got: b.len(),
            })?),
        };
        let y = req_bytes(top, M, "y")?;
        let body = match y {
            b"q" => Body::Query(decode_query(top, &transaction_id)?),
            b"r" => Body::Response(decode_response(top)?),
            b"e" => Body::Error(decode_error(top)?),
            other => return Err(DecodeError::UnknownType(lossy(other))),
        };
        Ok(Self {
            transaction_id,
            version,
            read_only,
            your_ip,
            body,
        })
    }

    /// Appends the canonical bencoding of this message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'd');
        match &self.body {
            Body::Query(q) => {
                write_bytes(out, b"a");
                q.encode_args(out);
            }
            Body::Error(e) => {
                write_bytes(out, b"e");
                out.push(b'l');
                write_int(out, e.code);
                write_bytes(out, &e.message);
                out.push(b'e');
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = &self.your_ip {
            write_bytes(out, b"ip");
            write_bytes(out, &encode_addr(ip));
        }
        match &self.body {
            Body::Query(q) => {
                write_bytes(out, b"q");
                write_bytes(out, q.method().as_bytes());
            }
            Body::Response(r) => {
                write_bytes(out, b"r");
                r.encode(out);
            }
            Body::Error(_) => {}
        }
        if self.read_only {
            write_bytes(out, b"ro");
            write_int(out, 1);
        }
        write_bytes(out, b"t");
        write_bytes(out, &self.transaction_id.0);
        if let Some(v) = &self.version {
            write_bytes(out, b"v");
            write_bytes(out, v);
        }
        write_bytes(out, b"y");
        write_bytes(
            out,
            match self.body {
                Body::Query(_) => b"q",
                Body::Response(_) => b"r",
                Body::Error(_) => b"e",
            },
        );
        out.push(b'e');
    }

    /// The canonical bencoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(128);
        self.encode(&mut v);
        v
    }

    /// The id of the sending node, if the message carries one (queries and responses do).
    pub fn sender_id(&self) -> Option<NodeId> {
        match &self.body {
            Body::Query(q) => Some(q.id()),
            Body::Response(r) => Some(r.id),
            Body::Error(_) => None,
        }
    }
}

impl Query {
    /// The method name (`q`).
    pub fn method(&self) -> &'static str {
        match self {
            Self::Ping { .. } => "ping",
            Self::FindNode { .. } => "find_node",
            Self::GetPeers { .. } => "get_peers",
            Self::AnnouncePeer { .. } => "announce_peer",
        }
    }

    /// The querying node's id.
    pub fn id(&self) -> NodeId {
        match self {
            Self::Ping { id }
            | Self::FindNode { id, .. }
            | Self::GetPeers { id, .. }
            | Self::AnnouncePeer { id, .. } => *id,
        }
    }

    fn encode_args(&self, out: &mut Vec<u8>) {
        out.push(b'd');
        write_bytes(out, b"id");
        write_bytes(out, self.id().as_bytes());
        match self {
            Self::Ping { .. } => {}
            Self::FindNode { target, .. } => {
                write_bytes(out, b"target");
                write_bytes(out, target.as_bytes());
            }
            Self::GetPeers { info_hash, .. } => {
                write_bytes(out, b"info_hash");
                write_bytes(out, info_hash.as_bytes());
            }
            Self::AnnouncePeer {
                info_hash,
                port,
                token,
                implied_port,
                ..
            } => {
                if let Some(ip) = implied_port {
                    write_bytes(out, b"implied_port");
                    write_int(out, i64::from(*ip));
                }
                write_bytes(out, b"info_hash");
                write_bytes(out, info_hash.as_bytes());
                write_bytes(out, b"port");
                write_int(out, i64::from(*port));
                write_bytes(out, b"token");
                write_bytes(out, token);
            }
        }
        out.push(b'e');
    }
}

impl Response {
    /// A response carrying only the responder's id (ping, announce_peer).
    pub fn with_id(id: NodeId) -> Self {
        Self {
            id,
            nodes: Vec::new(),
            nodes6: Vec::new(),
            values: Vec::new(),
            token: None,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'd');
        write_bytes(out, b"id");
        write_bytes(out, self.id.as_bytes());
        write_nodes(out, &self.nodes, &self.nodes6);
        if let Some(t) = &self.token {
            write_bytes(out, b"token");
            write_bytes(out, t);
        }
        if !self.values.is_empty() {
            write_bytes(out, b"values");
            out.push(b'l');
            for v in &self.values {
                write_bytes(out, &encode_addr(v));
            }
            out.push(b'e');
        }
        out.push(b'e');
    }
}

impl ErrorBody {
    /// 201 Generic Error.
    pub const GENERIC: i64 = 201;
    /// 202 Server Error.
    pub const SERVER: i64 = 202;
    /// 203 Protocol Error (malformed packet, invalid arguments, bad token).
    pub const PROTOCOL: i64 = 203;
    /// 204 Method Unknown.
    pub const METHOD_UNKNOWN: i64 = 204;
}

/// Encodes an address in compact form: 4 or 16 address bytes, then the big-endian port.
pub fn encode_addr(addr: &SocketAddr) -> Vec<u8> {
    let mut b = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    b.extend_from_slice(&addr.port().to_be_bytes());
    b
}

/// Decodes a 6-byte (IPv4) or 18-byte (IPv6) compact address.
pub fn decode_addr(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        6 => {
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([b[4], b[5]]),
            ))
        }
        18 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[..16]);
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(o)),
                u16::from_be_bytes([b[16], b[17]]),
            ))
        }
        _ => None,
    }
}

fn decode_query(top: &Dict<'_>, t: &TransactionId) -> Result<Query, DecodeError> {
    let q = req_bytes(top, "query", "q")?;
    let msg: &'static str = match q {
        b"ping" => "ping query",
        b"find_node" => "find_node query",
        b"get_peers" => "get_peers query",
        b"announce_peer" => "announce_peer query",
        other => {
            return Err(DecodeError::UnknownMethod {
                transaction_id: t.clone(),
                method: lossy(other),
            });
        }
    };
    let a = req_dict(top, msg, "a")?;
    let id = req_id(a, msg, "id")?;
    Ok(match q {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode {
            id,
            target: req_id(a, msg, "target")?,
        },
        b"get_peers" => Query::GetPeers {
            id,
            info_hash: InfoHashV1(req_id(a, msg, "info_hash")?.0),
        },
        _ => {
            let port = req_int(a, msg, "port")?;
            let port = u16::try_from(port).map_err(|_| DecodeError::OutOfRange {
                msg,
                key: "port",
                got: port,
            })?;
            let implied_port = match opt_int(a, msg, "implied_port")? {
                None => None,
                Some(0) => Some(false),
                Some(1) => Some(true),
                Some(got) => {
                    return Err(DecodeError::OutOfRange {
                        msg,
                        key: "implied_port",
                        got,
                    });
                }
            };
            Query::AnnouncePeer {
                id,
                info_hash: InfoHashV1(req_id(a, msg, "info_hash")?.0),
                port,
                token: req_bytes(a, msg, "token")?.to_vec(),
                implied_port,
            }
        }
    })
}

fn decode_response(top: &Dict<'_>) -> Result<Response, DecodeError> {
    const M: &str = "response";
    let r = req_dict(top, M, "r")?;
    let id = req_id(r, M, "id")?;
    let nodes = match opt_bytes(r, M, "nodes")? {
        None => Vec::new(),
        Some(b) => parse_nodes_v4(b, M)?,
    };
    let nodes6 = match opt_bytes(r, M, "nodes6")? {
        None => Vec::new(),
        Some(b) => parse_nodes_v6(b, M)?,
    };
    let token = opt_bytes(r, M, "token")?.map(<[u8]>::to_vec);
    let values = match r.get(b"values") {
        None => Vec::new(),
        Some(v) => {
            let list = v.as_list().ok_or(DecodeError::WrongType {
                msg: M,
                key: "values",
                expected: "list",
                got: v.type_name(),
            })?;
            let mut out = Vec::with_capacity(list.len().min(MAX_ITEMS));
            for item in list.iter() {
                let b = item.as_bytes().ok_or(DecodeError::WrongType {
                    msg: M,
                    key: "values",
                    expected: "byte string",
                    got: item.type_name(),
                })?;
                out.push(decode_addr(b).ok_or(DecodeError::BadLength {
                    msg: M,
                    key: "values",
                    expected: "6 or 18",
                    got: b.len(),
                })?);
            }
            out
        }
    };
    Ok(Response {
        id,
        nodes,
        nodes6,
        values,
        token,
    })
}

fn decode_error(top: &Dict<'_>) -> Result<ErrorBody, DecodeError> {
    const M: &str = "error";
    let v = top
        .get(b"e")
        .ok_or(DecodeError::MissingKey { msg: M, key: "e" })?;
    let list = v.as_list().ok_or(DecodeError::WrongType {
        msg: M,
        key: "e",
        expected: "list",
        got: v.type_name(),
    })?;
    let code = list.get(0).and_then(Value::as_int);
    let message = list.get(1).and_then(Value::as_bytes);
    match (code, message, list.len()) {
        (Some(code), Some(message), 2) => Ok(ErrorBody {
            code,
            message: message.to_vec(),
        }),
        _ => Err(DecodeError::BadLength {
            msg: M,
            key: "e",
            expected: "a list [integer, string]",
            got: list.len(),
        }),
    }
}

/// Parses compact IPv4 node infos (26 bytes each).
pub(crate) fn parse_nodes_v4(
    b: &[u8],
    msg: &'static str,
) -> Result<Vec<CompactNodeV4>, DecodeError> {
    check_multiple(b, NODE_V4_LEN, msg, "nodes", "a multiple of 26")?;
    Ok(b.chunks_exact(NODE_V4_LEN)
        .map(|c| {
            let (id, a) = c.split_at(20);
            CompactNodeV4 {
                // `chunks_exact(26)` then `split_at(20)`: `id` is exactly 20 bytes.
                id: NodeId::from_slice(id).unwrap_or_default(),
                addr: SocketAddrV4::new(
                    Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                    u16::from_be_bytes([a[4], a[5]]),
                ),
            }
        })
        .collect())
}

/// Parses compact IPv6 node infos (38 bytes each, BEP 32).
pub(crate) fn parse_nodes_v6(
    b: &[u8],
    msg: &'static str,
) -> Result<Vec<CompactNodeV6>, DecodeError> {
    check_multiple(b, NODE_V6_LEN, msg, "nodes6", "a multiple of 38")?;
    Ok(b.chunks_exact(NODE_V6_LEN)
        .map(|c| {
            let (id, a) = c.split_at(20);
            let mut o = [0u8; 16];
            o.copy_from_slice(&a[..16]);
            CompactNodeV6 {
                // `chunks_exact(38)` then `split_at(20)`: `id` is exactly 20 bytes.
                id: NodeId::from_slice(id).unwrap_or_default(),
                addr: SocketAddrV6::new(
                    Ipv6Addr::from(o),
                    u16::from_be_bytes([a[16], a[17]]),
                    0,
                    0,
                ),
            }
        })
        .collect())
}

/// Writes compact node infos under `nodes`/`nodes6` keys (each omitted when empty).
pub(crate) fn write_nodes(out: &mut Vec<u8>, nodes: &[CompactNodeV4], nodes6: &[CompactNodeV6]) {
    if !nodes.is_empty() {
        let mut b = Vec::with_capacity(nodes.len() * NODE_V4_LEN);
        for n in nodes {
            b.extend_from_slice(n.id.as_bytes());
            b.extend_from_slice(&n.addr.ip().octets());
            b.extend_from_slice(&n.addr.port().to_be_bytes());
        }
        write_bytes(out, b"nodes");
        write_bytes(out, &b);
    }
    if !nodes6.is_empty() {
        let mut b = Vec::with_capacity(nodes6.len() * NODE_V6_LEN);
        for n in nodes6 {
            b.extend_from_slice(n.id.as_bytes());
            b.extend_from_slice(&n.addr.ip().octets());
            b.extend_from_slice(&n.addr.port().to_be_bytes());
        }
        write_bytes(out, b"nodes6");
        write_bytes(out, &b);
    }
}

fn check_multiple(
    b: &[u8],
    unit: usize,
    msg: &'static str,
    key: &'static str,
    expected: &'static str,
) -> Result<(), DecodeError> {
    if b.len() % unit == 0 {
        Ok(())
    } else {
        Err(DecodeError::BadLength {
            msg,
            key,
            expected,
            got: b.len(),
        })
    }
}

fn req_dict<'d, 'a>(
    d: &'d Dict<'a>,
    msg: &'static str,
    key: &'static str,
) -> Result<&'d Dict<'a>, DecodeError> {
    let v = d
        .get(key.as_bytes())
        .ok_or(DecodeError::MissingKey { msg, key })?;
    v.as_dict().ok_or(DecodeError::WrongType {
        msg,
        key,
        expected: "dictionary",
        got: v.type_name(),
    })
}

pub(crate) fn opt_bytes<'a>(
    d: &Dict<'a>,
    msg: &'static str,
    key: &'static str,
) -> Result<Option<&'a [u8]>, DecodeError> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v.as_bytes().map(Some).ok_or(DecodeError::WrongType {
            msg,
            key,
            expected: "byte string",
            got: v.type_name(),
        }),
    }
}

pub(crate) fn req_bytes<'a>(
    d: &Dict<'a>,
    msg: &'static str,
    key: &'static str,
) -> Result<&'a [u8], DecodeError> {
    opt_bytes(d, msg, key)?.ok_or(DecodeError::MissingKey { msg, key })
}

fn opt_int(d: &Dict<'_>, msg: &'static str, key: &'static str) -> Result<Option<i64>, DecodeError> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v.as_int().map(Some).ok_or(DecodeError::WrongType {
            msg,
            key,
            expected: "integer",
            got: v.type_name(),
        }),
    }
}

fn req_int(d: &Dict<'_>, msg: &'static str, key: &'static str) -> Result<i64, DecodeError> {
    opt_int(d, msg, key)?.ok_or(DecodeError::MissingKey { msg, key })
}

pub(crate) fn req_id(
    d: &Dict<'_>,
    msg: &'static str,
    key: &'static str,
) -> Result<NodeId, DecodeError> {
    let b = req_bytes(d, msg, key)?;
    NodeId::from_slice(b).ok_or(DecodeError::BadLength {
        msg,
        key,
        expected: "20",
        got: b.len(),
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(32)]).into_owned()
}

const NODE_V4_LEN: usize = 26;
const NODE_V6_LEN: usize = 38;
const MAX_DEPTH: usize = 4;
const MAX_ITEMS: usize = 8_192;

//! BEP 15 UDP tracker packets: connect, announce, scrape and error, both directions.
//!
//! Encoders append to a caller's `Vec<u8>`; decoders borrow nothing and never read past the
//! datagram. Peer lists are IPv4 (6-byte entries) or IPv6 (18-byte entries) depending on the
//! address family of the socket the datagram travelled over ([`Family`]).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::{Event, InfoHashV1, PeerId, PeerKey, ScrapeStats, UdpError};

/// The magic protocol id of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Most info-hashes one scrape request may carry (so the reply fits a 1 KiB-ish datagram).
pub const MAX_SCRAPE: usize = 74;

const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_SCRAPE: u32 = 2;
const ACTION_ERROR: u32 = 3;

/// A transaction id chosen by the client, echoed by the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TransactionId(pub u32);

/// A connection id handed out by the tracker in a connect reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConnectionId(pub u64);

/// Which peer-entry size applies: the address family of the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// 4-byte address + 2-byte port.
    V4,
    /// 16-byte address + 2-byte port.
    V6,
}

impl Family {
    /// The family of a socket address (IPv4-mapped IPv6 counts as IPv6).
    pub fn of(addr: &SocketAddr) -> Self {
        if addr.is_ipv4() { Self::V4 } else { Self::V6 }
    }

    fn entry_len(self) -> usize {
        match self {
            Self::V4 => 6,
            Self::V6 => 18,
        }
    }
}

/// An announce request (98 bytes on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// From the connect reply.
    pub connection_id: ConnectionId,
    /// Chosen by the client.
    pub transaction_id: TransactionId,
    /// The torrent.
    pub info_hash: InfoHashV1,
    /// The client's peer id.
    pub peer_id: PeerId,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left.
    pub left: u64,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Event.
    pub event: Event,
    /// Requested IPv4 address (0 = the sender's).
    pub ip: u32,
    /// Key.
    pub key: PeerKey,
    /// Peers wanted (-1 = default).
    pub num_want: i32,
    /// The client's TCP port.
    pub port: u16,
}

/// A client → tracker datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Ask for a connection id.
    Connect {
        /// Transaction id.
        transaction_id: TransactionId,
    },
    /// Announce.
    Announce(AnnounceRequest),
    /// Scrape up to [`MAX_SCRAPE`] torrents.
    Scrape {
        /// From the connect reply.
        connection_id: ConnectionId,
        /// Transaction id.
        transaction_id: TransactionId,
        /// The torrents.
        info_hashes: Vec<InfoHashV1>,
    },
}

/// A tracker → client datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Connect reply.
    Connect {
        /// Echoed transaction id.
        transaction_id: TransactionId,
        /// The connection id to use for one minute.
        connection_id: ConnectionId,
    },
    /// Announce reply.
    Announce {
        /// Echoed transaction id.
        transaction_id: TransactionId,
        /// Seconds until the next announce.
        interval: u32,
        /// Leechers.
        leechers: u32,
        /// Seeders.
        seeders: u32,
        /// Peers (all of the datagram's family).
        peers: Vec<SocketAddr>,
    },
    /// Scrape reply, in request order.
    Scrape {
        /// Echoed transaction id.
        transaction_id: TransactionId,
        /// One entry per requested torrent.
        stats: Vec<ScrapeStats>,
    },
    /// Error reply.
    Error {
        /// Echoed transaction id.
        transaction_id: TransactionId,
        /// Human-readable message.
        message: String,
    },
}

impl Request {
    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.0.to_be_bytes());
            }
            Self::Announce(a) => {
                out.extend_from_slice(&a.connection_id.0.to_be_bytes());
                out.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&a.transaction_id.0.to_be_bytes());
                out.extend_from_slice(&a.info_hash.0);
                out.extend_from_slice(&a.peer_id.0);
                out.extend_from_slice(&a.downloaded.to_be_bytes());
                out.extend_from_slice(&a.left.to_be_bytes());
                out.extend_from_slice(&a.uploaded.to_be_bytes());
                out.extend_from_slice(&a.event.to_udp().to_be_bytes());
                out.extend_from_slice(&a.ip.to_be_bytes());
                out.extend_from_slice(&a.key.0.to_be_bytes());
                out.extend_from_slice(&a.num_want.to_be_bytes());
                out.extend_from_slice(&a.port.to_be_bytes());
            }
            Self::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                out.extend_from_slice(&connection_id.0.to_be_bytes());
                out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.0.to_be_bytes());
                for h in info_hashes {
                    out.extend_from_slice(&h.0);
                }
            }
        }
    }

    /// Decodes a datagram a tracker received. Trailing bytes after an announce (BEP 41 options)
    /// are ignored.
    pub fn decode(buf: &[u8]) -> Result<Self, UdpError> {
        let mut r = Reader::new(buf, "request");
        r.need(16)?;
        let first = r.u64();
        let action = r.u32();
        let transaction_id = TransactionId(r.u32());
        match action {
            ACTION_CONNECT => {
                if first != PROTOCOL_ID {
                    return Err(UdpError::BadProtocolId(first));
                }
                Ok(Self::Connect { transaction_id })
            }
            ACTION_ANNOUNCE => {
                r.message = "announce request";
                r.need(98)?;
                Ok(Self::Announce(AnnounceRequest {
                    connection_id: ConnectionId(first),
                    transaction_id,
                    info_hash: InfoHashV1(r.array()),
                    peer_id: PeerId(r.array()),
                    downloaded: r.u64(),
                    left: r.u64(),
                    uploaded: r.u64(),
                    event: Event::from_udp(r.u32()),
                    ip: r.u32(),
                    key: PeerKey(r.u32()),
                    num_want: r.u32() as i32,
                    port: r.u16(),
                }))
            }
            ACTION_SCRAPE => {
                let body = &buf[16..];
                let n = body.len() / 20;
                if n == 0 || n > MAX_SCRAPE {
                    return Err(UdpError::ScrapeCount(n));
                }
                let info_hashes = body
                    .chunks_exact(20)
                    .map(|c| {
                        let mut h = [0u8; 20];
                        h.copy_from_slice(c);
                        InfoHashV1(h)
                    })
                    .collect();
                Ok(Self::Scrape {
                    connection_id: ConnectionId(first),
                    transaction_id,
                    info_hashes,
                })
            }
            other => Err(UdpError::UnknownAction {
                action: other,
                offset: 8,
            }),
        }
    }
}

impl Response {
    /// Appends the wire form to `out`. Peers of the other family than `family` are skipped.
    pub fn encode(&self, family: Family, out: &mut Vec<u8>) {
        match self {
            Self::Connect {
                transaction_id,
                connection_id,
            } => {
                out.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.0.to_be_bytes());
                out.extend_from_slice(&connection_id.0.to_be_bytes());
            }
            Self::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            } => {
                encode_announce_head(out, *transaction_id, *interval, *leechers, *seeders);
                for p in peers {
                    write_peer(out, family, p);
                }
            }
            Self::Scrape {
                transaction_id,
                stats,
            } => {
                out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.0.to_be_bytes());
                for s in stats {
                    encode_scrape_entry(out, s);
                }
            }
            Self::Error {
                transaction_id,
                message,
            } => encode_error(out, *transaction_id, message),
        }
    }

    /// Decodes a datagram a client received over a socket of `family`.
    pub fn decode(buf: &[u8], family: Family) -> Result<Self, UdpError> {
        let mut r = Reader::new(buf, "response");
        r.need(8)?;
        let action = r.u32();
        let transaction_id = TransactionId(r.u32());
        match action {
            ACTION_CONNECT => {
                r.message = "connect response";
                r.need(16)?;
                Ok(Self::Connect {
                    transaction_id,
                    connection_id: ConnectionId(r.u64()),
                })
            }
            ACTION_ANNOUNCE => {
                r.message = "announce response";
                r.need(20)?;
                let interval = r.u32();
                let leechers = r.u32();
                let seeders = r.u32();
                let area = &buf[20..];
                let entry = family.entry_len();
                if area.len() % entry != 0 {
                    return Err(UdpError::RaggedPeers {
                        len: area.len(),
                        entry,
                    });
                }
                let peers = area.chunks_exact(entry).map(read_peer).collect();
                Ok(Self::Announce {
                    transaction_id,
                    interval,
                    leechers,
                    seeders,
                    peers,
                })
            }
            ACTION_SCRAPE => {
                let body = &buf[8..];
                if body.len() % 12 != 0 {
                    return Err(UdpError::RaggedScrape(body.len()));
                }
                let stats = body
                    .chunks_exact(12)
                    .map(|c| ScrapeStats {
                        complete: be32(&c[0..4]),
                        downloaded: be32(&c[4..8]),
                        incomplete: be32(&c[8..12]),
                    })
                    .collect();
                Ok(Self::Scrape {
                    transaction_id,
                    stats,
                })
            }
            ACTION_ERROR => Ok(Self::Error {
                transaction_id,
                message: String::from_utf8_lossy(&buf[8..]).into_owned(),
            }),
            other => Err(UdpError::UnknownAction {
                action: other,
                offset: 0,
            }),
        }
    }

    /// The echoed transaction id.
    pub fn transaction_id(&self) -> TransactionId {
        match self {
            Self::Connect { transaction_id, .. }
            | Self::Announce { transaction_id, .. }
            | Self::Scrape { transaction_id, .. }
            | Self::Error { transaction_id, .. } => *transaction_id,
        }
    }
}

/// Writes the 20-byte head of an announce reply (for servers that append peers directly).
pub fn encode_announce_head(
    out: &mut Vec<u8>,
    transaction_id: TransactionId,
    interval: u32,
    leechers: u32,
    seeders: u32,
) {
    out.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    out.extend_from_slice(&transaction_id.0.to_be_bytes());
    out.extend_from_slice(&interval.to_be_bytes());
    out.extend_from_slice(&leechers.to_be_bytes());
    out.extend_from_slice(&seeders.to_be_bytes());
}

/// Writes the 8-byte head of a scrape reply; append one [`encode_scrape_entry`] per torrent.
pub fn encode_scrape_head(out: &mut Vec<u8>, transaction_id: TransactionId) {
    out.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
    out.extend_from_slice(&transaction_id.0.to_be_bytes());
}

/// Writes one 12-byte scrape entry.
pub fn encode_scrape_entry(out: &mut Vec<u8>, s: &ScrapeStats) {
    out.extend_from_slice(&s.complete.to_be_bytes());
    out.extend_from_slice(&s.downloaded.to_be_bytes());
    out.extend_from_slice(&s.incomplete.to_be_bytes());
}

/// Writes an error reply.
pub fn encode_error(out: &mut Vec<u8>, transaction_id: TransactionId, message: &str) {
    out.extend_from_slice(&ACTION_ERROR.to_be_bytes());
    out.extend_from_slice(&transaction_id.0.to_be_bytes());
    out.extend_from_slice(message.as_bytes());
}

/// Writes one compact peer of `family`; peers of the other family are skipped.
pub fn write_peer(out: &mut Vec<u8>, family: Family, p: &SocketAddr) {
    match (family, p) {
        (Family::V4, SocketAddr::V4(a)) => {
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        (Family::V6, SocketAddr::V6(a)) => {
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        _ => {}
    }
}

fn read_peer(c: &[u8]) -> SocketAddr {
    if c.len() == 6 {
        let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
        SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be_bytes([c[4], c[5]])))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&c[..16]);
        SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(o),
            u16::from_be_bytes([c[16], c[17]]),
            0,
            0,
        ))
    }
}

fn be32(c: &[u8]) -> u32 {
    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
}

/// A bounds-checked big-endian reader: `need` first, then the getters cannot fail.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            message,
        }
    }

    fn need(&self, n: usize) -> Result<(), UdpError> {
        if self.buf.len() < n {
            Err(UdpError::TooShort {
                message: self.message,
                len: self.buf.len(),
                need: n,
            })
        } else {
            Ok(())
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        if let Some(s) = self.buf.get(self.pos..self.pos + N) {
            a.copy_from_slice(s);
        }
        self.pos += N;
        a
    }

    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn testdata(rel: &str) -> Option<Vec<u8>> {
        let base = std::env::var("FRESHET_TESTDATA").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata").into()
        });
        std::fs::read(std::path::Path::new(&base).join(rel)).ok()
    }

    #[test]
    fn rqbit_announce_reply() {
        let Some(buf) = testdata("rqbit/librqbit/resources/test/udp-tracker-announce-response.bin")
        else {
            panic!("test data missing: set FRESHET_TESTDATA");
        };
        assert_eq!(buf.len(), 1220);
        let Response::Announce {
            transaction_id,
            interval,
            leechers,
            seeders,
            peers,
        } = Response::decode(&buf, Family::V4).unwrap()
        else {
            panic!("not an announce reply");
        };
        assert_eq!(transaction_id, TransactionId(0xe594dd14));
        assert_eq!((interval, leechers, seeders), (1652, 257, 3341));
        assert_eq!(peers.len(), 200);
        assert_eq!(peers[0], "46.0.63.105:6881".parse().unwrap());
        assert_eq!(peers[199], "176.112.248.41:17482".parse().unwrap());
        // A peer area that is not a multiple of 6 is rejected, never over-read.
        for cut in [1, 2, 5] {
            let r = Response::decode(&buf[..buf.len() - cut], Family::V4);
            assert!(matches!(r, Err(UdpError::RaggedPeers { .. })), "{r:?}");
        }
        // Over IPv6 the same bytes are 1200/18 = not whole entries: rejected.
        assert!(Response::decode(&buf, Family::V6).is_err());
    }

    #[test]
    fn connect_request_bytes() {
        let mut out = Vec::new();
        Request::Connect {
            transaction_id: TransactionId(0x01020304),
        }
        .encode(&mut out);
        assert_eq!(
            out,
            [
                0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4
            ]
        );
        let mut bad = out.clone();
        bad[0] = 1;
        assert!(matches!(
            Request::decode(&bad),
            Err(UdpError::BadProtocolId(_))
        ));
        assert!(matches!(
            Request::decode(&out[..15]),
            Err(UdpError::TooShort { need: 16, .. })
        ));
    }

    #[test]
    fn announce_request_is_98_bytes_and_ignores_options() {
        let a = AnnounceRequest {
            connection_id: ConnectionId(9),
            transaction_id: TransactionId(8),
            info_hash: InfoHashV1([1; 20]),
            peer_id: PeerId([2; 20]),
            downloaded: 3,
            left: 4,
            uploaded: 5,
            event: Event::Started,
            ip: 0,
            key: PeerKey(6),
            num_want: -1,
            port: 6881,
        };
        let mut out = Vec::new();
        Request::Announce(a.clone()).encode(&mut out);
        assert_eq!(out.len(), 98);
        out.extend_from_slice(&[2, 5, b'/', b'a', b'n', b'n', b'o']); // BEP 41 URL data option
        assert_eq!(Request::decode(&out).unwrap(), Request::Announce(a));
        assert!(Request::decode(&out[..97]).is_err());
    }

    #[test]
    fn scrape_limits() {
        let mut out = Vec::new();
        Request::Scrape {
            connection_id: ConnectionId(1),
            transaction_id: TransactionId(2),
            info_hashes: vec![],
        }
        .encode(&mut out);
        assert_eq!(Request::decode(&out), Err(UdpError::ScrapeCount(0)));
        assert!(matches!(
            Response::decode(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0], Family::V4),
            Err(UdpError::RaggedScrape(3))
        ));
    }

    #[test]
    fn error_and_unknown_action() {
        let r = Response::decode(b"\0\0\0\x03\0\0\0\x07nope", Family::V4).unwrap();
        assert_eq!(
            r,
            Response::Error {
                transaction_id: TransactionId(7),
                message: "nope".into()
            }
        );
        assert!(matches!(
            Response::decode(b"\0\0\0\x09\0\0\0\x07", Family::V4),
            Err(UdpError::UnknownAction { action: 9, .. })
        ));
    }

    fn arb_peer(family: Family) -> BoxedStrategy<SocketAddr> {
        match family {
            Family::V4 => (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::from((Ipv4Addr::from(ip), port)))
                .boxed(),
            Family::V6 => (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, port)| SocketAddr::from((Ipv6Addr::from(ip), port)))
                .boxed(),
        }
    }

    fn arb_response() -> impl Strategy<Value = (Family, Response)> {
        let tid = any::<u32>().prop_map(TransactionId);
        prop_oneof![
            (tid.clone(), any::<u64>()).prop_map(|(t, c)| (
                Family::V4,
                Response::Connect {
                    transaction_id: t,
                    connection_id: ConnectionId(c)
                }
            )),
            prop_oneof![Just(Family::V4), Just(Family::V6)].prop_flat_map(move |f| {
                (
                    any::<(u32, u32, u32, u32)>(),
                    proptest::collection::vec(arb_peer(f), 0..50),
                )
                    .prop_map(move |((t, i, l, s), peers)| {
                        (
                            f,
                            Response::Announce {
                                transaction_id: TransactionId(t),
                                interval: i,
                                leechers: l,
                                seeders: s,
                                peers,
                            },
                        )
                    })
            }),
            (
                tid.clone(),
                proptest::collection::vec(any::<(u32, u32, u32)>(), 0..74)
            )
                .prop_map(|(t, v)| (
                    Family::V4,
                    Response::Scrape {
                        transaction_id: t,
                        stats: v
                            .into_iter()
                            .map(|(complete, downloaded, incomplete)| ScrapeStats {
                                complete,
                                downloaded,
                                incomplete
                            })
                            .collect()
                    }
                )),
            (tid, "[ -~]{0,64}").prop_map(|(t, m)| (
                Family::V6,
                Response::Error {
                    transaction_id: t,
                    message: m
                }
            )),
        ]
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            any::<u32>().prop_map(|t| Request::Connect {
                transaction_id: TransactionId(t)
            }),
            (
                any::<(u64, u32, [u8; 20], [u8; 20], u64, u64, u64)>(),
                (
                    0u32..4,
                    any::<u32>(),
                    any::<u32>(),
                    any::<i32>(),
                    any::<u16>()
                )
            )
                .prop_map(|((c, t, h, p, d, l, u), (e, ip, k, n, port))| {
                    Request::Announce(AnnounceRequest {
                        connection_id: ConnectionId(c),
                        transaction_id: TransactionId(t),
                        info_hash: InfoHashV1(h),
                        peer_id: PeerId(p),
                        downloaded: d,
                        left: l,
                        uploaded: u,
                        event: Event::from_udp(e),
                        ip,
                        key: PeerKey(k),
                        num_want: n,
                        port,
                    })
                }),
            (
                any::<(u64, u32)>(),
                proptest::collection::vec(any::<[u8; 20]>(), 1..=74)
            )
                .prop_map(|((c, t), hs)| Request::Scrape {
                    connection_id: ConnectionId(c),
                    transaction_id: TransactionId(t),
                    info_hashes: hs.into_iter().map(InfoHashV1).collect()
                }),
        ]
    }

    proptest! {
        #[test]
        fn response_round_trip((family, resp) in arb_response()) {
            let mut out = Vec::new();
            resp.encode(family, &mut out);
            prop_assert_eq!(Response::decode(&out, family).unwrap(), resp);
        }

        #[test]
        fn request_round_trip(req in arb_request()) {
            let mut out = Vec::new();
            req.encode(&mut out);
            prop_assert_eq!(Request::decode(&out).unwrap(), req);
        }

        #[test]
        fn decoders_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Request::decode(&buf);
            let _ = Response::decode(&buf, Family::V4);
            let _ = Response::decode(&buf, Family::V6);
        }
    }
}

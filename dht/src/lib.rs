//! Sans-I/O BitTorrent Mainline DHT (BEP 5), with IPv6 node lists (BEP 32) and the read-only
//! flag (BEP 43).
//!
//! The crate performs no I/O and reads no clock: the caller feeds UDP payloads with
//! [`Dht::handle_packet`], drains datagrams with [`Dht::poll_transmit`] and events with
//! [`Dht::poll_event`], and calls [`Dht::handle_timeout`] when [`Dht::poll_timeout`] says so.
//! Randomness (node id, transaction ids, token secrets) comes from a seeded RNG owned by the
//! node. Start from [`Dht`] and [`Config`]; the wire codec is [`Message`].
//!
//! ```text
//!  UDP socket --bytes--> handle_packet  --+   +-----------------------+   +--> poll_transmit --> UDP
//!  timer      --now----> handle_timeout --+-->| Dht: RoutingTable,    |---+--> poll_event (PeersFound,
//!  application --------> bootstrap/       |   | Lookups, TokenSecrets,|   |                LookupDone)
//!                        get_peers/announce   | PeerStore             |   +--> poll_timeout
//!                                             +-----------------------+
//! ```
//!
//! Example: two nodes on an in-memory "network"; B announces, A finds B's peer.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use freshet_dht::{Config, Dht, Event};
//! use freshet_metainfo::InfoHashV1;
//!
//! # #[allow(clippy::disallowed_methods)] // a doctest needs one base instant; time is virtual
//! let mut now = Instant::now();
//! let a_addr: SocketAddr = "10.0.0.1:6881".parse().unwrap();
//! let b_addr: SocketAddr = "10.0.0.2:6881".parse().unwrap();
//! let mut a = Dht::new(now, Config { rng_seed: Some([1; 32]), ..Config::default() });
//! let mut b = Dht::new(now, Config { rng_seed: Some([2; 32]), ..Config::default() });
//! let hash = InfoHashV1([0xab; 20]);
//! b.bootstrap(now, &[a_addr]);
//! // Deliver datagrams until both nodes are idle.
//! let mut found = Vec::new();
//! for round in 0..50 {
//!     if round == 5 { b.announce(now, hash, 7000); }
//!     if round == 10 { a.get_peers(now, hash); }
//!     now += Duration::from_millis(10);
//!     while let Some((to, bytes)) = a.poll_transmit() { if to == b_addr { b.handle_packet(now, a_addr, &bytes); } }
//!     while let Some((to, bytes)) = b.poll_transmit() { if to == a_addr { a.handle_packet(now, b_addr, &bytes); } }
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//!     while let Some(ev) = a.poll_event() {
//!         if let Event::PeersFound { peers, .. } = ev { found.extend(peers); }
//!     }
//!     while b.poll_event().is_some() {}
//! }
//! assert!(found.contains(&"10.0.0.2:7000".parse().unwrap()));
//! ```

#![warn(missing_docs, unreachable_pub)]
#![forbid(unsafe_code)]

mod id;
pub use id::{Distance, NodeId};

mod krpc;
pub use krpc::{
    Body, CompactNodeV4, CompactNodeV6, DecodeError, ErrorBody, MAX_PACKET_LEN, Message, Query,
    Response, TransactionId, decode_addr, encode_addr,
};

mod routing;
pub use routing::{
    BAD_AFTER_FAILURES, Bucket, GOOD_FOR, InsertOutcome, K, NodeEntry, NodeStatus, REFRESH_AFTER,
    RoutingTable,
};

mod token;
pub use token::{ROTATE_EVERY, Token, TokenSecrets};

mod peers;
pub use peers::{PEER_TTL, PeerStore};

mod lookup;
pub use lookup::{ALPHA, Lookup, LookupKind, MAX_CANDIDATES, MAX_QUERIES};

mod persist;
pub use persist::SavedState;

mod node;
pub use node::{Config, Dht, Event, LookupId, MAX_TRACKED_IPS, RATE_WINDOW, Stats};

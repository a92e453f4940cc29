//! freshet-tracker: the BitTorrent tracker protocols, both sides, as sans-I/O state machines.
//!
//! Client side: HTTP announce URLs ([`announce_url`]), HTTP announce and scrape replies
//! ([`parse_announce_response`], [`parse_scrape_response`], gzip via [`decode_body`]), scrape
//! URL derivation ([`scrape_url`], BEP 48), BEP 15 UDP packets ([`udp`]) with a UDP client state
//! machine ([`UdpTrackerClient`]), and the BEP 12 multitracker [`Announcer`] that tells the caller
//! which HTTP request or UDP datagram to send next.
//!
//! Server side: [`TrackerCore`] takes raw HTTP request targets and UDP datagrams and writes the
//! replies, backed by a compact [`SwarmStore`] (peers keyed by info-hash, expiry, counts, limits).
//!
//! This crate performs no I/O, reads no clock and draws no ambient randomness: time comes in as
//! `now: Instant`, randomness from a seed the caller provides. Sockets live in `freshet-client`.
//!
//! ```
//! use std::time::Instant;
//! use freshet_metainfo::InfoHashV1;
//! use freshet_tracker::{AnnounceRequest, Event, PeerId, TrackerCore, ServerConfig};
//!
//! // Client side: build the announce URL...
//! let req = AnnounceRequest::new(InfoHashV1([0xab; 20]), PeerId(*b"-FR0001-abcdefghijkl"), 6881)
//!     .with_event(Event::Started)
//!     .with_left(1000);
//! let url = freshet_tracker::announce_url("http://127.0.0.1:6969/announce?k=v", &req).unwrap();
//! assert!(url.starts_with("http://127.0.0.1:6969/announce?k=v&info_hash=%AB%AB"));
//!
//! // ...and let the server core answer it (no sockets involved).
//! let now = Instant::now();
//! let mut core = TrackerCore::new(ServerConfig::default(), [7; 32], now);
//! let target = &url["http://127.0.0.1:6969".len()..];
//! let mut body = Vec::new();
//! let remote = "127.0.0.1:40000".parse().unwrap();
//! let status = core.handle_http(now, remote, target, &mut body);
//! assert_eq!(status.code(), 200);
//! let reply = freshet_tracker::parse_announce_response(&body).unwrap();
//! assert_eq!(reply.incomplete, Some(1));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub use freshet_metainfo::InfoHashV1;
pub use freshet_peerwire::PeerId;

mod announcer;
mod error;
mod http;
mod server;
pub mod udp;
mod udp_client;

pub use announcer::{
    Announcer, AnnouncerConfig, AnnouncerEvent, Progress, TrackerAction, TrackerIdx,
};
pub use error::QueryError;
pub use error::{ResponseError, UdpError, UrlError};
pub use http::{
    HttpRequestHead, HttpResponseHead, MAX_BODY, announce_url, build_get_request, dechunk,
    decode_body, parse_announce_response, parse_http_response_head, parse_scrape_response,
    resolve_redirect, scrape_url, scrape_url_for,
};
pub use server::{
    AllowList, Announce, ConnectionIdSecret, HttpAnnounceQuery, HttpStatus, Refusal, ServerConfig,
    ServerLimits, ServerStats, SwarmStore, TrackerCore, parse_announce_query, parse_scrape_query,
};
pub use udp_client::{UdpClientConfig, UdpClientEvent, UdpTrackerClient};

/// The `event` of an announce (BEP 3; numbered as in BEP 15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Event {
    /// A regular re-announce.
    #[default]
    None,
    /// The download finished (sent once).
    Completed,
    /// The first announce of a session.
    Started,
    /// The client is leaving the swarm.
    Stopped,
}

impl Event {
    /// The query-string value (`None` has none).
    pub fn as_query(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Completed => Some("completed"),
            Self::Started => Some("started"),
            Self::Stopped => Some("stopped"),
        }
    }

    /// The BEP 15 number (0 none, 1 completed, 2 started, 3 stopped).
    pub fn to_udp(self) -> u32 {
        match self {
            Self::None => 0,
            Self::Completed => 1,
            Self::Started => 2,
            Self::Stopped => 3,
        }
    }

    /// Parses the BEP 15 number; unknown values are treated as a regular announce.
    pub fn from_udp(n: u32) -> Self {
        match n {
            1 => Self::Completed,
            2 => Self::Started,
            3 => Self::Stopped,
            _ => Self::None,
        }
    }
}

/// The `key` announce parameter: lets a tracker recognise a client whose IP changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PeerKey(pub u32);

/// Everything a client says in one announce (HTTP or UDP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHashV1,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The TCP port we listen on.
    pub port: u16,
    /// Payload bytes uploaded this session.
    pub uploaded: u64,
    /// Payload bytes downloaded this session.
    pub downloaded: u64,
    /// Bytes still missing (0 = seeder).
    pub left: u64,
    /// The event.
    pub event: Event,
    /// How many peers we want (`None`: the tracker's default).
    pub numwant: Option<u32>,
    /// Our key.
    pub key: Option<PeerKey>,
    /// The `tracker id` the tracker gave us earlier (HTTP only).
    pub tracker_id: Option<Vec<u8>>,
    /// Ask for a compact reply (HTTP only; default true).
    pub compact: bool,
}

impl AnnounceRequest {
    /// A regular announce with zero counters, compact replies and no event.
    pub fn new(info_hash: InfoHashV1, peer_id: PeerId, port: u16) -> Self {
        Self {
            info_hash,
            peer_id,
            port,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: Event::None,
            numwant: None,
            key: None,
            tracker_id: None,
            compact: true,
        }
    }

    /// Sets the event.
    pub fn with_event(mut self, event: Event) -> Self {
        self.event = event;
        self
    }

    /// Sets `left`.
    pub fn with_left(mut self, left: u64) -> Self {
        self.left = left;
        self
    }

    /// Sets `numwant`.
    pub fn with_numwant(mut self, numwant: u32) -> Self {
        self.numwant = Some(numwant);
        self
    }
}

/// A successful announce reply (HTTP or UDP), normalised.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds until the next regular announce.
    pub interval: u32,
    /// Minimum seconds between announces, if given.
    pub min_interval: Option<u32>,
    /// Tracker id to send back on later announces (HTTP).
    pub tracker_id: Option<Vec<u8>>,
    /// Seeders, if given.
    pub complete: Option<u32>,
    /// Leechers, if given.
    pub incomplete: Option<u32>,
    /// A warning to show the user (HTTP).
    pub warning: Option<String>,
    /// The peers (IPv4 and IPv6).
    pub peers: Vec<std::net::SocketAddr>,
}

/// Counts for one torrent in a scrape reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Completed downloads ever seen.
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
}

/// A scrape reply: counts per info-hash.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// One entry per torrent the tracker knows, in reply order.
    pub files: Vec<(InfoHashV1, ScrapeStats)>,
}

/// A time origin for unit tests; only differences from it are ever used.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need some Instant to start from; no timing depends on it
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

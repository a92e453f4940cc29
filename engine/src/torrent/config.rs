//! Torrent configuration and the descriptions `Torrent` takes and returns.

use std::net::SocketAddr;
use std::time::Duration;

use freshet_metainfo::InfoHashV1;
use freshet_peerwire::PeerId;

use crate::{Endgame, PieceSet, ResumeRecord};

/// Tunables for one torrent. `Config::default()` follows common client defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Seed for the engine's RNG (tie-breaks, optimistic unchoke). `None`: from the OS.
    pub rng_seed: Option<[u8; 32]>,
    /// The torrent's v1 info-hash, used for the BEP 6 allowed-fast set and resume records.
    pub info_hash: Option<InfoHashV1>,
    /// Regular upload slots.
    pub unchoke_slots: usize,
    /// How often the choker runs.
    pub choke_interval: Duration,
    /// How often the optimistic unchoke rotates (and how long a seeding slot lasts).
    pub optimistic_interval: Duration,
    /// A request unanswered for this long is given to someone else.
    pub request_timeout: Duration,
    /// A peer that sent no data for this long while we wanted some is snubbed.
    pub snub_timeout: Duration,
    /// Seconds of data to keep in flight per peer, at its measured rate.
    pub pipeline_duration: Duration,
    /// Requests in flight per peer before a rate is known.
    pub min_pipeline: usize,
    /// Upper bound on requests in flight per peer (further bounded by the peer's `reqq`).
    pub max_pipeline: usize,
    /// How many requests we queue from one peer (we advertise this as our `reqq`).
    pub max_incoming_requests: usize,
    /// A peer involved in this many failed pieces is banned.
    pub ban_after_failures: u32,
    /// What a ban covers besides the peer id: the whole IP address or the exact address.
    pub ban_policy: BanPolicy,
    /// Pieces picked at random before rarest-first starts.
    pub initial_random_pieces: u32,
    /// Whether the last blocks are requested from several peers.
    pub endgame: Endgame,
    /// Size of the BEP 6 allowed-fast set we grant.
    pub allowed_fast_count: u32,
    /// Hash jobs in flight while checking existing data.
    pub check_parallelism: usize,
    /// How often `Event::ResumeDue` is raised.
    pub resume_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rng_seed: None,
            info_hash: None,
            unchoke_slots: 4,
            choke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(20),
            snub_timeout: Duration::from_secs(60),
            pipeline_duration: Duration::from_secs(3),
            min_pipeline: 16,
            max_pipeline: 500,
            max_incoming_requests: 500,
            ban_after_failures: 2,
            ban_policy: BanPolicy::ByIp,
            initial_random_pieces: 4,
            endgame: Endgame::Enabled,
            allowed_fast_count: 10,
            check_parallelism: 4,
            resume_interval: Duration::from_secs(300),
        }
    }
}

/// Which addresses a ban covers (a banned peer id is always refused as well).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BanPolicy {
    /// Every port of the banned peer's IP address (the usual choice on the internet).
    #[default]
    ByIp,
    /// Only the banned peer's exact IP address and port: for local swarms, where every peer
    /// shares one address such as 127.0.0.1.
    ByAddr,
    /// [`BanPolicy::ByAddr`] for loopback addresses, [`BanPolicy::ByIp`] for all others.
    ByAddrOnLoopback,
}

impl BanPolicy {
    /// The key a ban of a peer at `addr` is stored under: `addr` with port 0 when the whole
    /// IP address is banned, else `addr` itself.
    #[must_use]
    pub fn key(self, addr: SocketAddr) -> SocketAddr {
        let exact = match self {
            Self::ByIp => false,
            Self::ByAddr => true,
            Self::ByAddrOnLoopback => addr.ip().is_loopback(),
        };
        if exact {
            addr
        } else {
            SocketAddr::new(addr.ip(), 0)
        }
    }
}

/// How a torrent starts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Start {
    /// Nothing on disk yet.
    Empty,
    /// Hash every piece already on disk (full recheck).
    Recheck,
    /// The caller vouches that these pieces are stored and verified (for example a seed that
    /// created the torrent).
    Verified(PieceSet),
    /// Resume data plus the current size/mtime of each file (`Storage::file_stat`). Files whose
    /// stat matches are trusted; pieces of the other files are rechecked.
    Resume {
        /// The saved record.
        record: ResumeRecord,
        /// What the files look like now, one entry per file.
        stats: Vec<Option<crate::FileStat>>,
    },
}

/// What the engine knows about a newly connected peer (after the handshake).
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    /// Remote address, if known (bans and the allowed-fast set use it).
    pub addr: Option<SocketAddr>,
    /// Peer id from the handshake.
    pub id: Option<PeerId>,
    /// Whether both sides set the BEP 6 fast extension bit.
    pub fast: FastExtension,
    /// The peer's `reqq` from its extension handshake, if any.
    pub reqq: Option<usize>,
}

/// Whether the BEP 6 fast extension is active on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FastExtension {
    /// Both sides support it.
    Enabled,
    /// At least one side does not.
    #[default]
    Disabled,
}

/// Why `add_peer` refused a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddPeerError {
    /// The peer (by id or address) was banned earlier in this session.
    #[error("peer is banned")]
    Banned,
    /// The torrent is stopped.
    #[error("torrent is stopped")]
    Stopped,
    /// A storage fault stopped the torrent (see `Torrent::fault`).
    #[error("torrent is stopped by a storage error")]
    Errored,
}

/// Totals for the user interface and resume data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Payload bytes received (including discarded duplicates and failed pieces).
    pub downloaded: u64,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Bytes in pieces that failed verification.
    pub failed: u64,
    /// Connected peers.
    pub peers: usize,
    /// Verified pieces.
    pub pieces_have: u32,
}

/// A snapshot of one peer connection, for user interfaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStats {
    /// Bytes per second received from the peer over the rate window.
    pub download_rate: u64,
    /// Bytes per second sent to the peer over the rate window.
    pub upload_rate: u64,
    /// Pieces the peer has.
    pub pieces: u32,
    /// We choke the peer.
    pub am_choking: bool,
    /// We want data from the peer.
    pub am_interested: bool,
    /// The peer chokes us.
    pub peer_choking: bool,
    /// The peer wants data from us.
    pub peer_interested: bool,
    /// No data from the peer for the snub timeout.
    pub snubbed: bool,
    /// Our requests outstanding at the peer.
    pub requests_out: usize,
    /// Payload bytes received from the peer over the connection.
    pub downloaded: u64,
    /// Payload bytes sent to the peer over the connection.
    pub uploaded: u64,
}

//! The tracker server core: requests in (HTTP request targets, UDP datagrams), replies out.
//!
//! Driving contract: call [`TrackerCore::handle_http`] / [`TrackerCore::handle_udp`] for each
//! request, and [`TrackerCore::handle_timeout`] whenever [`TrackerCore::poll_timeout`] is due
//! (it expires peers). `now` must never go backwards.

mod connid;
mod query;
mod swarm;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use connid::ConnectionIdSecret;
pub use query::{HttpAnnounceQuery, parse_announce_query, parse_scrape_query};
pub use swarm::{Announce, Refusal, SwarmStore};

use crate::udp::{self, Family, Request};
use crate::{InfoHashV1, ScrapeStats};

/// Which torrents the server tracks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AllowList {
    /// Any info-hash.
    #[default]
    Any,
    /// Only these.
    Only(HashSet<InfoHashV1>),
}

impl AllowList {
    /// Whether `h` may be tracked.
    pub fn allows(&self, h: &InfoHashV1) -> bool {
        match self {
            Self::Any => true,
            Self::Only(set) => set.contains(h),
        }
    }

    /// The list for `freshet tracker --allow H… --allow-file F`: `Any` when neither is given,
    /// otherwise the union of `hashes` and the lines of `file_text` (see [`Self::from_lines`]).
    pub fn from_args(
        hashes: &[impl AsRef<str>],
        file_text: Option<&str>,
    ) -> Result<Self, freshet_metainfo::InfoHashParseError> {
        if hashes.is_empty() && file_text.is_none() {
            return Ok(Self::Any);
        }
        let mut text = file_text.unwrap_or("").to_owned();
        for h in hashes {
            text.push('\n');
            text.push_str(h.as_ref());
        }
        Self::from_lines(&text)
    }

    /// Parses one hex (or base32) info-hash per line; blank lines and `#` comments skipped.
    pub fn from_lines(text: &str) -> Result<Self, freshet_metainfo::InfoHashParseError> {
        let mut set = HashSet::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if !line.is_empty() {
                set.insert(InfoHashV1::from_text(line)?);
            }
        }
        Ok(Self::Only(set))
    }
}

/// Limits that keep the server alive under a flood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Most peers stored in total.
    pub max_peers: usize,
    /// Most swarms stored.
    pub max_swarms: usize,
    /// Most peers in one swarm (bounds the cost of inserting into it).
    pub max_peers_per_swarm: usize,
    /// Most peers one IP address may hold across all swarms (0 = no cap).
    pub max_peers_per_ip: usize,
    /// Most requests per second from one IP address (0 = unlimited).
    pub per_ip_per_sec: u32,
    /// Most IP addresses the rate limiter remembers (older windows are forgotten first).
    pub max_tracked_ips: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_peers: 2_000_000,
            max_swarms: 500_000,
            max_peers_per_swarm: 100_000,
            max_peers_per_ip: 0,
            per_ip_per_sec: 0,
            max_tracked_ips: 100_000,
        }
    }
}

/// Server settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Announce interval told to clients, seconds.
    pub interval: u32,
    /// Minimum announce interval told to clients, seconds.
    pub min_interval: u32,
    /// Peers returned when the client does not say.
    pub default_numwant: u32,
    /// Most peers returned.
    pub max_numwant: u32,
    /// Torrents tracked.
    pub allow: AllowList,
    /// Flood limits.
    pub limits: ServerLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            interval: 1800,
            min_interval: 60,
            default_numwant: 50,
            max_numwant: 200,
            allow: AllowList::Any,
            limits: ServerLimits::default(),
        }
    }
}

impl ServerConfig {
    /// Peers are dropped after twice the interval without an announce.
    pub fn peer_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.interval) * 2)
    }
}

/// Counters since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Announces answered with peers.
    pub announces: u64,
    /// Scrapes answered.
    pub scrapes: u64,
    /// UDP connects answered.
    pub connects: u64,
    /// Requests answered with an error.
    pub errors: u64,
    /// Requests dropped or refused by the rate limiter.
    pub rate_limited: u64,
}

/// The HTTP status and content type of a reply [`TrackerCore::handle_http`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpStatus {
    /// 200, bencoded body (possibly a `failure reason`).
    Ok,
    /// 404, plain-text body.
    NotFound,
    /// 503 (rate limited), plain-text body.
    Busy,
}

impl HttpStatus {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::NotFound => 404,
            Self::Busy => 503,
        }
    }

    /// The reason phrase.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::NotFound => "Not Found",
            Self::Busy => "Service Unavailable",
        }
    }

    /// The `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Ok => "text/plain",
            _ => "text/plain; charset=utf-8",
        }
    }
}

/// The tracker server core (sans-I/O).
pub struct TrackerCore {
    config: ServerConfig,
    store: SwarmStore,
    secret: ConnectionIdSecret,
    base: Instant,
    next_expiry: Instant,
    rate: HashMap<IpAddr, (u32, u32)>,
    stats: ServerStats,
    peers_buf: Vec<SocketAddr>,
}

impl TrackerCore {
    /// A core with `config`; `seed` keys connection ids and peer sampling.
    pub fn new(config: ServerConfig, seed: [u8; 32], now: Instant) -> Self {
        let sample_seed = u64::from_le_bytes([
            seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7],
        ]);
        let store = SwarmStore::new(
            now,
            sample_seed,
            config.limits.max_peers,
            config.limits.max_swarms,
        )
        .with_caps(
            config.limits.max_peers_per_swarm,
            config.limits.max_peers_per_ip,
        );
        let expiry_every = Duration::from_secs(u64::from(config.interval.clamp(1, 300)));
        Self {
            config,
            store,
            secret: ConnectionIdSecret::new(seed, now),
            base: now,
            next_expiry: now + expiry_every,
            rate: HashMap::new(),
            stats: ServerStats::default(),
            peers_buf: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The swarm store (read-only).
    pub fn store(&self) -> &SwarmStore {
        &self.store
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// When [`Self::handle_timeout`] wants to run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Instant {
        self.next_expiry
    }

    /// Expires stale peers if due; harmless when called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_expiry {
            return;
        }
        self.store.expire(now, self.config.peer_timeout());
        let every = Duration::from_secs(u64::from(self.config.interval.clamp(1, 300)));
        self.next_expiry = now + every;
    }

    /// Answers an HTTP GET for `target` (path and query) from `remote`, writing the body into
    /// `out` (cleared first).
    pub fn handle_http(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        target: &str,
        out: &mut Vec<u8>,
    ) -> HttpStatus {
        out.clear();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let remote = canonical(remote);
        let route = if path.ends_with("/announce") || path.ends_with("/announce.php") {
            Route::Announce
        } else if path.ends_with("/scrape") || path.ends_with("/scrape.php") {
            Route::Scrape
        } else {
            out.extend_from_slice(b"not found");
            return HttpStatus::NotFound;
        };
        if !self.rate_ok(now, remote.ip()) {
            self.stats.rate_limited += 1;
            out.extend_from_slice(b"rate limited");
            return HttpStatus::Busy;
        }
        match route {
            Route::Announce => self.http_announce(now, remote, query, out),
            Route::Scrape => self.http_scrape(query, out),
        }
        HttpStatus::Ok
    }

    /// Answers one UDP datagram from `remote`. Returns `true` when `out` (cleared first) holds a
    /// reply to send back. Garbage, forged connection ids' requests and rate-limited senders
    /// get no reply (no amplification).
    pub fn handle_udp(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        let remote = canonical(remote);
        let Ok(req) = Request::decode(datagram) else {
            return false;
        };
        if !self.rate_ok(now, remote.ip()) {
            self.stats.rate_limited += 1;
            return false;
        }
        match req {
            Request::Connect { transaction_id } => {
                self.stats.connects += 1;
                let connection_id = self.secret.make(now, &remote);
                udp::Response::Connect {
                    transaction_id,
                    connection_id,
                }
                .encode(Family::of(&remote), out);
                true
            }
            Request::Announce(a) => {
                if !self.secret.check(now, &remote, a.connection_id) {
                    self.stats.errors += 1;
                    udp::encode_error(out, a.transaction_id, "invalid connection id");
                    return true;
                }
                let family = Family::of(&remote);
                let max = match family {
                    Family::V4 => self.config.max_numwant,
                    Family::V6 => self.config.max_numwant.min(80),
                };
                let numwant = if a.num_want <= 0 {
                    self.config.default_numwant
                } else {
                    a.num_want as u32
                }
                .min(max);
                let ann = Announce {
                    info_hash: a.info_hash,
                    addr: SocketAddr::new(remote.ip(), a.port),
                    event: a.event,
                    seeder: a.left == 0,
                    numwant: numwant as usize,
                    want_v4: family == Family::V4,
                    want_v6: family == Family::V6,
                };
                match self.announce(now, &ann) {
                    Ok(st) => {
                        udp::encode_announce_head(
                            out,
                            a.transaction_id,
                            self.config.interval,
                            st.incomplete,
                            st.complete,
                        );
                        for p in &self.peers_buf {
                            udp::write_peer(out, family, p);
                        }
                    }
                    Err(r) => {
                        self.stats.errors += 1;
                        udp::encode_error(out, a.transaction_id, &r.to_string());
                    }
                }
                true
            }
            Request::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                if !self.secret.check(now, &remote, connection_id) {
                    self.stats.errors += 1;
                    udp::encode_error(out, transaction_id, "invalid connection id");
                    return true;
                }
                self.stats.scrapes += 1;
                udp::encode_scrape_head(out, transaction_id);
                for h in &info_hashes {
                    udp::encode_scrape_entry(out, &self.scrape_one(h));
                }
                true
            }
        }
    }

    fn announce(&mut self, now: Instant, a: &Announce) -> Result<ScrapeStats, Refusal> {
        if !self.config.allow.allows(&a.info_hash) {
            return Err(Refusal::NotAllowed);
        }
        let mut buf = std::mem::take(&mut self.peers_buf);
        let r = self.store.announce(now, a, &mut buf);
        self.peers_buf = buf;
        if r.is_ok() {
            self.stats.announces += 1;
        }
        r
    }

    fn scrape_one(&self, h: &InfoHashV1) -> ScrapeStats {
        if self.config.allow.allows(h) {
            self.store.scrape(h)
        } else {
            ScrapeStats::default()
        }
    }

    fn http_announce(&mut self, now: Instant, remote: SocketAddr, query: &str, out: &mut Vec<u8>) {
        let q = match parse_announce_query(query) {
            Ok(q) => q,
            Err(e) => return self.failure(out, &e.to_string()),
        };
        let numwant = q
            .numwant
            .unwrap_or(self.config.default_numwant)
            .min(self.config.max_numwant);
        let ann = Announce {
            info_hash: q.info_hash,
            addr: SocketAddr::new(remote.ip(), q.port),
            event: q.event,
            seeder: q.left == Some(0),
            numwant: numwant as usize,
            want_v4: true,
            want_v6: true,
        };
        let st = match self.announce(now, &ann) {
            Ok(st) => st,
            Err(r) => return self.failure(out, &r.to_string()),
        };
        let peers = &self.peers_buf;
        let _ = write!(
            out,
            "d8:completei{}e10:incompletei{}e8:intervali{}e12:min intervali{}e5:peers",
            st.complete, st.incomplete, self.config.interval, self.config.min_interval
        );
        if q.compact {
            let n4 = peers.iter().filter(|p| p.is_ipv4()).count();
            let _ = write!(out, "{}:", n4 * 6);
            for p in peers {
                udp::write_peer(out, Family::V4, p);
            }
            let n6 = peers.len() - n4;
            if n6 > 0 {
                let _ = write!(out, "6:peers6{}:", n6 * 18);
                for p in peers {
                    udp::write_peer(out, Family::V6, p);
                }
            }
        } else {
            out.push(b'l');
            let mut ip = String::new();
            for p in peers {
                ip.clear();
                let _ = write!(ip, "{}", p.ip());
                let _ = write!(out, "d2:ip{}:{}4:porti{}ee", ip.len(), ip, p.port());
            }
            out.push(b'e');
        }
        out.push(b'e');
    }

    fn http_scrape(&mut self, query: &str, out: &mut Vec<u8>) {
        let hashes = match parse_scrape_query(query) {
            Ok(h) if h.is_empty() => return self.failure(out, "full scrape is disabled"),
            Ok(h) => h,
            Err(e) => return self.failure(out, &e.to_string()),
        };
        self.stats.scrapes += 1;
        let sorted: BTreeSet<InfoHashV1> = hashes.into_iter().collect();
        out.extend_from_slice(b"d5:filesd");
        for h in &sorted {
            let s = self.scrape_one(h);
            out.extend_from_slice(b"20:");
            out.extend_from_slice(&h.0);
            let _ = write!(
                out,
                "d8:completei{}e10:downloadedi{}e10:incompletei{}ee",
                s.complete, s.downloaded, s.incomplete
            );
        }
        out.extend_from_slice(b"ee");
    }

    fn failure(&mut self, out: &mut Vec<u8>, reason: &str) {
        self.stats.errors += 1;
        out.clear();
        let _ = write!(out, "d14:failure reason{}:{}e", reason.len(), reason);
    }

    /// Fixed one-second windows per IP; the table is pruned when it grows past the limit.
    fn rate_ok(&mut self, now: Instant, ip: IpAddr) -> bool {
        let limit = self.config.limits.per_ip_per_sec;
        if limit == 0 {
            return true;
        }
        let sec = now.saturating_duration_since(self.base).as_secs() as u32;
        if self.rate.len() >= self.config.limits.max_tracked_ips && !self.rate.contains_key(&ip) {
            self.rate.retain(|_, (w, _)| *w == sec);
            if self.rate.len() >= self.config.limits.max_tracked_ips {
                return false;
            }
        }
        let e = self.rate.entry(ip).or_insert((sec, 0));
        if e.0 != sec {
            *e = (sec, 0);
        }
        e.1 += 1;
        e.1 <= limit
    }
}

enum Route {
    Announce,
    Scrape,
}

/// IPv4-mapped IPv6 addresses (dual-stack sockets) are treated as IPv4.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

#[cfg(test)]
mod tests;

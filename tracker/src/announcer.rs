//! BEP 12 multitracker announcing for one torrent: tiers, shuffle, promote, fall through,
//! per-tracker backoff, `interval`/`min interval`, `started`/`completed` once/`stopped`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::udp::Family;
use crate::{
    AnnounceRequest, Event, InfoHashV1, PeerId, PeerKey, UdpClientConfig, UdpClientEvent,
    UdpTrackerClient, announce_url, parse_announce_response,
};

/// Refers to one tracker of an [`Announcer`] (stable across shuffles and promotions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackerIdx(pub usize);

/// Announcer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnouncerConfig {
    /// Our peer id.
    pub peer_id: PeerId,
    /// Our TCP port.
    pub port: u16,
    /// Peers to ask for.
    pub numwant: Option<u32>,
    /// Our key.
    pub key: PeerKey,
    /// An HTTP request without an answer after this long counts as failed.
    pub http_timeout: Duration,
    /// UDP retransmission settings.
    pub udp: UdpClientConfig,
    /// Backoff after the first failure of a tracker; doubles per failure.
    pub backoff_base: Duration,
    /// Backoff ceiling.
    pub backoff_max: Duration,
    /// Shortest interval accepted from a tracker (protects trackers from our bugs and us from
    /// theirs).
    pub min_interval_floor: Duration,
    /// Seed for the tier shuffle and UDP transaction ids.
    pub seed: u64,
}

impl AnnouncerConfig {
    /// Defaults: 30 s HTTP timeout, UDP 15 s · 2ⁿ with 3 attempts, backoff 60 s .. 1 h.
    pub fn new(peer_id: PeerId, port: u16, seed: u64) -> Self {
        Self {
            peer_id,
            port,
            numwant: Some(50),
            key: PeerKey(seed as u32),
            http_timeout: Duration::from_secs(30),
            udp: UdpClientConfig {
                max_attempts: 3,
                ..UdpClientConfig::default()
            },
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(3600),
            min_interval_floor: Duration::from_secs(1),
            seed,
        }
    }
}

/// Something the caller must do on the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerAction {
    /// GET this URL (follow redirects, decode gzip, limit the body), then call
    /// [`Announcer::handle_http_response`].
    HttpGet {
        /// Which tracker.
        tracker: TrackerIdx,
        /// The full announce URL.
        url: String,
    },
    /// Send this datagram to `host:port`; feed replies to [`Announcer::handle_udp_datagram`].
    SendUdp {
        /// Which tracker.
        tracker: TrackerIdx,
        /// Host name or address to resolve.
        host: String,
        /// Port.
        port: u16,
        /// The datagram.
        payload: Vec<u8>,
    },
}

/// Something the application should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnouncerEvent {
    /// A tracker answered.
    Announced {
        /// Which tracker.
        tracker: TrackerIdx,
        /// Peers it gave.
        peers: Vec<SocketAddr>,
        /// Seeders, if told.
        complete: Option<u32>,
        /// Leechers, if told.
        incomplete: Option<u32>,
    },
    /// A tracker's warning message.
    Warning {
        /// Which tracker.
        tracker: TrackerIdx,
        /// The text.
        message: String,
    },
    /// A tracker failed (shown in torrent status; the announcer moves on).
    Error {
        /// Which tracker.
        tracker: TrackerIdx,
        /// What went wrong.
        message: String,
    },
    /// The `stopped` announce is done (or every tracker failed it).
    Stopped,
}

/// Transfer counters reported in announces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes uploaded.
    pub uploaded: u64,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left.
    pub left: u64,
}

enum Transport {
    Http,
    Udp {
        host: String,
        port: u16,
        client: Box<UdpTrackerClient>,
    },
    Unusable(String),
}

struct Tracker {
    url: String,
    transport: Transport,
    fails: u32,
    backoff_until: Option<Instant>,
    tracker_id: Option<Vec<u8>>,
    last_error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started, or stopped.
    Idle,
    /// Next announce at this time.
    Waiting(Instant),
    /// Waiting for `tracker` (at `tier`, `pos`); HTTP deadline if HTTP.
    InFlight {
        tracker: usize,
        tier: usize,
        pos: usize,
        deadline: Option<Instant>,
    },
}

/// The BEP 12 announcer for one torrent (sans-I/O).
///
/// Commands: [`Self::start`], [`Self::set_progress`], [`Self::completed`], [`Self::stop`],
/// [`Self::reannounce`]. Inputs: [`Self::handle_http_response`],
/// [`Self::handle_udp_datagram`], [`Self::handle_timeout`]. After each, drain
/// [`Self::poll_action`] and [`Self::poll_event`], then wait until [`Self::poll_timeout`].
pub struct Announcer {
    info_hash: InfoHashV1,
    config: AnnouncerConfig,
    trackers: Vec<Tracker>,
    tiers: Vec<Vec<usize>>,
    phase: Phase,
    event: Event,
    completed_sent: bool,
    /// `completed` still has to reach a tracker.
    completed_pending: bool,
    stopping: bool,
    /// `stop` arrived while an HTTP request was out: send `stopped` once it is answered (an
    /// HTTP answer cannot be told apart from the answer to a newer request).
    stop_after_inflight: bool,
    /// The event of the request in flight.
    sent_event: Event,
    progress: Progress,
    interval: Duration,
    min_interval: Duration,
    last_announce: Option<Instant>,
    actions: VecDeque<TrackerAction>,
    events: VecDeque<AnnouncerEvent>,
}

impl Announcer {
    /// An announcer over `tiers` of tracker URLs (`announce-list`, or one tier with `announce`).
    /// Each tier is shuffled. Unusable URLs stay in the list and fail when tried.
    pub fn new(info_hash: InfoHashV1, tiers: Vec<Vec<String>>, config: AnnouncerConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut trackers = Vec::new();
        let mut tier_idx = Vec::new();
        for tier in tiers {
            let mut ids = Vec::new();
            for url in tier {
                let transport = transport_for(&url, &config, trackers.len() as u64);
                ids.push(trackers.len());
                trackers.push(Tracker {
                    url,
                    transport,
                    fails: 0,
                    backoff_until: None,
                    tracker_id: None,
                    last_error: None,
                });
            }
            if !ids.is_empty() {
                ids.shuffle(&mut rng);
                tier_idx.push(ids);
            }
        }
        Self {
            info_hash,
            config,
            trackers,
            tiers: tier_idx,
            phase: Phase::Idle,
            event: Event::None,
            completed_sent: false,
            completed_pending: false,
            stopping: false,
            stop_after_inflight: false,
            sent_event: Event::None,
            progress: Progress::default(),
            interval: Duration::from_secs(1800),
            min_interval: Duration::from_secs(60),
            last_announce: None,
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Tracker URLs in current tier order (after shuffle and promotions).
    pub fn tiers(&self) -> Vec<Vec<(TrackerIdx, &str)>> {
        self.tiers
            .iter()
            .map(|t| {
                t.iter()
                    .map(|&i| (TrackerIdx(i), self.trackers[i].url.as_str()))
                    .collect()
            })
            .collect()
    }

    /// The last error of a tracker, for torrent status.
    pub fn last_error(&self, t: TrackerIdx) -> Option<&str> {
        self.trackers.get(t.0)?.last_error.as_deref()
    }

    /// Command: begin (event `started`, announce now).
    pub fn start(&mut self, now: Instant, progress: Progress) {
        self.progress = progress;
        self.event = Event::Started;
        self.stopping = false;
        self.announce_from(now, 0, 0);
    }

    /// Command: update the counters sent with the next announce.
    pub fn set_progress(&mut self, progress: Progress) {
        self.progress = progress;
    }

    /// Command: the download finished; sends `completed` once per announcer.
    pub fn completed(&mut self, now: Instant, progress: Progress) {
        self.progress = progress;
        if self.completed_sent || self.stopping || self.phase == Phase::Idle {
            return;
        }
        self.completed_sent = true;
        self.completed_pending = true;
        // In flight: `completed` goes out as soon as that request is answered.
        if !matches!(self.phase, Phase::InFlight { .. }) {
            if self.event != Event::Started {
                self.event = Event::Completed;
            }
            self.announce_from(now, 0, 0);
        }
    }

    /// Command: leaving; sends `stopped` (one pass over the trackers, no retries).
    pub fn stop(&mut self, now: Instant, progress: Progress) {
        self.progress = progress;
        if self.phase == Phase::Idle {
            self.events.push_back(AnnouncerEvent::Stopped);
            return;
        }
        self.stopping = true;
        self.event = Event::Stopped;
        if let Phase::InFlight { tracker, .. } = self.phase
            && matches!(self.trackers[tracker].transport, Transport::Http)
        {
            self.stop_after_inflight = true;
            return;
        }
        // A UDP exchange is cancelled: late replies carry an old transaction id and are ignored.
        self.cancel_inflight();
        self.announce_from(now, 0, 0);
    }

    /// Command: announce early if `min interval` allows; returns whether it will.
    pub fn reannounce(&mut self, now: Instant) -> bool {
        let Phase::Waiting(_) = self.phase else {
            return false;
        };
        let ok = self
            .last_announce
            .is_none_or(|t| now.saturating_duration_since(t) >= self.min_interval);
        if ok {
            self.announce_from(now, 0, 0);
        }
        ok
    }

    /// Output: next network action.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<TrackerAction> {
        self.actions.pop_front()
    }

    /// Output: next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<AnnouncerEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Idle => None,
            Phase::Waiting(t) => Some(t),
            Phase::InFlight {
                tracker, deadline, ..
            } => match &self.trackers[tracker].transport {
                Transport::Udp { client, .. } => client.poll_timeout(),
                _ => deadline,
            },
        }
    }

    /// Input: timers; harmless when called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Waiting(t) if now >= t => self.announce_from(now, 0, 0),
            Phase::InFlight {
                tracker, deadline, ..
            } => {
                if let Transport::Udp { client, .. } = &mut self.trackers[tracker].transport {
                    client.handle_timeout(now);
                    self.drain_udp(now, tracker);
                } else if deadline.is_some_and(|d| now >= d) {
                    self.failed(now, tracker, "timed out".into());
                }
            }
            _ => {}
        }
    }

    /// Input: the body of the HTTP reply for `tracker` (decoded), or the transport error text.
    pub fn handle_http_response(
        &mut self,
        now: Instant,
        tracker: TrackerIdx,
        body: Result<&[u8], String>,
    ) {
        let Phase::InFlight { tracker: t, .. } = self.phase else {
            return;
        };
        if t != tracker.0 {
            return;
        }
        match body
            .map_err(|e| e.to_string())
            .and_then(|b| parse_announce_response(b).map_err(|e| e.to_string()))
        {
            Ok(r) => {
                if let Some(w) = r.warning.clone() {
                    self.events.push_back(AnnouncerEvent::Warning {
                        tracker,
                        message: w,
                    });
                }
                if r.tracker_id.is_some() {
                    self.trackers[t].tracker_id = r.tracker_id.clone();
                }
                self.succeeded(now, t, r);
            }
            Err(e) => self.failed(now, t, e),
        }
    }

    /// Input: a datagram that arrived from `tracker`'s address.
    pub fn handle_udp_datagram(&mut self, now: Instant, tracker: TrackerIdx, datagram: &[u8]) {
        let Some(tr) = self.trackers.get_mut(tracker.0) else {
            return;
        };
        if let Transport::Udp { client, .. } = &mut tr.transport {
            client.handle_datagram(now, datagram);
            self.drain_udp(now, tracker.0);
        }
    }

    fn drain_udp(&mut self, now: Instant, t: usize) {
        let Transport::Udp { host, port, client } = &mut self.trackers[t].transport else {
            return;
        };
        while let Some(payload) = client.poll_transmit() {
            self.actions.push_back(TrackerAction::SendUdp {
                tracker: TrackerIdx(t),
                host: host.clone(),
                port: *port,
                payload,
            });
        }
        let ev = client.poll_event();
        match ev {
            Some(UdpClientEvent::Announced(r)) => self.succeeded(now, t, r),
            Some(UdpClientEvent::Failed(e)) => self.failed(now, t, e.to_string()),
            Some(UdpClientEvent::Scraped(_)) | None => {}
        }
    }

    fn succeeded(&mut self, now: Instant, t: usize, r: crate::AnnounceResponse) {
        let Phase::InFlight { tier, pos, .. } = self.phase else {
            return;
        };
        let tr = &mut self.trackers[t];
        tr.fails = 0;
        tr.backoff_until = None;
        tr.last_error = None;
        // Promote within the tier.
        let moved = self.tiers[tier].remove(pos);
        self.tiers[tier].insert(0, moved);
        self.events.push_back(AnnouncerEvent::Announced {
            tracker: TrackerIdx(t),
            peers: r.peers,
            complete: r.complete,
            incomplete: r.incomplete,
        });
        self.last_announce = Some(now);
        let floor = self.config.min_interval_floor;
        self.min_interval = r
            .min_interval
            .map_or(self.min_interval, |m| Duration::from_secs(m.into()))
            .max(floor);
        self.interval = Duration::from_secs(r.interval.into())
            .max(self.min_interval)
            .max(floor);
        if self.stopping {
            if std::mem::take(&mut self.stop_after_inflight) {
                self.announce_from(now, 0, 0);
            } else {
                self.finish_stop();
            }
            return;
        }
        if self.sent_event == Event::Completed {
            self.completed_pending = false;
        }
        // `completed` requested while another announce was in flight: send it right away.
        self.event = if self.completed_pending {
            Event::Completed
        } else {
            Event::None
        };
        if self.event == Event::Completed {
            self.announce_from(now, 0, 0);
        } else {
            self.phase = Phase::Waiting(now + self.interval);
        }
    }

    fn failed(&mut self, now: Instant, t: usize, message: String) {
        let Phase::InFlight { tier, pos, .. } = self.phase else {
            return;
        };
        let tr = &mut self.trackers[t];
        tr.fails += 1;
        let factor = 1u32 << (tr.fails - 1).min(16);
        let backoff = self
            .config
            .backoff_base
            .saturating_mul(factor)
            .min(self.config.backoff_max);
        tr.backoff_until = Some(now + backoff);
        tr.last_error = Some(message.clone());
        self.events.push_back(AnnouncerEvent::Error {
            tracker: TrackerIdx(t),
            message,
        });
        if std::mem::take(&mut self.stop_after_inflight) {
            self.announce_from(now, 0, 0);
            return;
        }
        self.announce_from(now, tier, pos + 1);
    }

    /// Tries the first usable tracker at or after (`tier`, `pos`) in BEP 12 order.
    fn announce_from(&mut self, now: Instant, tier: usize, pos: usize) {
        let mut next = None;
        'outer: for ti in tier..self.tiers.len() {
            let start = if ti == tier { pos } else { 0 };
            for pi in start..self.tiers[ti].len() {
                let t = self.tiers[ti][pi];
                if self.trackers[t].backoff_until.is_none_or(|b| b <= now) {
                    next = Some((ti, pi, t));
                    break 'outer;
                }
            }
        }
        let Some((ti, pi, t)) = next else {
            if self.stopping {
                self.finish_stop();
                return;
            }
            // Everyone is backing off: retry when the first backoff ends.
            let wake = self
                .trackers
                .iter()
                .filter_map(|tr| tr.backoff_until)
                .filter(|b| *b > now)
                .min()
                .unwrap_or(now + self.config.backoff_base);
            self.phase = Phase::Waiting(wake);
            return;
        };
        let req = AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.config.peer_id,
            port: self.config.port,
            uploaded: self.progress.uploaded,
            downloaded: self.progress.downloaded,
            left: self.progress.left,
            event: self.event,
            numwant: if self.event == Event::Stopped {
                Some(0)
            } else {
                self.config.numwant
            },
            key: Some(self.config.key),
            tracker_id: self.trackers[t].tracker_id.clone(),
            compact: true,
        };
        self.sent_event = self.event;
        self.phase = Phase::InFlight {
            tracker: t,
            tier: ti,
            pos: pi,
            deadline: None,
        };
        match &mut self.trackers[t].transport {
            Transport::Http => match announce_url(&self.trackers[t].url, &req) {
                Ok(url) => {
                    self.phase = Phase::InFlight {
                        tracker: t,
                        tier: ti,
                        pos: pi,
                        deadline: Some(now + self.config.http_timeout),
                    };
                    self.actions.push_back(TrackerAction::HttpGet {
                        tracker: TrackerIdx(t),
                        url,
                    });
                }
                Err(e) => self.failed(now, t, e.to_string()),
            },
            Transport::Udp { client, .. } => {
                client.announce(now, req);
                self.drain_udp(now, t);
            }
            Transport::Unusable(why) => {
                let why = why.clone();
                self.failed(now, t, why);
            }
        }
    }

    fn cancel_inflight(&mut self) {
        if let Phase::InFlight { tracker, .. } = self.phase
            && let Transport::Udp { client, .. } = &mut self.trackers[tracker].transport
        {
            client.cancel();
        }
    }

    fn finish_stop(&mut self) {
        self.stopping = false;
        self.phase = Phase::Idle;
        self.event = Event::None;
        self.events.push_back(AnnouncerEvent::Stopped);
    }
}

fn transport_for(url: &str, config: &AnnouncerConfig, n: u64) -> Transport {
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return Transport::Unusable(format!("invalid tracker URL {url:?}: {e}")),
    };
    match parsed.scheme() {
        "http" | "https" => Transport::Http,
        "udp" => {
            let (Some(host), Some(port)) = (parsed.host_str(), parsed.port()) else {
                return Transport::Unusable(format!("UDP tracker URL {url:?} lacks host or port"));
            };
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let family = if host.contains(':') {
                Family::V6
            } else {
                Family::V4
            };
            Transport::Udp {
                host,
                port,
                client: Box::new(UdpTrackerClient::new(
                    config.udp,
                    family,
                    config.seed.wrapping_add(n),
                )),
            }
        }
        other => Transport::Unusable(format!("unsupported tracker scheme {other:?}")),
    }
}

#[cfg(test)]
mod tests;

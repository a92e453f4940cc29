//! The client side of one BEP 15 UDP tracker: connect, then announce or scrape, with
//! transaction ids, connection-id lifetime and retransmission.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::udp::{self, ConnectionId, Family, Request, Response, TransactionId};
use crate::{AnnounceRequest, AnnounceResponse, InfoHashV1, PeerKey, ScrapeStats, UdpError};

/// Timing of a UDP tracker exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpClientConfig {
    /// First retransmission timeout; attempt n waits `retransmit_base · 2ⁿ` (BEP 15: 15 s).
    pub retransmit_base: Duration,
    /// Attempts before giving up (BEP 15 allows 9, i.e. n up to 8).
    pub max_attempts: u32,
    /// How long a connection id may be used (BEP 15: one minute).
    pub connection_lifetime: Duration,
}

impl Default for UdpClientConfig {
    fn default() -> Self {
        Self {
            retransmit_base: Duration::from_secs(15),
            max_attempts: 9,
            connection_lifetime: Duration::from_secs(60),
        }
    }
}

/// The outcome of an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpClientEvent {
    /// Announce answered.
    Announced(AnnounceResponse),
    /// Scrape answered, in request order.
    Scraped(Vec<(InfoHashV1, ScrapeStats)>),
    /// The operation failed (tracker error or timeout).
    Failed(UdpError),
}

#[derive(Clone, Debug)]
enum Op {
    Announce(AnnounceRequest),
    Scrape(Vec<InfoHashV1>),
}

#[derive(Clone, Copy, Debug)]
struct Inflight {
    tid: TransactionId,
    connecting: bool,
    deadline: Instant,
}

/// One UDP tracker, sans-I/O.
///
/// Commands: [`Self::announce`], [`Self::scrape`] (a new command replaces an unfinished one).
/// Inputs: [`Self::handle_datagram`], [`Self::handle_timeout`]. Outputs: drain
/// [`Self::poll_transmit`] (datagrams to send to the tracker) and [`Self::poll_event`], then wait
/// until [`Self::poll_timeout`].
pub struct UdpTrackerClient {
    config: UdpClientConfig,
    family: Family,
    rng: ChaCha8Rng,
    conn: Option<(ConnectionId, Instant)>,
    op: Option<Op>,
    attempt: u32,
    inflight: Option<Inflight>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<UdpClientEvent>,
}

impl UdpTrackerClient {
    /// A client for a tracker reached over a socket of `family`; `seed` drives transaction ids.
    pub fn new(config: UdpClientConfig, family: Family, seed: u64) -> Self {
        Self {
            config,
            family,
            rng: ChaCha8Rng::seed_from_u64(seed),
            conn: None,
            op: None,
            attempt: 0,
            inflight: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Whether an operation is in progress.
    pub fn is_busy(&self) -> bool {
        self.op.is_some()
    }

    /// Command: announce.
    pub fn announce(&mut self, now: Instant, req: AnnounceRequest) {
        self.start(now, Op::Announce(req));
    }

    /// Command: scrape up to 74 torrents (more are cut off).
    pub fn scrape(&mut self, now: Instant, mut hashes: Vec<InfoHashV1>) {
        hashes.truncate(udp::MAX_SCRAPE);
        self.start(now, Op::Scrape(hashes));
    }

    /// Command: abandon the current operation.
    pub fn cancel(&mut self) {
        self.op = None;
        self.inflight = None;
    }

    /// Output: the next datagram to send to the tracker.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Output: the next outcome.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<UdpClientEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.inflight.map(|i| i.deadline)
    }

    /// Input: the retransmission timer; harmless when called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(inf) = self.inflight else { return };
        if now < inf.deadline {
            return;
        }
        self.attempt += 1;
        if self.attempt >= self.config.max_attempts {
            self.fail(UdpError::Timeout {
                attempts: self.attempt,
            });
            return;
        }
        self.send(now);
    }

    /// Input: a datagram from the tracker. Ones that match no outstanding transaction are
    /// ignored; malformed ones fail the operation if their transaction id matches.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let Some(inf) = self.inflight else { return };
        let tid = datagram
            .get(4..8)
            .map(|b| TransactionId(u32::from_be_bytes([b[0], b[1], b[2], b[3]])));
        if tid != Some(inf.tid) {
            return;
        }
        let resp = match Response::decode(datagram, self.family) {
            Ok(r) => r,
            Err(e) => return self.fail(e),
        };
        match (resp, self.op.clone()) {
            (Response::Error { message, .. }, _) => self.fail(UdpError::Tracker(message)),
            (Response::Connect { connection_id, .. }, Some(_)) if inf.connecting => {
                self.conn = Some((connection_id, now));
                self.send(now);
            }
            (
                Response::Announce {
                    interval,
                    leechers,
                    seeders,
                    peers,
                    ..
                },
                Some(Op::Announce(_)),
            ) if !inf.connecting => {
                self.finish(UdpClientEvent::Announced(AnnounceResponse {
                    interval,
                    complete: Some(seeders),
                    incomplete: Some(leechers),
                    peers,
                    ..Default::default()
                }));
            }
            (Response::Scrape { stats, .. }, Some(Op::Scrape(hashes))) if !inf.connecting => {
                self.finish(UdpClientEvent::Scraped(
                    hashes.into_iter().zip(stats).collect(),
                ));
            }
            (other, _) => self.fail(UdpError::UnexpectedTransaction(other.transaction_id().0)),
        }
    }

    fn start(&mut self, now: Instant, op: Op) {
        self.op = Some(op);
        self.attempt = 0;
        self.send(now);
    }

    /// Sends connect (if the connection id is missing or stale) or the operation itself.
    fn send(&mut self, now: Instant) {
        let Some(op) = &self.op else { return };
        let tid = TransactionId(self.rng.random());
        let valid = self
            .conn
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.config.connection_lifetime);
        let mut buf = Vec::with_capacity(100);
        let connecting = match (valid, op) {
            (None, _) => {
                Request::Connect {
                    transaction_id: tid,
                }
                .encode(&mut buf);
                true
            }
            (Some((cid, _)), Op::Announce(a)) => {
                Request::Announce(udp::AnnounceRequest {
                    connection_id: cid,
                    transaction_id: tid,
                    info_hash: a.info_hash,
                    peer_id: a.peer_id,
                    downloaded: a.downloaded,
                    left: a.left,
                    uploaded: a.uploaded,
                    event: a.event,
                    ip: 0,
                    key: a.key.unwrap_or(PeerKey(0)),
                    num_want: a.numwant.map_or(-1, |n| n.min(i32::MAX as u32) as i32),
                    port: a.port,
                })
                .encode(&mut buf);
                false
            }
            (Some((cid, _)), Op::Scrape(h)) => {
                Request::Scrape {
                    connection_id: cid,
                    transaction_id: tid,
                    info_hashes: h.clone(),
                }
                .encode(&mut buf);
                false
            }
        };
        let wait = self
            .config
            .retransmit_base
            .saturating_mul(1u32 << self.attempt.min(16));
        self.inflight = Some(Inflight {
            tid,
            connecting,
            deadline: now + wait,
        });
        self.transmit.push_back(buf);
    }

    fn finish(&mut self, ev: UdpClientEvent) {
        self.op = None;
        self.inflight = None;
        self.events.push_back(ev);
    }

    fn fail(&mut self, e: UdpError) {
        self.finish(UdpClientEvent::Failed(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PeerId, ServerConfig, TrackerCore};

    fn cfg() -> UdpClientConfig {
        UdpClientConfig {
            retransmit_base: Duration::from_secs(1),
            max_attempts: 3,
            connection_lifetime: Duration::from_secs(60),
        }
    }

    fn req(port: u16) -> AnnounceRequest {
        AnnounceRequest::new(InfoHashV1([3; 20]), PeerId([4; 20]), port).with_left(1)
    }

    #[test]
    fn against_core_with_loss_and_reconnect() {
        let t0 = crate::test_epoch();
        let mut core = TrackerCore::new(ServerConfig::default(), [1; 32], t0);
        let me: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut c = UdpTrackerClient::new(cfg(), Family::V4, 7);
        c.announce(t0, req(6881));
        // Lose the first connect: retransmitted after 1 s, then 2 s.
        let lost = c.poll_transmit().unwrap();
        assert_eq!(lost.len(), 16);
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        c.handle_timeout(t0 + Duration::from_millis(500));
        assert!(c.poll_transmit().is_none());
        let t1 = t0 + Duration::from_secs(1);
        c.handle_timeout(t1);
        assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(2)));
        let mut out = Vec::new();
        let mut now = t1;
        let mut rounds = 0;
        while let Some(dg) = c.poll_transmit() {
            rounds += 1;
            assert!(core.handle_udp(now, me, &dg, &mut out));
            // A stray reply with another transaction id is ignored.
            c.handle_datagram(now, b"\0\0\0\0\xff\xff\xff\xff\0\0\0\0\0\0\0\0");
            c.handle_datagram(now, &out);
            now += Duration::from_millis(10);
        }
        assert_eq!(rounds, 2);
        let Some(UdpClientEvent::Announced(r)) = c.poll_event() else {
            panic!()
        };
        assert_eq!((r.interval, r.incomplete), (1800, Some(1)));
        // Within a minute the connection id is reused: one datagram only.
        c.scrape(now, vec![InfoHashV1([3; 20])]);
        let dg = c.poll_transmit().unwrap();
        assert_eq!(dg.len(), 36);
        assert!(core.handle_udp(now, me, &dg, &mut out));
        c.handle_datagram(now, &out);
        assert_eq!(
            c.poll_event(),
            Some(UdpClientEvent::Scraped(vec![(
                InfoHashV1([3; 20]),
                ScrapeStats {
                    complete: 0,
                    downloaded: 0,
                    incomplete: 1
                }
            )]))
        );
        // After the lifetime, a new connect comes first.
        let later = now + Duration::from_secs(61);
        c.announce(later, req(6881));
        assert_eq!(c.poll_transmit().unwrap().len(), 16);
    }

    #[test]
    fn gives_up_and_reports_errors() {
        let t0 = crate::test_epoch();
        let mut c = UdpTrackerClient::new(cfg(), Family::V4, 1);
        c.announce(t0, req(1));
        let mut now = t0;
        for _ in 0..3 {
            let _ = c.poll_transmit().unwrap();
            now = c.poll_timeout().unwrap();
            c.handle_timeout(now);
        }
        assert_eq!(
            c.poll_event(),
            Some(UdpClientEvent::Failed(UdpError::Timeout { attempts: 3 }))
        );
        assert!(!c.is_busy());
        // An error packet with the right transaction id fails the operation.
        c.announce(now, req(1));
        let dg = c.poll_transmit().unwrap();
        let mut err = Vec::new();
        udp::encode_error(
            &mut err,
            TransactionId(u32::from_be_bytes([dg[12], dg[13], dg[14], dg[15]])),
            "go away",
        );
        c.handle_datagram(now, &err);
        assert_eq!(
            c.poll_event(),
            Some(UdpClientEvent::Failed(UdpError::Tracker("go away".into())))
        );
    }
}

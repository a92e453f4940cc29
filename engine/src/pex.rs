//! Peer exchange (BEP 11 `ut_pex`) for one torrent, sans-I/O: what to tell each peer when,
//! and which addresses to take from what peers tell us.
//!
//! # Rules
//!
//! - A peer that offers `ut_pex` in its extended handshake gets its first message
//!   [`PexConfig::initial_delay`] after the handshake, then at most one every
//!   [`PexConfig::interval`] (60 s by default, the BEP's minimum). Each message carries the
//!   connected peers' listen addresses added and dropped since the previous one to that peer,
//!   at most [`PexConfig::max_added_sent`] and [`PexConfig::max_dropped_sent`] each (the rest
//!   go in later messages). A peer is never told about itself; empty messages are not sent.
//! - From a received message at most [`PexConfig::max_added_used`] (50) added addresses are
//!   used; messages arriving sooner than half an interval after the previous one from the
//!   same peer are ignored, as are addresses with port 0 or an unspecified IP.
//! - Private torrents (BEP 27) must not use this at all: the caller never creates a [`Pex`]
//!   for them.
//!
//! # Driving
//!
//! After every input, drain [`Pex::poll_action`]; call [`Pex::handle_timeout`] at
//! [`Pex::poll_timeout`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use freshet_peerwire::{
    ExtendedHandshake, Message, PexFlags, PexMessage, UT_PEX, extended_message,
};

use crate::PeerKey;

/// Settings of a [`Pex`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PexConfig {
    /// Least time between two messages to one peer (default 60 s, BEP 11).
    pub interval: Duration,
    /// Delay of the first message after a peer's handshake (default 2 s, capped at
    /// `interval`).
    pub initial_delay: Duration,
    /// Added addresses used from one received message at most (default 50).
    pub max_added_used: usize,
    /// Added addresses per sent message at most (default 50).
    pub max_added_sent: usize,
    /// Dropped addresses per sent message at most (default 50).
    pub max_dropped_sent: usize,
}

impl Default for PexConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            initial_delay: Duration::from_secs(2),
            max_added_used: 50,
            max_added_sent: 50,
            max_dropped_sent: 50,
        }
    }
}

/// Output of a [`Pex`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PexAction {
    /// Send `message` (a `ut_pex` message) to `peer`.
    Send {
        /// The peer.
        peer: PeerKey,
        /// The message.
        message: Message,
    },
    /// Addresses `from` told us about (bounded, deduplicated, never one of ours): add them to
    /// the torrent's known peers.
    Discovered {
        /// Who told us.
        from: PeerKey,
        /// The addresses.
        addrs: Vec<SocketAddr>,
    },
}

/// What we know of one connected peer.
#[derive(Debug, Default)]
struct PexPeer {
    /// Where it accepts connections (known for outgoing connections, or from `p`).
    listen: Option<SocketAddr>,
    flags: PexFlags,
    /// The id it wants `ut_pex` messages under, once its handshake offered it.
    ext_id: Option<u8>,
    next_send: Option<Instant>,
    /// Addresses it has been told about (the base of the next diff).
    told: BTreeSet<SocketAddr>,
    last_received: Option<Instant>,
}

/// Peer exchange of one torrent; see the module docs for the rules.
#[derive(Debug)]
pub struct Pex {
    config: PexConfig,
    peers: BTreeMap<PeerKey, PexPeer>,
    actions: VecDeque<PexAction>,
}

impl Pex {
    /// An exchange with no peers yet.
    #[must_use]
    pub fn new(config: PexConfig) -> Self {
        Self {
            config,
            peers: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// Connected peers with a known listen address (what we would advertise).
    #[must_use]
    pub fn advertised(&self) -> BTreeSet<SocketAddr> {
        self.peers.values().filter_map(|p| p.listen).collect()
    }

    /// A peer connected. `listen` is its listen address when known (an outgoing
    /// connection: the address we dialled, which gets [`PexFlags::REACHABLE`]); for an
    /// incoming one it comes from the `p` of its extended handshake.
    pub fn handle_peer_connected(&mut self, peer: PeerKey, listen: Option<SocketAddr>) {
        let flags = if listen.is_some() {
            PexFlags::REACHABLE
        } else {
            PexFlags::default()
        };
        self.peers.insert(
            peer,
            PexPeer {
                listen,
                flags,
                ..PexPeer::default()
            },
        );
    }

    /// A peer's extended handshake: whether it speaks `ut_pex` (under which id), its listen
    /// port (for incoming connections, with `remote_ip`) and whether it only uploads.
    pub fn handle_extended_handshake(
        &mut self,
        now: Instant,
        peer: PeerKey,
        remote: SocketAddr,
        handshake: &ExtendedHandshake,
    ) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.listen.is_none()
            && let Some(port) = handshake.listen_port.filter(|&port| port != 0)
        {
            p.listen = Some(SocketAddr::new(remote.ip(), port));
        }
        if handshake.upload_only {
            p.flags = PexFlags(p.flags.0 | PexFlags::UPLOAD_ONLY.0);
        }
        let first = p.ext_id.is_none();
        p.ext_id = handshake.extension_id(UT_PEX);
        if first && p.ext_id.is_some() {
            p.next_send = Some(now + self.config.initial_delay.min(self.config.interval));
        } else if p.ext_id.is_none() {
            p.next_send = None;
        }
    }

    /// A `ut_pex` payload from `peer`. Too soon after the previous one, or malformed: ignored.
    pub fn handle_payload(&mut self, now: Instant, peer: PeerKey, payload: &[u8]) {
        let min_gap = self.config.interval / 2;
        let ours = self.advertised();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.last_received
            .is_some_and(|t| now.saturating_duration_since(t) < min_gap)
        {
            return;
        }
        p.last_received = Some(now);
        let own = p.listen;
        let Ok(msg) = PexMessage::decode(payload) else {
            return;
        };
        let v4 = msg.added.iter().map(|(a, _)| SocketAddr::V4(*a));
        let v6 = msg.added6.iter().map(|(a, _)| SocketAddr::V6(*a));
        let mut seen = BTreeSet::new();
        let addrs: Vec<SocketAddr> = v4
            .chain(v6)
            .take(self.config.max_added_used)
            .filter(|a| a.port() != 0 && !a.ip().is_unspecified() && !a.ip().is_multicast())
            .filter(|a| Some(*a) != own && !ours.contains(a))
            .filter(|a| seen.insert(*a))
            .collect();
        if !addrs.is_empty() {
            self.actions
                .push_back(PexAction::Discovered { from: peer, addrs });
        }
    }

    /// A peer's connection is gone; it will appear in others' `dropped` lists.
    pub fn handle_peer_gone(&mut self, peer: PeerKey) {
        self.peers.remove(&peer);
    }

    /// Sends the messages that are due; harmless when called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        let current: BTreeMap<SocketAddr, PexFlags> = self
            .peers
            .values()
            .filter_map(|p| p.listen.map(|l| (l, p.flags)))
            .collect();
        let interval = self.config.interval;
        for (&key, p) in &mut self.peers {
            let (Some(ext_id), Some(due)) = (p.ext_id, p.next_send) else {
                continue;
            };
            if due > now {
                continue;
            }
            p.next_send = Some(now + interval);
            let added: Vec<(SocketAddr, PexFlags)> = current
                .iter()
                .filter(|(a, _)| Some(**a) != p.listen && !p.told.contains(*a))
                .take(self.config.max_added_sent)
                .map(|(a, f)| (*a, *f))
                .collect();
            let dropped: Vec<SocketAddr> = p
                .told
                .iter()
                .filter(|a| !current.contains_key(*a))
                .take(self.config.max_dropped_sent)
                .copied()
                .collect();
            if added.is_empty() && dropped.is_empty() {
                continue;
            }
            let mut msg = PexMessage::default();
            for (a, f) in &added {
                p.told.insert(*a);
                match a {
                    SocketAddr::V4(v4) => msg.added.push((*v4, *f)),
                    SocketAddr::V6(v6) => msg.added6.push((*v6, *f)),
                }
            }
            for a in &dropped {
                p.told.remove(a);
                match a {
                    SocketAddr::V4(v4) => msg.dropped.push(*v4),
                    SocketAddr::V6(v6) => msg.dropped6.push(*v6),
                }
            }
            let message = extended_message(ext_id, |out| msg.encode_payload(out));
            self.actions
                .push_back(PexAction::Send { peer: key, message });
        }
    }

    /// The next action, if any.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<PexAction> {
        self.actions.pop_front()
    }

    /// When [`Self::handle_timeout`] should run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.peers.values().filter_map(|p| p.next_send).min()
    }
}

#[cfg(test)]
mod tests;

//! Applying the choker's decisions to peers.

use std::time::Instant;

use crate::choker::{ChokeCandidate, ChokeMode, choose_optimistic, choose_unchoked};
use crate::{Message, PeerKey};

use super::{FastExtension, Phase, Torrent};

impl Torrent {
    pub(super) fn maybe_unchoke_now(&mut self, now: Instant, peer: PeerKey) {
        if matches!(self.phase, Phase::Paused | Phase::Stopped) {
            return;
        }
        let unchoked = self.peers.values().filter(|p| !p.am_choking).count();
        if unchoked < self.config.unchoke_slots + 1
            && let Some(p) = self.peers.get_mut(&peer)
            && p.am_choking
        {
            p.am_choking = false;
            p.unchoked_since = Some(now);
            self.send(peer, Message::Unchoke);
        }
    }

    pub(super) fn run_choker(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Paused | Phase::Stopped) {
            return;
        }
        let mode = if self.tracker.is_complete() {
            ChokeMode::Seeding
        } else {
            ChokeMode::Leeching
        };
        let candidates: Vec<ChokeCandidate> = self
            .peers
            .iter()
            .map(|(k, p)| ChokeCandidate {
                peer: *k,
                interested: p.peer_interested,
                download_rate: p.download.rate(self.tick),
                upload_rate: p.upload.rate(self.tick),
                snubbed: p.snubbed,
                unchoked_since: (!p.am_choking).then_some(p.unchoked_since).flatten(),
                last_choked: p.last_choked,
            })
            .collect();
        let mut chosen = choose_unchoked(
            &candidates,
            self.config.unchoke_slots,
            mode,
            self.config.optimistic_interval,
            now,
        );
        let optimistic = match self.optimistic {
            Some(o)
                if !chosen.contains(&o)
                    && self.peers.get(&o).is_some_and(|p| p.peer_interested) =>
            {
                Some(o)
            }
            _ => choose_optimistic(&candidates, &chosen, &mut self.rng),
        };
        self.optimistic = optimistic;
        chosen.extend(optimistic);
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            let unchoke = chosen.contains(&k);
            if unchoke && p.am_choking {
                p.am_choking = false;
                p.unchoked_since = Some(now);
                self.send(k, Message::Unchoke);
            } else if !unchoke && !p.am_choking {
                p.am_choking = true;
                p.unchoked_since = None;
                p.last_choked = Some(now);
                let fast = p.info.fast == FastExtension::Enabled;
                let allowed = p.allowed_fast_out.clone();
                let mut rejected = Vec::new();
                p.reading.retain(|b| {
                    let keep = allowed.contains(&b.piece);
                    if !keep {
                        rejected.push(*b);
                    }
                    keep
                });
                self.send(k, Message::Choke);
                if fast {
                    for b in rejected {
                        self.send(k, Message::RejectRequest(b));
                    }
                }
            }
        }
    }
}

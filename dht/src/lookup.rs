//! Iterative Kademlia lookups (`find_node` / `get_peers`) with α parallel queries.
//!
//! A [`Lookup`] keeps the candidates it has heard of sorted by XOR distance to the target.
//! [`Lookup::next_queries`] hands out up to [`ALPHA`] in-flight queries, always to the closest
//! not-yet-queried candidates among the [`K`] closest that have not failed. The lookup is done
//! when none of those K closest is fresh or in flight (they all answered or failed), or after
//! [`MAX_QUERIES`] queries. The lookup does no I/O and keeps no transaction ids: the owner maps
//! replies and timeouts back with [`Lookup::on_response`] and [`Lookup::on_failure`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::{Distance, K, NodeId};

/// Parallel queries per lookup (Kademlia α).
pub const ALPHA: usize = 3;

/// Upper bound on queries sent by one lookup.
pub const MAX_QUERIES: u32 = 256;

/// Upper bound on candidates remembered by one lookup (farthest dropped first).
pub const MAX_CANDIDATES: usize = 128;

/// What a lookup asks each node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LookupKind {
    /// `find_node`: converge on the nodes closest to the target.
    FindNode,
    /// `get_peers`: same, collecting peers and write tokens on the way.
    GetPeers,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Fresh,
    InFlight,
    Responded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    id: NodeId,
    addr: SocketAddr,
    state: State,
    hop: u32,
    token: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
struct Seed {
    addr: SocketAddr,
    state: State,
}

/// One iterative lookup.
#[derive(Clone, Debug)]
pub struct Lookup {
    target: NodeId,
    kind: LookupKind,
    candidates: BTreeMap<Distance, Candidate>,
    seeds: Vec<Seed>,
    queries: u32,
}

impl Lookup {
    /// A lookup for `target`, starting from known nodes and from `seeds` (addresses whose id is
    /// not known, e.g. bootstrap routers).
    pub fn new(
        target: NodeId,
        kind: LookupKind,
        known: impl IntoIterator<Item = (NodeId, SocketAddr)>,
        seeds: impl IntoIterator<Item = SocketAddr>,
    ) -> Self {
        let mut l = Self {
            target,
            kind,
            candidates: BTreeMap::new(),
            seeds: seeds
                .into_iter()
                .map(|addr| Seed {
                    addr,
                    state: State::Fresh,
                })
                .collect(),
            queries: 0,
        };
        for (id, addr) in known {
            l.add_candidate(id, addr, 1);
        }
        l.seeds
            .retain(|s| !l.candidates.values().any(|c| c.addr == s.addr));
        l
    }

    /// The target id.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// The kind of query this lookup sends.
    pub fn kind(&self) -> LookupKind {
        self.kind
    }

    /// Queries sent so far.
    pub fn queries(&self) -> u32 {
        self.queries
    }

    /// The next queries to send now: `(expected id, address, hop)`, each marked in flight.
    /// Returns nothing when α queries are already in flight or the lookup is done.
    pub fn next_queries(&mut self) -> Vec<(Option<NodeId>, SocketAddr, u32)> {
        let mut out = Vec::new();
        let mut in_flight = self.in_flight();
        for s in &mut self.seeds {
            if in_flight >= ALPHA || self.queries >= MAX_QUERIES {
                return out;
            }
            if s.state == State::Fresh {
                s.state = State::InFlight;
                in_flight += 1;
                self.queries += 1;
                out.push((None, s.addr, 1));
            }
        }
        for c in self
            .candidates
            .values_mut()
            .filter(|c| c.state != State::Failed)
            .take(K)
        {
            if in_flight >= ALPHA || self.queries >= MAX_QUERIES {
                break;
            }
            if c.state == State::Fresh {
                c.state = State::InFlight;
                in_flight += 1;
                self.queries += 1;
                out.push((Some(c.id), c.addr, c.hop));
            }
        }
        out
    }

    /// Records a reply from `addr` (node `id`), with the nodes it returned and its token.
    pub fn on_response(
        &mut self,
        addr: SocketAddr,
        id: NodeId,
        nodes: impl IntoIterator<Item = (NodeId, SocketAddr)>,
        token: Option<Vec<u8>>,
    ) {
        let mut hop = 1;
        if let Some(s) = self.seeds.iter_mut().find(|s| s.addr == addr) {
            s.state = State::Responded;
            self.add_candidate(id, addr, 1);
        }
        if let Some(c) = self.candidates.get_mut(&id.distance(&self.target)) {
            if c.addr == addr {
                c.state = State::Responded;
                c.token = token;
                hop = c.hop;
            }
        }
        // A node that answered under a different id than we expected: its old entry must not
        // stay in flight forever (that would stall the lookup), and it is not trusted.
        for c in self.candidates.values_mut() {
            if c.addr == addr && c.state == State::InFlight {
                c.state = State::Failed;
            }
        }
        for (nid, naddr) in nodes {
            self.add_candidate(nid, naddr, hop + 1);
        }
    }

    /// Records that the query to `addr` failed (timeout or error reply).
    pub fn on_failure(&mut self, addr: SocketAddr) {
        for s in self
            .seeds
            .iter_mut()
            .filter(|s| s.addr == addr && s.state == State::InFlight)
        {
            s.state = State::Failed;
        }
        for c in self
            .candidates
            .values_mut()
            .filter(|c| c.addr == addr && c.state == State::InFlight)
        {
            c.state = State::Failed;
        }
    }

    /// True when the K closest live candidates have all answered or failed and nothing is in
    /// flight, or the query budget is spent with nothing in flight.
    pub fn is_done(&self) -> bool {
        if self.in_flight() > 0 {
            return false;
        }
        if self.queries >= MAX_QUERIES {
            return true;
        }
        let fresh_seed = self.seeds.iter().any(|s| s.state == State::Fresh);
        let fresh_close = self
            .candidates
            .values()
            .filter(|c| c.state != State::Failed)
            .take(K)
            .any(|c| c.state == State::Fresh);
        !fresh_seed && !fresh_close
    }

    /// The closest nodes that answered, with their tokens, closest first (at most `n`).
    pub fn closest_responded(&self, n: usize) -> Vec<(NodeId, SocketAddr, Option<Vec<u8>>)> {
        self.candidates
            .values()
            .filter(|c| c.state == State::Responded)
            .take(n)
            .map(|c| (c.id, c.addr, c.token.clone()))
            .collect()
    }

    /// Hop count of the lookup: the largest hop among the K closest nodes that answered
    /// (hop 1 = a node we knew at the start).
    pub fn hops(&self) -> u32 {
        self.candidates
            .values()
            .filter(|c| c.state == State::Responded)
            .take(K)
            .map(|c| c.hop)
            .max()
            .unwrap_or(0)
    }

    /// The hop of the candidate at `addr`, if known.
    pub fn hop_of(&self, addr: SocketAddr) -> Option<u32> {
        self.candidates
            .values()
            .find(|c| c.addr == addr)
            .map(|c| c.hop)
    }

    fn in_flight(&self) -> usize {
        self.seeds
            .iter()
            .filter(|s| s.state == State::InFlight)
            .count()
            + self
                .candidates
                .values()
                .filter(|c| c.state == State::InFlight)
                .count()
    }

    fn add_candidate(&mut self, id: NodeId, addr: SocketAddr, hop: u32) {
        let d = id.distance(&self.target);
        if self.candidates.contains_key(&d) {
            return;
        }
        if self.candidates.len() >= MAX_CANDIDATES {
            // Drop the farthest candidate that is not in flight, if the newcomer is closer.
            let victim = self
                .candidates
                .iter()
                .rev()
                .find(|(_, c)| c.state != State::InFlight)
                .map(|(d, _)| *d);
            match victim {
                Some(v) if v > d => {
                    self.candidates.remove(&v);
                }
                _ => return,
            }
        }
        self.candidates.insert(
            d,
            Candidate {
                id,
                addr,
                state: State::Fresh,
                hop,
                token: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> (NodeId, SocketAddr) {
        let mut id = [0u8; 20];
        id[0] = b;
        (NodeId(id), SocketAddr::from(([10, 0, 0, b], 6881)))
    }

    #[test]
    fn keeps_alpha_in_flight_and_queries_closest_first() {
        let mut l = Lookup::new(
            NodeId([0; 20]),
            LookupKind::FindNode,
            (1..=10).map(node),
            [],
        );
        let q = l.next_queries();
        assert_eq!(q.len(), ALPHA);
        assert_eq!(
            q.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![node(1).1, node(2).1, node(3).1]
        );
        assert!(l.next_queries().is_empty(), "α already in flight");
        l.on_failure(node(1).1);
        assert_eq!(l.next_queries().len(), 1);
    }

    #[test]
    fn terminates_when_k_closest_answered() {
        let mut l = Lookup::new(
            NodeId([0; 20]),
            LookupKind::GetPeers,
            (1..=12).map(node),
            [],
        );
        let mut rounds = 0;
        while !l.is_done() {
            rounds += 1;
            assert!(rounds < 20, "lookup must terminate");
            for (id, addr, _) in l.next_queries() {
                let id = id.unwrap();
                l.on_response(addr, id, [], Some(vec![id.0[0]]));
            }
        }
        // Exactly the 8 closest were queried (nodes 1..=8), the rest never.
        assert_eq!(l.queries(), K as u32);
        let c = l.closest_responded(K);
        assert_eq!(c.len(), K);
        assert_eq!(c[0].2, Some(vec![1]));
        assert_eq!(l.hops(), 1);
    }

    #[test]
    fn reply_under_unexpected_id_does_not_stall_the_lookup() {
        let mut l = Lookup::new(NodeId([0; 20]), LookupKind::FindNode, [node(1)], []);
        let q = l.next_queries();
        assert_eq!(q.len(), 1);
        l.on_response(node(1).1, node(99).0, [], None);
        assert!(l.is_done());
    }

    #[test]
    fn learned_nodes_get_next_hop_and_seeds_are_queried_first() {
        let seed: SocketAddr = "10.9.9.9:1".parse().unwrap();
        let mut l = Lookup::new(NodeId([0; 20]), LookupKind::FindNode, [], [seed]);
        let q = l.next_queries();
        assert_eq!(q, vec![(None, seed, 1)]);
        l.on_response(seed, node(200).0, [node(5), node(6)], None);
        let q = l.next_queries();
        assert_eq!(q.len(), 2);
        assert!(q.iter().all(|x| x.2 == 2));
    }
}

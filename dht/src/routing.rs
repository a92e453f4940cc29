//! The routing table: 160 k-buckets indexed by shared-prefix length (BEP 5 "Routing Table").
//!
//! Node states: a node is **good** if it answered one of our queries within the last 15 minutes,
//! or has ever answered and queried us within the last 15 minutes; **bad** after
//! [`BAD_AFTER_FAILURES`] consecutive unanswered queries; **questionable** otherwise.
//! A full bucket replaces a bad node at once; otherwise a newcomer waits in the bucket's
//! replacement cache while the table asks the caller to ping the least recently seen
//! questionable node ([`InsertOutcome::PingFirst`]). When that node then fails, the freshest
//! replacement takes its place.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{Distance, NodeId};

/// Bucket size (BEP 5).
pub const K: usize = 8;

/// A node becomes questionable after this long without activity (BEP 5).
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);

/// A bucket with no change for this long is refreshed with a lookup (BEP 5).
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);

/// Consecutive failed queries after which a node is bad.
pub const BAD_AFTER_FAILURES: u8 = 2;

/// The three node states of BEP 5.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeStatus {
    /// Recently active.
    Good,
    /// Inactive for a while; ping before relying on it.
    Questionable,
    /// Failed repeatedly; replace it.
    Bad,
}

/// One contact in the table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NodeEntry {
    /// Node id.
    pub id: NodeId,
    /// UDP address.
    pub addr: SocketAddr,
    /// When it last answered one of our queries.
    pub last_response: Option<Instant>,
    /// When it last queried us.
    pub last_query: Option<Instant>,
    /// Consecutive unanswered queries.
    pub failures: u8,
}

/// One k-bucket with its replacement cache.
#[derive(Clone, Debug)]
pub struct Bucket {
    nodes: Vec<NodeEntry>,
    replacements: Vec<NodeEntry>,
    last_changed: Instant,
}

/// The result of offering a node to the table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum InsertOutcome {
    /// The node was added to its bucket.
    Added,
    /// The node was already known; its timestamps were refreshed.
    Updated,
    /// The bucket is full of good nodes; the node went to the replacement cache (or was dropped).
    Rejected,
    /// The bucket is full; ping this questionable node, and report the result with
    /// [`RoutingTable::mark_responded`] / [`RoutingTable::mark_failed`].
    PingFirst(SocketAddr, NodeId),
    /// The id is our own; ignored.
    OwnId,
}

/// The routing table of one node.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl NodeEntry {
    /// The node's state at `now`.
    pub fn status(&self, now: Instant) -> NodeStatus {
        if self.failures >= BAD_AFTER_FAILURES {
            return NodeStatus::Bad;
        }
        let recent =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < GOOD_FOR);
        if recent(self.last_response) || (self.last_response.is_some() && recent(self.last_query)) {
            NodeStatus::Good
        } else {
            NodeStatus::Questionable
        }
    }

    fn last_seen(&self) -> Option<Instant> {
        self.last_response.max(self.last_query)
    }
}

impl Bucket {
    /// The nodes in this bucket (at most [`K`]).
    pub fn nodes(&self) -> &[NodeEntry] {
        &self.nodes
    }

    /// When a node in this bucket was last added, refreshed or replaced.
    pub fn last_changed(&self) -> Instant {
        self.last_changed
    }
}

impl RoutingTable {
    /// An empty table for a node with id `own`; `now` starts every bucket's refresh clock.
    pub fn new(own: NodeId, now: Instant) -> Self {
        let bucket = Bucket {
            nodes: Vec::new(),
            replacements: Vec::new(),
            last_changed: now,
        };
        Self {
            own,
            buckets: vec![bucket; 160],
        }
    }

    /// Our own id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// Total nodes in all buckets.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// True if no bucket holds a node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All buckets, index = shared prefix length with our id.
    pub fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// Counts of (good, questionable, bad) nodes at `now`.
    pub fn stats(&self, now: Instant) -> (usize, usize, usize) {
        let mut s = (0, 0, 0);
        for n in self.buckets.iter().flat_map(|b| &b.nodes) {
            match n.status(now) {
                NodeStatus::Good => s.0 += 1,
                NodeStatus::Questionable => s.1 += 1,
                NodeStatus::Bad => s.2 += 1,
            }
        }
        s
    }

    /// Offers a node that answered our query (`responded`) or queried us. An address already in
    /// the table under another id is rejected (one contact per address).
    pub fn insert(
        &mut self,
        now: Instant,
        id: NodeId,
        addr: SocketAddr,
        responded: bool,
    ) -> InsertOutcome {
        let Some(idx) = self.own.bucket_index(&id) else {
            return InsertOutcome::OwnId;
        };
        let bucket = &mut self.buckets[idx];
        let touch = |n: &mut NodeEntry| {
            if responded {
                n.last_response = Some(now);
                n.failures = 0;
            } else {
                n.last_query = Some(now);
            }
        };
        if let Some(n) = bucket.nodes.iter_mut().find(|n| n.id == id) {
            if n.addr != addr {
                // Same id from a new address: keep the old contact (defends against id hijack).
                return InsertOutcome::Rejected;
            }
            touch(n);
            bucket.last_changed = now;
            return InsertOutcome::Updated;
        }
        if self
            .buckets
            .iter()
            .flat_map(|b| &b.nodes)
            .any(|n| n.addr == addr)
        {
            // One contact per address: a single socket posing as many ids (a flood of queries
            // with fresh ids) gets one entry, not a bucket's worth.
            return InsertOutcome::Rejected;
        }
        let bucket = &mut self.buckets[idx];
        let mut entry = NodeEntry {
            id,
            addr,
            last_response: None,
            last_query: None,
            failures: 0,
        };
        touch(&mut entry);
        if bucket.nodes.len() < K {
            bucket.nodes.push(entry);
            bucket.last_changed = now;
            return InsertOutcome::Added;
        }
        if let Some(pos) = bucket
            .nodes
            .iter()
            .position(|n| n.status(now) == NodeStatus::Bad)
        {
            bucket.nodes[pos] = entry;
            bucket.last_changed = now;
            return InsertOutcome::Added;
        }
        // Full of good/questionable nodes: keep the newcomer as a replacement.
        bucket.replacements.retain(|r| r.id != id);
        if bucket.replacements.len() >= K {
            bucket.replacements.remove(0);
        }
        bucket.replacements.push(entry);
        let oldest_questionable = bucket
            .nodes
            .iter()
            .filter(|n| n.status(now) == NodeStatus::Questionable)
            .min_by_key(|n| n.last_seen());
        match oldest_questionable {
            Some(n) => InsertOutcome::PingFirst(n.addr, n.id),
            None => InsertOutcome::Rejected,
        }
    }

    /// Records that `id` answered a query.
    pub fn mark_responded(&mut self, now: Instant, id: NodeId) {
        if let Some(n) = self.find_mut(&id) {
            n.last_response = Some(now);
            n.failures = 0;
        }
    }

    /// Records an unanswered query to `id`. A node that becomes bad is replaced by the freshest
    /// replacement, if any.
    pub fn mark_failed(&mut self, now: Instant, id: NodeId) {
        let Some(idx) = self.own.bucket_index(&id) else {
            return;
        };
        let bucket = &mut self.buckets[idx];
        let Some(pos) = bucket.nodes.iter().position(|n| n.id == id) else {
            return;
        };
        bucket.nodes[pos].failures = bucket.nodes[pos].failures.saturating_add(1);
        if bucket.nodes[pos].status(now) == NodeStatus::Bad {
            if let Some(r) = bucket.replacements.pop() {
                bucket.nodes[pos] = r;
                bucket.last_changed = now;
            }
        }
    }

    /// Looks a node up by id.
    pub fn get(&self, id: &NodeId) -> Option<&NodeEntry> {
        let idx = self.own.bucket_index(id)?;
        self.buckets[idx].nodes.iter().find(|n| n.id == *id)
    }

    /// Up to `n` non-bad nodes closest to `target`, closest first.
    pub fn closest(&self, now: Instant, target: &NodeId, n: usize) -> Vec<NodeEntry> {
        let mut all: Vec<(Distance, &NodeEntry)> = self
            .buckets
            .iter()
            .flat_map(|b| &b.nodes)
            .filter(|e| e.status(now) != NodeStatus::Bad)
            .map(|e| (e.id.distance(target), e))
            .collect();
        all.sort_by_key(|a| a.0);
        all.into_iter().take(n).map(|(_, e)| e.clone()).collect()
    }

    /// Indices of non-empty-neighbourhood buckets not changed for [`REFRESH_AFTER`]. Only
    /// buckets up to the deepest non-empty one are considered (deeper ones cannot fill).
    pub fn buckets_to_refresh(&self, now: Instant) -> Vec<usize> {
        let deepest = self
            .buckets
            .iter()
            .rposition(|b| !b.nodes.is_empty())
            .unwrap_or(0);
        (0..=deepest)
            .filter(|&i| {
                now.saturating_duration_since(self.buckets[i].last_changed) >= REFRESH_AFTER
            })
            .collect()
    }

    /// Restarts bucket `index`'s refresh clock (call after starting its refresh lookup).
    pub fn touch_bucket(&mut self, now: Instant, index: usize) {
        if let Some(b) = self.buckets.get_mut(index) {
            b.last_changed = now;
        }
    }

    /// The earliest instant at which some bucket needs a refresh.
    pub fn next_refresh(&self) -> Option<Instant> {
        let deepest = self.buckets.iter().rposition(|b| !b.nodes.is_empty())?;
        self.buckets[..=deepest]
            .iter()
            .map(|b| b.last_changed + REFRESH_AFTER)
            .min()
    }

    fn find_mut(&mut self, id: &NodeId) -> Option<&mut NodeEntry> {
        let idx = self.own.bucket_index(id)?;
        self.buckets[idx].nodes.iter_mut().find(|n| n.id == *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_in_bucket0(n: u8) -> NodeId {
        let mut b = [0u8; 20];
        b[0] = 0x80;
        b[19] = n;
        NodeId(b)
    }

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n], 6881))
    }

    #[allow(clippy::disallowed_methods)] // tests need one base instant; all time is offset from it
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn bucket_holds_k_then_asks_to_ping_questionable() {
        let now = t0();
        let mut t = RoutingTable::new(NodeId([0; 20]), now);
        for i in 0..K as u8 {
            assert_eq!(
                t.insert(now, id_in_bucket0(i), addr(i), true),
                InsertOutcome::Added
            );
        }
        // All good: a newcomer is rejected (kept as a replacement).
        assert_eq!(
            t.insert(now, id_in_bucket0(100), addr(100), true),
            InsertOutcome::Rejected
        );
        // 16 minutes later they are questionable: ping the least recently seen.
        let later = now + Duration::from_secs(16 * 60);
        t.mark_responded(later, id_in_bucket0(0));
        match t.insert(later, id_in_bucket0(101), addr(101), true) {
            InsertOutcome::PingFirst(a, id) => {
                assert_ne!(id, id_in_bucket0(0), "node 0 is good again");
                assert!(a.port() == 6881);
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn bad_node_is_replaced_by_freshest_replacement() {
        let now = t0();
        let mut t = RoutingTable::new(NodeId([0; 20]), now);
        for i in 0..K as u8 {
            t.insert(now, id_in_bucket0(i), addr(i), true);
        }
        t.insert(now, id_in_bucket0(50), addr(50), true);
        t.mark_failed(now, id_in_bucket0(3));
        assert_eq!(
            t.get(&id_in_bucket0(3)).map(|n| n.status(now)),
            Some(NodeStatus::Good)
        );
        t.mark_failed(now, id_in_bucket0(3));
        assert!(t.get(&id_in_bucket0(3)).is_none());
        assert!(t.get(&id_in_bucket0(50)).is_some());
        assert_eq!(t.len(), K);
    }

    #[test]
    fn closest_sorts_by_xor_distance() {
        let now = t0();
        let mut t = RoutingTable::new(NodeId([0; 20]), now);
        for i in 1..=20u8 {
            let mut b = [0u8; 20];
            b[0] = i;
            t.insert(now, NodeId(b), addr(i), true);
        }
        let mut target = [0u8; 20];
        target[0] = 5;
        let c = t.closest(now, &NodeId(target), 3);
        let firsts: Vec<u8> = c.iter().map(|n| n.id.0[0]).collect();
        assert_eq!(firsts[0], 5);
        assert!(
            c.windows(2)
                .all(|w| w[0].id.distance(&NodeId(target)) < w[1].id.distance(&NodeId(target)))
        );
    }

    #[test]
    fn stale_buckets_are_due_for_refresh() {
        let now = t0();
        let mut t = RoutingTable::new(NodeId([0; 20]), now);
        t.insert(now, id_in_bucket0(1), addr(1), true);
        assert!(t.buckets_to_refresh(now).is_empty());
        assert_eq!(t.next_refresh(), Some(now + REFRESH_AFTER));
        assert_eq!(t.buckets_to_refresh(now + REFRESH_AFTER), vec![0]);
        t.touch_bucket(now + REFRESH_AFTER, 0);
        assert!(t.buckets_to_refresh(now + REFRESH_AFTER).is_empty());
    }

    #[test]
    fn own_id_is_never_inserted() {
        let now = t0();
        let own = NodeId([7; 20]);
        let mut t = RoutingTable::new(own, now);
        assert_eq!(t.insert(now, own, addr(1), true), InsertOutcome::OwnId);
        assert!(t.is_empty());
    }
}

//! A deterministic swarm simulator: N engines joined by in-memory links with per-node upload
//! and download bandwidth, link latency, a virtual clock and seeded randomness.
//!
//! `step()` moves the clock to the earliest pending event or engine timeout and processes
//! everything due; `drive_bounded()` steps until a condition holds or gives up after a fixed
//! number of steps. Disk jobs run synchronously on `MemoryStorage` and complete after
//! `disk_latency` of virtual time. Every collection the harness iterates is ordered (`BTreeMap`),
//! so a run depends only on the seeds. Messages are passed as decoded `Message` values; their
//! wire size (`Message::encoded_len`) is what the bandwidth model charges.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use freshet_engine::{
    Action, Config, DisconnectReason, DiskCompletion, DiskJob, Event, FastExtension, FileSpec,
    Geometry, MemoryStorage, Message, PeerInfo, PeerKey, PieceHashes, PieceIndex, Start, Storage,
    Torrent, run_job, sha1_blocks,
};
use freshet_metainfo::InfoHashV1;
use freshet_peerwire::PeerId;

/// Makes deterministic torrent content and its geometry.
pub fn make_torrent(seed: u64, piece_len: u32, files: Vec<FileSpec>) -> (Arc<Geometry>, Bytes) {
    let total: u64 = files.iter().map(|f| f.length).sum();
    // A cheap xorshift stream: the content only has to be distinct per piece, and ChaCha is
    // slow in debug builds.
    let mut data = vec![0u8; total as usize];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    // Padding files are zeros.
    let mut off = 0usize;
    for f in &files {
        if f.attrs.padding {
            data[off..off + f.length as usize].fill(0);
        }
        off += f.length as usize;
    }
    let data = Bytes::from(data);
    let hashes = data
        .chunks(piece_len as usize)
        .map(|c| sha1_blocks(&[Bytes::copy_from_slice(c)]))
        .collect();
    let g = Geometry::new(
        piece_len,
        files,
        PieceHashes {
            v1: Some(hashes),
            v2: None,
        },
    )
    .expect("valid geometry");
    (Arc::new(g), data)
}

/// How a node starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Has everything.
    Seed,
    /// Has everything but corrupts every block it sends.
    CorruptSeed,
    /// Has nothing.
    Leecher,
}

/// One simulated client.
pub struct Node {
    pub torrent: Torrent,
    pub storage: Arc<MemoryStorage>,
    pub role: Role,
    /// Upload capacity in bytes per second.
    pub upload_bps: u64,
    up_free_at: Instant,
    /// Download capacity in bytes per second (`u64::MAX`: unlimited).
    pub download_bps: u64,
    down_free_at: Instant,
    pub completed_at: Option<Instant>,
    pub verified: Vec<PieceIndex>,
    pub banned: Vec<PeerKey>,
    pub hash_failures: u32,
    pub cancels_sent: u32,
    pub online: bool,
    pub addr: SocketAddr,
}

#[derive(Debug)]
enum Ev {
    Arrive {
        node: usize,
        peer: PeerKey,
        msg: Message,
    },
    Deliver {
        node: usize,
        peer: PeerKey,
        msg: Message,
    },
    Closed {
        node: usize,
        peer: PeerKey,
    },
    Disk {
        node: usize,
        completion: DiskCompletion,
    },
    /// A hash job running on a helper thread; joined when its virtual completion time comes,
    /// so the result (and so the run) does not depend on real timing.
    Hashing {
        node: usize,
        job: std::thread::JoinHandle<DiskCompletion>,
    },
}

/// The swarm.
pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub geometry: Arc<Geometry>,
    pub data: Bytes,
    pub nodes: Vec<Node>,
    pub latency: Duration,
    pub disk_latency: Duration,
    /// (node, its key for the peer) -> (other node, other node's key for us).
    links: BTreeMap<(usize, PeerKey), (usize, PeerKey)>,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    pub steps: u64,
    /// Run hash jobs on helper threads (results are joined at their virtual completion time,
    /// so this changes wall-clock time only).
    pub parallel_hashing: bool,
}

impl Sim {
    /// An empty swarm for the given torrent.
    #[allow(clippy::disallowed_methods)] // The simulator needs one real Instant as its epoch.
    pub fn new(geometry: Arc<Geometry>, data: Bytes) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            geometry,
            data,
            nodes: Vec::new(),
            latency: Duration::from_millis(25),
            disk_latency: Duration::from_millis(1),
            links: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            steps: 0,
            parallel_hashing: true,
        }
    }

    /// Adds a node; `seed` makes its RNG (and so its choices) reproducible.
    pub fn add_node(&mut self, role: Role, upload_bps: u64, seed: u64) -> usize {
        self.add_node_with(role, upload_bps, seed, |_| {})
    }

    /// Adds a node, letting the caller adjust its config.
    pub fn add_node_with(
        &mut self,
        role: Role,
        upload_bps: u64,
        seed: u64,
        tweak: impl FnOnce(&mut Config),
    ) -> usize {
        let idx = self.nodes.len();
        let mut rng_seed = [0u8; 32];
        rng_seed[..8].copy_from_slice(&seed.to_le_bytes());
        let mut config = Config::default();
        config.rng_seed = Some(rng_seed);
        config.info_hash = Some(InfoHashV1([0xab; 20]));
        tweak(&mut config);
        let (storage, start) = match role {
            Role::Seed | Role::CorruptSeed => (
                MemoryStorage::with_data(Arc::clone(&self.geometry), self.data.clone()),
                Start::Verified(freshet_engine::PieceSet::full(self.geometry.num_pieces())),
            ),
            Role::Leecher => (MemoryStorage::new(Arc::clone(&self.geometry)), Start::Empty),
        };
        let torrent = Torrent::new(Arc::clone(&self.geometry), config, start, self.now);
        let addr = SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(10, 0, (idx / 250) as u8, (idx % 250) as u8 + 1),
            6881,
        ));
        self.nodes.push(Node {
            torrent,
            storage: Arc::new(storage),
            role,
            upload_bps,
            up_free_at: self.now,
            download_bps: u64::MAX,
            down_free_at: self.now,
            completed_at: None,
            verified: Vec::new(),
            banned: Vec::new(),
            hash_failures: 0,
            cancels_sent: 0,
            online: true,
            addr,
        });
        self.drain(idx);
        idx
    }

    /// Connects two nodes (as if the handshake, with the fast extension, just completed).
    pub fn connect(&mut self, a: usize, b: usize) {
        let info = |n: &Node, i: usize| PeerInfo {
            addr: Some(n.addr),
            id: Some(PeerId([i as u8; 20])),
            fast: FastExtension::Enabled,
            reqq: Some(500),
        };
        let ia = info(&self.nodes[b], b);
        let ib = info(&self.nodes[a], a);
        let (Ok(ka), Ok(kb)) = (
            self.nodes[a].torrent.add_peer(self.now, ia),
            self.nodes[b].torrent.add_peer(self.now, ib),
        ) else {
            return;
        };
        self.links.insert((a, ka), (b, kb));
        self.links.insert((b, kb), (a, ka));
        self.drain(a);
        self.drain(b);
    }

    /// Connects every pair of online nodes.
    pub fn connect_all(&mut self) {
        let n = self.nodes.len();
        for a in 0..n {
            for b in a + 1..n {
                self.connect(a, b);
            }
        }
    }

    /// Takes a node offline: all its connections close.
    pub fn leave(&mut self, node: usize) {
        self.nodes[node].online = false;
        let mine: Vec<(PeerKey, (usize, PeerKey))> = self
            .links
            .iter()
            .filter(|((n, _), _)| *n == node)
            .map(|((_, k), v)| (*k, *v))
            .collect();
        for (k, (other, ok)) in mine {
            self.links.remove(&(node, k));
            self.links.remove(&(other, ok));
            self.nodes[node].torrent.handle_peer_closed(self.now, k);
            self.push(
                self.now + self.latency,
                Ev::Closed {
                    node: other,
                    peer: ok,
                },
            );
        }
        self.drain(node);
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    /// Runs every action a node has queued.
    fn drain(&mut self, node: usize) {
        while let Some(action) = self.nodes[node].torrent.poll_action() {
            match action {
                Action::Send { peer, message } => self.send(node, peer, message),
                Action::Disconnect { peer, reason } => {
                    if reason == DisconnectReason::Banned {
                        self.nodes[node].banned.push(peer);
                    }
                    if let Some((other, ok)) = self.links.remove(&(node, peer)) {
                        self.links.remove(&(other, ok));
                        self.push(
                            self.now + self.latency,
                            Ev::Closed {
                                node: other,
                                peer: ok,
                            },
                        );
                    }
                }
                Action::Disk(job @ DiskJob::Hash { .. }) if self.parallel_hashing => {
                    let storage = Arc::clone(&self.nodes[node].storage);
                    let geometry = Arc::clone(&self.geometry);
                    let job = std::thread::spawn(move || run_job(&*storage, &geometry, job));
                    self.push(self.now + self.disk_latency, Ev::Hashing { node, job });
                }
                Action::Disk(job) => {
                    let completion = run_job(&*self.nodes[node].storage, &self.geometry, job);
                    self.push(self.now + self.disk_latency, Ev::Disk { node, completion });
                }
                Action::Announce(_) => {}
                Action::Event(e) => match e {
                    Event::PieceVerified(p) => self.nodes[node].verified.push(p),
                    Event::Completed => self.nodes[node].completed_at = Some(self.now),
                    Event::HashFailed { .. } => self.nodes[node].hash_failures += 1,
                    Event::StorageFailed(m) => panic!("node {node}: storage failed: {m}"),
                    _ => {}
                },
                _ => {}
            }
        }
    }

    fn send(&mut self, node: usize, peer: PeerKey, mut msg: Message) {
        let Some(&(other, ok)) = self.links.get(&(node, peer)) else {
            return;
        };
        if matches!(msg, Message::Cancel(_)) {
            self.nodes[node].cancels_sent += 1;
        }
        if self.nodes[node].role == Role::CorruptSeed
            && let Message::Piece { data, .. } = &mut msg
        {
            let mut bad = data.to_vec();
            for b in bad.iter_mut().step_by(97) {
                *b ^= 0x5a;
            }
            *data = Bytes::from(bad);
        }
        let size = msg.encoded_len() as u64;
        let n = &mut self.nodes[node];
        let depart = n.up_free_at.max(self.now)
            + Duration::from_nanos(size.saturating_mul(1_000_000_000) / n.upload_bps.max(1));
        n.up_free_at = depart;
        // A capped downlink serialises what reaches it, in arrival order.
        let (node, peer) = (other, ok);
        let ev = if self.nodes[other].download_bps == u64::MAX {
            Ev::Deliver { node, peer, msg }
        } else {
            Ev::Arrive { node, peer, msg }
        };
        self.push(depart + self.latency, ev);
    }

    /// The next time something happens.
    fn next_time(&self) -> Option<Instant> {
        let q = self.queue.keys().next().map(|(t, _)| *t);
        let timers = self
            .nodes
            .iter()
            .filter(|n| n.online)
            .filter_map(|n| n.torrent.poll_timeout())
            .min();
        match (q, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances the clock to the next event and processes everything due. Returns false if
    /// nothing is left to do.
    pub fn step(&mut self) -> bool {
        let Some(t) = self.next_time() else {
            return false;
        };
        self.steps += 1;
        self.now = self.now.max(t);
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let ev = entry.remove();
            match ev {
                Ev::Arrive { node, peer, msg } => {
                    let r = &mut self.nodes[node];
                    if r.download_bps == u64::MAX {
                        self.push(self.now, Ev::Deliver { node, peer, msg });
                    } else {
                        let size = msg.encoded_len() as u64;
                        let at = r.down_free_at.max(self.now)
                            + Duration::from_nanos(
                                size.saturating_mul(1_000_000_000) / r.download_bps.max(1),
                            );
                        r.down_free_at = at;
                        self.push(at, Ev::Deliver { node, peer, msg });
                    }
                }
                Ev::Deliver { node, peer, msg } => {
                    if self.links.contains_key(&(node, peer)) {
                        self.nodes[node].torrent.handle_message(self.now, peer, msg);
                        self.drain(node);
                    }
                }
                Ev::Closed { node, peer } => {
                    self.nodes[node].torrent.handle_peer_closed(self.now, peer);
                    self.drain(node);
                }
                Ev::Disk { node, completion } => {
                    self.nodes[node].torrent.handle_disk(self.now, completion);
                    self.drain(node);
                }
                Ev::Hashing { node, job } => {
                    let completion = job.join().expect("hash thread panicked");
                    self.nodes[node].torrent.handle_disk(self.now, completion);
                    self.drain(node);
                }
            }
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].online
                && self.nodes[i]
                    .torrent
                    .poll_timeout()
                    .is_some_and(|t| t <= self.now)
            {
                self.nodes[i].torrent.handle_timeout(self.now);
                self.drain(i);
            }
        }
        true
    }

    /// Steps until `done` holds; gives up after `max_steps` or `max_time` of simulated time.
    pub fn drive_bounded(
        &mut self,
        max_steps: u64,
        max_time: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<Duration, String> {
        let limit = self.start + max_time;
        for _ in 0..max_steps {
            if done(self) {
                return Ok(self.now - self.start);
            }
            if self.now > limit {
                return Err(format!("simulated time limit {max_time:?} reached"));
            }
            if !self.step() {
                return Err("nothing left to do".into());
            }
        }
        if done(self) {
            return Ok(self.now - self.start);
        }
        Err(format!(
            "step limit {max_steps} reached at {:?}",
            self.now - self.start
        ))
    }

    /// Whether every online leecher completed.
    pub fn all_leechers_complete(&self) -> bool {
        self.nodes
            .iter()
            .filter(|n| n.role == Role::Leecher)
            .all(|n| n.torrent.is_complete())
    }

    /// Checks that node `i` stores every wanted piece byte-for-byte.
    pub fn assert_data_correct(&self, i: usize) {
        let n = &self.nodes[i];
        let pl = self.geometry.piece_len() as usize;
        for p in n.torrent.have().iter() {
            let got = n
                .storage
                .piece_data(p)
                .unwrap_or_else(|| panic!("node {i}: {p} missing"));
            let start = p.as_usize() * pl;
            assert!(
                got == self.data[start..start + got.len()],
                "node {i}: {p} corrupt"
            );
        }
    }

    /// A progress summary for failure messages.
    pub fn summary(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                format!(
                    "{i}:{:?} have {}/{} peers {} ",
                    n.role,
                    n.torrent.have().count(),
                    self.geometry.num_pieces(),
                    n.torrent.stats().peers
                )
            })
            .collect()
    }

    /// Seconds from start to when node `i` completed.
    pub fn completion_secs(&self, i: usize) -> Option<f64> {
        self.nodes[i]
            .completed_at
            .map(|t| (t - self.start).as_secs_f64())
    }
}

/// Storage type check helper so tests can call trait methods on `MemoryStorage`.
pub fn storage(s: &MemoryStorage) -> &dyn Storage {
    s
}

impl Sim {
    /// Whether nodes `a` and `b` have a live connection.
    pub fn is_connected(&self, a: usize, b: usize) -> bool {
        self.links.iter().any(|((n, _), (o, _))| *n == a && *o == b)
    }
}

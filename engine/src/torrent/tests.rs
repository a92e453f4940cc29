use std::net::Ipv4Addr;

use freshet_metainfo::InfoHashV1;
use freshet_peerwire::PeerId;

use super::*;
use crate::{FileSpec, MemoryStorage, PieceHashes, Storage, run_job, sha1_blocks};

const PL: u32 = 32768;

/// Three pieces of 32 KiB (two blocks each; the last piece is 20000 bytes).
fn setup() -> (Arc<Geometry>, Bytes) {
    let total = 2 * PL as usize + 20000;
    let data: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
    let data = Bytes::from(data);
    let hashes = data
        .chunks(PL as usize)
        .map(|c| sha1_blocks(&[Bytes::copy_from_slice(c)]))
        .collect();
    let g = Geometry::new(
        PL,
        vec![FileSpec::new(&["f.bin"], total as u64)],
        PieceHashes {
            v1: Some(hashes),
            v2: None,
        },
    )
    .unwrap();
    (Arc::new(g), data)
}

fn config() -> Config {
    Config {
        rng_seed: Some([9; 32]),
        info_hash: Some(InfoHashV1([1; 20])),
        initial_random_pieces: 0,
        ..Config::default()
    }
}

#[allow(clippy::disallowed_methods)] // Tests need one real Instant; only offsets are used.
fn t0() -> Instant {
    Instant::now()
}

fn fast_peer(last_octet: u8) -> PeerInfo {
    PeerInfo {
        addr: Some(SocketAddr::from((
            Ipv4Addr::new(10, 0, 0, last_octet),
            6881,
        ))),
        id: Some(PeerId([last_octet; 20])),
        fast: FastExtension::Enabled,
        reqq: None,
    }
}

/// Drains actions, running disk jobs on `storage` and feeding completions back; returns
/// everything else in order.
fn drive(t: &mut Torrent, storage: &dyn Storage, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Some(a) = t.poll_action() else {
            return out;
        };
        match a {
            Action::Disk(job) => {
                let c = run_job(storage, &Arc::clone(t.geometry()), job);
                t.handle_disk(now, c);
            }
            other => out.push(other),
        }
    }
    panic!("actions never ran dry");
}

fn sends_to(actions: &[Action], peer: PeerKey) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { peer: p, message } if *p == peer => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn requests(msgs: &[Message]) -> Vec<BlockRef> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Request(b) => Some(*b),
            _ => None,
        })
        .collect()
}

fn piece_msg(data: &Bytes, b: BlockRef) -> Message {
    let start = b.piece.as_usize() * PL as usize + b.offset as usize;
    Message::Piece {
        piece: b.piece,
        offset: b.offset,
        data: data.slice(start..start + b.len as usize),
    }
}

#[test]
fn new_torrent_announces_started_and_arms_timers() {
    let (g, _) = setup();
    let now = t0();
    let mut t = Torrent::new(g, config(), Start::Empty, now);
    assert!(matches!(
        t.poll_action(),
        Some(Action::Announce(AnnounceEvent::Started))
    ));
    assert!(t.poll_action().is_none());
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(1)));
    // Spurious timeouts are harmless.
    t.handle_timeout(now);
    assert!(t.poll_action().is_none());
}

#[test]
fn first_message_to_a_fast_peer_is_have_none_then_allowed_fast() {
    let (g, _) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(g, config(), Start::Empty, now);
    drive(&mut t, &st, now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    let msgs = sends_to(&drive(&mut t, &st, now), k);
    assert_eq!(msgs[0], Message::HaveNone);
    assert!(
        msgs[1..]
            .iter()
            .all(|m| matches!(m, Message::AllowedFast(_)))
    );
    assert_eq!(
        msgs.len(),
        1 + 3,
        "allowed-fast set is capped at the piece count"
    );
}

#[test]
fn downloads_verifies_and_announces_a_piece() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(Arc::clone(&g), config(), Start::Empty, now);
    drive(&mut t, &st, now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::HaveAll);
    let msgs = sends_to(&drive(&mut t, &st, now), k);
    assert_eq!(msgs, vec![Message::Interested], "no requests while choked");
    t.handle_message(now, k, Message::Unchoke);
    let reqs = requests(&sends_to(&drive(&mut t, &st, now), k));
    let ps = t.peer_stats(k).unwrap();
    assert_eq!(
        (
            ps.pieces,
            ps.requests_out,
            ps.am_interested,
            ps.peer_choking
        ),
        (3, 6, true, false)
    );
    assert_eq!(
        reqs.len(),
        6,
        "every block of the torrent fits in the first pipeline"
    );
    let mut events = Vec::new();
    for b in reqs {
        t.handle_message(now, k, piece_msg(&data, b));
        events.extend(drive(&mut t, &st, now));
    }
    let verified: Vec<PieceIndex> = events
        .iter()
        .filter_map(|a| match a {
            Action::Event(Event::PieceVerified(p)) => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(verified.len(), 3);
    assert!(t.is_complete());
    assert!(
        events
            .iter()
            .any(|a| matches!(a, Action::Announce(AnnounceEvent::Completed)))
    );
    // A seed talking to a seed is useless: it is dropped.
    assert!(events.iter().any(|a| matches!(
        a,
        Action::Disconnect {
            reason: DisconnectReason::BothSeeding,
            ..
        }
    )));
    for p in g.pieces() {
        assert!(st.piece_data(p).is_some());
    }
}

#[test]
fn rejects_have_with_out_of_range_index() {
    let (g, _) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(g, config(), Start::Empty, now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::Have(PieceIndex(3)));
    assert!(matches!(
        drive(&mut t, &st, now).last(),
        Some(Action::Disconnect {
            reason: DisconnectReason::PeerMisbehaved(_),
            ..
        })
    ));
}

#[test]
fn serves_requests_only_when_unchoked_or_allowed_fast() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::with_data(Arc::clone(&g), data.clone());
    let mut t = Torrent::new(
        Arc::clone(&g),
        config(),
        Start::Verified(PieceSet::full(3)),
        now,
    );
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    let first = sends_to(&drive(&mut t, &st, now), k);
    assert_eq!(first[0], Message::HaveAll);
    let allowed: Vec<PieceIndex> = first
        .iter()
        .filter_map(|m| match m {
            Message::AllowedFast(p) => Some(*p),
            _ => None,
        })
        .collect();
    t.handle_message(now, k, Message::HaveNone);
    // Choked, allowed-fast piece: served.
    let b = g.block(allowed[0], 0);
    t.handle_message(now, k, Message::Request(b));
    assert_eq!(
        sends_to(&drive(&mut t, &st, now), k),
        vec![piece_msg(&data, b)]
    );
    // Interest gets an immediate unchoke (a slot is free), then requests are served.
    t.handle_message(now, k, Message::Interested);
    assert_eq!(
        sends_to(&drive(&mut t, &st, now), k),
        vec![Message::Unchoke]
    );
    let b = BlockRef::new(PieceIndex(2), 100, 1000);
    t.handle_message(now, k, Message::Request(b));
    assert_eq!(
        sends_to(&drive(&mut t, &st, now), k),
        vec![piece_msg(&data, b)]
    );
    assert_eq!(
        t.stats().uploaded,
        u64::from(g.block(allowed[0], 0).len) + 1000
    );
}

#[test]
fn rejects_requests_while_choked() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::with_data(Arc::clone(&g), data);
    let mut t = Torrent::new(
        Arc::clone(&g),
        config(),
        Start::Verified(PieceSet::full(3)),
        now,
    );
    let mut info = fast_peer(1);
    info.addr = None; // no allowed-fast set without an address
    let k = t.add_peer(now, info).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::HaveNone);
    let b = BlockRef::new(PieceIndex(0), 0, 16384);
    t.handle_message(now, k, Message::Request(b));
    assert_eq!(
        sends_to(&drive(&mut t, &st, now), k),
        vec![Message::RejectRequest(b)]
    );
    // A request larger than 16 KiB is a protocol violation.
    t.handle_message(
        now,
        k,
        Message::Request(BlockRef::new(PieceIndex(0), 0, 32768)),
    );
    assert!(matches!(
        drive(&mut t, &st, now).last(),
        Some(Action::Disconnect {
            reason: DisconnectReason::PeerMisbehaved(_),
            ..
        })
    ));
}

/// Answers every request `k` gets with corrupt blocks until the engine bans it; returns the
/// hash failures seen and the actions of the last round.
fn feed_corrupt_until_banned(
    t: &mut Torrent,
    st: &dyn Storage,
    data: &Bytes,
    k: PeerKey,
    now: Instant,
) -> (usize, Vec<Action>) {
    t.handle_message(now, k, Message::HaveAll);
    t.handle_message(now, k, Message::Unchoke);
    let mut acts = drive(t, st, now);
    let mut fails = 0;
    for _ in 0..4 {
        let reqs = requests(&sends_to(&acts, k));
        if reqs.is_empty() {
            break;
        }
        acts.clear();
        for b in reqs {
            let Message::Piece {
                piece,
                offset,
                data: d,
            } = piece_msg(data, b)
            else {
                unreachable!()
            };
            let bad = Bytes::from(d.iter().map(|x| x ^ 1).collect::<Vec<u8>>());
            t.handle_message(
                now,
                k,
                Message::Piece {
                    piece,
                    offset,
                    data: bad,
                },
            );
            acts.extend(drive(t, st, now));
        }
        fails += acts
            .iter()
            .filter(|a| matches!(a, Action::Event(Event::HashFailed { .. })))
            .count();
        if acts
            .iter()
            .any(|a| matches!(a, Action::Event(Event::PeerBanned(_))))
        {
            break;
        }
    }
    (fails, acts)
}

#[test]
fn corrupt_sole_sender_is_banned_after_repeated_failures_and_stays_banned() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(Arc::clone(&g), config(), Start::Empty, now);
    let k = t.add_peer(now, fast_peer(7)).unwrap();
    drive(&mut t, &st, now);
    let (fails, acts) = feed_corrupt_until_banned(&mut t, &st, &data, k, now);
    assert!(fails >= 2, "banned only after repeated failures");
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Disconnect { reason: DisconnectReason::Banned, peer } if *peer == k
    )));
    assert_eq!(
        t.add_peer(now, fast_peer(7)).unwrap_err(),
        AddPeerError::Banned
    );
    // The default policy bans the whole IP: another port and peer id there is refused too.
    let mut other_port = fast_peer(8);
    other_port.addr = Some(SocketAddr::from((Ipv4Addr::new(10, 0, 0, 7), 7000)));
    assert_eq!(
        t.add_peer(now, other_port).unwrap_err(),
        AddPeerError::Banned
    );
    assert!(t.have().is_empty());
}

/// A peer on `ip:port` with its own peer id.
fn peer_at(ip: Ipv4Addr, port: u16, id: u8) -> PeerInfo {
    PeerInfo {
        addr: Some(SocketAddr::from((ip, port))),
        ..fast_peer(id)
    }
}

#[test]
fn ban_by_addr_keeps_other_ports_of_the_same_ip() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let cfg = Config {
        ban_policy: BanPolicy::ByAddrOnLoopback,
        ..config()
    };
    let mut t = Torrent::new(Arc::clone(&g), cfg, Start::Empty, now);
    let lo = Ipv4Addr::LOCALHOST;
    let k = t.add_peer(now, peer_at(lo, 7001, 1)).unwrap();
    drive(&mut t, &st, now);
    let (fails, acts) = feed_corrupt_until_banned(&mut t, &st, &data, k, now);
    assert!(fails >= 2);
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Event(Event::PeerBanned(p)) if *p == k))
    );
    // The same ip:port (even under a new peer id) stays banned; the same peer id too.
    assert_eq!(
        t.add_peer(now, peer_at(lo, 7001, 2)).unwrap_err(),
        AddPeerError::Banned
    );
    assert_eq!(
        t.add_peer(now, peer_at(lo, 7009, 1)).unwrap_err(),
        AddPeerError::Banned
    );
    // Other peers of a local swarm on 127.0.0.1 are still welcome.
    let other = t.add_peer(now, peer_at(lo, 7002, 3)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, other, Message::HaveAll);
    t.handle_message(now, other, Message::Unchoke);
    let acts = drive(&mut t, &st, now);
    assert!(!requests(&sends_to(&acts, other)).is_empty());
}

#[test]
fn ban_policy_keys() {
    let lo: SocketAddr = "127.0.0.1:7001".parse().unwrap();
    let lo6: SocketAddr = "[::1]:7001".parse().unwrap();
    let far: SocketAddr = "192.0.2.5:7001".parse().unwrap();
    let ip_only = |a: SocketAddr| SocketAddr::new(a.ip(), 0);
    assert_eq!(BanPolicy::default(), BanPolicy::ByIp);
    for a in [lo, lo6, far] {
        assert_eq!(BanPolicy::ByIp.key(a), ip_only(a));
        assert_eq!(BanPolicy::ByAddr.key(a), a);
    }
    assert_eq!(BanPolicy::ByAddrOnLoopback.key(lo), lo);
    assert_eq!(BanPolicy::ByAddrOnLoopback.key(lo6), lo6);
    assert_eq!(BanPolicy::ByAddrOnLoopback.key(far), ip_only(far));
}

#[test]
fn late_bitfield_and_have_all_count_as_haves() {
    let (g, _) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(Arc::clone(&g), config(), Start::Empty, now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::HaveNone);
    t.handle_message(now, k, Message::Unchoke);
    assert!(requests(&sends_to(&drive(&mut t, &st, now), k)).is_empty());

    // A bitfield after other messages (aria2 1.36 does this): piece 1 becomes available.
    let mut one = PieceSet::new(3);
    one.insert(PieceIndex(1));
    let bf = Bitfield::from_wire_unchecked_len(&one.to_bitfield_bytes());
    t.handle_message(now, k, Message::Bitfield(bf));
    let acts = drive(&mut t, &st, now);
    assert!(!acts.iter().any(|a| matches!(a, Action::Disconnect { .. })));
    let msgs = sends_to(&acts, k);
    assert!(msgs.contains(&Message::Interested));
    let reqs = requests(&msgs);
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|b| b.piece == PieceIndex(1)));

    // A late have-none cannot take pieces away; it changes nothing.
    t.handle_message(now, k, Message::HaveNone);
    let acts = drive(&mut t, &st, now);
    assert!(acts.is_empty(), "{acts:?}");

    // A late have-all adds the remaining pieces.
    t.handle_message(now, k, Message::HaveAll);
    let reqs = requests(&sends_to(&drive(&mut t, &st, now), k));
    let mut pieces: Vec<u32> = reqs.iter().map(|b| b.piece.0).collect();
    pieces.dedup();
    assert_eq!(pieces, vec![0, 2]);

    // A late bitfield of the wrong length is still a protocol violation.
    t.handle_message(
        now,
        k,
        Message::Bitfield(Bitfield::from_wire_unchecked_len(&[0xff, 0xff])),
    );
    assert!(matches!(
        drive(&mut t, &st, now).last(),
        Some(Action::Disconnect {
            reason: DisconnectReason::PeerMisbehaved(_),
            ..
        })
    ));
}

#[test]
fn timed_out_requests_go_to_another_peer() {
    let (g, _) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(Arc::clone(&g), config(), Start::Empty, now);
    let a = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, a, Message::HaveAll);
    t.handle_message(now, a, Message::Unchoke);
    let first = requests(&sends_to(&drive(&mut t, &st, now), a));
    assert_eq!(first.len(), 6);
    let b = t.add_peer(now, fast_peer(2)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, b, Message::HaveAll);
    t.handle_message(now, b, Message::Unchoke);
    // Everything is requested from `a` already; `b` only gets endgame duplicates.
    let dup = requests(&sends_to(&drive(&mut t, &st, now), b));
    assert!(dup.iter().all(|r| first.contains(r)));
    let later = now + Duration::from_secs(21);
    let mut acts = Vec::new();
    let mut tick = now;
    while tick < later {
        tick += Duration::from_secs(1);
        t.handle_timeout(tick);
        acts.extend(drive(&mut t, &st, tick));
    }
    let again = requests(&sends_to(&acts, b));
    let mut all: Vec<BlockRef> = dup.iter().chain(&again).copied().collect();
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        6,
        "after the timeout every block is requested from `b`"
    );
}

#[test]
fn recheck_finds_existing_pieces() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    // Store pieces 0 and 2 correctly and piece 1 wrongly.
    for p in [0u32, 2] {
        let piece = PieceIndex(p);
        for i in 0..g.blocks_in_piece(piece) {
            let b = g.block(piece, i);
            let Message::Piece { data: d, .. } = piece_msg(&data, b) else {
                unreachable!()
            };
            st.write(b, d).unwrap();
        }
    }
    st.write(g.block(PieceIndex(1), 0), Bytes::from(vec![0u8; 16384]))
        .unwrap();
    st.write(g.block(PieceIndex(1), 1), Bytes::from(vec![0u8; 16384]))
        .unwrap();
    let mut t = Torrent::new(Arc::clone(&g), config(), Start::Recheck, now);
    assert!(t.is_checking());
    let acts = drive(&mut t, &st, now);
    assert!(!t.is_checking());
    assert_eq!(t.have().iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, 2]);
    let events: Vec<&Event> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert!(events.contains(&&Event::CheckFinished { valid: 2 }));
    assert!(events.contains(&&Event::CheckProgress {
        checked: 3,
        total: 3
    }));
}

#[test]
fn resume_trusts_matching_files_and_rechecks_changed_ones() {
    let files = vec![
        FileSpec::new(&["a"], u64::from(PL)),
        FileSpec::new(&["b"], u64::from(PL)),
    ];
    let data = Bytes::from(vec![5u8; 2 * PL as usize]);
    let h = sha1_blocks(&[data.slice(..PL as usize)]);
    let g = Arc::new(
        Geometry::new(
            PL,
            files,
            PieceHashes {
                v1: Some(vec![h, h]),
                v2: None,
            },
        )
        .unwrap(),
    );
    let now = t0();
    let st = MemoryStorage::with_data(Arc::clone(&g), data);
    let stat = |m| {
        Some(crate::FileStat {
            size: u64::from(PL),
            mtime_ns: m,
        })
    };
    let record = ResumeRecord {
        info_hash: Some(InfoHashV1([1; 20])),
        pieces: PieceSet::full(2),
        files: vec![stat(100), stat(100)],
        unfinished: Vec::new(),
        uploaded: 11,
        downloaded: 22,
        added_time: 0,
        completed_time: None,
    };
    // File b changed since the record was written: only its piece is rechecked.
    let start = Start::Resume {
        record,
        stats: vec![stat(100), stat(200)],
    };
    let mut t = Torrent::new(Arc::clone(&g), config(), start, now);
    let hash_jobs = std::iter::from_fn(|| t.poll_action())
        .filter_map(|a| match a {
            Action::Disk(DiskJob::Hash { piece, .. }) => Some(piece),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(hash_jobs, vec![PieceIndex(1)]);
    assert!(t.have().contains(PieceIndex(0)));
    assert_eq!(t.stats().downloaded, 22);
    let c = run_job(
        &st,
        &g,
        DiskJob::Hash {
            piece: PieceIndex(1),
            blocks: vec![None, None],
            block_digests: DigestMode::PieceOnly,
        },
    );
    t.handle_disk(now, c);
    assert!(t.is_complete());
}

#[test]
fn resume_record_lists_written_blocks_of_unfinished_pieces() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(Arc::clone(&g), config(), Start::Empty, now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::HaveAll);
    t.handle_message(now, k, Message::Unchoke);
    let reqs = requests(&sends_to(&drive(&mut t, &st, now), k));
    t.handle_message(now, k, piece_msg(&data, reqs[0]));
    drive(&mut t, &st, now);
    let rec = t.resume_record();
    assert_eq!(
        rec.unfinished,
        vec![UnfinishedPiece {
            piece: reqs[0].piece,
            blocks: vec![0]
        }]
    );
    // Restarting from it only requests the missing blocks.
    let mut rec = ResumeRecord::decode(&rec.encode()).unwrap();
    rec.capture_file_stats(&st, &g);
    let stats = rec.files.clone();
    let mut t2 = Torrent::new(
        Arc::clone(&g),
        config(),
        Start::Resume { record: rec, stats },
        now,
    );
    let k2 = t2.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t2, &st, now);
    t2.handle_message(now, k2, Message::HaveAll);
    t2.handle_message(now, k2, Message::Unchoke);
    let reqs2 = requests(&sends_to(&drive(&mut t2, &st, now), k2));
    assert_eq!(reqs2.len(), 5);
    assert!(!reqs2.contains(&reqs[0]));
}

#[test]
fn choker_keeps_slots_bounded_and_rotates_optimistic() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::with_data(Arc::clone(&g), data);
    let mut t = Torrent::new(
        Arc::clone(&g),
        config(),
        Start::Verified(PieceSet::full(3)),
        now,
    );
    let keys: Vec<PeerKey> = (1..=8)
        .map(|i| t.add_peer(now, fast_peer(i)).unwrap())
        .collect();
    drive(&mut t, &st, now);
    for k in &keys {
        t.handle_message(now, *k, Message::HaveNone);
        t.handle_message(now, *k, Message::Interested);
    }
    drive(&mut t, &st, now);
    let unchoked = |t: &Torrent| keys.iter().filter(|k| t.is_unchoking(**k)).count();
    assert_eq!(unchoked(&t), 5, "4 regular slots and 1 optimistic");
    let mut seen = BTreeSet::new();
    let mut tick = now;
    for _ in 0..200 {
        tick += Duration::from_secs(1);
        t.handle_timeout(tick);
        drive(&mut t, &st, tick);
        assert!(unchoked(&t) <= 5);
        seen.extend(keys.iter().filter(|k| t.is_unchoking(**k)).copied());
    }
    assert_eq!(
        seen.len(),
        8,
        "seeding round robin serves every interested peer"
    );
}

#[test]
fn range_first_pieces_are_requested_before_others() {
    let (g, _) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut cfg = config();
    cfg.min_pipeline = 2;
    cfg.max_pipeline = 2;
    let mut t = Torrent::new(Arc::clone(&g), cfg, Start::Empty, now);
    // Bytes 70 000..70 001 lie in the last piece.
    t.download_range_first(now, 70_000..70_001);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::HaveAll);
    t.handle_message(now, k, Message::Unchoke);
    let reqs = requests(&sends_to(&drive(&mut t, &st, now), k));
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|b| b.piece == PieceIndex(2)), "{reqs:?}");
}

#[test]
fn skipping_every_file_makes_the_torrent_complete_and_uninterested() {
    let (g, _) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(Arc::clone(&g), config(), Start::Empty, now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::HaveAll);
    assert_eq!(
        sends_to(&drive(&mut t, &st, now), k),
        vec![Message::Interested]
    );
    t.set_file_priority(now, 0, FilePriority::Skip);
    assert_eq!(
        sends_to(&drive(&mut t, &st, now), k),
        vec![Message::NotInterested]
    );
    assert!(t.is_complete());
}

#[test]
fn pause_cancels_requests_and_chokes_then_resume_restarts() {
    let (g, data) = setup();
    let now = t0();
    let st = MemoryStorage::with_data(Arc::clone(&g), data);
    let mut set = PieceSet::new(3);
    set.insert(PieceIndex(0));
    let mut t = Torrent::new(Arc::clone(&g), config(), Start::Verified(set), now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::HaveAll);
    t.handle_message(now, k, Message::Interested);
    t.handle_message(now, k, Message::Unchoke);
    let reqs = requests(&sends_to(&drive(&mut t, &st, now), k));
    assert_eq!(reqs.len(), 4);
    t.pause(now);
    let msgs = sends_to(&drive(&mut t, &st, now), k);
    let cancels = msgs
        .iter()
        .filter(|m| matches!(m, Message::Cancel(_)))
        .count();
    assert_eq!(cancels, 4);
    assert_eq!(msgs.last(), Some(&Message::Choke));
    assert!(t.is_paused());
    let b = BlockRef::new(PieceIndex(0), 0, 16384);
    t.handle_message(now, k, Message::Request(b));
    assert_eq!(
        sends_to(&drive(&mut t, &st, now), k),
        vec![Message::RejectRequest(b)]
    );
    // Timers do not restart anything while paused.
    t.handle_timeout(now + Duration::from_secs(30));
    assert!(requests(&sends_to(&drive(&mut t, &st, now), k)).is_empty());
    t.resume(now);
    let msgs = sends_to(&drive(&mut t, &st, now), k);
    assert!(msgs.contains(&Message::Unchoke));
    assert_eq!(requests(&msgs).len(), 4);
}

#[test]
fn high_priority_files_are_requested_first_and_low_ones_last() {
    let files = vec![
        FileSpec::new(&["low"], u64::from(PL)),
        FileSpec::new(&["normal"], u64::from(PL)),
        FileSpec::new(&["high"], u64::from(PL)),
    ];
    let g = Arc::new(
        Geometry::new(
            PL,
            files,
            PieceHashes {
                v1: Some(vec![[0; 20]; 3]),
                v2: None,
            },
        )
        .unwrap(),
    );
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut cfg = config();
    cfg.min_pipeline = 6;
    cfg.max_pipeline = 6;
    let mut t = Torrent::new(Arc::clone(&g), cfg, Start::Empty, now);
    t.set_file_priority(now, 0, FilePriority::Low);
    t.set_file_priority(now, 2, FilePriority::High);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::HaveAll);
    t.handle_message(now, k, Message::Unchoke);
    let order: Vec<u32> = requests(&sends_to(&drive(&mut t, &st, now), k))
        .iter()
        .map(|b| b.piece.0)
        .collect();
    assert_eq!(order, vec![2, 2, 1, 1, 0, 0]);
}

#[test]
fn answers_hash_requests_with_hash_reject() {
    let (g, _) = setup();
    let now = t0();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(g, config(), Start::Empty, now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    drive(&mut t, &st, now);
    let req = freshet_peerwire::HashRequest {
        pieces_root: freshet_peerwire::PiecesRoot([3; 32]),
        base_layer: 0,
        index: 0,
        length: 2,
        proof_layers: 0,
    };
    t.handle_message(now, k, Message::HashRequest(req));
    assert_eq!(
        sends_to(&drive(&mut t, &st, now), k),
        vec![Message::HashReject(req)]
    );
}

mod model {
    //! Random peer behaviour against invariants that must hold after every step, then a
    //! liveness phase: once the peers behave, the download completes.

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Announce(usize),
        Unchoke(usize),
        Choke(usize),
        Deliver(usize, usize, bool),
        Reject(usize, usize),
        Tick,
        Reconnect(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0usize..2).prop_map(Step::Announce),
            (0usize..2).prop_map(Step::Unchoke),
            (0usize..2).prop_map(Step::Choke),
            (0usize..2, any::<usize>(), prop::bool::weighted(0.9))
                .prop_map(|(p, i, good)| Step::Deliver(p, i, good)),
            (0usize..2, any::<usize>()).prop_map(|(p, i)| Step::Reject(p, i)),
            Just(Step::Tick),
            (0usize..2).prop_map(Step::Reconnect),
        ]
    }

    /// The torrent under test plus what each simulated peer knows.
    struct World {
        t: Torrent,
        st: MemoryStorage,
        data: Bytes,
        now: Instant,
        keys: [PeerKey; 2],
        /// Requests the peer has received and not yet answered.
        open: [Vec<BlockRef>; 2],
        /// The peer has sent nothing since it connected.
        fresh: [bool; 2],
        /// The engine dropped the peer.
        dropped: [bool; 2],
        banned: [bool; 2],
        gone: BTreeSet<PeerKey>,
    }

    impl World {
        fn new() -> Self {
            let (g, data) = setup();
            let now = t0();
            let st = MemoryStorage::new(Arc::clone(&g));
            let mut cfg = config();
            cfg.max_pipeline = 4;
            let mut t = Torrent::new(Arc::clone(&g), cfg, Start::Empty, now);
            let keys = [
                t.add_peer(now, fast_peer(1)).unwrap(),
                t.add_peer(now, fast_peer(2)).unwrap(),
            ];
            let mut w = Self {
                t,
                st,
                data,
                now,
                keys,
                open: [Vec::new(), Vec::new()],
                fresh: [true; 2],
                dropped: [false; 2],
                banned: [false; 2],
                gone: BTreeSet::new(),
            };
            w.settle().unwrap();
            w
        }

        fn message(&mut self, i: usize, m: Message) {
            if !self.dropped[i] {
                self.fresh[i] = false;
                self.t.handle_message(self.now, self.keys[i], m);
            }
        }

        fn reconnect(&mut self, i: usize) {
            if self.banned[i] {
                return;
            }
            if !self.dropped[i] {
                self.t.handle_peer_closed(self.now, self.keys[i]);
                self.gone.insert(self.keys[i]);
            }
            self.open[i].clear();
            self.keys[i] = self.t.add_peer(self.now, fast_peer(i as u8 + 1)).unwrap();
            self.fresh[i] = true;
            self.dropped[i] = false;
        }

        fn deliver(&mut self, i: usize, j: usize, good: bool) {
            if self.open[i].is_empty() || self.dropped[i] {
                return;
            }
            let b = self.open[i].remove(j % self.open[i].len());
            let Message::Piece {
                piece,
                offset,
                data,
            } = piece_msg(&self.data, b)
            else {
                unreachable!()
            };
            let data = if good {
                data
            } else {
                Bytes::from(vec![0xee; data.len()])
            };
            self.message(
                i,
                Message::Piece {
                    piece,
                    offset,
                    data,
                },
            );
        }

        /// Runs the engine's actions and checks its promises.
        fn settle(&mut self) -> Result<(), TestCaseError> {
            for a in drive(&mut self.t, &self.st, self.now) {
                match a {
                    Action::Send { peer, message } => {
                        prop_assert!(!self.gone.contains(&peer), "message to a closed peer");
                        let i = self
                            .keys
                            .iter()
                            .position(|k| *k == peer)
                            .expect("known peer");
                        match message {
                            Message::Request(b) => {
                                prop_assert!(
                                    !self.t.have().contains(b.piece),
                                    "requested a piece we have"
                                );
                                prop_assert!(
                                    !self.open[i].contains(&b),
                                    "same block requested twice"
                                );
                                self.open[i].push(b);
                            }
                            Message::Cancel(b) => self.open[i].retain(|x| *x != b),
                            Message::Have(p) => prop_assert!(self.t.have().contains(p)),
                            _ => {}
                        }
                    }
                    Action::Disconnect { peer, reason } => {
                        prop_assert!(self.gone.insert(peer), "disconnected twice");
                        if let Some(i) = self.keys.iter().position(|k| *k == peer) {
                            self.open[i].clear();
                            self.dropped[i] = true;
                            self.banned[i] |= reason == DisconnectReason::Banned;
                        }
                    }
                    _ => {}
                }
            }
            for k in self.keys {
                if let Some(ps) = self.t.peer_stats(k) {
                    prop_assert!(ps.requests_out <= 4, "pipeline bound");
                }
            }
            for p in self.t.have().iter() {
                let got = self.st.piece_data(p).expect("stored");
                let start = p.as_usize() * PL as usize;
                prop_assert!(
                    got == self.data.slice(start..start + got.len()),
                    "{p} stored wrongly"
                );
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn engine_keeps_its_promises_under_random_peers(steps in prop::collection::vec(step(), 1..120)) {
            let mut w = World::new();
            for s in steps {
                match s {
                    Step::Announce(i) => w.message(i, Message::HaveAll),
                    Step::Unchoke(i) => w.message(i, Message::Unchoke),
                    Step::Choke(i) => w.message(i, Message::Choke),
                    Step::Deliver(i, j, good) => w.deliver(i, j, good),
                    Step::Reject(i, j) => {
                        if !w.open[i].is_empty() {
                            let b = w.open[i].remove(j % w.open[i].len());
                            w.message(i, Message::RejectRequest(b));
                        }
                    }
                    Step::Tick => {
                        w.now += Duration::from_secs(7);
                        w.t.handle_timeout(w.now);
                    }
                    Step::Reconnect(i) => w.reconnect(i),
                }
                w.settle()?;
            }
            // Liveness: from now on every peer that is not banned behaves.
            if w.banned == [true, true] {
                return Ok(());
            }
            for i in 0..2 {
                if !w.banned[i] {
                    if !w.fresh[i] || w.dropped[i] {
                        w.reconnect(i);
                    }
                    w.settle()?;
                    w.message(i, Message::HaveAll);
                    w.message(i, Message::Unchoke);
                    w.settle()?;
                }
            }
            for _ in 0..100 {
                if w.t.is_complete() {
                    break;
                }
                for i in 0..2 {
                    while !w.open[i].is_empty() {
                        w.deliver(i, 0, true);
                        w.settle()?;
                    }
                }
                w.now += Duration::from_secs(1);
                w.t.handle_timeout(w.now);
                w.settle()?;
            }
            prop_assert!(w.t.is_complete(), "stuck: have {} of 3", w.t.have().count());
        }
    }
}

mod faults;

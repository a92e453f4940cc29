//! Storage faults: the torrent stops, keeps what is verified, and `resume` restarts it.

use std::io;

use super::*;
use crate::{DiskCompletion, StorageError};

/// A write completion for `job` that failed with ENOSPC on `f.bin`.
fn enospc(block: BlockRef) -> DiskCompletion {
    DiskCompletion::Written {
        block,
        result: Err(StorageError::Io {
            op: "write",
            path: "/small/f.bin".into(),
            source: io::Error::from_raw_os_error(28),
        }),
    }
}

/// Drains actions without running disk jobs; returns them all.
fn take(t: &mut Torrent) -> Vec<Action> {
    std::iter::from_fn(|| t.poll_action()).collect()
}

fn writes(actions: &[Action]) -> Vec<BlockRef> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Disk(DiskJob::Write { block, .. }) => Some(*block),
            _ => None,
        })
        .collect()
}

fn faults(actions: &[Action]) -> Vec<StorageFault> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event(Event::StorageFailed(f)) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

/// A torrent with one unchoking seed peer whose first 6 requests are out.
fn downloading(now: Instant) -> (Torrent, PeerKey, Vec<BlockRef>, MemoryStorage, Bytes) {
    let (g, data) = setup();
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(g, config(), Start::Empty, now);
    drive(&mut t, &st, now);
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    t.handle_message(now, k, Message::HaveAll);
    t.handle_message(now, k, Message::Unchoke);
    let reqs = requests(&sends_to(&drive(&mut t, &st, now), k));
    assert_eq!(reqs.len(), 6);
    (t, k, reqs, st, data)
}

#[test]
fn a_failed_write_stops_the_torrent_and_keeps_verified_pieces() {
    let now = t0();
    let (mut t, k, reqs, st, data) = downloading(now);
    // Piece 0 arrives and is stored.
    for b in reqs.iter().filter(|b| b.piece == PieceIndex(0)) {
        t.handle_message(now, k, piece_msg(&data, *b));
    }
    drive(&mut t, &st, now);
    assert!(t.have().contains(PieceIndex(0)));
    // The first block of piece 1 cannot be written.
    let b1 = reqs[2];
    assert_eq!(b1.piece, PieceIndex(1));
    t.handle_message(now, k, piece_msg(&data, b1));
    let acts = take(&mut t);
    assert_eq!(writes(&acts), vec![b1]);
    t.handle_disk(now, enospc(b1));
    let acts = take(&mut t);
    let f = faults(&acts);
    assert_eq!(f.len(), 1, "one event per fault: {acts:?}");
    assert_eq!(f[0].kind, io::ErrorKind::StorageFull);
    assert_eq!(
        f[0].path.as_deref(),
        Some(std::path::Path::new("/small/f.bin"))
    );
    assert_eq!(t.fault(), Some(&f[0]));
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Disconnect { peer, reason: DisconnectReason::StorageFailed } if *peer == k
    )));
    assert_eq!(t.stats().peers, 0);
    // Verified stays verified; the piece in progress is wanted again.
    assert!(t.have().contains(PieceIndex(0)));
    assert_eq!(t.pieces().state(PieceIndex(1)), PieceState::Queued);
    let record = t.resume_record();
    assert_eq!(
        record.pieces.iter().collect::<Vec<_>>(),
        vec![PieceIndex(0)]
    );
    assert!(record.unfinished.is_empty());
    // Stopped: no new peers, no more data written.
    assert_eq!(t.add_peer(now, fast_peer(2)), Err(AddPeerError::Errored));
    t.handle_timeout(now + Duration::from_secs(5));
    assert!(writes(&take(&mut t)).is_empty());
    // Resume after the cause is fixed: the rest downloads from a new peer.
    t.resume(now);
    assert!(t.fault().is_none());
    let k2 = t.add_peer(now, fast_peer(3)).unwrap();
    t.handle_message(now, k2, Message::HaveAll);
    t.handle_message(now, k2, Message::Unchoke);
    for _ in 0..10 {
        let reqs = requests(&sends_to(&drive(&mut t, &st, now), k2));
        if reqs.is_empty() {
            break;
        }
        for b in reqs {
            t.handle_message(now, k2, piece_msg(&data, b));
        }
    }
    drive(&mut t, &st, now);
    assert!(t.is_complete());
    for p in t.geometry().pieces() {
        assert!(st.piece_data(p).is_some());
    }
}

#[test]
fn resume_waits_for_writes_issued_before_the_fault() {
    let now = t0();
    let (mut t, k, reqs, _st, data) = downloading(now);
    // Two blocks of piece 1 arrive; neither write has completed.
    t.handle_message(now, k, piece_msg(&data, reqs[2]));
    t.handle_message(now, k, piece_msg(&data, reqs[3]));
    let w = writes(&take(&mut t));
    assert_eq!(w, vec![reqs[2], reqs[3]]);
    t.handle_disk(now, enospc(w[0]));
    assert_eq!(faults(&take(&mut t)).len(), 1);
    // The second write fails too: not reported again.
    t.resume(now);
    let k2 = t.add_peer(now, fast_peer(3)).unwrap();
    t.handle_message(now, k2, Message::HaveAll);
    t.handle_message(now, k2, Message::Unchoke);
    let acts = take(&mut t);
    assert!(
        requests(&sends_to(&acts, k2)).is_empty(),
        "no requests while a write from before the fault is running"
    );
    t.handle_disk(
        now,
        DiskCompletion::Written {
            block: w[1],
            result: Ok(()),
        },
    );
    let reqs2 = requests(&sends_to(&take(&mut t), k2));
    assert_eq!(reqs2.len(), 6, "every block is requested again: {reqs2:?}");
}

#[test]
fn a_failed_read_for_a_peer_stops_a_seed_but_keeps_its_pieces() {
    let (g, _) = setup();
    let now = t0();
    // The seed's data is gone: reads fail.
    let st = MemoryStorage::new(Arc::clone(&g));
    let mut t = Torrent::new(
        Arc::clone(&g),
        config(),
        Start::Verified(PieceSet::full(3)),
        now,
    );
    let k = t.add_peer(now, fast_peer(1)).unwrap();
    t.handle_message(now, k, Message::HaveNone);
    t.handle_message(now, k, Message::Interested);
    drive(&mut t, &st, now);
    t.handle_message(now, k, Message::Request(g.block(PieceIndex(1), 0)));
    let acts = drive(&mut t, &st, now);
    let f = faults(&acts);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, io::ErrorKind::NotFound);
    assert!(
        !sends_to(&acts, k)
            .iter()
            .any(|m| matches!(m, Message::Piece { .. }))
    );
    assert_eq!(t.stats().peers, 0);
    assert!(
        t.have().is_full(),
        "a read failure forgets nothing; recheck does"
    );
}

#[test]
fn written_blocks_survive_a_fault_and_a_written_piece_still_verifies() {
    let now = t0();
    let (mut t, k, reqs, st, data) = downloading(now);
    let (whole, half) = (reqs[0].piece, reqs[2].piece);
    assert_eq!((reqs[1].piece, reqs[3].piece), (whole, half));
    // One piece: both blocks arrive and are written; its hash job is held back.
    t.handle_message(now, k, piece_msg(&data, reqs[0]));
    t.handle_message(now, k, piece_msg(&data, reqs[1]));
    // Another: one block written, the other's write fails.
    t.handle_message(now, k, piece_msg(&data, reqs[2]));
    t.handle_message(now, k, piece_msg(&data, reqs[3]));
    let mut hash_job = None;
    let mut failing = None;
    for a in take(&mut t) {
        match a {
            Action::Disk(job @ DiskJob::Hash { piece, .. }) if piece == whole => {
                hash_job = Some(job);
            }
            // The other piece's hash is lost with the fault (its verdict would not count).
            Action::Disk(DiskJob::Hash { .. }) => {}
            Action::Disk(DiskJob::Write { block, .. }) if block == reqs[3] => {
                failing = Some(block);
            }
            Action::Disk(job) => {
                let c = run_job(&st, &Arc::clone(t.geometry()), job);
                t.handle_disk(now, c);
            }
            _ => {}
        }
    }
    t.handle_disk(now, enospc(failing.unwrap()));
    assert_eq!(faults(&take(&mut t)).len(), 1);
    // The written block of the other piece is kept (resume data lists it); its other block is wanted.
    let record = t.resume_record();
    assert_eq!(record.unfinished.len(), 2, "{:?}", record.unfinished);
    let p1 = record.unfinished.iter().find(|u| u.piece == half).unwrap();
    assert_eq!(p1.blocks, vec![0]);
    // The whole piece's hash finishes after the fault: it is verified.
    let c = run_job(&st, &Arc::clone(t.geometry()), hash_job.unwrap());
    t.handle_disk(now, c);
    assert!(t.have().contains(whole));
    // After resume only the missing blocks are requested.
    t.resume(now);
    let k2 = t.add_peer(now, fast_peer(3)).unwrap();
    t.handle_message(now, k2, Message::HaveAll);
    t.handle_message(now, k2, Message::Unchoke);
    let mut reqs2 = requests(&sends_to(&drive(&mut t, &st, now), k2));
    let mut want = vec![reqs[3], reqs[4], reqs[5]];
    want.sort_by_key(|b| (b.piece, b.offset));
    reqs2.sort_by_key(|b| (b.piece, b.offset));
    assert_eq!(reqs2, want);
    for b in reqs2 {
        t.handle_message(now, k2, piece_msg(&data, b));
    }
    drive(&mut t, &st, now);
    assert!(t.is_complete());
}

//! Resume across a restart with real files: nothing verified is downloaded twice after a clean
//! shutdown, and files changed behind our back are rechecked.

use std::collections::VecDeque;
use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use freshet_engine::{
    Action, Config, DiskJob, FastExtension, FileSpec, FileStorage, Geometry, MemoryStorage,
    Message, PeerInfo, PeerKey, PieceHashes, PieceIndex, PieceSet, ResumeRecord, Start, Storage,
    Torrent, run_job, save_atomic, sha1_blocks,
};

const PL: u32 = 32 * 1024;

fn torrent() -> (Arc<Geometry>, Bytes) {
    let total = 8 * PL as usize;
    let data = Bytes::from(
        (0..total)
            .map(|i| (i * 13 % 253) as u8)
            .collect::<Vec<u8>>(),
    );
    let hashes = data
        .chunks(PL as usize)
        .map(|c| sha1_blocks(&[Bytes::copy_from_slice(c)]))
        .collect();
    let files = vec![
        FileSpec::new(&["r", "one.bin"], 3 * u64::from(PL) + 1000),
        FileSpec::new(&["r", "two.bin"], 5 * u64::from(PL) - 1000),
    ];
    let g = Geometry::new(
        PL,
        files,
        PieceHashes {
            v1: Some(hashes),
            v2: None,
        },
    )
    .unwrap();
    (Arc::new(g), data)
}

fn config(seed: u8) -> Config {
    let mut c = Config::default();
    c.rng_seed = Some([seed; 32]);
    c.initial_random_pieces = 0;
    c.min_pipeline = 2;
    c.max_pipeline = 2;
    c
}

#[allow(clippy::disallowed_methods)] // One real Instant as the epoch; only offsets are used.
fn t0() -> Instant {
    Instant::now()
}

/// A seed and a leecher wired back to back. Returns the requests the leecher sent.
struct Pair<'a> {
    seed: Torrent,
    seed_store: &'a MemoryStorage,
    leech: Torrent,
    leech_store: &'a dyn Storage,
    keys: [PeerKey; 2],
    geometry: Arc<Geometry>,
    requested: Vec<PieceIndex>,
}

impl Pair<'_> {
    /// Delivers actions one at a time until `stop` holds or both sides are idle.
    fn run(&mut self, now: Instant, mut stop: impl FnMut(&Torrent) -> bool) {
        let mut wire: VecDeque<(usize, Message)> = VecDeque::new();
        for _ in 0..100_000 {
            if stop(&self.leech) {
                return;
            }
            let mut idle = true;
            for side in 0..2 {
                let node = if side == 0 {
                    &mut self.seed
                } else {
                    &mut self.leech
                };
                if let Some(a) = node.poll_action() {
                    idle = false;
                    match a {
                        Action::Send { message, .. } => {
                            if let Message::Request(b) = &message
                                && side == 1
                            {
                                self.requested.push(b.piece);
                            }
                            wire.push_back((1 - side, message));
                        }
                        Action::Disk(job) => {
                            let store: &dyn Storage = if side == 0 {
                                self.seed_store
                            } else {
                                self.leech_store
                            };
                            let done = run_job(store, &self.geometry, job);
                            node.handle_disk(now, done);
                        }
                        _ => {}
                    }
                }
            }
            if let Some((to, msg)) = wire.pop_front() {
                idle = false;
                let node = if to == 0 {
                    &mut self.seed
                } else {
                    &mut self.leech
                };
                node.handle_message(now, self.keys[to], msg);
            }
            if idle {
                return;
            }
        }
        panic!("transfer did not settle");
    }
}

fn connect(seed: &mut Torrent, leech: &mut Torrent, now: Instant) -> [PeerKey; 2] {
    let info = || PeerInfo {
        fast: FastExtension::Enabled,
        ..PeerInfo::default()
    };
    [
        seed.add_peer(now, info()).unwrap(),
        leech.add_peer(now, info()).unwrap(),
    ]
}

#[test]
fn clean_shutdown_then_resume_never_downloads_a_verified_piece_again() {
    let (g, data) = torrent();
    let dir = tempfile::tempdir().unwrap();
    let now = t0();
    let seed_store = MemoryStorage::with_data(Arc::clone(&g), data.clone());
    let leech_store = FileStorage::new(dir.path(), Arc::clone(&g));
    let mut seed = Torrent::new(
        Arc::clone(&g),
        config(1),
        Start::Verified(PieceSet::full(8)),
        now,
    );
    let mut leech = Torrent::new(Arc::clone(&g), config(2), Start::Empty, now);
    let keys = connect(&mut seed, &mut leech, now);
    let mut pair = Pair {
        seed,
        seed_store: &seed_store,
        leech,
        leech_store: &leech_store,
        keys,
        geometry: Arc::clone(&g),
        requested: Vec::new(),
    };
    pair.run(now, |l| l.have().count() >= 4);
    let had = pair.leech.have().clone();
    assert!(had.count() >= 4 && had.count() < 8);

    // Clean shutdown: flush, then save the record.
    pair.leech.shutdown(now);
    while let Some(a) = pair.leech.poll_action() {
        if let Action::Disk(job) = a {
            let done = run_job(&leech_store, &g, job);
            pair.leech.handle_disk(now, done);
        }
    }
    let mut record = pair.leech.resume_record();
    record.capture_file_stats(&leech_store, &g);
    let path = dir.path().join("t.resume");
    save_atomic(&path, &record.encode()).unwrap();

    // Restart: a new storage object over the same directory.
    let record = ResumeRecord::decode(&fs::read(&path).unwrap()).unwrap();
    let store2 = FileStorage::new(dir.path(), Arc::clone(&g));
    let stats = (0..g.files().len()).map(|i| store2.file_stat(i)).collect();
    let later = now + Duration::from_secs(5);
    let mut leech2 = Torrent::new(
        Arc::clone(&g),
        config(3),
        Start::Resume { record, stats },
        later,
    );
    assert!(
        !leech2.is_checking(),
        "matching files are trusted without a recheck"
    );
    assert_eq!(leech2.have(), &had);
    let mut seed2 = Torrent::new(
        Arc::clone(&g),
        config(4),
        Start::Verified(PieceSet::full(8)),
        later,
    );
    let keys = connect(&mut seed2, &mut leech2, later);
    let mut pair = Pair {
        seed: seed2,
        seed_store: &seed_store,
        leech: leech2,
        leech_store: &store2,
        keys,
        geometry: Arc::clone(&g),
        requested: Vec::new(),
    };
    pair.run(later, Torrent::is_complete);
    assert!(pair.leech.is_complete());
    for p in &pair.requested {
        assert!(
            !had.contains(*p),
            "{p} was verified before the restart but requested again"
        );
    }
    let one = fs::read(dir.path().join("r/one.bin")).unwrap();
    let two = fs::read(dir.path().join("r/two.bin")).unwrap();
    assert!(one == data[..one.len()] && two == data[one.len()..]);
}

#[test]
fn changed_files_are_rechecked_on_resume() {
    let (g, data) = torrent();
    let dir = tempfile::tempdir().unwrap();
    let now = t0();
    let store = FileStorage::new(dir.path(), Arc::clone(&g));
    for p in g.pieces() {
        for i in 0..g.blocks_in_piece(p) {
            let b = g.block(p, i);
            let start = p.as_usize() * PL as usize + b.offset as usize;
            store
                .write(b, data.slice(start..start + b.len as usize))
                .unwrap();
        }
    }
    store.flush().unwrap();
    let mut record = ResumeRecord {
        info_hash: None,
        pieces: PieceSet::full(8),
        files: Vec::new(),
        unfinished: Vec::new(),
        uploaded: 0,
        downloaded: 0,
        added_time: 0,
        completed_time: None,
    };
    record.capture_file_stats(&store, &g);
    // Someone touches the second file after the record was written.
    let f = fs::File::options()
        .write(true)
        .open(dir.path().join("r/two.bin"))
        .unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(12345))
        .unwrap();
    let stats = (0..g.files().len()).map(|i| store.file_stat(i)).collect();
    let mut t = Torrent::new(
        Arc::clone(&g),
        config(5),
        Start::Resume { record, stats },
        now,
    );
    assert!(t.is_checking());
    let mut checked = Vec::new();
    while let Some(a) = t.poll_action() {
        if let Action::Disk(job) = a {
            if let DiskJob::Hash { piece, .. } = &job {
                checked.push(piece.0);
            }
            let done = run_job(&store, &g, job);
            t.handle_disk(now, done);
        }
    }
    // File two covers bytes 3*PL+1000 .. 8*PL: pieces 3..=7.
    assert_eq!(checked, vec![3, 4, 5, 6, 7]);
    assert!(t.is_complete(), "the unchanged data passes its recheck");
}

#[test]
fn after_a_crash_only_in_flight_pieces_are_downloaded_again() {
    let (g, data) = torrent();
    let dir = tempfile::tempdir().unwrap();
    let now = t0();
    let seed_store = MemoryStorage::with_data(Arc::clone(&g), data.clone());
    let leech_store = FileStorage::new(dir.path(), Arc::clone(&g));
    let mut seed = Torrent::new(
        Arc::clone(&g),
        config(1),
        Start::Verified(PieceSet::full(8)),
        now,
    );
    let mut leech = Torrent::new(Arc::clone(&g), config(2), Start::Empty, now);
    let keys = connect(&mut seed, &mut leech, now);
    let mut pair = Pair {
        seed,
        seed_store: &seed_store,
        leech,
        leech_store: &leech_store,
        keys,
        geometry: Arc::clone(&g),
        requested: Vec::new(),
    };
    pair.run(now, |l| l.have().count() >= 2);
    // A periodic save (Event::ResumeDue): flush, then record.
    leech_store.flush().unwrap();
    let mut saved = pair.leech.resume_record();
    saved.capture_file_stats(&leech_store, &g);
    // Keep downloading, then crash: no shutdown, no final record.
    pair.run(now, |l| l.have().count() >= 6);
    let had_at_crash = pair.leech.have().clone();
    assert!(had_at_crash.count() > saved.pieces.count());
    drop(pair);

    let store2 = FileStorage::new(dir.path(), Arc::clone(&g));
    let stats = (0..g.files().len()).map(|i| store2.file_stat(i)).collect();
    let mut leech2 = Torrent::new(
        Arc::clone(&g),
        config(3),
        Start::Resume {
            record: saved,
            stats,
        },
        now,
    );
    assert!(
        leech2.is_checking(),
        "files written after the save are rechecked"
    );
    while let Some(a) = leech2.poll_action() {
        if let Action::Disk(job) = a {
            let done = run_job(&store2, &g, job);
            leech2.handle_disk(now, done);
        }
    }
    assert!(!leech2.is_checking());
    for p in had_at_crash.iter() {
        assert!(
            leech2.have().contains(p),
            "{p} verified before the crash was lost"
        );
    }
    let mut seed2 = Torrent::new(
        Arc::clone(&g),
        config(4),
        Start::Verified(PieceSet::full(8)),
        now,
    );
    let keys = connect(&mut seed2, &mut leech2, now);
    let mut pair = Pair {
        seed: seed2,
        seed_store: &seed_store,
        leech: leech2,
        leech_store: &store2,
        keys,
        geometry: Arc::clone(&g),
        requested: Vec::new(),
    };
    pair.run(now, Torrent::is_complete);
    assert!(pair.leech.is_complete());
    for p in &pair.requested {
        assert!(
            !had_at_crash.contains(*p),
            "{p} was verified before the crash"
        );
    }
}

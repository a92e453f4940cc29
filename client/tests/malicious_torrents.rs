//! Malicious torrents (issue 9): paths with `..`, absolute paths, backslashes, hostile names,
//! symlinks pointing outside, absurd file counts and lengths.
//!
//! Torrents the metainfo loader accepts (it sanitises paths, see `freshet_metainfo::sanitize`)
//! are seeded by one Freshet client and downloaded by another, both saving deep inside one
//! temporary directory; afterwards the whole temporary directory is walked and nothing may
//! exist outside the two save directories, every symlink must resolve inside its save
//! directory, and the downloaded tree must equal the seeded one. Torrents that must be
//! refused are checked at the metainfo level and through the client's add reply.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use component_util::{add, client, sample_bytes, wait_added, wait_complete, wait_for};
use freshet_client::{Event, Request, RequestId, TorrentSource};
use freshet_metainfo::Metainfo;
use sha1::{Digest, Sha1};

const TICK: Duration = Duration::from_millis(50);
const PIECE: usize = 16384;

/// A minimal bencode value, enough to write hostile torrents by hand.
enum B {
    I(i128),
    S(Vec<u8>),
    L(Vec<Self>),
    D(Vec<(&'static str, Self)>),
}

fn s(x: &[u8]) -> B {
    B::S(x.to_vec())
}

fn enc(b: &B, out: &mut Vec<u8>) {
    match b {
        B::I(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
        B::S(x) => {
            out.extend_from_slice(format!("{}:", x.len()).as_bytes());
            out.extend_from_slice(x);
        }
        B::L(l) => {
            out.push(b'l');
            for x in l {
                enc(x, out);
            }
            out.push(b'e');
        }
        B::D(d) => {
            let mut keys: Vec<&(&str, B)> = d.iter().collect();
            keys.sort_by_key(|(k, _)| k.as_bytes());
            out.push(b'd');
            for (k, v) in keys {
                enc(&s(k.as_bytes()), out);
                enc(v, out);
            }
            out.push(b'e');
        }
    }
}

/// One file entry of a hand-written torrent.
struct F {
    path: Vec<&'static [u8]>,
    len: usize,
    /// `symlink path` elements; makes the entry a symlink (`attr` = `l`, no data).
    link: Option<Vec<&'static [u8]>>,
}

fn file(path: &[&'static [u8]], len: usize) -> F {
    F {
        path: path.to_vec(),
        len,
        link: None,
    }
}

/// A multi-file torrent named `name` with correct piece hashes for [`data_of`]'s contents.
fn multi(name: &[u8], files: &[F]) -> Vec<u8> {
    let mut all = Vec::new();
    let mut list = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let mut d = vec![("path", B::L(f.path.iter().map(|p| s(p)).collect()))];
        if let Some(target) = &f.link {
            d.push(("length", B::I(0)));
            d.push(("attr", s(b"l")));
            d.push(("symlink path", B::L(target.iter().map(|p| s(p)).collect())));
        } else {
            d.push(("length", B::I(f.len as i128)));
            all.extend_from_slice(&data_of(i, f.len));
        }
        list.push(B::D(d));
    }
    wrap(vec![
        ("name", s(name)),
        ("piece length", B::I(PIECE as i128)),
        ("pieces", B::S(hashes(&all))),
        ("files", B::L(list)),
    ])
}

/// A single-file torrent named `name`.
fn single(name: &[u8], len: usize) -> Vec<u8> {
    wrap(vec![
        ("name", s(name)),
        ("piece length", B::I(PIECE as i128)),
        ("pieces", B::S(hashes(&data_of(0, len)))),
        ("length", B::I(len as i128)),
    ])
}

fn wrap(info: Vec<(&'static str, B)>) -> Vec<u8> {
    let mut out = Vec::new();
    enc(&B::D(vec![("info", B::D(info))]), &mut out);
    out
}

fn hashes(data: &[u8]) -> Vec<u8> {
    data.chunks(PIECE)
        .flat_map(|c| Sha1::digest(c).to_vec())
        .collect()
}

fn data_of(i: usize, len: usize) -> Vec<u8> {
    sample_bytes(len, 100 + i as u64)
}

/// Every path under `dir` (files, dirs, symlinks; symlinks not followed).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&p, out);
        }
    }
}

/// What a save directory holds, without following symlinks: relative path, then file
/// contents or `link -> target` (target made relative to `dir` when it lies inside it).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = Vec::new();
    walk(dir, &mut all);
    let mut out: Vec<(PathBuf, Vec<u8>)> = all
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == ".freshet"))
        .filter_map(|p| {
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            let ft = std::fs::symlink_metadata(&p).unwrap().file_type();
            if ft.is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                let t = t.strip_prefix(dir).map_or(t.clone(), Path::to_path_buf);
                Some((rel, format!("link -> {}", t.display()).into_bytes()))
            } else if ft.is_file() {
                Some((rel, std::fs::read(&p).unwrap()))
            } else {
                None
            }
        })
        .collect();
    out.sort();
    out
}

/// Seeds `bytes` from one client and downloads it with another, both saving deep inside a
/// fresh temporary directory; asserts nothing is written outside the two save directories.
fn seed_and_download(case: &str, bytes: &[u8]) {
    let meta = Metainfo::from_bytes(bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
    let tmp = tempfile::tempdir().unwrap();
    let seed_dir = tmp.path().join("a/b/c/seed");
    let leech_dir = tmp.path().join("a/b/c/leech");
    // Lay out the seed's data at the sanitised paths the loader produced.
    for (i, f) in meta.info.files.iter().enumerate() {
        if f.symlink_target.is_some() || f.attributes.padding {
            continue;
        }
        let p = f.path.iter().fold(seed_dir.clone(), |p, e| p.join(e));
        assert!(p.starts_with(&seed_dir), "{case}: sanitised path {p:?}");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        // Contents are seeded by the file's index in torrent order, as in `multi`.
        std::fs::write(&p, data_of(i, f.length as usize)).unwrap();
    }
    let seed = client(TICK);
    add(&seed, 1, bytes, &seed_dir, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let leech = client(TICK);
    add(&leech, 1, bytes, &leech_dir, &[seed.listen_addrs()[0]]);
    let lid = wait_added(&leech);
    wait_complete(&leech, lid);
    leech.join();
    seed.join();

    let got = snapshot(&leech_dir);
    for (p, c) in &got {
        eprintln!(
            "{case}: {} ({} bytes{})",
            p.display(),
            c.len(),
            if c.starts_with(b"link -> ") {
                format!(", {}", String::from_utf8_lossy(c))
            } else {
                String::new()
            }
        );
    }
    assert_eq!(got, snapshot(&seed_dir), "{case}: downloaded tree differs");
    let mut all = Vec::new();
    walk(tmp.path(), &mut all);
    let allowed_dirs: Vec<PathBuf> = ["a", "a/b", "a/b/c"]
        .iter()
        .map(|d| tmp.path().join(d))
        .collect();
    for p in &all {
        let inside = p.starts_with(&seed_dir) || p.starts_with(&leech_dir);
        assert!(
            inside || (allowed_dirs.contains(p) && p.is_dir()),
            "{case}: {p:?} exists outside the save directories"
        );
        if p.is_symlink() {
            let base = if p.starts_with(&seed_dir) {
                &seed_dir
            } else {
                &leech_dir
            };
            let target = std::fs::read_link(p).unwrap();
            let resolved = p.parent().unwrap().join(&target);
            let canon = std::fs::canonicalize(&resolved).unwrap_or(resolved);
            assert!(
                canon.starts_with(base) || canon.starts_with(std::fs::canonicalize(base).unwrap()),
                "{case}: symlink {p:?} -> {target:?} leaves {base:?}"
            );
        }
    }
}

#[test]
fn dotdot_paths_stay_inside_the_save_directory() {
    let t = multi(
        b"dots",
        &[
            file(&[b"..", b"..", b"..", b"escape-dotdot.txt"], 20_000),
            file(&[b"sub", b"..", b"..", b"escape2.txt"], 3_000),
            file(&[b"ok.txt"], 9_000),
        ],
    );
    seed_and_download("dotdot", &t);
}

#[test]
fn absolute_and_backslash_paths_stay_inside_the_save_directory() {
    let t = multi(
        b"/tmp",
        &[
            file(&[b"/tmp/freshet-escape-absolute.txt"], 10_000),
            file(&[b"/", b"etc", b"escape"], 5_000),
            file(&[b"..\\..\\..\\escape-backslash.txt"], 7_000),
            file(&[b"C:\\Windows\\escape.txt"], 1_000),
        ],
    );
    seed_and_download("absolute+backslash", &t);
    assert!(!Path::new("/tmp/freshet-escape-absolute.txt").exists());
}

#[test]
fn hostile_single_file_names_stay_inside_the_save_directory() {
    seed_and_download("name ../../x", &single(b"../../../escape-name.bin", 40_000));
    seed_and_download("name /abs", &single(b"/tmp/freshet-escape-name.bin", 1_000));
    assert!(!Path::new("/tmp/freshet-escape-name.bin").exists());
}

#[test]
fn symlinks_pointing_outside_are_kept_inside() {
    let link = |path: &[&'static [u8]], target: &[&'static [u8]]| F {
        path: path.to_vec(),
        len: 0,
        link: Some(target.to_vec()),
    };
    let t = multi(
        b"links",
        &[
            file(&[b"data.bin"], 30_000),
            link(&[b"up"], &[b"..", b"..", b"..", b".."]),
            link(&[b"etc"], &[b"/etc", b"passwd"]),
            link(&[b"dir", b"deep"], &[b"..", b"..", b"..", b"escape-link"]),
            // A file written "through" a link must not follow it outside either.
            file(&[b"up", b"through-link.txt"], 2_000),
        ],
    );
    seed_and_download("symlinks", &t);
}

#[test]
fn absurd_lengths_and_counts_are_rejected_before_allocation() {
    // A 2^63 length (one more than i64::MAX) and two files whose lengths overflow u64.
    let huge = wrap(vec![
        ("name", s(b"x")),
        ("piece length", B::I(PIECE as i128)),
        ("pieces", B::S(vec![0; 20])),
        ("length", B::I(1 << 63)),
    ]);
    assert!(Metainfo::from_bytes(&huge).is_err(), "2^63 length accepted");
    let overflow = wrap(vec![
        ("name", s(b"x")),
        ("piece length", B::I(PIECE as i128)),
        ("pieces", B::S(vec![0; 20])),
        (
            "files",
            B::L(vec![
                B::D(vec![
                    ("length", B::I((1 << 63) - 1)),
                    ("path", B::L(vec![s(b"a")])),
                ]),
                B::D(vec![
                    ("length", B::I((1 << 63) - 1)),
                    ("path", B::L(vec![s(b"b")])),
                ]),
            ]),
        ),
    ]);
    assert!(
        Metainfo::from_bytes(&overflow).is_err(),
        "overflowing lengths accepted"
    );
    // 2^62 bytes with a 16 KiB piece length claims 2^48 pieces: refused by `max_pieces`
    // before any per-piece allocation (the `pieces` string is only 20 bytes).
    let many_pieces = wrap(vec![
        ("name", s(b"x")),
        ("piece length", B::I(PIECE as i128)),
        ("pieces", B::S(vec![0; 20])),
        ("length", B::I(1 << 62)),
    ]);
    assert!(Metainfo::from_bytes(&many_pieces).is_err());
    // A `pieces` string claiming 20 * 10^9 bytes that are not there.
    let mut lying = b"d4:infod6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces".to_vec();
    lying.extend_from_slice(b"20000000000:");
    lying.extend_from_slice(&[0; 40]);
    lying.extend_from_slice(b"ee");
    assert!(Metainfo::from_bytes(&lying).is_err());

    // 10^9 files cannot be spelled in a torrent under the 10 MB input limit: an input
    // listing 450 000 files (over the limit) is refused by size before it is decoded.
    let entry = b"d6:lengthi1e4:pathl1:xee";
    let mut big = b"d4:infod5:filesl".to_vec();
    for _ in 0..450_000 {
        big.extend_from_slice(entry);
    }
    big.extend_from_slice(b"e4:name1:x12:piece lengthi16384e6:pieces20:");
    big.extend_from_slice(&[0; 20]);
    big.extend_from_slice(b"ee");
    assert!(big.len() > 10_000_000);
    let err = Metainfo::from_bytes(&big).expect_err("oversized torrent accepted");
    assert!(
        err.to_string().contains("10000000") || err.to_string().contains("limit"),
        "{err}"
    );
    // The most files that fit (≈ 400 000 entries of one byte, all named `x`) are refused
    // by the duplicate-rename limit, not renamed 400 000 times.
    let mut dup = b"d4:infod5:filesl".to_vec();
    for _ in 0..400_000 {
        dup.extend_from_slice(entry);
    }
    dup.extend_from_slice(b"e4:name1:x12:piece lengthi16384e6:pieces500:");
    dup.extend_from_slice(&[0; 500]);
    dup.extend_from_slice(b"ee");
    assert!(dup.len() < 10_000_000);
    assert!(
        Metainfo::from_bytes(&dup).is_err(),
        "400 000 duplicate files accepted"
    );
}

#[test]
fn the_client_refuses_absurd_torrents_with_a_clear_reply() {
    let huge = wrap(vec![
        ("name", s(b"x")),
        ("piece length", B::I(PIECE as i128)),
        ("pieces", B::S(vec![0; 20])),
        ("length", B::I(1 << 63)),
    ]);
    let c = client(TICK);
    let tmp = tempfile::tempdir().unwrap();
    let save = tmp.path().join("save");
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(9)),
        source: TorrentSource::Bytes(huge),
        options: freshet_client::AddOptions::save_to(&save),
    })
    .unwrap();
    let reply = wait_for(&c, "add reply", |e| {
        matches!(e, Event::StartFailed { .. } | Event::TorrentAdded { .. })
    });
    assert!(
        matches!(
            reply,
            Event::StartFailed {
                request_id: Some(RequestId(9)),
                ..
            }
        ),
        "{reply}"
    );
    c.join();
    let mut all = Vec::new();
    walk(tmp.path(), &mut all);
    assert!(all.is_empty(), "a refused torrent wrote {all:?}");
}

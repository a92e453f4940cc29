//! Inline cases from the upstream test suites (restated in the shared EXPECTATIONS files):
//! limits, odd top-level values, and path handling built from hand-made torrents.

use std::collections::BTreeMap;

use freshet_bencode::OwnedValue;
use freshet_metainfo::{ErrorKind, Limits, Metainfo};

fn bytes(s: &str) -> OwnedValue {
    OwnedValue::Bytes(s.as_bytes().to_vec())
}

fn dict(entries: Vec<(&str, OwnedValue)>) -> OwnedValue {
    OwnedValue::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// A multi-file torrent with one 10-byte file at `path`, plus extra top-level keys.
fn with_path(path: Vec<OwnedValue>, top: Vec<(&str, OwnedValue)>) -> Vec<u8> {
    let file = dict(vec![
        ("length", OwnedValue::Int(10)),
        ("path", OwnedValue::List(path)),
    ]);
    let info = dict(vec![
        ("files", OwnedValue::List(vec![file])),
        ("name", bytes("t")),
        ("piece length", OwnedValue::Int(16384)),
        ("pieces", OwnedValue::Bytes(vec![0; 20])),
    ]);
    let mut entries = top;
    entries.push(("info", info));
    dict(entries).encode()
}

#[test]
fn directory_depth_is_limited() {
    let deep = |n: usize| (0..n).map(|i| bytes(&format!("d{i}"))).collect::<Vec<_>>();
    assert!(Metainfo::from_bytes(&with_path(deep(50), vec![])).is_ok());
    let err = Metainfo::from_bytes(&with_path(deep(200), vec![])).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DirectoryTooDeep { .. }),
        "{err}"
    );
    let limits = Limits {
        max_path_depth: 5,
        ..Limits::default()
    };
    let err = Metainfo::from_bytes_with(&with_path(deep(20), vec![]), &limits).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::DirectoryTooDeep { .. }),
        "{err}"
    );
}

#[test]
fn odd_top_level_values_do_not_fail_the_torrent() {
    let p = vec![bytes("a.txt")];
    let m = Metainfo::from_bytes(&with_path(
        p.clone(),
        vec![("creation date", bytes("29.03.2018 22:18:14 UTC"))],
    ))
    .unwrap();
    assert_eq!(m.creation_date, None);
    let m = Metainfo::from_bytes(&with_path(p.clone(), vec![("nodes", bytes(""))])).unwrap();
    assert!(m.nodes.is_empty());
    let nodes = OwnedValue::List(vec![bytes("a"), OwnedValue::Int(42)]);
    let m = Metainfo::from_bytes(&with_path(p.clone(), vec![("nodes", nodes)])).unwrap();
    assert!(m.nodes.is_empty());
    let m =
        Metainfo::from_bytes(&with_path(p, vec![("creation date", OwnedValue::Int(-5))])).unwrap();
    assert_eq!(m.creation_date, None);
}

#[test]
fn malformed_inputs_are_errors_not_panics() {
    for input in [
        &b""[..],
        b"de",
        b"d4:infoe",
        b"d4:infoabce",
        b"d4:infodee",
        b"le",
        b"i42e",
        b"d4:infod4:name1:a12:piece lengthi16384e6:pieces0:ee",
        b"d10:longer than 10 characterse",
        b"d10:short",
    ] {
        assert!(Metainfo::from_bytes(input).is_err(), "{input:?}");
    }
    assert!(matches!(
        Metainfo::from_bytes(b"").unwrap_err().kind(),
        ErrorKind::Bencode(_)
    ));
    let big = vec![b'l'; 11_000_000];
    assert!(matches!(
        Metainfo::from_bytes(&big).unwrap_err().kind(),
        ErrorKind::TooLarge { .. }
    ));
    let nested = [vec![b'l'; 1024], vec![b'e'; 1024]].concat();
    assert!(matches!(
        Metainfo::from_bytes(&nested).unwrap_err().kind(),
        ErrorKind::Bencode(_)
    ));
}

#[test]
fn transmission_path_component_cases_are_sanitised_not_rejected() {
    for (path, expected) in [
        (vec!["a.txt"], "t/a.txt"),
        (vec!["", "a.txt"], "t/_/a.txt"),
        (vec!["a/a.txt"], "t/aa.txt"),
        (vec![".", "a.txt"], "t/_/a.txt"),
        (vec!["a.txt", "."], "t/a.txt/_"),
        (vec!["..", "a.txt"], "t/_/a.txt"),
        (vec!["a.txt", ".."], "t/a.txt/_"),
        (vec!["", ""], "t/_/_"),
        (vec!["/foobar"], "t/foobar"),
    ] {
        let p = path.iter().map(|s| bytes(s)).collect();
        let m = Metainfo::from_bytes(&with_path(p, vec![])).unwrap();
        assert_eq!(m.info.files[0].path_string(), expected, "{path:?}");
    }
}

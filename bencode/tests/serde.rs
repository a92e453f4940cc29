//! serde round trips: derived structs (owned and borrowed fields), byte buffers, enums,
//! options, canonical key order, and errors with offsets and paths.
#![cfg(feature = "serde")]

use std::collections::{BTreeMap, HashMap};

use freshet_bencode::{ErrorKind, OwnedValue, decode, from_bytes, from_value, to_bytes};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct File {
    length: u64,
    path: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    md5sum: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Info {
    name: String,
    #[serde(rename = "piece length")]
    piece_length: u32,
    #[serde(with = "serde_bytes")]
    pieces: Vec<u8>,
    files: Vec<File>,
    private: Option<bool>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Torrent {
    announce: String,
    info: Info,
    #[serde(rename = "creation date")]
    creation_date: Option<i64>,
}

fn sample() -> Torrent {
    Torrent {
        announce: "http://tracker/announce".into(),
        info: Info {
            name: "dir".into(),
            piece_length: 16384,
            pieces: vec![0xff; 40],
            files: vec![
                File {
                    length: 5,
                    path: vec!["a".into(), "b.txt".into()],
                    md5sum: None,
                },
                File {
                    length: 0,
                    path: vec!["c".into()],
                    md5sum: Some("x".into()),
                },
            ],
            private: None,
        },
        creation_date: Some(1_700_000_000),
    }
}

#[test]
fn derived_struct_round_trips_canonically() {
    let t = sample();
    let bytes = to_bytes(&t).unwrap();
    // Keys are sorted (`creation date` < `info`... `piece length` < `pieces`), None is omitted.
    let v = decode(&bytes).unwrap();
    assert!(v.is_canonical(), "{}", bytes.escape_ascii());
    assert!(bytes.starts_with(b"d8:announce23:http://tracker/announce13:creation datei1700000000e4:infod5:filesld6:lengthi5e4:pathl1:a5:b.txteed6:lengthi0e6:md5sum1:x4:pathl1:ceee4:name3:dir12:piece lengthi16384e6:pieces40:"));
    assert_eq!(from_bytes::<Torrent>(&bytes).unwrap(), t);
    // The same bytes through the Value API.
    let info = v.as_dict().unwrap().get(b"info").unwrap();
    let back: Info = from_value(info).unwrap();
    assert_eq!(back, t.info);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Borrowed<'a> {
    name: &'a str,
    #[serde(borrow, with = "serde_bytes")]
    pieces: &'a [u8],
    #[serde(borrow)]
    tags: Vec<&'a str>,
}

#[test]
fn borrowed_fields_point_into_the_input() {
    let input = b"d4:name5:hello6:pieces3:\x00\x01\x024:tagsl1:x2:yyee";
    let b: Borrowed<'_> = from_bytes(input).unwrap();
    assert_eq!(
        b,
        Borrowed {
            name: "hello",
            pieces: &[0, 1, 2],
            tags: vec!["x", "yy"],
        }
    );
    let range = input.as_ptr_range();
    assert!(range.contains(&b.name.as_ptr()));
    assert!(range.contains(&b.pieces.as_ptr()));
    assert_eq!(to_bytes(&b).unwrap(), input);
}

#[test]
fn byte_buffers_and_plain_vec_u8() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Bufs {
        #[serde(with = "serde_bytes")]
        buf: Vec<u8>,
        ints: Vec<u8>,
        raw: serde_bytes::ByteBuf,
    }
    let v = Bufs {
        buf: vec![1, 2],
        ints: vec![3, 4],
        raw: serde_bytes::ByteBuf::from(vec![0xfe]),
    };
    let bytes = to_bytes(&v).unwrap();
    assert_eq!(bytes, b"d3:buf2:\x01\x024:intsli3ei4ee3:raw1:\xfee");
    assert_eq!(from_bytes::<Bufs>(&bytes).unwrap(), v);
}

#[test]
fn maps_sort_keys_and_reject_duplicates_and_bad_keys() {
    let mut m = HashMap::new();
    for k in ["zeta", "alpha", "mid", "b"] {
        m.insert(k.to_owned(), k.len() as i64);
    }
    let bytes = to_bytes(&m).unwrap();
    assert_eq!(bytes, b"d5:alphai5e1:bi1e3:midi3e4:zetai4ee");
    let back: HashMap<String, i64> = from_bytes(&bytes).unwrap();
    assert_eq!(back, m);
    let bad: BTreeMap<i32, i32> = [(1, 2)].into_iter().collect();
    assert!(matches!(
        to_bytes(&bad).unwrap_err().kind(),
        ErrorKind::Message(m) if m.contains("keys must be strings")
    ));
    // A struct with a field and a flattened map repeating it: duplicate key at the end.
    #[derive(Serialize)]
    struct Dup {
        a: i64,
        #[serde(flatten)]
        rest: BTreeMap<String, i64>,
    }
    let dup = Dup {
        a: 1,
        rest: [("a".to_owned(), 2), ("0".to_owned(), 0)]
            .into_iter()
            .collect(),
    };
    assert_eq!(to_bytes(&dup).unwrap_err().kind(), &ErrorKind::DuplicateKey);
}

#[test]
fn enums_options_units_and_scalars() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum E {
        Unit,
        New(i64),
        Tuple(i64, String),
        Struct { x: i64 },
    }
    for (e, enc) in [
        (E::Unit, &b"4:Unit"[..]),
        (E::New(7), b"d3:Newi7ee"),
        (E::Tuple(1, "a".into()), b"d5:Tupleli1e1:aee"),
        (E::Struct { x: -2 }, b"d6:Structd1:xi-2eee"),
    ] {
        assert_eq!(to_bytes(&e).unwrap(), enc);
        assert_eq!(from_bytes::<E>(enc).unwrap(), e);
    }
    assert_eq!(to_bytes(&true).unwrap(), b"i1e");
    assert!(from_bytes::<bool>(b"i1e").unwrap());
    assert_eq!(
        from_bytes::<bool>(b"i2e").unwrap_err().to_string(),
        "expected integer 0 or 1, found integer at byte 0"
    );
    assert_eq!(to_bytes(&'é').unwrap(), "2:é".as_bytes());
    assert_eq!(from_bytes::<char>("2:é".as_bytes()).unwrap(), 'é');
    assert_eq!(to_bytes(&(1u8, "x")).unwrap(), b"li1e1:xe");
    assert_eq!(
        from_bytes::<(u8, String)>(b"li1e1:xe").unwrap(),
        (1, "x".into())
    );
    assert_eq!(
        to_bytes(&u64::MAX).unwrap_err().kind(),
        &ErrorKind::IntegerOverflow
    );
    assert!(to_bytes(&1.5f64).is_err());
    assert!(
        to_bytes(&None::<i64>).is_err(),
        "top-level None has no encoding"
    );
    assert!(
        to_bytes(&vec![Some(1), None]).is_err(),
        "None inside a list"
    );
    assert_eq!(from_bytes::<Option<i64>>(b"i5e").unwrap(), Some(5));
    assert_eq!(from_bytes::<u8>(b"i255e").unwrap(), 255);
    assert!(from_bytes::<u8>(b"i256e").is_err());
    assert!(from_bytes::<u64>(b"i-1e").is_err());
    // Unknown fields are ignored.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Small {
        a: i64,
    }
    assert_eq!(
        from_bytes::<Small>(b"d1:ai1e1:bld1:ci2eeee").unwrap(),
        Small { a: 1 }
    );
}

#[test]
fn errors_name_the_offset_and_path() {
    // files[1].length is a string.
    let input = b"d8:announce1:x4:infod5:filesld6:lengthi1e4:pathl1:aeed6:length1:z4:pathl1:beee4:name1:n12:piece lengthi1e6:pieces0:ee";
    let e = from_bytes::<Torrent>(input).unwrap_err();
    assert_eq!(e.path(), Some("info.files[1].length"));
    assert_eq!(e.offset(), 62, "offset of the `1:z` string itself: {e}");
    assert!(e.to_string().contains("invalid type: byte array"), "{e}");
    let e = from_bytes::<File>(b"d4:pathlee").unwrap_err();
    assert_eq!(e.to_string(), "missing field `length` at byte 0");
    let e = from_bytes::<Vec<String>>(b"l1:a2:\xff\xfee").unwrap_err();
    assert_eq!(e.path(), Some("[1]"));
    assert_eq!(e.offset(), 4);
    // Decoding errors come first and keep their own kind.
    assert_eq!(
        from_bytes::<File>(b"d6:lengthi01ee").unwrap_err().kind(),
        &ErrorKind::LeadingZero
    );
}

#[test]
fn owned_value_and_value_serde() {
    let input = b"d1:ali1e2:xye1:bd1:c0:ee";
    let v: OwnedValue = from_bytes(input).unwrap();
    assert_eq!(v.encode(), input);
    assert_eq!(to_bytes(&v).unwrap(), input);
    assert_eq!(to_bytes(&decode(input).unwrap()).unwrap(), input);
    let unsorted = decode(b"d1:bi1e1:ai2ee").unwrap();
    assert_eq!(to_bytes(&unsorted).unwrap(), b"d1:ai2e1:bi1ee");
}

#[test]
fn streaming_deserializer_is_as_strict_as_decode() {
    #[derive(Debug, Deserialize)]
    struct OnlyA {
        #[allow(dead_code)]
        a: i64,
    }
    // Problems inside fields the type ignores are still errors.
    for (bad, kind) in [
        (&b"d1:ai1e1:bi01ee"[..], ErrorKind::LeadingZero),
        (b"d1:ai1e1:bd1:xi1e1:xi2eee", ErrorKind::DuplicateKey),
        (b"d1:ai1e1:ai2ee", ErrorKind::DuplicateKey),
        (b"d1:bi1e1:ai1e1:bi2ee", ErrorKind::DuplicateKey),
        (b"d1:ai1e1:be", ErrorKind::UnexpectedByte(b'e')),
        (b"d1:ai1eei0e", ErrorKind::TrailingBytes),
        (b"d1:ai1ei1ei2ee", ErrorKind::KeyNotBytes),
    ] {
        assert_eq!(
            from_bytes::<OnlyA>(bad).unwrap_err().kind(),
            &kind,
            "{}",
            bad.escape_ascii()
        );
        assert!(decode(bad).is_err());
    }
    // Unsorted but valid input is accepted, as by `decode`.
    assert_eq!(from_bytes::<OnlyA>(b"d1:bi1e1:ai2ee").unwrap().a, 2);
    // Limits apply.
    let opts = freshet_bencode::DecodeOptions {
        max_depth: 1,
        ..Default::default()
    };
    let e = freshet_bencode::from_bytes_with::<OwnedValue>(b"lle", opts).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (&ErrorKind::DepthLimit, 1));
    let mut bomb = vec![b'l'; 100_000];
    bomb.extend(std::iter::repeat_n(b'e', 100_000));
    assert_eq!(
        from_bytes::<serde::de::IgnoredAny>(&bomb)
            .unwrap_err()
            .kind(),
        &ErrorKind::DepthLimit
    );
    // Tuples shorter than the list: the rest is validated and skipped.
    assert_eq!(from_bytes::<(i64,)>(b"li1ei2ee").unwrap(), (1,));
    assert_eq!(
        from_bytes::<(i64,)>(b"li1ei02ee").unwrap_err().kind(),
        &ErrorKind::LeadingZero
    );
}

#[test]
fn tree_and_streaming_deserializers_agree_on_real_torrents() {
    #[derive(Debug, PartialEq, Deserialize)]
    struct Meta<'a> {
        #[serde(borrow)]
        announce: Option<&'a str>,
        #[serde(borrow)]
        info: InfoLite<'a>,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    struct InfoLite<'a> {
        #[serde(borrow, with = "serde_bytes")]
        name: &'a [u8],
        #[serde(rename = "piece length")]
        piece_length: i64,
        #[serde(borrow, with = "serde_bytes")]
        pieces: &'a [u8],
        length: Option<i64>,
        files: Option<Vec<OwnedValue>>,
    }
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/anacrolix-torrent/testdata"
    );
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let Ok((value, used)) = freshet_bencode::decode_prefix(&bytes) else {
            continue;
        };
        let streamed = from_bytes::<Meta<'_>>(&bytes[..used]);
        let tree = from_value::<Meta<'_>>(&value);
        match (streamed, tree) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{}", path.display());
                n += 1;
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("{}: {a:?} vs {b:?}", path.display()),
        }
    }
    assert!(n >= 5, "{n}");
}

#[test]
fn deepest_allowed_nesting_fits_on_a_test_thread_stack() {
    // The ceiling on max_depth bounds every recursion (decode, serde, encode, drop); make sure
    // the deepest document it allows is handled on a default 2 MiB test thread in debug builds.
    let depth = freshet_bencode::DecodeOptions::MAX_DEPTH_CEILING;
    let opts = freshet_bencode::DecodeOptions {
        max_depth: usize::MAX,
        ..Default::default()
    };
    let mut lists = vec![b'l'; depth];
    lists.extend(std::iter::repeat_n(b'e', depth));
    let mut dicts = b"d1:a".repeat(depth - 1);
    dicts.extend_from_slice(b"de");
    dicts.extend(std::iter::repeat_n(b'e', depth - 1));
    for doc in [lists, dicts] {
        let v = opts.decode(&doc).unwrap();
        assert_eq!(v.encode(), doc);
        let owned: OwnedValue = freshet_bencode::from_bytes_with(&doc, opts).unwrap();
        assert_eq!(owned.encode(), doc);
        assert_eq!(from_value::<OwnedValue>(&v).unwrap(), owned);
        assert_eq!(to_bytes(&owned).unwrap(), doc);
        let mut deeper = b"l".to_vec();
        deeper.extend_from_slice(&doc);
        deeper.push(b'e');
        assert_eq!(
            opts.decode(&deeper).unwrap_err().kind(),
            &ErrorKind::DepthLimit
        );
    }
}

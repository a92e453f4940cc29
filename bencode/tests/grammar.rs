//! Strict grammar: Transmission's inline bencode cases, anacrolix's fuzz regressions, limits.

use freshet_bencode::{DecodeOptions, ErrorKind, OwnedValue, Value, decode, decode_prefix};

fn kind(input: &[u8]) -> ErrorKind {
    decode(input).expect_err("must be rejected").kind().clone()
}

fn err_at(input: &[u8]) -> (ErrorKind, usize) {
    let e = decode(input).expect_err("must be rejected");
    (e.kind().clone(), e.offset())
}

#[test]
fn integers() {
    assert_eq!(decode(b"i64e").unwrap().as_int(), Some(64));
    assert_eq!(decode(b"i-3e").unwrap().as_int(), Some(-3));
    assert_eq!(decode(b"i0e").unwrap().as_int(), Some(0));
    assert_eq!(
        decode(b"i9223372036854775807e").unwrap().as_int(),
        Some(i64::MAX)
    );
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap().as_int(),
        Some(i64::MIN)
    );
    assert_eq!(err_at(b"i64"), (ErrorKind::UnexpectedEof, 3));
    assert_eq!(err_at(b""), (ErrorKind::UnexpectedEof, 0));
    assert_eq!(err_at(b"i6z4e"), (ErrorKind::UnexpectedByte(b'z'), 2));
    assert_eq!(err_at(b"i04e"), (ErrorKind::LeadingZero, 1));
    assert_eq!(err_at(b"i-03e"), (ErrorKind::LeadingZero, 2));
    assert_eq!(err_at(b"i-0e"), (ErrorKind::NegativeZero, 1));
    assert_eq!(err_at(b"ie"), (ErrorKind::InvalidInteger, 1));
    assert_eq!(err_at(b"i-e"), (ErrorKind::InvalidInteger, 2));
    assert_eq!(err_at(b"i+0e"), (ErrorKind::UnexpectedByte(b'+'), 1));
    assert_eq!(kind(b"i9223372036854775808e"), ErrorKind::IntegerOverflow);
    assert_eq!(kind(b"i-9223372036854775809e"), ErrorKind::IntegerOverflow);
    assert_eq!(
        kind(b"i99999999999999999999999e"),
        ErrorKind::IntegerOverflow
    );
}

#[test]
fn strings() {
    assert_eq!(decode(b"4:boat").unwrap().as_bytes(), Some(&b"boat"[..]));
    assert_eq!(decode(b"0:").unwrap().as_bytes(), Some(&b""[..]));
    let (v, used) = decode_prefix(b"3:boat").unwrap();
    assert_eq!((v.as_str(), used), (Some("boa"), 5));
    assert_eq!(kind(b"3:boat"), ErrorKind::TrailingBytes);
    assert_eq!(err_at(b"4:boa"), (ErrorKind::UnexpectedEof, 0));
    assert_eq!(kind(b"99999999999999999999:boat"), ErrorKind::InvalidLength);
    assert_eq!(err_at(b"1:"), (ErrorKind::UnexpectedEof, 0));
    assert_eq!(err_at(b"00:"), (ErrorKind::LeadingZero, 0));
    assert_eq!(err_at(b"4boat"), (ErrorKind::UnexpectedByte(b'b'), 1));
    assert_eq!(decode(b"2:\xff\xfe").unwrap().as_str(), None);
}

#[test]
fn containers_round_trip_exactly() {
    for sample in [
        &b"li64ei32ei16ee"[..],
        b"le",
        b"de",
        b"llleee",
        b"d3:cow3:moo4:spam4:eggse",
        b"d4:spaml1:a1:bee",
        b"d5:greenli1ei2ei3ee4:spamd1:ai123e3:keyi214eee",
        b"d9:publisher3:bob17:publisher-webpage15:www.example.com18:publisher.location4:homee",
        b"d8:completei1e8:intervali1800e12:min intervali1800e5:peers0:e",
    ] {
        let v = decode(sample).unwrap();
        assert!(v.is_canonical(), "{}", sample.escape_ascii());
        assert_eq!(v.encode(), sample);
        assert_eq!(v.to_owned_value().encode(), sample);
        match &v {
            Value::List(l) => assert_eq!((l.raw(), l.offset()), (sample, 0)),
            Value::Dict(d) => assert_eq!((d.raw(), d.offset()), (sample, 0)),
            _ => panic!("container expected"),
        }
    }
}

#[test]
fn malformed_containers() {
    assert_eq!(err_at(b"lllee"), (ErrorKind::UnexpectedEof, 5));
    assert_eq!(err_at(b"d20:"), (ErrorKind::UnexpectedEof, 1));
    assert_eq!(
        err_at(b"d1:ai0e1:be"),
        (ErrorKind::UnexpectedByte(b'e'), 10)
    );
    assert_eq!(err_at(b" "), (ErrorKind::UnexpectedByte(b' '), 0));
    assert_eq!(err_at(b"l1:a1:b1:c"), (ErrorKind::UnexpectedEof, 10));
    assert_eq!(err_at(b"di1ei2ee"), (ErrorKind::KeyNotBytes, 1));
    assert_eq!(err_at(b"d3:000e"), (ErrorKind::UnexpectedByte(b'e'), 6));
    assert_eq!(err_at(b"dhe"), (ErrorKind::UnexpectedByte(b'h'), 1));
    assert_eq!(
        kind(b"d10:longer than 10 characterse"),
        ErrorKind::UnexpectedByte(b'n')
    );
    assert_eq!(err_at(b"d10:short"), (ErrorKind::UnexpectedEof, 1));
}

#[test]
fn decode_prefix_leaves_trailing_bytes() {
    let (v, used) = decode_prefix(b"leee").unwrap();
    assert_eq!((v.as_list().map(|l| l.len()), used), (Some(0), 2));
    assert_eq!(err_at(b"leee"), (ErrorKind::TrailingBytes, 2));
    let (_, used) = decode_prefix(b"de\n").unwrap();
    assert_eq!(used, 2);
}

#[test]
fn serializing_sorts_keys() {
    let v = decode(b"lld1:bi32e1:ai64eeee").unwrap();
    assert!(!v.is_canonical());
    assert_eq!(v.encode(), b"lld1:ai64e1:bi32eeee");
    assert_eq!(v.to_owned_value().encode(), b"lld1:ai64e1:bi32eeee");
    let inner = v.as_list().unwrap().get(0).unwrap().as_list().unwrap();
    let d = inner.get(0).unwrap().as_dict().unwrap();
    assert!(!d.is_canonical());
    assert_eq!(d.offset(), 2);
    assert_eq!(d.raw(), b"d1:bi32e1:ai64ee");
    assert_eq!(d.get(b"a").and_then(Value::as_int), Some(64));
    assert_eq!(d.get(b"b").and_then(Value::as_int), Some(32));
    assert_eq!(d.get(b"c"), None);
    let keys: Vec<&[u8]> = d.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [&b"b"[..], b"a"], "iteration keeps input order");
}

#[test]
fn canonical_flag_propagates_from_nested_dicts() {
    let v = decode(b"d1:ad1:ci1e1:bi2ee1:zi0ee").unwrap();
    let d = v.as_dict().unwrap();
    assert!(!d.is_canonical(), "nested dict is unsorted");
    assert!(!d.get(b"a").unwrap().as_dict().unwrap().is_canonical());
    assert!(decode(b"d1:ad1:bi2e1:ci1ee1:zi0ee").unwrap().is_canonical());
}

#[test]
fn duplicate_keys_are_errors() {
    assert_eq!(err_at(b"d1:ai1e1:ai2ee"), (ErrorKind::DuplicateKey, 7));
    // Unsorted with a duplicate further apart: reported at the later occurrence.
    assert_eq!(
        err_at(b"d1:bi1e1:ai2e1:bi3ee"),
        (ErrorKind::DuplicateKey, 13)
    );
    assert_eq!(
        err_at(b"d2:bbi1e1:ai2e2:bbi3ee"),
        (ErrorKind::DuplicateKey, 14)
    );
}

#[test]
fn depth_bomb_fails_cleanly() {
    for n in [100_000usize, 1_000_000] {
        let mut bomb = vec![b'l'; n];
        bomb.extend(std::iter::repeat_n(b'e', n));
        let e = decode(&bomb).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (&ErrorKind::DepthLimit, 100));
        assert_eq!(e.to_string(), "nesting too deep at byte 100");
    }
    let mut dicts = b"d1:a".repeat(10_000);
    dicts.extend(std::iter::repeat_n(b'e', 10_000));
    assert_eq!(kind(&dicts), ErrorKind::DepthLimit);
}

#[test]
fn depth_limit_is_exact_and_configurable() {
    let nest = |n: usize| {
        let mut v = vec![b'l'; n];
        v.extend(std::iter::repeat_n(b'e', n));
        v
    };
    assert!(decode(&nest(100)).is_ok());
    assert_eq!(kind(&nest(101)), ErrorKind::DepthLimit);
    let opts = DecodeOptions {
        max_depth: 3,
        ..DecodeOptions::default()
    };
    assert!(opts.decode(&nest(3)).is_ok());
    assert_eq!(
        opts.decode(&nest(4)).unwrap_err().kind(),
        &ErrorKind::DepthLimit
    );
    // Larger limits are capped at the ceiling so recursion stays bounded.
    let huge = DecodeOptions {
        max_depth: usize::MAX,
        ..DecodeOptions::default()
    };
    let e = huge.decode(&nest(100_000)).unwrap_err();
    assert_eq!(
        (e.kind(), e.offset()),
        (&ErrorKind::DepthLimit, DecodeOptions::MAX_DEPTH_CEILING)
    );
}

#[test]
fn item_limit() {
    let opts = DecodeOptions {
        max_items: 4,
        ..DecodeOptions::default()
    };
    assert!(opts.decode(b"li1ei2ei3ee").is_ok());
    let e = opts.decode(b"li1ei2ei3ei4ee").unwrap_err();
    assert_eq!((e.kind(), e.offset()), (&ErrorKind::ItemLimit, 10));
    // Keys count as items too.
    assert_eq!(
        opts.decode(b"d1:ai1e1:bi2ee").unwrap_err().kind(),
        &ErrorKind::ItemLimit
    );
    let many = [b"l".as_slice(), &b"i0e".repeat(3_000_000), b"e"].concat();
    assert_eq!(kind(&many), ErrorKind::ItemLimit);
}

#[test]
fn anacrolix_fuzz_regressions_are_rejected() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/anacrolix-torrent/bencode/testdata/fuzz-raw"
    );
    let mut seen = 0;
    for target in ["Fuzz", "FuzzInterfaceRoundTrip"] {
        for entry in std::fs::read_dir(format!("{dir}/{target}")).unwrap() {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            // Every regression input is non-canonical or invalid: a strict decoder rejects
            // it, or (for unsorted keys) reports that it is not canonical.
            match decode(&input) {
                Ok(v) => assert!(!v.is_canonical(), "{}", path.display()),
                Err(e) => assert!(e.offset() <= input.len(), "{}", path.display()),
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 10);
    assert_eq!(kind(b"i+0e"), ErrorKind::UnexpectedByte(b'+'));
    assert_eq!(kind(b"i00e"), ErrorKind::LeadingZero);
    assert_eq!(kind(b"i-0e"), ErrorKind::NegativeZero);
    assert_eq!(kind(b"00:"), ErrorKind::LeadingZero);
    assert_eq!(kind(b"d10000000000"), ErrorKind::UnexpectedEof);
    assert_eq!(
        kind(b"i62208002200000000:00"),
        ErrorKind::UnexpectedByte(b':')
    );
    // Keys `A00` then `000`: unsorted, accepted but flagged non-canonical.
    let v = decode(b"d3:A005:000003:000i0ee").unwrap();
    assert!(!v.is_canonical());
    assert_eq!(v.encode(), b"d3:000i0e3:A005:00000e");
}

#[test]
fn tracker_reply_with_wrong_failure_length_is_an_error() {
    let mut reply = b"d14:failure reason119:".to_vec();
    reply.extend_from_slice(b"Your client is not allowed on this tracker.");
    reply.extend_from_slice(b"e\n");
    let e = decode_prefix(&reply).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (&ErrorKind::UnexpectedEof, 18));
    assert!(e.to_string().contains("unexpected end of input"));
}

#[test]
fn owned_value_and_accessors() {
    let v = decode(b"d1:ai1e1:bl1:xi2eee").unwrap();
    assert_eq!(v.type_name(), "dictionary");
    let d = v.as_dict().unwrap();
    let l = d.get(b"b").unwrap().as_list().unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(l.offset(), 10);
    assert_eq!(l.raw(), b"l1:xi2ee");
    assert_eq!(l.get(0).unwrap().as_str(), Some("x"));
    assert_eq!(l.get(0).unwrap().type_name(), "byte string");
    assert_eq!(l.get(1).unwrap().type_name(), "integer");
    assert_eq!(l.get(1).unwrap().as_bytes(), None);
    assert_eq!(l.get(2), None);
    let owned = v.to_owned_value();
    let OwnedValue::Dict(map) = &owned else {
        panic!("dict expected")
    };
    assert_eq!(map.get(&b"a"[..]), Some(&OwnedValue::Int(1)));
    assert_eq!(format!("{v:?}"), r#"{"a": 1, "b": ["x", 2]}"#);
}

#[test]
fn value_stays_small() {
    // Values are moved around a lot while decoding; keep them at six words.
    assert!(size_of::<Value<'_>>() <= 48, "{}", size_of::<Value<'_>>());
    assert_eq!(size_of::<freshet_bencode::Error>(), 8);
}

#[test]
fn hundred_thousand_random_buffers_never_panic() {
    // Transmission's robustness case: 100,000 random buffers of up to 1 KiB. Half are pure
    // noise, half are drawn from bencode's own alphabet so they get deep into the parser.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let alphabet = b"ilde:-0123456789ab";
    let (mut ok, mut err) = (0, 0);
    for n in 0..100_000 {
        let len = (next() % 1025) as usize;
        let buf: Vec<u8> = (0..len)
            .map(|_| {
                let r = next();
                if n % 2 == 0 {
                    r as u8
                } else {
                    alphabet[(r % alphabet.len() as u64) as usize]
                }
            })
            .collect();
        match decode_prefix(&buf) {
            Ok((_, used)) => {
                assert!(used <= buf.len());
                ok += 1;
            }
            Err(e) => {
                assert!(e.offset() <= buf.len());
                err += 1;
            }
        }
    }
    assert_eq!(ok + err, 100_000);
    assert!(ok > 0 && err > 0, "{ok} decoded, {err} rejected");
}

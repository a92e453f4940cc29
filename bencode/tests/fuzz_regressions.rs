//! Runs the committed fuzz regression corpus (`fuzz/regressions/decode/`) through the same
//! invariants as the `decode` fuzz target, on stable, so CI exercises it without nightly.

use freshet_bencode::{
    DecodeOptions, OwnedValue, Value, decode, decode_prefix, from_bytes, from_value,
};
use serde::de::IgnoredAny;

/// Every committed regression input of `target`, as (file name, bytes).
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("directory entry").path();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "{}: too few regression inputs",
        dir.display()
    );
    out
}

#[test]
fn decode_regressions_keep_fuzz_invariants() {
    let mut accepted = 0;
    for (name, data) in regressions("decode") {
        eprintln!("checking {name}");
        accepted += usize::from(check(&data));
    }
    // The corpus holds real torrents, so some inputs must decode.
    assert!(accepted >= 3, "only {accepted} inputs decoded");
}

/// The `decode` fuzz target's body; returns whether `decode` accepted the input.
fn check(data: &[u8]) -> bool {
    let full = decode(data);
    match decode_prefix(data) {
        Ok((value, used)) => {
            assert!(used <= data.len());
            assert_eq!(full.is_ok(), used == data.len());
            check_spans(&value, data);
            let encoded = value.encode();
            let again = decode(&encoded).expect("canonical re-encoding must decode");
            assert!(again.is_canonical());
            let owned = value.to_owned_value();
            assert_eq!(again.to_owned_value(), owned);
            if value.is_canonical() {
                assert_eq!(&encoded[..], &data[..used]);
            }
            assert_eq!(owned.encode(), encoded);
            assert_eq!(owned.encoded_len(), encoded.len());
            let from_tree: OwnedValue = from_value(&value).expect("tree deserializer");
            assert_eq!(from_tree, owned);
        }
        Err(e) => {
            assert!(e.offset() <= data.len());
            assert!(full.is_err());
        }
    }
    let streamed = from_bytes::<OwnedValue>(data);
    assert_eq!(streamed.is_ok(), full.is_ok());
    if let (Ok(s), Ok(v)) = (&streamed, &full) {
        assert_eq!(s, &v.to_owned_value());
    }
    assert_eq!(from_bytes::<IgnoredAny>(data).is_ok(), full.is_ok());
    let tight = DecodeOptions {
        max_depth: 3,
        max_items: 16,
    };
    if let Ok((_, used)) = tight.decode_prefix(data) {
        assert!(used <= data.len());
        assert!(decode_prefix(data).is_ok());
    }
    full.is_ok()
}

fn check_spans(v: &Value<'_>, input: &[u8]) {
    match v {
        Value::List(l) => {
            assert_eq!(&input[l.offset()..l.offset() + l.raw().len()], l.raw());
            assert_eq!(l.raw().first(), Some(&b'l'));
            for (i, c) in l.iter().enumerate() {
                let raw = l.get_raw(i).expect("every list item has a span");
                assert_eq!(&decode(raw).expect("a span decodes"), c);
                check_spans(c, input);
            }
        }
        Value::Dict(d) => {
            assert_eq!(&input[d.offset()..d.offset() + d.raw().len()], d.raw());
            assert_eq!(d.raw().first(), Some(&b'd'));
            for (k, c) in d.iter() {
                assert_eq!(d.get(k), Some(c));
                let raw = d.get_raw(k).expect("every entry has a span");
                assert_eq!(&decode(raw).expect("a span decodes"), c);
                check_spans(c, input);
            }
        }
        Value::Int(_) | Value::Bytes(_) => {}
    }
}

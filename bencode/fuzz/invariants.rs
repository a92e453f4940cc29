//! The invariants of the `decode` fuzz target, shared by the fuzz target
//! (`fuzz_targets/decode.rs`) and the stable regression test (`tests/fuzz_regressions.rs`),
//! which both include this file with `#[path]`:
//! - decoding never panics, `decode_prefix`'s `used` <= len, error offsets <= len;
//! - `decode` succeeds exactly when `decode_prefix` consumes everything;
//! - a decoded value re-encodes canonically, that encoding decodes to an equal value, and it
//!   equals the input bytes whenever the value reports `is_canonical`;
//! - the owned copy encodes to the same bytes and `encoded_len` is exact;
//! - container spans (`raw`, `offset`) point at the right input bytes, and the `get_raw`
//!   span of every list item and dictionary value decodes to that value;
//! - serde: the streaming `from_bytes` accepts exactly what `decode` accepts (also when the
//!   target ignores everything) and agrees with the tree; `from_value` agrees too;
//! - tight limits only ever turn successes into errors.

use freshet_bencode::{
    DecodeOptions, OwnedValue, Value, decode, decode_prefix, from_bytes, from_value,
};
use serde::de::IgnoredAny;

/// Checks every invariant on one input; returns whether `decode` accepted it.
pub fn check(data: &[u8]) -> bool {
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

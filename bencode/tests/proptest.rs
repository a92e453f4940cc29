//! Property tests: canonical bytes survive decode → encode unchanged; values survive
//! encode → decode; arbitrary bytes never panic and errors stay inside the input.

use std::collections::BTreeMap;

use freshet_bencode::{DecodeOptions, OwnedValue, decode, decode_prefix};
use proptest::prelude::*;

fn owned_value() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(OwnedValue::List),
            prop::collection::btree_map(prop::collection::vec(any::<u8>(), 0..8), inner, 0..8)
                .prop_map(OwnedValue::Dict),
        ]
    })
}

/// Bytes that look like bencode (so mutations reach deep parser states), or pure noise.
fn bencode_ish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(
            prop_oneof![
                Just(b'i'),
                Just(b'l'),
                Just(b'd'),
                Just(b'e'),
                Just(b':'),
                Just(b'-'),
                (b'0'..=b'9'),
                any::<u8>(),
            ],
            0..64
        ),
        prop::collection::vec(any::<u8>(), 0..256),
        (owned_value(), any::<usize>(), any::<u8>()).prop_map(|(v, at, b)| {
            let mut bytes = v.encode();
            let at = at % bytes.len();
            bytes[at] = b;
            bytes
        }),
        (owned_value(), any::<usize>()).prop_map(|(v, cut)| {
            let mut bytes = v.encode();
            bytes.truncate(cut % (bytes.len() + 1));
            bytes
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_of_encode_is_identity(v in owned_value()) {
        let bytes = v.encode();
        prop_assert_eq!(bytes.len(), v.encoded_len());
        let decoded = decode(&bytes).unwrap();
        prop_assert!(decoded.is_canonical());
        prop_assert_eq!(decoded.to_owned_value(), v.clone());
        let mut via_writer = Vec::new();
        v.write_to(&mut via_writer).unwrap();
        prop_assert_eq!(&via_writer, &bytes);
        let mut via_bytes_mut = bytes::BytesMut::new();
        v.encode_into(&mut via_bytes_mut);
        prop_assert_eq!(&via_bytes_mut[..], &bytes[..]);
    }

    #[test]
    fn encode_of_canonical_decode_is_identity(v in owned_value()) {
        let canonical = v.encode();
        let decoded = decode(&canonical).unwrap();
        prop_assert_eq!(decoded.encode(), canonical.clone());
        let mut w = Vec::new();
        decoded.write_to(&mut w).unwrap();
        prop_assert_eq!(w, canonical);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in bencode_ish()) {
        match decode_prefix(&bytes) {
            Ok((v, used)) => {
                prop_assert!(used <= bytes.len());
                let re = v.encode();
                let again = decode(&re).unwrap();
                prop_assert!(again.is_canonical());
                prop_assert_eq!(again.to_owned_value(), v.to_owned_value());
                if v.is_canonical() {
                    prop_assert_eq!(&re[..], &bytes[..used]);
                }
                prop_assert_eq!(decode(&bytes).is_ok(), used == bytes.len());
            }
            Err(e) => {
                prop_assert!(e.offset() <= bytes.len());
                prop_assert!(decode(&bytes).is_err());
            }
        }
        // The streaming serde deserializer accepts exactly what `decode` accepts.
        let full = decode(&bytes);
        let streamed = freshet_bencode::from_bytes::<OwnedValue>(&bytes);
        prop_assert_eq!(streamed.is_ok(), full.is_ok());
        if let (Ok(s), Ok(v)) = (&streamed, &full) {
            prop_assert_eq!(s, &v.to_owned_value());
        }
        prop_assert_eq!(
            freshet_bencode::from_bytes::<serde::de::IgnoredAny>(&bytes).is_ok(),
            full.is_ok()
        );
        let tight = DecodeOptions { max_depth: 2, max_items: 5 };
        if let Ok((v, used)) = tight.decode_prefix(&bytes) {
            prop_assert!(used <= bytes.len());
            prop_assert!(count(&v.to_owned_value()) <= 5);
        }
    }

    #[test]
    fn unsorted_dicts_are_flagged_and_sorted_on_encode(
        entries in prop::collection::btree_map(prop::collection::vec(any::<u8>(), 0..6), any::<i64>(), 2..8)
    ) {
        // Write the entries in reverse (strictly decreasing) order.
        let mut bytes = vec![b'd'];
        for (k, v) in entries.iter().rev() {
            freshet_bencode::write_bytes(&mut bytes, k);
            freshet_bencode::write_int(&mut bytes, *v);
        }
        bytes.push(b'e');
        let v = decode(&bytes).unwrap();
        prop_assert!(!v.is_canonical());
        let expected = OwnedValue::Dict(entries.iter().map(|(k, v)| (k.clone(), OwnedValue::Int(*v))).collect::<BTreeMap<_, _>>());
        prop_assert_eq!(v.encode(), expected.encode());
        for (k, val) in &entries {
            prop_assert_eq!(v.as_dict().unwrap().get(k).and_then(|x| x.as_int()), Some(*val));
        }
    }
}

/// Items as the decoder counts them (values plus dictionary keys).
fn count(v: &OwnedValue) -> usize {
    match v {
        OwnedValue::Int(_) | OwnedValue::Bytes(_) => 1,
        OwnedValue::List(l) => 1 + l.iter().map(count).sum::<usize>(),
        OwnedValue::Dict(d) => 1 + d.values().map(|v| 1 + count(v)).sum::<usize>(),
    }
}

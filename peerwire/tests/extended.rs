//! BEP 9 / 10 / 11 payload vectors, including a real qBittorrent extended handshake captured
//! by rqbit.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4, SocketAddrV6};

use bytes::{Bytes, BytesMut};
use freshet_peerwire::{
    Error, ExtendedHandshake, InvalidMessage, Message, MessageDecoder, MetadataMessage, PexFlags,
    PexMessage, UT_METADATA, UT_PEX,
};

mod vectors_common {
    pub fn testdata() -> std::path::PathBuf {
        std::env::var_os("FRESHET_TESTDATA").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
            std::path::PathBuf::from,
        )
    }
}

fn capture() -> Vec<u8> {
    let p = vectors_common::testdata().join("rqbit/librqbit/resources/test/extended-handshake.bin");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn decodes_qbittorrent_extended_handshake_capture() {
    let raw = capture();
    assert_eq!(raw.len(), 226);
    let mut buf = BytesMut::from(&raw[..]);
    let Some(Message::Extended { id: 0, payload }) =
        MessageDecoder::default().decode(&mut buf).unwrap()
    else {
        panic!("not an extended handshake")
    };
    assert!(buf.is_empty());
    let hs = ExtendedHandshake::decode(&payload).unwrap();
    let m: BTreeMap<String, u8> = [
        ("lt_donthave", 7),
        ("share_mode", 8),
        ("upload_only", 3),
        ("ut_holepunch", 4),
        ("ut_metadata", 2),
        ("ut_pex", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(hs.extensions, m);
    assert_eq!(hs.extension_id(UT_METADATA), Some(2));
    assert_eq!(hs.extension_id(UT_PEX), Some(1));
    assert_eq!(hs.metadata_size, Some(138_876));
    assert_eq!(hs.request_queue, Some(500));
    assert!(hs.upload_only);
    // The `v` string is 23 bytes: "qBittorrent/4.4.0alpha1".
    assert_eq!(hs.client.as_deref(), Some("qBittorrent/4.4.0alpha1"));
    assert_eq!(hs.your_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(hs.listen_port, None);
}

#[test]
fn capture_decodes_from_every_two_way_split() {
    let raw = capture();
    let dec = MessageDecoder::default();
    for split in 0..=raw.len() {
        let mut buf = BytesMut::from(&raw[..split]);
        let first = dec.decode(&mut buf).unwrap();
        if split < raw.len() {
            assert_eq!(first, None, "split {split}");
            buf.extend_from_slice(&raw[split..]);
        }
        let msg = first
            .or_else(|| dec.decode(&mut buf).unwrap())
            .expect("complete");
        let Message::Extended { id: 0, payload } = msg else {
            panic!("split {split}")
        };
        assert_eq!(
            ExtendedHandshake::decode(&payload).unwrap().request_queue,
            Some(500)
        );
    }
}

#[test]
fn bep10_example_handshake() {
    // BEP 10's example: {'m': {'LT_metadata': 1, 'ut_pex': 2}, 'p': 6881, 'v': "µTorrent 1.2"}
    // (keys sorted as bencode requires).
    let payload = "d1:md11:LT_metadatai1e6:ut_pexi2ee1:pi6881e1:v13:µTorrent 1.2e".as_bytes();
    let hs = ExtendedHandshake::decode(payload).unwrap();
    assert_eq!(hs.extension_id("LT_metadata"), Some(1));
    assert_eq!(hs.extension_id(UT_PEX), Some(2));
    assert_eq!(hs.listen_port, Some(6881));
    assert_eq!(hs.client.as_deref(), Some("µTorrent 1.2"));
    let mut out = BytesMut::new();
    hs.encode_payload(&mut out);
    assert_eq!(&out[..], payload, "canonical re-encoding");
}

#[test]
fn extended_handshake_round_trips_every_field() {
    let mut hs = ExtendedHandshake::default();
    hs.extensions.insert(UT_METADATA.into(), 3);
    hs.extensions.insert(UT_PEX.into(), 0);
    hs.listen_port = Some(51413);
    hs.client = Some("Freshet 0.1".into());
    hs.your_ip = Some("::1".parse().unwrap());
    hs.ipv4 = Some(Ipv4Addr::new(10, 1, 2, 3));
    hs.ipv6 = Some("2001:db8::7".parse().unwrap());
    hs.request_queue = Some(2000);
    hs.metadata_size = Some(31_337);
    hs.upload_only = true;
    let mut wire = BytesMut::new();
    hs.encode(&mut wire);
    let Some(Message::Extended { id: 0, payload }) =
        MessageDecoder::default().decode(&mut wire).unwrap()
    else {
        panic!()
    };
    assert!(payload.starts_with(b"d4:ipv44:\x0a\x01\x02\x034:ipv616:"));
    let back = ExtendedHandshake::decode(&payload).unwrap();
    assert_eq!(back, hs);
    assert_eq!(
        back.extension_id(UT_PEX),
        None,
        "id 0 disables an extension"
    );
}

#[test]
fn extended_handshake_rejects_non_dict_and_bad_types() {
    assert!(matches!(
        ExtendedHandshake::decode(b"le"),
        Err(Error::InvalidMessage(InvalidMessage::ExtensionField { .. }))
    ));
    assert!(matches!(
        ExtendedHandshake::decode(b"d1:pi0"),
        Err(Error::InvalidMessage(InvalidMessage::Bencode { .. }))
    ));
    assert!(matches!(
        ExtendedHandshake::decode(b"d1:pi70000ee"),
        Err(Error::InvalidMessage(InvalidMessage::ExtensionField {
            field: "p",
            problem: "is out of range",
            ..
        }))
    ));
    assert!(matches!(
        ExtendedHandshake::decode(b"d4:reqq3:abce"),
        Err(Error::InvalidMessage(InvalidMessage::ExtensionField {
            field: "reqq",
            ..
        }))
    ));
    // Lenient: junk `m` entries and an odd-length yourip are ignored.
    let hs = ExtendedHandshake::decode(b"d1:md1:ai300e1:bi5e1:c1:xe6:yourip3:abce").unwrap();
    assert_eq!(hs.extensions.len(), 1);
    assert_eq!(hs.your_ip, None);
}

#[test]
fn bep9_metadata_vectors() {
    // Request and reject, from BEP 9's examples.
    let req = Bytes::from_static(b"d8:msg_typei0e5:piecei0ee");
    assert_eq!(
        MetadataMessage::decode(&req).unwrap(),
        Some(MetadataMessage::Request { piece: 0 })
    );
    let rej = Bytes::from_static(b"d8:msg_typei2e5:piecei0ee");
    assert_eq!(
        MetadataMessage::decode(&rej).unwrap(),
        Some(MetadataMessage::Reject { piece: 0 })
    );
    for (wire, msg) in [
        (&req, MetadataMessage::Request { piece: 0 }),
        (&rej, MetadataMessage::Reject { piece: 0 }),
    ] {
        let mut out = BytesMut::new();
        msg.encode_payload(&mut out);
        assert_eq!(&out[..], &wire[..]);
    }
    // Data: BEP 9's example header, total_size 34256 → piece 2 is the last, 1488 bytes.
    let mut data = b"d8:msg_typei1e5:piecei2e10:total_sizei34256ee".to_vec();
    data.extend(std::iter::repeat_n(0xab, 1488));
    let data = Bytes::from(data);
    let Some(MetadataMessage::Data {
        piece: 2,
        total_size: 34256,
        data: block,
    }) = MetadataMessage::decode(&data).unwrap()
    else {
        panic!()
    };
    assert_eq!(block.len(), 1488);
    assert_eq!(
        block.as_ptr(),
        data[data.len() - 1488..].as_ptr(),
        "data is a zero-copy slice"
    );
    // Wrong length for that piece.
    let short = data.slice(..data.len() - 1);
    assert!(MetadataMessage::decode(&short).is_err());
    // A piece past the end.
    let past = Bytes::from_static(b"d8:msg_typei1e5:piecei3e10:total_sizei34256ee");
    assert!(MetadataMessage::decode(&past).is_err());
    // Unknown msg_type is ignored (BEP 9).
    assert_eq!(
        MetadataMessage::decode(&Bytes::from_static(b"d8:msg_typei9e5:piecei0ee")).unwrap(),
        None
    );
    assert_eq!(MetadataMessage::piece_len(16384, 0), Some(16384));
    assert_eq!(MetadataMessage::piece_len(16384, 1), None);
}

#[test]
fn bep11_pex_vector() {
    // added: 127.0.0.1:6881 and 10.0.0.2:80 with flags 0x12 and 0x01; dropped6: [::1]:443.
    let mut wire = Vec::new();
    wire.extend_from_slice(b"d5:added12:");
    wire.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 80]);
    wire.extend_from_slice(b"7:added.f2:\x12\x01");
    wire.extend_from_slice(b"8:dropped618:");
    wire.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb]);
    wire.extend_from_slice(b"e");
    let pex = PexMessage::decode(&wire).unwrap();
    assert_eq!(
        pex.added,
        vec![
            (SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6881), PexFlags(0x12)),
            (
                SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
                PexFlags::PREFERS_ENCRYPTION
            ),
        ]
    );
    assert!(
        pex.added[0].1.contains(PexFlags::UPLOAD_ONLY)
            && pex.added[0].1.contains(PexFlags::REACHABLE)
    );
    assert_eq!(
        pex.dropped6,
        vec![SocketAddrV6::new("::1".parse().unwrap(), 443, 0, 0)]
    );
    assert!(pex.added6.is_empty() && pex.dropped.is_empty());
    let mut out = BytesMut::new();
    pex.encode_payload(&mut out);
    assert_eq!(PexMessage::decode(&out).unwrap(), pex);
    // Not a whole number of entries.
    assert!(matches!(
        PexMessage::decode(b"d5:added5:abcdee"),
        Err(Error::InvalidMessage(InvalidMessage::ExtensionField {
            field: "added",
            ..
        }))
    ));
    // Flags shorter than the list: remaining peers get no flags.
    let pex = PexMessage::decode(
        b"d5:added12:\x01\x02\x03\x04\x00\x01\x05\x06\x07\x08\x00\x027:added.f1:\x02e",
    )
    .unwrap();
    assert_eq!(pex.added[1].1, PexFlags(0));
}

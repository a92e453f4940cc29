//! Property tests: round trips, arbitrary stream splits, garbage never panics.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use bytes::{Bytes, BytesMut};
use freshet_metainfo::InfoHashV1;
use freshet_peerwire::{
    Bitfield, BlockRef, Decoded, ExtendedHandshake, Handshake, HashRequest, Limits, Message,
    MessageDecoder, MetadataMessage, PeerId, PexFlags, PexMessage, PieceIndex, PiecesRoot,
    Reserved,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// The piece count the decoder is configured with for bitfields in these tests.
const PIECES: u32 = 37;

fn block() -> impl Strategy<Value = BlockRef> {
    (any::<u32>(), any::<u32>(), any::<u32>())
        .prop_map(|(p, o, l)| BlockRef::new(PieceIndex(p), o, l))
}

fn hash_request() -> impl Strategy<Value = HashRequest> {
    (
        any::<[u8; 32]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(r, b, i, l, p)| HashRequest {
            pieces_root: PiecesRoot(r),
            base_layer: b,
            index: i,
            length: l,
            proof_layers: p,
        })
}

fn bitfield() -> impl Strategy<Value = Bitfield> {
    vec(any::<bool>(), PIECES as usize).prop_map(|bits| {
        let mut bf = Bitfield::new(PIECES);
        for (i, b) in bits.into_iter().enumerate() {
            if b {
                bf.set(PieceIndex(i as u32)).unwrap();
            }
        }
        bf
    })
}

fn message() -> impl Strategy<Value = Message> {
    let piece = any::<u32>().prop_map(PieceIndex);
    prop_oneof![
        Just(Message::Keepalive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        piece.clone().prop_map(Message::Have),
        piece.clone().prop_map(Message::SuggestPiece),
        piece.clone().prop_map(Message::AllowedFast),
        bitfield().prop_map(Message::Bitfield),
        block().prop_map(Message::Request),
        block().prop_map(Message::Cancel),
        block().prop_map(Message::RejectRequest),
        (piece, any::<u32>(), vec(any::<u8>(), 0..=16384)).prop_map(|(piece, offset, d)| {
            Message::Piece {
                piece,
                offset,
                data: Bytes::from(d),
            }
        }),
        any::<u16>().prop_map(Message::Port),
        (any::<u8>(), vec(any::<u8>(), 0..300)).prop_map(|(id, p)| Message::Extended {
            id,
            payload: Bytes::from(p)
        }),
        hash_request().prop_map(Message::HashRequest),
        hash_request().prop_map(Message::HashReject),
        (hash_request(), vec(any::<[u8; 32]>(), 0..20)).prop_map(|(request, h)| Message::Hashes {
            request,
            hashes: Bytes::from(h.concat())
        }),
    ]
}

fn decoder() -> MessageDecoder {
    MessageDecoder::new(Limits::default().with_piece_count(PIECES))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips(msg in message()) {
        let mut wire = BytesMut::new();
        msg.encode(&mut wire);
        prop_assert_eq!(wire.len(), msg.encoded_len());
        let frozen = wire.clone().freeze();
        prop_assert_eq!(decoder().decode_bytes(&frozen).unwrap(), Decoded::Complete { value: msg.clone(), consumed: wire.len() });
        prop_assert_eq!(decoder().decode(&mut wire).unwrap(), Some(msg));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn any_split_of_a_stream_decodes_the_same(msgs in vec(message(), 1..12), cuts in vec(any::<prop::sample::Index>(), 0..20)) {
        let mut wire = BytesMut::new();
        for m in &msgs {
            m.encode(&mut wire);
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        let dec = decoder();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut at = 0;
        for p in points {
            buf.extend_from_slice(&wire[at..p]);
            at = p;
            while let Some(m) = dec.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn garbage_never_panics(bytes in vec(any::<u8>(), 0..2000), pieces in prop::option::of(0u32..100)) {
        let mut limits = Limits::default();
        limits.piece_count = pieces;
        let dec = MessageDecoder::new(limits);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut total = 0;
        while let Ok(Some(m)) = dec.decode(&mut buf) {
            total += m.encoded_len();
            let mut out = BytesMut::new();
            m.encode(&mut out);
            // what decodes re-encodes to exactly the bytes it came from
            prop_assert_eq!(&out[..], &bytes[total - m.encoded_len()..total]);
        }
        prop_assert_eq!(total + buf.len(), bytes.len());
        let _ = Handshake::decode(&bytes);
        let _ = ExtendedHandshake::decode(&bytes);
        let _ = PexMessage::decode(&bytes);
        let _ = MetadataMessage::decode(&Bytes::from(bytes));
    }

    #[test]
    fn garbage_with_valid_header_never_panics(id in 0u8..30, len in 0u32..100, body in vec(any::<u8>(), 0..120)) {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.push(id);
        bytes.extend_from_slice(&body);
        let mut buf = BytesMut::from(&bytes[..]);
        let _ = decoder().decode(&mut buf);
    }

    #[test]
    fn handshake_round_trips_and_any_prefix_is_incomplete(reserved in any::<[u8; 8]>(), ih in any::<[u8; 20]>(), id in any::<[u8; 20]>(), cut in 0usize..68) {
        let hs = Handshake::new(Reserved(reserved), InfoHashV1(ih), PeerId(id));
        let bytes = hs.to_bytes();
        prop_assert_eq!(Handshake::decode(&bytes).unwrap(), Decoded::Complete { value: hs, consumed: 68 });
        prop_assert_eq!(Handshake::decode(&bytes[..cut]).unwrap(), Decoded::Incomplete { needed: 68 - cut });
    }

    #[test]
    fn bitfield_wire_round_trip_and_set_ops_match_a_model(a in vec(any::<bool>(), 0..80), seed in vec(any::<bool>(), 80)) {
        let n = a.len() as u32;
        let b: Vec<bool> = seed[..a.len()].to_vec();
        let make = |bits: &[bool]| {
            let mut bf = Bitfield::new(n);
            for (i, &x) in bits.iter().enumerate() {
                if x { bf.set(PieceIndex(i as u32)).unwrap(); }
            }
            bf
        };
        let (fa, fb) = (make(&a), make(&b));
        prop_assert_eq!(Bitfield::from_wire(fa.as_wire(), n).unwrap(), fa.clone());
        prop_assert_eq!(fa.count() as usize, a.iter().filter(|&&x| x).count());
        let and = fa.and(&fb).unwrap();
        let or = fa.or(&fb).unwrap();
        let and_not = fa.and_not(&fb).unwrap();
        for i in 0..a.len() {
            let p = PieceIndex(i as u32);
            prop_assert_eq!(and.get(p), a[i] && b[i]);
            prop_assert_eq!(or.get(p), a[i] || b[i]);
            prop_assert_eq!(and_not.get(p), a[i] && !b[i]);
        }
        let set: Vec<u32> = fa.iter_set().map(|p| p.0).collect();
        let unset: Vec<u32> = fa.iter_unset().map(|p| p.0).collect();
        prop_assert_eq!(set, (0..n).filter(|&i| a[i as usize]).collect::<Vec<_>>());
        prop_assert_eq!(unset, (0..n).filter(|&i| !a[i as usize]).collect::<Vec<_>>());
    }

    #[test]
    fn extension_payloads_round_trip(
        names in vec(("[a-z_]{1,12}", any::<u8>()), 0..6),
        port in prop::option::of(any::<u16>()),
        reqq in prop::option::of(any::<u32>()),
        size in prop::option::of(any::<u32>()),
        v in prop::option::of("[ -~]{0,30}"),
        upload_only in any::<bool>(),
        ip4 in prop::option::of(any::<[u8; 4]>()),
        ip6 in prop::option::of(any::<[u8; 16]>()),
        added in vec((any::<[u8; 4]>(), any::<u16>(), any::<u8>()), 0..10),
        added6 in vec((any::<[u8; 16]>(), any::<u16>(), any::<u8>()), 0..5),
        dropped in vec((any::<[u8; 4]>(), any::<u16>()), 0..10),
        dropped6 in vec((any::<[u8; 16]>(), any::<u16>()), 0..5),
        piece in 0u32..8, total in 1u32..200_000,
    ) {
        let mut hs = ExtendedHandshake::default();
        hs.extensions = names.into_iter().collect();
        hs.listen_port = port;
        hs.request_queue = reqq;
        hs.metadata_size = size;
        hs.client = v;
        hs.upload_only = upload_only;
        hs.ipv4 = ip4.map(Ipv4Addr::from);
        hs.ipv6 = ip6.map(Ipv6Addr::from);
        hs.your_ip = hs.ipv4.map(Into::into);
        let mut out = BytesMut::new();
        hs.encode_payload(&mut out);
        prop_assert!(freshet_bencode::decode(&out).unwrap().as_dict().unwrap().is_canonical());
        prop_assert_eq!(ExtendedHandshake::decode(&out).unwrap(), hs);

        let mut pex = PexMessage::default();
        pex.added = added.into_iter().map(|(ip, p, f)| (SocketAddrV4::new(ip.into(), p), PexFlags(f))).collect();
        pex.added6 = added6.into_iter().map(|(ip, p, f)| (SocketAddrV6::new(ip.into(), p, 0, 0), PexFlags(f))).collect();
        pex.dropped = dropped.into_iter().map(|(ip, p)| SocketAddrV4::new(ip.into(), p)).collect();
        pex.dropped6 = dropped6.into_iter().map(|(ip, p)| SocketAddrV6::new(ip.into(), p, 0, 0)).collect();
        let mut out = BytesMut::new();
        pex.encode_payload(&mut out);
        prop_assert!(freshet_bencode::decode(&out).unwrap().as_dict().unwrap().is_canonical());
        prop_assert_eq!(PexMessage::decode(&out).unwrap(), pex);

        if let Some(len) = MetadataMessage::piece_len(total, piece) {
            let msg = MetadataMessage::Data { piece, total_size: total, data: Bytes::from(vec![0x5a; len as usize]) };
            let mut out = BytesMut::new();
            msg.encode_payload(&mut out);
            prop_assert_eq!(MetadataMessage::decode(&out.freeze()).unwrap(), Some(msg));
        }
        for msg in [MetadataMessage::Request { piece }, MetadataMessage::Reject { piece }] {
            let mut out = BytesMut::new();
            msg.encode_payload(&mut out);
            prop_assert_eq!(MetadataMessage::decode(&out.freeze()).unwrap(), Some(msg));
        }
    }
}

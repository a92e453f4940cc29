//! Property tests: every typed message survives encode → decode, and garbage never panics.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use freshet_dht::{
    Body, CompactNodeV4, CompactNodeV6, ErrorBody, Message, NodeId, Query, Response, TransactionId,
};
use freshet_metainfo::InfoHashV1;
use proptest::prelude::*;

fn id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}

fn v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddrV4::new(Ipv4Addr::from(ip), p))
}

fn v6() -> impl Strategy<Value = SocketAddrV6> {
    (any::<[u8; 16]>(), any::<u16>())
        .prop_map(|(ip, p)| SocketAddrV6::new(Ipv6Addr::from(ip), p, 0, 0))
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![v4().prop_map(SocketAddr::V4), v6().prop_map(SocketAddr::V6)]
}

fn query() -> impl Strategy<Value = Query> {
    prop_oneof![
        id().prop_map(|id| Query::Ping { id }),
        (id(), id()).prop_map(|(id, target)| Query::FindNode { id, target }),
        (id(), any::<[u8; 20]>()).prop_map(|(id, h)| Query::GetPeers {
            id,
            info_hash: InfoHashV1(h)
        }),
        (
            id(),
            any::<[u8; 20]>(),
            any::<u16>(),
            proptest::collection::vec(any::<u8>(), 0..24),
            proptest::option::of(any::<bool>())
        )
            .prop_map(|(id, h, port, token, implied_port)| Query::AnnouncePeer {
                id,
                info_hash: InfoHashV1(h),
                port,
                token,
                implied_port,
            }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    (
        id(),
        proptest::collection::vec(
            (id(), v4()).prop_map(|(id, addr)| CompactNodeV4 { id, addr }),
            0..10,
        ),
        proptest::collection::vec(
            (id(), v6()).prop_map(|(id, addr)| CompactNodeV6 { id, addr }),
            0..10,
        ),
        proptest::collection::vec(addr(), 0..20),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24)),
    )
        .prop_map(|(id, nodes, nodes6, values, token)| Response {
            id,
            nodes,
            nodes6,
            values,
            token,
        })
}

fn message() -> impl Strategy<Value = Message> {
    let body = prop_oneof![
        query().prop_map(Body::Query),
        response().prop_map(Body::Response),
        (any::<i64>(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(code, message)| Body::Error(ErrorBody { code, message })),
    ];
    (
        proptest::collection::vec(any::<u8>(), 0..8),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        any::<bool>(),
        proptest::option::of(addr()),
        body,
    )
        .prop_map(|(t, version, read_only, your_ip, body)| Message {
            transaction_id: TransactionId(t),
            version,
            read_only,
            your_ip,
            body,
        })
}

proptest! {
    #[test]
    fn typed_messages_round_trip(m in message()) {
        let bytes = m.to_bytes();
        let back = Message::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn mutated_valid_messages_never_panic_and_reencode_stably(
        m in message(), pos in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let mut bytes = m.to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(d) = Message::decode(&bytes) {
            // Whatever decodes re-encodes to something that decodes to the same message.
            prop_assert_eq!(Message::decode(&d.to_bytes()).ok(), Some(d));
        }
    }
}

#[test]
fn errors_name_the_message_and_key() {
    // get_peers with a 19-byte info_hash.
    let bad = b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa9:info_hash19:bbbbbbbbbbbbbbbbbbbe1:q9:get_peers1:t2:xx1:y1:qe";
    let e = Message::decode(bad).unwrap_err().to_string();
    assert!(
        e.contains("get_peers query") && e.contains("info_hash") && e.contains("19"),
        "{e}"
    );
    // nodes not a multiple of 26.
    let bad = b"d1:rd2:id20:aaaaaaaaaaaaaaaaaaaa5:nodes3:abce1:t2:xx1:y1:re";
    let e = Message::decode(bad).unwrap_err().to_string();
    assert!(e.contains("nodes") && e.contains("26"), "{e}");
    // port out of range.
    let bad = b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa9:info_hash20:bbbbbbbbbbbbbbbbbbbb4:porti70000e5:token1:xe1:q13:announce_peer1:t2:xx1:y1:qe";
    let e = Message::decode(bad).unwrap_err().to_string();
    assert!(e.contains("port") && e.contains("70000"), "{e}");
    // not a dictionary, unknown y.
    assert!(Message::decode(b"i5e").is_err());
    assert!(
        Message::decode(b"d1:t1:x1:y1:ze")
            .unwrap_err()
            .to_string()
            .contains("\"z\"")
    );
    // oversized packet.
    assert!(
        Message::decode(&vec![b'x'; 70_000])
            .unwrap_err()
            .to_string()
            .contains("exceeds")
    );
}

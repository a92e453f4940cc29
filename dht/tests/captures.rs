//! Real KRPC packets (rqbit's Wireshark captures) decode and re-encode byte-exactly.

use std::net::SocketAddr;

use freshet_dht::{Body, Message, NodeId, Query};

/// `$FRESHET_TESTDATA` or the shared test data next to the checkout.
fn testdata() -> String {
    std::env::var("FRESHET_TESTDATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata").into())
}

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/rqbit/dht/resources/test_requests/{name}", testdata());
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("test data missing ({path}: {e}): set FRESHET_TESTDATA"))
}

fn round_trip(name: &str) -> Message {
    let bytes = load(name);
    let msg = Message::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(msg.to_bytes(), bytes, "{name}: re-encoding differs");
    msg
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn find_node_request_round_trips_and_looks_up_own_id() {
    let m = round_trip("find_node_request.bin");
    assert_eq!(m.transaction_id.0, [0x00, 0x05]);
    let Body::Query(Query::FindNode { id, target }) = m.body else {
        panic!("{:?}", m.body)
    };
    assert_eq!(id, target);
    assert_eq!(id.to_string()[..8], *"bd7b477c");
}

#[test]
fn get_peers_requests_round_trip() {
    for (name, t) in [
        ("get_peers_request_0.bin", 6u8),
        ("get_peers_request_1.bin", 7),
    ] {
        let m = round_trip(name);
        assert_eq!(m.transaction_id.0, [0, t]);
        let Body::Query(Query::GetPeers { info_hash, .. }) = m.body else {
            panic!()
        };
        assert_eq!(
            info_hash.to_hex(),
            "cab507494d02ebb1178b38f2e9d7be299c86b862"
        );
    }
}

#[test]
fn find_node_response_1_has_8_nodes_and_version() {
    let m = round_trip("find_node_response_1.bin");
    assert_eq!(m.version.as_deref(), Some(&hex("4a420000")[..]));
    let Body::Response(r) = m.body else { panic!() };
    assert_eq!(r.id.to_string()[..8], *"3c007273");
    assert_eq!(r.nodes.len(), 8);
    assert_eq!(m.transaction_id.0, [0, 5]);
}

#[test]
fn find_node_responses_2_3_have_16_nodes_and_external_ip() {
    for name in ["find_node_response_2.bin", "find_node_response_3.bin"] {
        let m = round_trip(name);
        assert_eq!(
            m.your_ip,
            Some("8.26.180.64:59701".parse::<SocketAddr>().unwrap())
        );
        let Body::Response(r) = &m.body else { panic!() };
        assert_eq!(r.nodes.len(), 16);
        assert_ne!(m.sender_id(), Some(NodeId([0; 20])));
    }
}

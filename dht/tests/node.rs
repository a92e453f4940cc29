//! Behaviour of one `Dht` node driven by hand-written packets (public API only).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use freshet_dht::{
    Body, Config, Dht, ErrorBody, Event, Message, NodeId, Query, Response, TransactionId,
};
use freshet_metainfo::InfoHashV1;

#[allow(clippy::disallowed_methods)] // one base instant per test; all later times are offsets
fn t0() -> Instant {
    Instant::now()
}

fn node(now: Instant, seed: u8) -> Dht {
    Dht::new(
        now,
        Config {
            rng_seed: Some([seed; 32]),
            ..Config::default()
        },
    )
}

fn query(t: &[u8], q: Query, read_only: bool) -> Vec<u8> {
    Message {
        transaction_id: TransactionId(t.to_vec()),
        version: None,
        read_only,
        your_ip: None,
        body: Body::Query(q),
    }
    .to_bytes()
}

fn only_reply(d: &mut Dht) -> (SocketAddr, Message) {
    let (to, bytes) = d.poll_transmit().expect("a reply");
    assert!(d.poll_transmit().is_none(), "exactly one datagram");
    (to, Message::decode(&bytes).expect("our reply decodes"))
}

const PEER: [u8; 4] = [10, 0, 0, 9];

#[test]
fn answers_ping_and_adds_querier_to_table() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    d.handle_packet(
        now,
        from,
        &query(
            b"aa",
            Query::Ping {
                id: NodeId([3; 20]),
            },
            false,
        ),
    );
    let (to, m) = only_reply(&mut d);
    assert_eq!(to, from);
    assert_eq!(m.transaction_id.0, b"aa");
    assert_eq!(m.your_ip, Some(from));
    assert!(matches!(m.body, Body::Response(Response { id, .. }) if id == d.id()));
    assert_eq!(d.routing_table().len(), 1);
}

#[test]
fn read_only_querier_is_answered_but_not_added() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    d.handle_packet(
        now,
        from,
        &query(
            b"aa",
            Query::Ping {
                id: NodeId([3; 20]),
            },
            true,
        ),
    );
    let _ = only_reply(&mut d);
    assert!(d.routing_table().is_empty());
}

#[test]
fn read_only_node_never_answers_and_marks_its_queries() {
    let now = t0();
    let boot = SocketAddr::from((PEER, 4000));
    let mut d = Dht::new(
        now,
        Config {
            rng_seed: Some([1; 32]),
            read_only: true,
            bootstrap: vec![boot],
            ..Config::default()
        },
    );
    let (to, bytes) = d.poll_transmit().expect("bootstrap query");
    assert_eq!(to, boot);
    assert!(Message::decode(&bytes).unwrap().read_only);
    d.handle_packet(
        now,
        boot,
        &query(
            b"aa",
            Query::Ping {
                id: NodeId([3; 20]),
            },
            false,
        ),
    );
    assert!(d.poll_transmit().is_none());
}

#[test]
fn announce_with_bad_token_gets_error_203_and_stores_nothing() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    let hash = InfoHashV1([5; 20]);
    let q = Query::AnnouncePeer {
        id: NodeId([3; 20]),
        info_hash: hash,
        port: 1,
        token: b"nope".to_vec(),
        implied_port: None,
    };
    d.handle_packet(now, from, &query(b"bb", q, false));
    let (_, m) = only_reply(&mut d);
    assert!(
        matches!(
            m.body,
            Body::Error(ErrorBody {
                code: ErrorBody::PROTOCOL,
                ..
            })
        ),
        "{m:?}"
    );
    assert!(d.stored_peers(now, &hash).is_empty());
}

#[test]
fn get_peers_token_allows_announce_and_implied_port() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    let hash = InfoHashV1([5; 20]);
    d.handle_packet(
        now,
        from,
        &query(
            b"g1",
            Query::GetPeers {
                id: NodeId([3; 20]),
                info_hash: hash,
            },
            false,
        ),
    );
    let (_, m) = only_reply(&mut d);
    let Body::Response(r) = m.body else {
        panic!("{m:?}")
    };
    let token = r.token.expect("get_peers reply carries a token");
    assert!(r.values.is_empty());
    // A token from another ip is refused.
    let other = SocketAddr::from(([10, 0, 0, 10], 4000));
    let q = |token: Vec<u8>| Query::AnnouncePeer {
        id: NodeId([3; 20]),
        info_hash: hash,
        port: 1234,
        token,
        implied_port: Some(true),
    };
    d.handle_packet(now, other, &query(b"a0", q(token.clone()), false));
    let _ = only_reply(&mut d);
    assert!(d.stored_peers(now, &hash).is_empty());
    // From the right ip it is stored, with the UDP source port because implied_port = 1.
    d.handle_packet(now, from, &query(b"a1", q(token), false));
    let (_, m) = only_reply(&mut d);
    assert!(matches!(m.body, Body::Response(_)));
    assert_eq!(d.stored_peers(now, &hash), vec![from]);
    // A later get_peers returns it in `values`.
    d.handle_packet(
        now,
        other,
        &query(
            b"g2",
            Query::GetPeers {
                id: NodeId([4; 20]),
                info_hash: hash,
            },
            false,
        ),
    );
    let (_, m) = only_reply(&mut d);
    let Body::Response(r) = m.body else { panic!() };
    assert_eq!(r.values, vec![from]);
    // Peers expire.
    assert!(
        d.stored_peers(now + Duration::from_secs(31 * 60), &hash)
            .is_empty()
    );
}

#[test]
fn unknown_method_gets_error_204() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    d.handle_packet(
        now,
        from,
        b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:vote1:t2:zz1:y1:qe",
    );
    let (_, m) = only_reply(&mut d);
    assert_eq!(m.transaction_id.0, b"zz");
    assert!(matches!(
        m.body,
        Body::Error(ErrorBody {
            code: ErrorBody::METHOD_UNKNOWN,
            ..
        })
    ));
}

#[test]
fn garbage_and_unsolicited_responses_are_ignored() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    for junk in [&b""[..], b"d", b"de", b"i1e", b"d1:y1:re", b"\xff\xfe"] {
        d.handle_packet(now, from, junk);
    }
    let resp = Message {
        transaction_id: TransactionId(vec![0, 1]),
        version: None,
        read_only: false,
        your_ip: None,
        body: Body::Response(Response::with_id(NodeId([8; 20]))),
    };
    d.handle_packet(now, from, &resp.to_bytes());
    assert!(d.poll_transmit().is_none());
    assert!(
        d.routing_table().is_empty(),
        "unsolicited responses do not enter the table"
    );
}

#[test]
fn flooding_get_peers_gives_bounded_replies_and_bounded_table() {
    let now = t0();
    let mut d = node(now, 1);
    let hash = InfoHashV1([5; 20]);
    for i in 0..5_000u32 {
        let b = i.to_be_bytes();
        let from = SocketAddr::from(([10, b[1], b[2], b[3]], 4000));
        let mut id = [0u8; 20];
        id[..4].copy_from_slice(&b);
        id[4] = 1;
        d.handle_packet(
            now,
            from,
            &query(
                b"f",
                Query::GetPeers {
                    id: NodeId(id),
                    info_hash: hash,
                },
                false,
            ),
        );
        while let Some((_, bytes)) = d.poll_transmit() {
            assert!(bytes.len() < 1500);
        }
    }
    assert!(d.routing_table().len() <= 160 * 8);
}

#[test]
fn one_flooding_ip_gets_at_most_its_query_budget_per_window() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    let hash = InfoHashV1([5; 20]);
    let mut replies = 0;
    for _ in 0..1_000 {
        d.handle_packet(
            now,
            from,
            &query(
                b"f",
                Query::GetPeers {
                    id: NodeId([3; 20]),
                    info_hash: hash,
                },
                false,
            ),
        );
        while d.poll_transmit().is_some() {
            replies += 1;
        }
    }
    assert_eq!(replies, Config::default().max_queries_per_ip as usize);
    // Another host is still served, and the flooder is served again in the next window.
    d.handle_packet(
        now,
        SocketAddr::from(([10, 0, 0, 99], 1)),
        &query(
            b"p",
            Query::Ping {
                id: NodeId([4; 20]),
            },
            false,
        ),
    );
    assert!(d.poll_transmit().is_some());
    d.handle_packet(
        now + freshet_dht::RATE_WINDOW,
        from,
        &query(
            b"p",
            Query::Ping {
                id: NodeId([3; 20]),
            },
            false,
        ),
    );
    assert!(d.poll_transmit().is_some());
}

#[test]
fn stale_bucket_is_refreshed_with_a_find_node() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    d.handle_packet(
        now,
        from,
        &query(
            b"p",
            Query::Ping {
                id: NodeId([3; 20]),
            },
            false,
        ),
    );
    while d.poll_transmit().is_some() {}
    let due = d.poll_timeout().expect("a timer");
    assert!(due <= now + freshet_dht::REFRESH_AFTER);
    d.handle_timeout(now + freshet_dht::REFRESH_AFTER);
    let (to, bytes) = d.poll_transmit().expect("refresh query");
    assert_eq!(to, from);
    let m = Message::decode(&bytes).unwrap();
    assert!(
        matches!(m.body, Body::Query(Query::FindNode { .. })),
        "{m:?}"
    );
}

#[test]
fn unanswered_bootstrap_times_out_and_finishes() {
    let now = t0();
    let boot = SocketAddr::from((PEER, 4000));
    let mut d = Dht::new(
        now,
        Config {
            rng_seed: Some([1; 32]),
            bootstrap: vec![boot],
            ..Config::default()
        },
    );
    assert!(d.poll_transmit().is_some());
    let deadline = d.poll_timeout().expect("a query timeout");
    assert_eq!(deadline, now + Duration::from_secs(2));
    d.handle_timeout(now + Duration::from_secs(1)); // spurious: nothing happens
    assert!(d.poll_event().is_none());
    d.handle_timeout(deadline);
    assert!(matches!(
        d.poll_event(),
        Some(Event::LookupDone {
            queries: 1,
            responded: 0,
            ..
        })
    ));
    assert_eq!(d.active_lookups(), 0);
}

#[test]
fn find_node_answers_ipv6_contacts_in_nodes6() {
    let now = t0();
    let mut d = node(now, 1);
    let v6 = SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, 7], 6881));
    let v4 = SocketAddr::from((PEER, 4000));
    d.handle_packet(
        now,
        v6,
        &query(
            b"p6",
            Query::Ping {
                id: NodeId([6; 20]),
            },
            false,
        ),
    );
    d.handle_packet(
        now,
        v4,
        &query(
            b"p4",
            Query::Ping {
                id: NodeId([4; 20]),
            },
            false,
        ),
    );
    while d.poll_transmit().is_some() {}
    let asker = SocketAddr::from(([10, 0, 0, 11], 4000));
    let q = Query::FindNode {
        id: NodeId([11; 20]),
        target: NodeId([5; 20]),
    };
    d.handle_packet(now, asker, &query(b"fn", q, false));
    let (_, m) = only_reply(&mut d);
    let Body::Response(r) = m.body else {
        panic!("{m:?}")
    };
    assert_eq!(r.nodes6.len(), 1);
    assert_eq!(r.nodes6[0].id, NodeId([6; 20]));
    assert_eq!(SocketAddr::V6(r.nodes6[0].addr), v6);
    assert!(r.nodes.iter().any(|n| n.id == NodeId([4; 20])));
}

#[test]
fn ping_command_adds_the_node_once_it_answers_and_never_twice_in_flight() {
    let now = t0();
    let mut d = node(now, 1);
    let addr = SocketAddr::from((PEER, 6881));
    d.ping(now, addr);
    d.ping(now, addr); // a second `port` message while the first ping is pending: no query
    let (to, bytes) = d.poll_transmit().expect("a ping");
    assert!(d.poll_transmit().is_none(), "one ping while one is pending");
    assert_eq!(to, addr);
    let q = Message::decode(&bytes).unwrap();
    assert!(matches!(q.body, Body::Query(Query::Ping { .. })));
    assert!(d.routing_table().is_empty(), "not added before it answers");
    let reply = Message {
        transaction_id: q.transaction_id,
        version: None,
        read_only: false,
        your_ip: None,
        body: Body::Response(Response::with_id(NodeId([7; 20]))),
    };
    d.handle_packet(now + Duration::from_millis(5), addr, &reply.to_bytes());
    assert_eq!(d.routing_table().len(), 1);
}

#[test]
fn one_address_posing_as_many_ids_gets_one_table_entry() {
    let now = t0();
    let mut d = node(now, 1);
    let from = SocketAddr::from((PEER, 4000));
    for i in 0..50u8 {
        let mut id = [i; 20];
        id[0] = i.wrapping_mul(37); // spread over many buckets
        d.handle_packet(
            now,
            from,
            &query(&[i, 0], Query::Ping { id: NodeId(id) }, false),
        );
        while d.poll_transmit().is_some() {}
    }
    assert_eq!(d.routing_table().len(), 1);
    // Another address is still welcome.
    let other = SocketAddr::from((PEER, 4001));
    d.handle_packet(
        now,
        other,
        &query(
            b"zz",
            Query::Ping {
                id: NodeId([0xee; 20]),
            },
            false,
        ),
    );
    assert_eq!(d.routing_table().len(), 2);
}

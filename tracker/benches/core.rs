//! Server core and parsers without sockets: what one announce costs in CPU.
#![allow(clippy::disallowed_methods)] // a benchmark needs a start instant

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use freshet_tracker::udp::{self, ConnectionId, Family, Request, Response, TransactionId};
use freshet_tracker::{
    AnnounceRequest, Event, InfoHashV1, PeerId, PeerKey, ServerConfig, TrackerCore, announce_url,
    parse_announce_response,
};

const PEERS: u32 = 100_000;
const SWARMS: u32 = 10_000;

fn ih(s: u32) -> InfoHashV1 {
    let mut h = [0x5a; 20];
    h[..4].copy_from_slice(&s.to_be_bytes());
    InfoHashV1(h)
}

fn packet(cid: ConnectionId, i: u32, event: Event) -> Vec<u8> {
    let mut out = Vec::new();
    Request::Announce(udp::AnnounceRequest {
        connection_id: cid,
        transaction_id: TransactionId(i),
        info_hash: ih(i % SWARMS),
        peer_id: PeerId([1; 20]),
        downloaded: 0,
        left: u64::from(i % 2),
        uploaded: 0,
        event,
        ip: 0,
        key: PeerKey(i),
        num_want: 50,
        port: 10_000 + (i / SWARMS) as u16,
    })
    .encode(&mut out);
    out
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut core = TrackerCore::new(ServerConfig::default(), [1; 32], now);
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut out = Vec::new();
    let mut connect = Vec::new();
    Request::Connect {
        transaction_id: TransactionId(1),
    }
    .encode(&mut connect);
    assert!(core.handle_udp(now, from, &connect, &mut out));
    let Ok(Response::Connect { connection_id, .. }) = Response::decode(&out, Family::V4) else {
        panic!("no connect reply")
    };
    for i in 0..PEERS {
        core.handle_udp(
            now,
            from,
            &packet(connection_id, i, Event::Started),
            &mut out,
        );
    }
    let packets: Vec<Vec<u8>> = (0..4096)
        .map(|i| packet(connection_id, i * 24 + 7, Event::None))
        .collect();

    let mut g = c.benchmark_group("server_core");
    g.throughput(Throughput::Elements(1));
    let mut n = 0usize;
    g.bench_function("udp_announce_100k_peers_10k_swarms", |b| {
        b.iter(|| {
            n = (n + 1) % packets.len();
            black_box(core.handle_udp(now, from, &packets[n], &mut out))
        })
    });
    let targets: Vec<String> = (0..1024u32)
        .map(|i| {
            let r = AnnounceRequest::new(ih(i % SWARMS), PeerId([2; 20]), 10_000 + (i % 10) as u16)
                .with_left(1);
            let u = announce_url("http://h/announce", &r).unwrap();
            u["http://h".len()..].to_owned()
        })
        .collect();
    g.bench_function("http_announce_100k_peers_10k_swarms", |b| {
        b.iter(|| {
            n = (n + 1) % targets.len();
            black_box(core.handle_http(now, from, &targets[n], &mut out))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("client_parsers");
    let mut body = b"d8:intervali1800e5:peers300:".to_vec();
    body.extend((0..300u32).map(|i| i as u8));
    body.push(b'e');
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("http_reply_50_peers", |b| {
        b.iter(|| parse_announce_response(black_box(&body)).unwrap())
    });
    let mut dg = Vec::new();
    udp::encode_announce_head(&mut dg, TransactionId(1), 1800, 1, 2);
    dg.extend((0..1200u32).map(|i| i as u8));
    g.throughput(Throughput::Bytes(dg.len() as u64));
    g.bench_function("udp_reply_200_peers", |b| {
        b.iter(|| Response::decode(black_box(&dg), Family::V4).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

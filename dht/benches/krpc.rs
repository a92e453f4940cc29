//! KRPC codec throughput on a real 486-byte find_node response (16 nodes + `ip`), and
//! a small get_peers query.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use freshet_dht::{Body, Message, NodeId, Query, TransactionId};
use freshet_metainfo::InfoHashV1;

fn bench(c: &mut Criterion) {
    let base = std::env::var("FRESHET_TESTDATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata").into());
    let path = format!("{base}/rqbit/dht/resources/test_requests/find_node_response_2.bin");
    let response = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let query = Message {
        transaction_id: TransactionId(vec![0, 6]),
        version: Some(b"FR01".to_vec()),
        read_only: false,
        your_ip: None,
        body: Body::Query(Query::GetPeers {
            id: NodeId([1; 20]),
            info_hash: InfoHashV1([2; 20]),
        }),
    }
    .to_bytes();
    let mut g = c.benchmark_group("krpc");
    for (name, bytes) in [
        ("find_node_response_486B", &response),
        ("get_peers_query", &query),
    ] {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| Message::decode(std::hint::black_box(bytes)))
        });
        let msg = Message::decode(bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::with_capacity(1024);
        g.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                out.clear();
                std::hint::black_box(&msg).encode(&mut out);
                out.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

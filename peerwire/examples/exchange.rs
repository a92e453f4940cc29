//! Two in-memory peers: handshake, extended handshake, interested/unchoke, one block.
//!
//! Run with `cargo run -p freshet-peerwire --example exchange`.

use bytes::{Bytes, BytesMut};
use freshet_metainfo::InfoHashV1;
use freshet_peerwire::{
    BlockRef, Decoded, Error, ExtendedHandshake, Handshake, Message, MessageDecoder, PeerId,
    PieceIndex, Reserved,
};

fn main() -> Result<(), Error> {
    let info_hash = InfoHashV1([0x42; 20]);
    let hs = |tail: &[u8; 12]| {
        Handshake::new(
            Reserved::FAST | Reserved::EXTENSION_PROTOCOL,
            info_hash,
            PeerId::azureus(PeerId::FRESHET_PREFIX, *tail),
        )
    };
    // Leecher → seeder.
    let mut to_seeder = BytesMut::new();
    hs(b"leecher-0001").encode(&mut to_seeder);
    ExtendedHandshake::default().encode(&mut to_seeder);
    Message::Interested.encode(&mut to_seeder);
    Message::Request(BlockRef::new(PieceIndex(0), 0, 4)).encode(&mut to_seeder);

    // Seeder reads.
    let Decoded::Complete {
        value: theirs,
        consumed,
    } = Handshake::decode(&to_seeder)?
    else {
        unreachable!("whole handshake buffered")
    };
    let _ = to_seeder.split_to(consumed);
    println!(
        "seeder got handshake from {} ({:?})",
        theirs.peer_id,
        theirs.peer_id.client()
    );
    let decoder = MessageDecoder::default();
    let mut to_leecher = BytesMut::new();
    hs(b"seeder-00001").encode(&mut to_leecher);
    while let Some(msg) = decoder.decode(&mut to_seeder)? {
        println!("seeder got: {msg}");
        match msg {
            Message::Interested => Message::Unchoke.encode(&mut to_leecher),
            Message::Request(b) => {
                let reply = Message::Piece {
                    piece: b.piece,
                    offset: b.offset,
                    data: Bytes::from_static(b"data"),
                };
                // Vectored form: header bytes + the payload handle, no copy of the block.
                let payload = reply.encode_head(&mut to_leecher).unwrap_or_default();
                to_leecher.extend_from_slice(&payload);
            }
            _ => {}
        }
    }

    // Leecher reads.
    let _ = to_leecher.split_to(Handshake::LEN);
    while let Some(msg) = decoder.decode(&mut to_leecher)? {
        println!("leecher got: {msg}");
    }
    Ok(())
}

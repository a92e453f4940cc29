//! Saving the node id and routing table across restarts.
//!
//! The format is one bencoded dictionary `{id, nodes, nodes6}` using the compact node encodings
//! of KRPC, so it is small (26 or 38 bytes a node) and reuses the same checked parsers.

use std::net::SocketAddr;

use freshet_bencode::{DecodeOptions, write_bytes};

use crate::krpc::{opt_bytes, parse_nodes_v4, parse_nodes_v6, req_id, write_nodes};
use crate::{CompactNodeV4, CompactNodeV6, DecodeError, NodeId};

/// A node's persistent state: its id and the contacts worth trying after a restart.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SavedState {
    /// Our node id (keep it stable so other nodes' tables stay valid).
    pub id: NodeId,
    /// Known contacts, most useful first.
    pub nodes: Vec<(NodeId, SocketAddr)>,
}

impl SavedState {
    /// Encodes as one bencoded dictionary.
    pub fn encode(&self) -> Vec<u8> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (id, addr) in &self.nodes {
            match addr {
                SocketAddr::V4(a) => v4.push(CompactNodeV4 { id: *id, addr: *a }),
                SocketAddr::V6(a) => v6.push(CompactNodeV6 { id: *id, addr: *a }),
            }
        }
        let mut out = Vec::with_capacity(32 + v4.len() * 26 + v6.len() * 38);
        out.push(b'd');
        write_bytes(&mut out, b"id");
        write_bytes(&mut out, self.id.as_bytes());
        write_nodes(&mut out, &v4, &v6);
        out.push(b'e');
        out
    }

    /// Decodes what [`SavedState::encode`] wrote. Never panics on corrupt files.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        const M: &str = "saved state";
        let value = DecodeOptions {
            max_depth: 2,
            max_items: 16,
        }
        .decode(bytes)?;
        let d = value.as_dict().ok_or(DecodeError::WrongType {
            msg: M,
            key: "<root>",
            expected: "dictionary",
            got: value.type_name(),
        })?;
        let id = req_id(d, M, "id")?;
        let mut nodes = Vec::new();
        if let Some(b) = opt_bytes(d, M, "nodes")? {
            nodes.extend(
                parse_nodes_v4(b, M)?
                    .into_iter()
                    .map(|n| (n.id, SocketAddr::V4(n.addr))),
            );
        }
        if let Some(b) = opt_bytes(d, M, "nodes6")? {
            nodes.extend(
                parse_nodes_v6(b, M)?
                    .into_iter()
                    .map(|n| (n.id, SocketAddr::V6(n.addr))),
            );
        }
        Ok(Self { id, nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_round_trips_both_families_and_rejects_corruption() {
        let s = SavedState {
            id: NodeId([1; 20]),
            nodes: vec![
                (NodeId([2; 20]), "10.0.0.2:6881".parse().unwrap()),
                (NodeId([3; 20]), "[::1]:6882".parse().unwrap()),
            ],
        };
        let b = s.encode();
        assert_eq!(SavedState::decode(&b), Ok(s));
        assert!(SavedState::decode(&b[..b.len() - 1]).is_err());
        assert!(SavedState::decode(b"d2:id3:abce").is_err());
    }
}

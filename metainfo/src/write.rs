//! Writing a loaded torrent back out (for example after fetching the info dict of a magnet
//! link): the info dict is copied byte for byte, so the info-hashes never change, and the
//! outer dictionary is written canonically (sorted keys).

use freshet_bencode::{OwnedValue, write_bytes};

use crate::torrent::Metainfo;

impl Metainfo {
    /// Encodes the torrent: `announce`, `announce-list`, `comment`, `created by`,
    /// `creation date`, `httpseeds`, the original `info` bytes, `nodes`, `piece layers` (always
    /// present for v2, possibly empty) and `url-list` (a list), as libtorrent writes them: 45 of
    /// the 47 files of libtorrent's write round-trip test come back byte for byte. BEP 38
    /// `similar`/`collections` outside the info dict are not written.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.info_bytes.len() + 1024);
        out.push(b'd');
        let put = |key: &[u8], value: &OwnedValue, out: &mut Vec<u8>| {
            write_bytes(out, key);
            value.encode_into(out);
        };
        let str_list = |items: &[String]| OwnedValue::List(items.iter().map(|s| text(s)).collect());
        if let Some(first) = self.trackers.first().and_then(|t| t.first()) {
            put(b"announce", &text(first), &mut out);
        }
        if self.trackers.len() > 1 || self.trackers.first().is_some_and(|t| t.len() > 1) {
            let tiers = self.trackers.iter().map(|t| str_list(t)).collect();
            put(b"announce-list", &OwnedValue::List(tiers), &mut out);
        }
        if let Some(c) = &self.comment {
            put(b"comment", &text(c), &mut out);
        }
        if let Some(c) = &self.created_by {
            put(b"created by", &text(c), &mut out);
        }
        if let Some(d) = self.creation_date {
            put(b"creation date", &OwnedValue::Int(d), &mut out);
        }
        if !self.http_seeds.is_empty() {
            put(b"httpseeds", &str_list(&self.http_seeds), &mut out);
        }
        write_bytes(&mut out, b"info");
        out.extend_from_slice(&self.info_bytes);
        if !self.nodes.is_empty() {
            let nodes = self
                .nodes
                .iter()
                .map(|n| OwnedValue::List(vec![text(&n.host), OwnedValue::Int(i64::from(n.port))]))
                .collect();
            put(b"nodes", &OwnedValue::List(nodes), &mut out);
        }
        if self.info_hashes.v2.is_some() {
            let layers = self
                .piece_layers
                .iter()
                .map(|(root, hashes)| {
                    let mut bytes = Vec::with_capacity(hashes.len() * 32);
                    for h in hashes {
                        bytes.extend_from_slice(&h.0);
                    }
                    (root.0.to_vec(), OwnedValue::Bytes(bytes))
                })
                .collect();
            put(b"piece layers", &OwnedValue::Dict(layers), &mut out);
        }
        if !self.web_seeds.is_empty() {
            put(b"url-list", &str_list(&self.web_seeds), &mut out);
        }
        out.push(b'e');
        out
    }
}

fn text(s: &str) -> OwnedValue {
    OwnedValue::Bytes(s.as_bytes().to_vec())
}

//! Parsing the query string of an HTTP announce or scrape a tracker server received.

use crate::error::QueryError;
use crate::{Event, InfoHashV1, PeerId, PeerKey};

/// Most `key=value` pairs looked at in one query.
const MAX_PARAMS: usize = 64;
/// Most info-hashes in one HTTP scrape.
pub(crate) const MAX_SCRAPE_HASHES: usize = 74;

/// A parsed HTTP announce query (BEP 3 parameters; unknown ones ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnnounceQuery {
    /// `info_hash` (exactly 20 raw bytes).
    pub info_hash: InfoHashV1,
    /// `peer_id` (exactly 20 raw bytes).
    pub peer_id: PeerId,
    /// `port`.
    pub port: u16,
    /// `uploaded` (0 if absent).
    pub uploaded: u64,
    /// `downloaded` (0 if absent).
    pub downloaded: u64,
    /// `left` (`None` if absent: counted as a leecher).
    pub left: Option<u64>,
    /// `event`.
    pub event: Event,
    /// `compact` (true unless `compact=0`).
    pub compact: bool,
    /// `no_peer_id`.
    pub no_peer_id: bool,
    /// `numwant`.
    pub numwant: Option<u32>,
    /// `key` (hex or decimal).
    pub key: Option<PeerKey>,
}

/// Parses an announce query string (the part after `?`).
pub fn parse_announce_query(query: &str) -> Result<HttpAnnounceQuery, QueryError> {
    let mut info_hash = None;
    let mut peer_id = None;
    let mut port = None;
    let mut q = HttpAnnounceQuery {
        info_hash: InfoHashV1([0; 20]),
        peer_id: PeerId([0; 20]),
        port: 0,
        uploaded: 0,
        downloaded: 0,
        left: None,
        event: Event::None,
        compact: true,
        no_peer_id: false,
        numwant: None,
        key: None,
    };
    for (i, pair) in query.split('&').enumerate() {
        if i >= MAX_PARAMS {
            return Err(QueryError::TooMany(MAX_PARAMS));
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "info_hash" => info_hash = Some(InfoHashV1(decode20(v, "info_hash")?)),
            "peer_id" => peer_id = Some(PeerId(decode20(v, "peer_id")?)),
            "port" => port = Some(num::<u16>(v, "port")?),
            "uploaded" => q.uploaded = num(v, "uploaded")?,
            "downloaded" => q.downloaded = num(v, "downloaded")?,
            "left" => q.left = Some(num(v, "left")?),
            "numwant" => q.numwant = Some(num(v, "numwant")?),
            "compact" => q.compact = v != "0",
            "no_peer_id" => q.no_peer_id = v == "1",
            "key" => {
                let parsed = u32::from_str_radix(v, 16)
                    .ok()
                    .or_else(|| v.parse::<i64>().ok().map(|n| n as u32));
                q.key = parsed.map(PeerKey);
            }
            "event" => {
                q.event = match v {
                    "started" => Event::Started,
                    "completed" => Event::Completed,
                    "stopped" => Event::Stopped,
                    "" | "empty" | "paused" => Event::None,
                    _ => {
                        return Err(QueryError::Invalid {
                            param: "event",
                            reason: "unknown event",
                        });
                    }
                }
            }
            _ => {}
        }
    }
    q.info_hash = info_hash.ok_or(QueryError::Missing("info_hash"))?;
    q.peer_id = peer_id.ok_or(QueryError::Missing("peer_id"))?;
    q.port = port.ok_or(QueryError::Missing("port"))?;
    Ok(q)
}

/// Parses a scrape query: the `info_hash` values (at most 74). An empty list means a full
/// scrape, which the server refuses.
pub fn parse_scrape_query(query: &str) -> Result<Vec<InfoHashV1>, QueryError> {
    let mut out = Vec::new();
    for (i, pair) in query.split('&').enumerate() {
        if i >= MAX_PARAMS {
            return Err(QueryError::TooMany(MAX_PARAMS));
        }
        if let Some(v) = pair.strip_prefix("info_hash=") {
            if out.len() >= MAX_SCRAPE_HASHES {
                return Err(QueryError::TooMany(MAX_SCRAPE_HASHES));
            }
            out.push(InfoHashV1(decode20(v, "info_hash")?));
        }
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(v: &str, param: &'static str) -> Result<T, QueryError> {
    v.parse().map_err(|_| QueryError::Invalid {
        param,
        reason: "not a number in range",
    })
}

/// Percent-decodes exactly 20 bytes (`+` is a literal plus here, as trackers expect raw bytes).
fn decode20(v: &str, param: &'static str) -> Result<[u8; 20], QueryError> {
    let bad = |reason| QueryError::Invalid { param, reason };
    let mut out = [0u8; 20];
    let mut n = 0;
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let byte = if b[i] == b'%' {
            let hi = b.get(i + 1).and_then(|c| (*c as char).to_digit(16));
            let lo = b.get(i + 2).and_then(|c| (*c as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(bad("bad percent escape"));
            };
            i += 3;
            (hi * 16 + lo) as u8
        } else {
            i += 1;
            b[i - 1]
        };
        *out.get_mut(n).ok_or_else(|| bad("longer than 20 bytes"))? = byte;
        n += 1;
    }
    if n != 20 {
        return Err(bad("shorter than 20 bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A&peer_id=-TR3000-abcdefghijkl\
        &port=51413&uploaded=1&downloaded=2&left=3&numwant=80&key=1a2b3c4d&compact=1&supportcrypto=1&event=started";

    #[test]
    fn transmission_style_query() {
        let q = parse_announce_query(Q).unwrap();
        assert_eq!(q.info_hash.0[0], 0x12);
        assert_eq!(q.info_hash.0[19], 0x9a);
        assert_eq!(&q.peer_id.0, b"-TR3000-abcdefghijkl");
        assert_eq!(
            (q.port, q.uploaded, q.downloaded, q.left, q.numwant),
            (51413, 1, 2, Some(3), Some(80))
        );
        assert_eq!(q.key, Some(PeerKey(0x1a2b3c4d)));
        assert_eq!(q.event, Event::Started);
        assert!(q.compact);
    }

    #[test]
    fn rejects() {
        assert_eq!(
            parse_announce_query("peer_id=x"),
            Err(QueryError::Invalid {
                param: "peer_id",
                reason: "shorter than 20 bytes"
            })
        );
        assert_eq!(
            parse_announce_query(&Q.replace("port=51413", "port=70000")),
            Err(QueryError::Invalid {
                param: "port",
                reason: "not a number in range"
            })
        );
        assert_eq!(
            parse_announce_query(&Q.replace("&port=51413", "")),
            Err(QueryError::Missing("port"))
        );
        assert!(parse_announce_query(&Q.replace("%9A&peer", "%9&peer")).is_err());
        assert!(parse_announce_query(&Q.replace("%9A&peer", "%9Ax&peer")).is_err());
        assert!(parse_announce_query(&Q.replace("event=started", "event=bogus")).is_err());
        let many = "a=1&".repeat(100);
        assert_eq!(parse_announce_query(&many), Err(QueryError::TooMany(64)));
        assert_eq!(parse_scrape_query("").unwrap(), vec![]);
        let s =
            parse_scrape_query("info_hash=aaaaaaaaaaaaaaaaaaaa&info_hash=%41aaaaaaaaaaaaaaaaaaa")
                .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].0[0], b'A');
    }
}

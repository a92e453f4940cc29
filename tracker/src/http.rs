//! HTTP tracker protocol, client side: announce URLs (BEP 3), scrape URLs (BEP 48), reply
//! parsing (BEP 3, 7, 23, 48), gzip bodies, and the bits of HTTP/1.1 a caller needs to talk to a
//! tracker over a plain socket (request head, response head, redirects).

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use freshet_bencode::{Dict, Value};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

use crate::{
    AnnounceRequest, AnnounceResponse, InfoHashV1, ResponseError, ScrapeResponse, ScrapeStats,
    UrlError,
};

/// Default limit on a (decoded) tracker reply body: 2 MiB.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Bytes left as-is in query values: the RFC 3986 unreserved set.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Builds the announce URL: `base` (its existing query kept, fragment dropped) plus the
/// parameters of `req`, with the raw `info_hash` and `peer_id` bytes percent-encoded.
pub fn announce_url(base: &str, req: &AnnounceRequest) -> Result<String, UrlError> {
    let base = base.split('#').next().unwrap_or(base);
    check_http_url(base)?;
    let mut url = String::with_capacity(base.len() + 200);
    url.push_str(base);
    url.push(if base.contains('?') { '&' } else { '?' });
    url.push_str("info_hash=");
    url.extend(percent_encode(&req.info_hash.0, QUERY_VALUE));
    url.push_str("&peer_id=");
    url.extend(percent_encode(&req.peer_id.0, QUERY_VALUE));
    use std::fmt::Write;
    let _ = write!(
        url,
        "&port={}&uploaded={}&downloaded={}&left={}",
        req.port, req.uploaded, req.downloaded, req.left
    );
    if req.compact {
        url.push_str("&compact=1");
    }
    if let Some(e) = req.event.as_query() {
        let _ = write!(url, "&event={e}");
    }
    if let Some(n) = req.numwant {
        let _ = write!(url, "&numwant={n}");
    }
    if let Some(k) = req.key {
        let _ = write!(url, "&key={:08x}", k.0);
    }
    if let Some(t) = &req.tracker_id {
        url.push_str("&trackerid=");
        url.extend(percent_encode(t, QUERY_VALUE));
    }
    Ok(url)
}

/// Derives the scrape URL from an announce URL (BEP 48): the last path element must start with
/// `announce`, which is replaced by `scrape`. UDP URLs are returned unchanged (BEP 15 scrapes
/// over the same socket).
pub fn scrape_url(announce: &str) -> Result<String, UrlError> {
    if announce.starts_with("udp://") {
        return Ok(announce.to_owned());
    }
    check_http_url(announce)?;
    let (path, query) = match announce.find('?') {
        Some(i) => announce.split_at(i),
        None => (announce, ""),
    };
    let slash = path.rfind('/').unwrap_or(0);
    let last = &path[slash + 1..];
    if !last.starts_with("announce") || slash < "http://".len() {
        return Err(UrlError::NoScrape(announce.to_owned()));
    }
    Ok(format!(
        "{}/scrape{}{}",
        &path[..slash],
        &last["announce".len()..],
        query
    ))
}

/// Appends `info_hash=` parameters for a scrape of the given torrents.
pub fn scrape_url_for(scrape: &str, hashes: &[InfoHashV1]) -> String {
    let mut url = scrape.to_owned();
    for h in hashes {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("info_hash=");
        url.extend(percent_encode(&h.0, QUERY_VALUE));
    }
    url
}

fn check_http_url(url: &str) -> Result<(), UrlError> {
    let parsed = url::Url::parse(url).map_err(|e| UrlError::Invalid {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(UrlError::UnsupportedScheme(other.to_owned())),
    }
}

/// Parses an HTTP announce reply body (already decoded from gzip, see [`decode_body`]).
///
/// `failure reason` becomes [`ResponseError::Failure`]. Peers may be compact IPv4 (BEP 23), a
/// list of dictionaries (BEP 3) and/or compact IPv6 in `peers6` (BEP 7); a compact area whose
/// length is not a whole number of entries keeps the whole entries only.
pub fn parse_announce_response(body: &[u8]) -> Result<AnnounceResponse, ResponseError> {
    let value = freshet_bencode::decode(body).map_err(|e| ResponseError::Bencode(e.to_string()))?;
    let dict = value
        .as_dict()
        .ok_or(ResponseError::NotADict(value.type_name()))?;
    if let Some(reason) = dict.get(b"failure reason") {
        return Err(ResponseError::Failure(lossy(reason, "failure reason")?));
    }
    let interval = get_u32(dict, "interval")?.ok_or(ResponseError::Missing("interval"))?;
    let mut out = AnnounceResponse {
        interval,
        min_interval: get_u32(dict, "min interval")?,
        tracker_id: match dict.get(b"tracker id") {
            Some(v) => Some(
                v.as_bytes()
                    .ok_or(ResponseError::Field {
                        field: "tracker id",
                        reason: "not a byte string",
                    })?
                    .to_vec(),
            ),
            None => None,
        },
        complete: get_u32(dict, "complete")?,
        incomplete: get_u32(dict, "incomplete")?,
        warning: match dict.get(b"warning message") {
            Some(v) => Some(lossy(v, "warning message")?),
            None => None,
        },
        peers: Vec::new(),
    };
    match dict.get(b"peers") {
        Some(Value::Bytes(b)) => compact_v4(b, &mut out.peers),
        Some(Value::List(list)) => {
            for item in list.iter() {
                if let Some(p) = dict_peer(item)? {
                    out.peers.push(p);
                }
            }
        }
        Some(_) => {
            return Err(ResponseError::Field {
                field: "peers",
                reason: "neither a byte string nor a list",
            });
        }
        None => {}
    }
    match dict.get(b"peers6") {
        Some(Value::Bytes(b)) => compact_v6(b, &mut out.peers),
        Some(_) => {
            return Err(ResponseError::Field {
                field: "peers6",
                reason: "not a byte string",
            });
        }
        None => {}
    }
    Ok(out)
}

/// Parses an HTTP scrape reply body (BEP 48).
pub fn parse_scrape_response(body: &[u8]) -> Result<ScrapeResponse, ResponseError> {
    let value = freshet_bencode::decode(body).map_err(|e| ResponseError::Bencode(e.to_string()))?;
    let dict = value
        .as_dict()
        .ok_or(ResponseError::NotADict(value.type_name()))?;
    if let Some(reason) = dict.get(b"failure reason") {
        return Err(ResponseError::Failure(lossy(reason, "failure reason")?));
    }
    let files = dict
        .get(b"files")
        .ok_or(ResponseError::Missing("files"))?
        .as_dict()
        .ok_or(ResponseError::Field {
            field: "files",
            reason: "not a dictionary",
        })?;
    let mut out = ScrapeResponse::default();
    for (key, v) in files.iter() {
        let Ok(hash) = <[u8; 20]>::try_from(key) else {
            return Err(ResponseError::Field {
                field: "files",
                reason: "key is not a 20-byte info-hash",
            });
        };
        let d = v.as_dict().ok_or(ResponseError::Field {
            field: "files",
            reason: "entry is not a dictionary",
        })?;
        out.files.push((
            InfoHashV1(hash),
            ScrapeStats {
                complete: get_u32(d, "complete")?.unwrap_or(0),
                downloaded: get_u32(d, "downloaded")?.unwrap_or(0),
                incomplete: get_u32(d, "incomplete")?.unwrap_or(0),
            },
        ));
    }
    Ok(out)
}

fn lossy(v: &Value<'_>, field: &'static str) -> Result<String, ResponseError> {
    v.as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or(ResponseError::Field {
            field,
            reason: "not a byte string",
        })
}

fn get_u32(d: &Dict<'_>, field: &'static str) -> Result<Option<u32>, ResponseError> {
    match d.get(field.as_bytes()) {
        None => Ok(None),
        Some(v) => {
            let n = v.as_int().ok_or(ResponseError::Field {
                field,
                reason: "not an integer",
            })?;
            // Negative counts are nonsense; huge ones are clamped.
            if n < 0 {
                return Err(ResponseError::Field {
                    field,
                    reason: "negative",
                });
            }
            Ok(Some(u32::try_from(n).unwrap_or(u32::MAX)))
        }
    }
}

fn compact_v4(b: &[u8], out: &mut Vec<SocketAddr>) {
    for c in b.chunks_exact(6) {
        let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
        out.push(SocketAddr::from((ip, u16::from_be_bytes([c[4], c[5]]))));
    }
}

fn compact_v6(b: &[u8], out: &mut Vec<SocketAddr>) {
    for c in b.chunks_exact(18) {
        let mut o = [0u8; 16];
        o.copy_from_slice(&c[..16]);
        out.push(SocketAddr::from((
            Ipv6Addr::from(o),
            u16::from_be_bytes([c[16], c[17]]),
        )));
    }
}

/// One dictionary peer; entries with a host name instead of an address are skipped (`None`).
fn dict_peer(item: &Value<'_>) -> Result<Option<SocketAddr>, ResponseError> {
    let d = item.as_dict().ok_or(ResponseError::Field {
        field: "peers",
        reason: "list entry is not a dictionary",
    })?;
    let ip = d
        .get(b"ip")
        .and_then(|v| v.as_str())
        .ok_or(ResponseError::Field {
            field: "peers",
            reason: "entry lacks a textual `ip`",
        })?;
    let port = d
        .get(b"port")
        .and_then(|v| v.as_int())
        .ok_or(ResponseError::Field {
            field: "peers",
            reason: "entry lacks an integer `port`",
        })?;
    let port = u16::try_from(port).map_err(|_| ResponseError::Field {
        field: "peers",
        reason: "port out of range",
    })?;
    Ok(ip
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::from((ip, port))))
}

/// Decodes a body according to its `Content-Encoding` (`gzip`, `x-gzip`, `deflate`, identity),
/// refusing output larger than `limit` bytes.
pub fn decode_body(
    content_encoding: Option<&str>,
    body: &[u8],
    limit: usize,
) -> Result<Vec<u8>, ResponseError> {
    let enc = content_encoding
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let mut out = Vec::new();
    let read = match enc.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(ResponseError::TooLarge { limit });
            }
            return Ok(body.to_vec());
        }
        "gzip" | "x-gzip" => flate2::read::GzDecoder::new(body)
            .take(limit as u64 + 1)
            .read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(body)
            .take(limit as u64 + 1)
            .read_to_end(&mut out),
        other => {
            return Err(ResponseError::Decode {
                encoding: other.to_owned(),
                reason: "unsupported content encoding".into(),
            });
        }
    };
    read.map_err(|e| ResponseError::Decode {
        encoding: enc.clone(),
        reason: e.to_string(),
    })?;
    if out.len() > limit {
        return Err(ResponseError::TooLarge { limit });
    }
    Ok(out)
}

/// What a caller needs to send an HTTP/1.1 GET for a tracker URL over its own socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequestHead {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or address to resolve and connect to.
    pub host: String,
    /// Port (default 80/443).
    pub port: u16,
    /// The request bytes (`GET … HTTP/1.1` with Host, Accept-Encoding gzip, Connection close).
    pub bytes: Vec<u8>,
}

/// Builds the GET request for `url` (an announce or scrape URL).
pub fn build_get_request(url: &str) -> Result<HttpRequestHead, UrlError> {
    let parsed = url::Url::parse(url).map_err(|e| UrlError::Invalid {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let scheme = parsed.scheme().to_owned();
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::UnsupportedScheme(scheme));
    }
    let host = parsed.host_str().ok_or_else(|| UrlError::Invalid {
        url: url.to_owned(),
        reason: "no host".into(),
    })?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let mut target = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        target.push('?');
        target.push_str(q);
    }
    let host_header = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let bytes = format!(
        "GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: Freshet/0.1\r\n\
         Accept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    Ok(HttpRequestHead {
        scheme,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
        bytes,
    })
}

/// The parts of an HTTP response head a tracker client acts on.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct HttpResponseHead {
    /// Status code.
    pub status: u16,
    /// `Location` (redirects).
    pub location: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<usize>,
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Length of the head in bytes (the body starts there).
    pub head_len: usize,
}

/// Parses a response head from the start of `buf`. `Ok(None)`: incomplete, read more.
pub fn parse_http_response_head(buf: &[u8]) -> Result<Option<HttpResponseHead>, ResponseError> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ResponseError::Http(e.to_string())),
    };
    let mut out = HttpResponseHead {
        status: resp.code.unwrap_or(0),
        head_len,
        ..Default::default()
    };
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value).trim().to_owned();
        if h.name.eq_ignore_ascii_case("location") {
            out.location = Some(value);
        } else if h.name.eq_ignore_ascii_case("content-encoding") {
            out.content_encoding = Some(value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            out.content_length = Some(
                value
                    .parse()
                    .map_err(|_| ResponseError::Http(format!("bad Content-Length {value:?}")))?,
            );
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            out.chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Ok(Some(out))
}

/// Removes chunked transfer encoding from a complete body, bounded by `limit`.
pub fn dechunk(body: &[u8], limit: usize) -> Result<Vec<u8>, ResponseError> {
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| ResponseError::Http("truncated chunk size".into()))?;
        let size_text = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| ResponseError::Http("chunk size is not text".into()))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ResponseError::Http(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if out.len().saturating_add(size) > limit {
            return Err(ResponseError::TooLarge { limit });
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| ResponseError::Http("truncated chunk".into()))?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
}

/// Resolves a redirect `Location` against the URL that produced it (as a browser would).
pub fn resolve_redirect(base: &str, location: &str) -> Result<String, ResponseError> {
    let base = url::Url::parse(base).map_err(|e| ResponseError::Redirect(e.to_string()))?;
    let next = base
        .join(location)
        .map_err(|e| ResponseError::Redirect(format!("bad Location {location:?}: {e}")))?;
    match next.scheme() {
        "http" | "https" => Ok(next.into()),
        other => Err(ResponseError::Redirect(format!(
            "to unsupported scheme {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, PeerId, PeerKey};
    use proptest::prelude::*;

    fn req() -> AnnounceRequest {
        let mut r = AnnounceRequest::new(
            InfoHashV1(*b"\x12\x34\x56\x78\x9a\xbc\xde\xf1\x23\x45\x67\x89\xab\xcd\xef\x12\x34\x56\x78\x9a"),
            PeerId(*b"-FR0001-a b~c.d_e-f!"),
            6881,
        );
        r.left = 10;
        r.event = Event::Started;
        r.key = Some(PeerKey(0xdeadbeef));
        r.numwant = Some(50);
        r
    }

    #[test]
    fn announce_url_encodes_raw_bytes_and_keeps_query() {
        let url = announce_url("http://t.example:80/ann?passkey=x#frag", &req()).unwrap();
        assert_eq!(
            url,
            "http://t.example:80/ann?passkey=x&info_hash=%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A\
             &peer_id=-FR0001-a%20b~c.d_e-f%21&port=6881&uploaded=0&downloaded=0&left=10&compact=1\
             &event=started&numwant=50&key=deadbeef"
        );
        assert!(matches!(
            announce_url("udp://x:1", &req()),
            Err(UrlError::UnsupportedScheme(_))
        ));
        assert!(announce_url("not a url", &req()).is_err());
    }

    #[test]
    fn scrape_url_derivation_bep48() {
        let cases = [
            (
                "http://example.com/announce",
                Some("http://example.com/scrape"),
            ),
            (
                "http://example.com/x/announce",
                Some("http://example.com/x/scrape"),
            ),
            (
                "http://example.com/announce.php",
                Some("http://example.com/scrape.php"),
            ),
            ("http://example.com/a", None),
            (
                "http://example.com/announce?x2%0644",
                Some("http://example.com/scrape?x2%0644"),
            ),
            ("http://example.com/a?x=y", None),
            ("http://example.com/x%064announce", None),
            ("http://example.com/announce/x", None),
        ];
        for (a, s) in cases {
            assert_eq!(scrape_url(a).ok().as_deref(), s, "{a}");
        }
        assert_eq!(
            scrape_url("udp://h:1/announce").unwrap(),
            "udp://h:1/announce"
        );
        let u = scrape_url_for(
            "http://h/scrape",
            &[InfoHashV1([0x41; 20]), InfoHashV1([0; 20])],
        );
        assert_eq!(u.matches("info_hash=").count(), 2);
        assert!(u.starts_with("http://h/scrape?info_hash=AAAA"));
    }

    #[test]
    fn parse_full_reply() {
        let body = b"d8:completei5e10:incompletei3e8:intervali1800e12:min intervali60e\
            5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50\
            6:peers618:\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x1a\xe2\
            10:tracker id3:abc15:warning message4:hmm!e";
        let r = parse_announce_response(body).unwrap();
        assert_eq!(r.interval, 1800);
        assert_eq!(r.min_interval, Some(60));
        assert_eq!((r.complete, r.incomplete), (Some(5), Some(3)));
        assert_eq!(r.tracker_id.as_deref(), Some(&b"abc"[..]));
        assert_eq!(r.warning.as_deref(), Some("hmm!"));
        assert_eq!(
            r.peers,
            vec![
                "127.0.0.1:6881".parse().unwrap(),
                "10.0.0.2:80".parse().unwrap(),
                "[::1]:6882".parse().unwrap()
            ]
        );
    }

    #[test]
    fn parse_dict_peers_and_failures() {
        let body = b"d8:intervali60e5:peersld2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti7000eed2:ip3:::14:porti7001eed2:ip8:host.com4:porti1eeee";
        let r = parse_announce_response(body).unwrap();
        assert_eq!(
            r.peers,
            vec![
                "127.0.0.1:7000".parse().unwrap(),
                "[::1]:7001".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_announce_response(b"d14:failure reason9:not allowe"),
            Err(ResponseError::Failure("not allow".into()))
        );
        assert_eq!(
            parse_announce_response(b"d5:peers0:e"),
            Err(ResponseError::Missing("interval"))
        );
        assert!(matches!(
            parse_announce_response(b"le"),
            Err(ResponseError::NotADict(_))
        ));
        assert!(matches!(
            parse_announce_response(b"d8:intervali-1ee"),
            Err(ResponseError::Field { .. })
        ));
        assert!(matches!(
            parse_announce_response(b"d8:interval"),
            Err(ResponseError::Bencode(_))
        ));
        // Ragged compact area: whole entries kept.
        let r = parse_announce_response(b"d8:intervali1e5:peers7:\x01\x02\x03\x04\x00\x05\x09e")
            .unwrap();
        assert_eq!(r.peers, vec!["1.2.3.4:5".parse().unwrap()]);
    }

    #[test]
    fn scrape_reply() {
        let body =
            b"d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei2e10:downloadedi7e10:incompletei1eeee";
        let r = parse_scrape_response(body).unwrap();
        assert_eq!(
            r.files,
            vec![(
                InfoHashV1([b'A'; 20]),
                ScrapeStats {
                    complete: 2,
                    downloaded: 7,
                    incomplete: 1
                }
            )]
        );
        assert!(parse_scrape_response(b"d5:filesd3:abcdeee").is_err());
        assert_eq!(
            parse_scrape_response(b"de"),
            Err(ResponseError::Missing("files"))
        );
    }

    fn misc(name: &str) -> Vec<u8> {
        let base = std::env::var("FRESHET_TESTDATA").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata").into()
        });
        std::fs::read(
            std::path::Path::new(&base)
                .join("libtorrent/misc")
                .join(name),
        )
        .unwrap_or_else(|e| panic!("test data libtorrent/misc/{name}: {e} (set FRESHET_TESTDATA)"))
    }

    #[test]
    fn libtorrent_gzip_files() {
        let z = decode_body(Some("gzip"), &misc("zeroes.gz"), 1_000_000).unwrap();
        assert!(!z.is_empty());
        assert!(decode_body(Some("gzip"), &misc("corrupt.gz"), 1_000_000).is_err());
        assert!(decode_body(Some("gzip"), &misc("invalid1.gz"), 1_000_000).is_err());
        // The size limit holds on the decoded size.
        assert_eq!(
            decode_body(Some("gzip"), &misc("zeroes.gz"), z.len() - 1),
            Err(ResponseError::TooLarge { limit: z.len() - 1 })
        );
        assert!(decode_body(Some("br"), b"", 10).is_err());
        assert_eq!(decode_body(None, b"abc", 3).unwrap(), b"abc");
        assert!(decode_body(None, b"abcd", 3).is_err());
    }

    #[test]
    fn http_head_chunked_and_redirect() {
        let head = parse_http_response_head(
            b"HTTP/1.1 302 Found\r\nLocation: /b?x=1\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status, 302);
        assert_eq!(
            resolve_redirect("http://h:1/a?q", head.location.as_deref().unwrap()).unwrap(),
            "http://h:1/b?x=1"
        );
        assert!(resolve_redirect("http://h/", "ftp://x/").is_err());
        assert_eq!(
            parse_http_response_head(b"HTTP/1.1 200 OK\r\n").unwrap(),
            None
        );
        assert!(parse_http_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n", 10).unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"ffffffff\r\nab", 10).is_err());
        let g = build_get_request("http://[::1]:6969/announce?a=%00").unwrap();
        assert_eq!((g.host.as_str(), g.port), ("::1", 6969));
        assert!(
            g.bytes
                .starts_with(b"GET /announce?a=%00 HTTP/1.1\r\nHost: [::1]:6969\r\n")
        );
    }

    proptest! {
        #[test]
        fn reply_round_trip(interval in 0u32..=i32::MAX as u32, c in any::<u16>(), v4 in proptest::collection::vec(any::<([u8;4],u16)>(), 0..30),
                            v6 in proptest::collection::vec(any::<([u8;16],u16)>(), 0..10)) {
            let mut peers = Vec::new();
            let mut compact = Vec::new();
            for (ip, port) in &v4 { compact.extend_from_slice(ip); compact.extend_from_slice(&port.to_be_bytes()); peers.push(SocketAddr::from((Ipv4Addr::from(*ip), *port))); }
            let mut compact6 = Vec::new();
            for (ip, port) in &v6 { compact6.extend_from_slice(ip); compact6.extend_from_slice(&port.to_be_bytes()); peers.push(SocketAddr::from((Ipv6Addr::from(*ip), *port))); }
            let body = freshet_bencode::DictBuilder::new()
                .int(b"interval", interval.into())
                .int(b"complete", c.into())
                .bytes(b"peers", &compact)
                .bytes(b"peers6", &compact6)
                .finish();
            let r = parse_announce_response(&body).unwrap();
            prop_assert_eq!(r.interval, interval);
            prop_assert_eq!(r.complete, Some(u32::from(c)));
            prop_assert_eq!(r.peers, peers);
        }

        #[test]
        fn url_query_round_trip(h in any::<[u8; 20]>(), p in any::<[u8; 20]>()) {
            let mut r = req();
            r.info_hash = InfoHashV1(h);
            r.peer_id = PeerId(p);
            let url = announce_url("http://h/announce", &r).unwrap();
            let q = crate::parse_announce_query(url.split_once('?').unwrap().1).unwrap();
            prop_assert_eq!(q.info_hash, r.info_hash);
            prop_assert_eq!(q.peer_id, r.peer_id);
            prop_assert_eq!(q.port, 6881);
        }

        #[test]
        fn parsers_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_announce_response(&buf);
            let _ = parse_scrape_response(&buf);
            let _ = parse_http_response_head(&buf);
            let _ = dechunk(&buf, 100);
        }
    }
}

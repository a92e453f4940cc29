//! A small blocking HTTP/1.1 GET for worker threads (tracker announces, `.torrent` URLs), built
//! on `freshet-tracker`'s sans-I/O request and response helpers. Plain `http` only.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use freshet_tracker::{
    build_get_request, dechunk, decode_body, parse_http_response_head, resolve_redirect,
};

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 3;

/// GETs `url` and returns the decoded body (at most `limit` bytes), or a message saying what
/// failed.
pub(crate) fn get(url: &str, limit: usize, timeout: Duration) -> Result<Vec<u8>, String> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        match get_once(&url, limit, timeout)? {
            Reply::Body(b) => return Ok(b),
            Reply::Redirect(to) => url = resolve_redirect(&url, &to).map_err(|e| e.to_string())?,
        }
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

enum Reply {
    Body(Vec<u8>),
    Redirect(String),
}

fn get_once(url: &str, limit: usize, timeout: Duration) -> Result<Reply, String> {
    let head = build_get_request(url).map_err(|e| e.to_string())?;
    if head.scheme != "http" {
        return Err(format!("{url}: only http:// URLs are supported"));
    }
    let addr = (head.host.as_str(), head.port)
        .to_socket_addrs()
        .map_err(|e| format!("{url}: cannot resolve {}: {e}", head.host))?
        .next()
        .ok_or_else(|| format!("{url}: {} has no address", head.host))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{url}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .and_then(|()| s.write_all(&head.bytes))
        .map_err(|e| format!("{url}: {e}"))?;
    let mut buf = Vec::new();
    // Head plus body; a little slack for headers and chunk framing.
    let cap = limit.saturating_add(64 * 1024);
    (&mut s)
        .take(cap as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{url}: {e}"))?;
    if buf.len() > cap {
        return Err(format!("{url}: reply larger than {limit} bytes"));
    }
    let resp = parse_http_response_head(&buf)
        .map_err(|e| format!("{url}: {e}"))?
        .ok_or_else(|| format!("{url}: truncated HTTP reply"))?;
    if (300..400).contains(&resp.status)
        && let Some(loc) = resp.location
    {
        return Ok(Reply::Redirect(loc));
    }
    if resp.status != 200 {
        return Err(format!("{url}: HTTP status {}", resp.status));
    }
    let raw = &buf[resp.head_len..];
    let body = if resp.chunked {
        dechunk(raw, cap).map_err(|e| format!("{url}: {e}"))?
    } else {
        raw.to_vec()
    };
    decode_body(resp.content_encoding.as_deref(), &body, limit)
        .map(Reply::Body)
        .map_err(|e| format!("{url}: {e}"))
}

//! BEP 15 connection ids without per-client state: a keyed hash of the client's address and
//! the current minute.

use std::net::SocketAddr;
use std::time::Instant;

use sha1::{Digest, Sha1};

use crate::udp::ConnectionId;

/// Issues and checks connection ids. An id is valid in the minute it was issued and the next,
/// so its lifetime is between one and two minutes.
pub struct ConnectionIdSecret {
    key: [u8; 32],
    base: Instant,
}

impl ConnectionIdSecret {
    /// A secret keyed with `key`; `base` is the time origin.
    pub fn new(key: [u8; 32], base: Instant) -> Self {
        Self { key, base }
    }

    /// The id for `remote` now.
    pub fn make(&self, now: Instant, remote: &SocketAddr) -> ConnectionId {
        self.at(self.minute(now), remote)
    }

    /// Whether `id` was issued to `remote` in this minute or the previous one.
    pub fn check(&self, now: Instant, remote: &SocketAddr, id: ConnectionId) -> bool {
        let m = self.minute(now);
        self.at(m, remote) == id || (m > 0 && self.at(m - 1, remote) == id)
    }

    fn minute(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.base).as_secs() / 60
    }

    fn at(&self, minute: u64, remote: &SocketAddr) -> ConnectionId {
        let mut h = Sha1::new();
        h.update(self.key);
        h.update(minute.to_be_bytes());
        match remote.ip() {
            std::net::IpAddr::V4(ip) => h.update(ip.octets()),
            std::net::IpAddr::V6(ip) => h.update(ip.octets()),
        }
        h.update(remote.port().to_be_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        ConnectionId(u64::from_be_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lifetime_and_binding() {
        let t0 = crate::test_epoch();
        let s = ConnectionIdSecret::new([1; 32], t0);
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let id = s.make(t0 + Duration::from_secs(59), &a);
        assert!(s.check(t0 + Duration::from_secs(60), &a, id));
        assert!(s.check(t0 + Duration::from_secs(119), &a, id));
        assert!(!s.check(t0 + Duration::from_secs(120), &a, id));
        assert!(!s.check(t0, &b, id));
        let other = ConnectionIdSecret::new([2; 32], t0);
        assert!(!other.check(t0, &a, id));
    }
}

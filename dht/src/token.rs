//! `announce_peer` tokens from rotating secrets (BEP 5 "get_peers").
//!
//! A token is the first 8 bytes of `sha1(ip || secret)`. The secret rotates every
//! [`ROTATE_EVERY`]; tokens made with the current or the previous secret are accepted, so a
//! token stays valid for 5 to 10 minutes.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use sha1::{Digest, Sha1};

/// Secret rotation period.
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);

/// An opaque write token handed out in `get_peers` responses.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Token(pub Vec<u8>);

/// The current and previous token secrets.
#[derive(Clone, Debug)]
pub struct TokenSecrets {
    current: [u8; 20],
    previous: [u8; 20],
    next_rotation: Instant,
}

impl TokenSecrets {
    /// Fresh secrets drawn from `rng`; the first rotation is due at `now + ROTATE_EVERY`.
    pub fn new(now: Instant, rng: &mut impl Rng) -> Self {
        let mut current = [0u8; 20];
        rng.fill(&mut current);
        Self {
            current,
            previous: current,
            next_rotation: now + ROTATE_EVERY,
        }
    }

    /// The token for a querier at `ip`.
    pub fn token_for(&self, ip: IpAddr) -> Token {
        make(ip, &self.current)
    }

    /// True if `token` was issued to `ip` with the current or previous secret.
    pub fn is_valid(&self, ip: IpAddr, token: &[u8]) -> bool {
        make(ip, &self.current).0 == token || make(ip, &self.previous).0 == token
    }

    /// When the next rotation is due.
    pub fn next_rotation(&self) -> Instant {
        self.next_rotation
    }

    /// Rotates if due at `now` (harmless to call early).
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut impl Rng) {
        if now >= self.next_rotation {
            self.previous = self.current;
            rng.fill(&mut self.current);
            self.next_rotation = now + ROTATE_EVERY;
        }
    }
}

fn make(ip: IpAddr, secret: &[u8; 20]) -> Token {
    let mut h = Sha1::new();
    match ip {
        IpAddr::V4(v4) => h.update(v4.octets()),
        IpAddr::V6(v6) => h.update(v6.octets()),
    }
    h.update(secret);
    Token(h.finalize()[..8].to_vec())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn token_survives_one_rotation_but_not_two() {
        #[allow(clippy::disallowed_methods)] // base instant only; time is virtual
        let now = Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut s = TokenSecrets::new(now, &mut rng);
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let t = s.token_for(ip);
        assert!(s.is_valid(ip, &t.0));
        assert!(
            !s.is_valid("10.1.2.4".parse().unwrap(), &t.0),
            "bound to the ip"
        );
        s.handle_timeout(now + Duration::from_secs(1), &mut rng);
        assert!(s.is_valid(ip, &t.0), "early call is harmless");
        s.handle_timeout(now + ROTATE_EVERY, &mut rng);
        assert!(s.is_valid(ip, &t.0), "previous secret accepted");
        s.handle_timeout(now + ROTATE_EVERY * 2, &mut rng);
        assert!(!s.is_valid(ip, &t.0), "expired after two rotations");
    }
}

//! Peer ids: the 20 bytes after the info-hash in the handshake, and what they say about the
//! client on the other end.

use std::fmt;

/// A 20-byte peer id (BEP 3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// Freshet's Azureus-style prefix: client code `FR`, version 0.1.0.0.
    pub const FRESHET_PREFIX: [u8; 8] = *b"-FR0100-";

    /// An Azureus-style id (`-XXvvvv-` then 12 characters) whose tail is made from the
    /// caller's random bytes, mapped onto `[0-9A-Za-z]` so the id stays printable.
    #[must_use]
    pub fn azureus(prefix: [u8; 8], random: [u8; 12]) -> Self {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(&prefix);
        for (dst, r) in id[8..].iter_mut().zip(random) {
            *dst = ALPHANUMERIC[usize::from(r) % ALPHANUMERIC.len()];
        }
        Self(id)
    }

    /// A Freshet id (`-FR0100-` + 12 random characters) drawn from the caller's RNG. This
    /// crate never draws ambient randomness; the engine passes its seeded RNG.
    #[must_use]
    pub fn generate<R: rand_core::RngCore + ?Sized>(rng: &mut R) -> Self {
        let mut random = [0u8; 12];
        rng.fill_bytes(&mut random);
        Self::azureus(Self::FRESHET_PREFIX, random)
    }

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The client software, when the id follows a known convention.
    #[must_use]
    pub fn client(&self) -> Option<ClientInfo> {
        parse_azureus(&self.0).or_else(|| parse_dashed(&self.0))
    }
}

impl fmt::Display for PeerId {
    /// Printable ASCII as is, other bytes as `%xx` (the tracker-URL style).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() && b != b'%' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "%{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

impl From<[u8; 20]> for PeerId {
    fn from(v: [u8; 20]) -> Self {
        Self(v)
    }
}

/// The client named by a peer id, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// Human-readable client name (`"libtorrent (Rasterbar)"`), or the raw code when unknown.
    pub name: String,
    /// Version as written in the id, dotted (`"2.0.8.0"`, `"3.00"`).
    pub version: String,
}

impl fmt::Display for ClientInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}

/// `-XXvvvv-`: two-letter client code, four version characters.
fn parse_azureus(id: &[u8; 20]) -> Option<ClientInfo> {
    if id[0] != b'-' || id[7] != b'-' || !id[1..7].iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let code = [id[1], id[2]];
    let v = &id[3..7];
    let name = AZUREUS_CLIENTS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(
            || String::from_utf8_lossy(&code).into_owned(),
            |(_, n)| (*n).to_owned(),
        );
    let version = if code == *b"TR" {
        // Transmission: `-TR300Z-` is 3.00, `-TR2940-` is 2.94; Z/X/B mark release/dev/beta.
        format!(
            "{}.{}{}",
            char::from(v[0]),
            char::from(v[1]),
            char::from(v[2])
        )
    } else {
        v.iter()
            .map(|&c| version_digit(c))
            .collect::<Vec<_>>()
            .join(".")
    };
    Some(ClientInfo { name, version })
}

/// Dash-separated versions: aria2 `A2-1-36-0-` and Mainline `M7-4-5--`.
fn parse_dashed(id: &[u8; 20]) -> Option<ClientInfo> {
    let (name, rest) = match id {
        [b'A', b'2', b'-', rest @ ..] => ("aria2", rest.as_slice()),
        [b'M', rest @ ..] if rest.first().is_some_and(u8::is_ascii_digit) => {
            ("BitTorrent (Mainline)", rest.as_slice())
        }
        _ => return None,
    };
    let parts: Vec<&[u8]> = rest.split(|&b| b == b'-').take(3).collect();
    if parts.len() < 3 || !parts.iter().all(|p| p.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let version = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(".");
    if version.is_empty() {
        return None;
    }
    Some(ClientInfo {
        name: name.to_owned(),
        version,
    })
}

fn version_digit(c: u8) -> String {
    match c {
        b'0'..=b'9' => char::from(c).to_string(),
        b'A'..=b'Z' => (c - b'A' + 10).to_string(),
        b'a'..=b'z' => (c - b'a' + 36).to_string(),
        _ => "?".to_owned(),
    }
}

const ALPHANUMERIC: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Well-known Azureus-style client codes.
const AZUREUS_CLIENTS: &[([u8; 2], &str)] = &[
    (*b"FR", "Freshet"),
    (*b"LT", "libtorrent (Rasterbar)"),
    (*b"lt", "libTorrent (rakshasa)"),
    (*b"TR", "Transmission"),
    (*b"qB", "qBittorrent"),
    (*b"UT", "µTorrent"),
    (*b"UM", "µTorrent for Mac"),
    (*b"UW", "µTorrent Web"),
    (*b"DE", "Deluge"),
    (*b"AZ", "Azureus/Vuze"),
    (*b"BI", "BiglyBT"),
    (*b"BT", "BitTorrent"),
    (*b"BC", "BitComet"),
    (*b"KT", "KTorrent"),
    (*b"WW", "WebTorrent"),
    (*b"WD", "WebTorrent Desktop"),
    (*b"TL", "Tribler"),
    (*b"PI", "PicoTorrent"),
    (*b"FD", "Free Download Manager"),
    (*b"XL", "Xunlei"),
    (*b"SD", "Thunder (Xunlei)"),
    (*b"BW", "BitWombat"),
    (*b"RQ", "rqbit"),
    (*b"rq", "rqbit"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &[u8]) -> PeerId {
        let mut b = [b'x'; 20];
        b[..s.len()].copy_from_slice(s);
        PeerId(b)
    }

    #[test]
    fn parses_well_known_clients() {
        let cases: &[(&[u8], &str, &str)] = &[
            (b"-LT2080-", "libtorrent (Rasterbar)", "2.0.8.0"),
            (b"-lt0D80-", "libTorrent (rakshasa)", "0.13.8.0"),
            (b"-TR300Z-", "Transmission", "3.00"),
            (b"-qB4500-", "qBittorrent", "4.5.0.0"),
            (b"-UT355W-", "µTorrent", "3.5.5.32"),
            (b"A2-1-36-0-", "aria2", "1.36.0"),
            (b"M7-4-5--", "BitTorrent (Mainline)", "7.4.5"),
            (b"-FR0100-", "Freshet", "0.1.0.0"),
            (b"-ZZ1234-", "ZZ", "1.2.3.4"),
        ];
        for (raw, name, version) in cases {
            let c = id(raw)
                .client()
                .unwrap_or_else(|| panic!("{raw:?} not parsed"));
            assert_eq!(
                (c.name.as_str(), c.version.as_str()),
                (*name, *version),
                "{raw:?}"
            );
        }
        assert_eq!(id(b"garbage").client(), None);
        assert_eq!(PeerId([0; 20]).client(), None);
    }

    #[test]
    fn generates_freshet_ids_from_the_given_bytes_only() {
        let a = PeerId::azureus(PeerId::FRESHET_PREFIX, [0; 12]);
        assert_eq!(&a.0, b"-FR0100-000000000000");
        let b = PeerId::azureus(
            PeerId::FRESHET_PREFIX,
            [61, 62, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        );
        assert_eq!(&b.0, b"-FR0100-z07123456789");
        assert!(b.0.iter().all(u8::is_ascii_graphic));
        assert_eq!(b.client().unwrap().name, "Freshet");
    }

    /// A counter "RNG" so the test shows exactly which bytes end up in the id.
    struct Counter(u8);

    impl rand_core::RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            u32::from(self.next_byte())
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_byte())
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for b in dst {
                *b = self.next_byte();
            }
        }
    }

    impl Counter {
        fn next_byte(&mut self) -> u8 {
            self.0 = self.0.wrapping_add(1);
            self.0
        }
    }

    #[test]
    fn generate_draws_only_from_the_callers_rng() {
        assert_eq!(
            &PeerId::generate(&mut Counter(0)).0,
            b"-FR0100-123456789ABC"
        );
        assert_eq!(
            PeerId::generate(&mut Counter(7)),
            PeerId::generate(&mut Counter(7))
        );
    }

    #[test]
    fn displays_unprintable_bytes_escaped() {
        let mut raw = *b"-FR0100-abcdefghijkl";
        raw[19] = 0;
        assert_eq!(PeerId(raw).to_string(), "-FR0100-abcdefghijk%00");
    }
}

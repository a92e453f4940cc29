//! Two connections to one peer (the same peer id on one torrent): which one both sides keep.
//!
//! It happens when two peers dial each other at about the same time (each learnt the other's
//! address from a tracker, the DHT or peer exchange). Both must close the *same* connection,
//! or they close one each and are left with none. The rule is libtorrent's, so a Freshet peer
//! and a libtorrent peer agree: the peer whose listen port is lower keeps the connection it
//! opened. Equal ports (two hosts on the same well-known port) fall back to the lower peer id,
//! which two Freshet peers agree on. Two connections opened by the same side are a reconnect
//! or a misbehaving peer: the newcomer is dropped and the working connection stays.

use freshet_peerwire::PeerId;

/// Which side opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opener {
    /// We dialled the peer.
    Us,
    /// The peer dialled us.
    Them,
}

/// The connection to keep of two to the same peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// The connection registered first; close the new one.
    Existing,
    /// The new connection; close the existing one.
    New,
}

/// Both sides' view of a duplicate: who opened each connection, and each side's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// Who opened the connection registered first.
    pub existing: Opener,
    /// Who opened the new connection.
    pub new: Opener,
    /// Our listen port: the local port of the connection the peer opened.
    pub our_port: u16,
    /// The peer's listen port: the port we dialled.
    pub their_port: u16,
    /// Our peer id.
    pub ours: PeerId,
    /// The peer's id.
    pub theirs: PeerId,
}

impl Duplicate {
    /// Which connection to keep (the ports only matter when the two were opened by different
    /// sides; then `our_port` comes from the one they opened, `their_port` from ours).
    #[must_use]
    pub fn resolve(&self) -> Keep {
        if self.existing == self.new {
            return Keep::Existing;
        }
        let keep_ours = self.our_port < self.their_port
            || (self.our_port == self.their_port && self.ours < self.theirs);
        let keep = if keep_ours { Opener::Us } else { Opener::Them };
        if self.new == keep {
            Keep::New
        } else {
            Keep::Existing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> PeerId {
        PeerId([b; 20])
    }

    fn dup(existing: Opener, new: Opener, our_port: u16, their_port: u16, ours: u8) -> Duplicate {
        Duplicate {
            existing,
            new,
            our_port,
            their_port,
            ours: id(ours),
            theirs: id(ours ^ 1),
        }
    }

    /// Our view and the peer's view of the same pair of connections.
    fn mirror(d: &Duplicate) -> Duplicate {
        let flip = |o| match o {
            Opener::Us => Opener::Them,
            Opener::Them => Opener::Us,
        };
        Duplicate {
            existing: flip(d.existing),
            new: flip(d.new),
            our_port: d.their_port,
            their_port: d.our_port,
            ours: d.theirs,
            theirs: d.ours,
        }
    }

    #[test]
    fn the_lower_listen_port_keeps_its_outgoing_connection_then_the_lower_id() {
        use Opener::{Them, Us};
        // (existing, new, our port, their port, our id byte (theirs is it ^ 1), kept)
        let cases = [
            // We listen lower: our outgoing connection stays, whichever came first.
            (Us, Them, 6000, 7000, 2, Keep::Existing),
            (Them, Us, 6000, 7000, 2, Keep::New),
            // They listen lower: theirs stays.
            (Us, Them, 7000, 6000, 2, Keep::New),
            (Them, Us, 7000, 6000, 2, Keep::Existing),
            // Equal ports: our id [2; 20] < theirs [3; 20], ours stays; [3; 20] > [2; 20], theirs.
            (Them, Us, 6881, 6881, 2, Keep::New),
            (Them, Us, 6881, 6881, 3, Keep::Existing),
        ];
        for (existing, new, our_port, their_port, ours, kept) in cases {
            let d = dup(existing, new, our_port, their_port, ours);
            assert_eq!(d.resolve(), kept, "{d:?}");
        }
    }

    #[test]
    fn both_sides_keep_the_same_connection() {
        for (existing, new) in [(Opener::Us, Opener::Them), (Opener::Them, Opener::Us)] {
            for (a, b) in [(6000, 7000), (7000, 6000), (6881, 6881)] {
                for ours in [2, 3] {
                    let d = dup(existing, new, a, b, ours);
                    let kept_opener = |d: &Duplicate| match d.resolve() {
                        Keep::Existing => d.existing,
                        Keep::New => d.new,
                    };
                    // Whoever opened the kept connection, seen from each side, is the same peer.
                    let ours_view = kept_opener(&d);
                    let theirs_view = kept_opener(&mirror(&d));
                    assert_ne!(ours_view, theirs_view, "{d:?}");
                }
            }
        }
    }

    #[test]
    fn a_second_connection_opened_by_the_same_side_is_dropped() {
        for o in [Opener::Us, Opener::Them] {
            assert_eq!(dup(o, o, 1, 2, 2).resolve(), Keep::Existing);
            assert_eq!(dup(o, o, 2, 1, 3).resolve(), Keep::Existing);
        }
    }
}

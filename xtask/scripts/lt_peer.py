#!/usr/bin/python3
"""libtorrent peer for `cargo xtask bench swarm`: a seeder or a leecher, TCP only, on 127.0.0.1.

Usage:
  lt_peer.py seed  TORRENT SAVE_DIR PORT   -> prints "ready" once checked and seeding; then reads
                                              "connect IP:PORT" lines on stdin and dials them;
                                              exits on "quit" or end of input.
  lt_peer.py leech TORRENT SAVE_DIR PORT IP:PORT...
                                           -> dials the peers, prints "first_byte" when payload
                                              arrives and "complete" once every piece is verified,
                                              then exits.
DHT, LSD, UPnP, NAT-PMP, uTP and PEX are off. Bounded: gives up after BENCH_TIMEOUT seconds.
"""
import os
import select
import sys
import time

import libtorrent as lt


def settings(port, seed):
    s = lt.high_performance_seed() if seed else lt.default_settings()
    s.update({
        "listen_interfaces": "127.0.0.1:%d" % port,
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": "",
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_tcp": True,
        "enable_outgoing_tcp": True,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
        # Advertise a deep request queue: Transmission's rate is bounded by our `reqq`.
        "max_allowed_in_request_queue": 20000,
        "allow_multiple_connections_per_ip": True,
        "min_announce_interval": 1,
        "user_agent": "bench-swarm-libtorrent",
    })
    return s


def say(word):
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


def peer(text):
    host, _, port = text.rpartition(":")
    return (host, int(port))


def main():
    mode, torrent, save, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    deadline = time.monotonic() + float(os.environ.get("BENCH_TIMEOUT", "600"))
    seed = mode == "seed"
    ses = lt.session(settings(port, seed))
    ses.apply_settings({"enable_dht": False})
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    params.flags |= lt.torrent_flags.disable_pex | lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
    h = ses.add_torrent(params)
    if seed:
        while time.monotonic() < deadline:
            st = h.status()
            if st.is_seeding:
                break
            if st.errc.value() != 0:
                say("error %s" % st.errc.message())
                return 1
            time.sleep(0.02)
        else:
            say("error timeout checking")
            return 1
        say("ready")
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([sys.stdin], [], [], 0.5)
            if not r:
                continue
            chunk = os.read(sys.stdin.fileno(), 4096)
            if not chunk:
                return 0
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                words = line.decode().split()
                if words[:1] == ["connect"] and len(words) == 2:
                    h.connect_peer(peer(words[1]))
                elif words[:1] == ["quit"]:
                    return 0
        return 0
    for p in sys.argv[5:]:
        h.connect_peer(peer(p))
    first = False
    while time.monotonic() < deadline:
        ses.wait_for_alert(20)
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_error_alert):
                say("error %s" % a.message())
                return 1
        st = h.status()
        if not first and st.total_payload_download > 0:
            first = True
            say("first_byte")
        if st.is_seeding or st.is_finished:
            say("complete")
            ses.pause()
            return 0
    say("error timeout")
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""python3-libtorrent peer for Freshet interop tests, loopback only.

Usage:
  swarm_interop_lt.py seed  TORRENT SAVE_DIR   prints {"port": N} once seeding; runs until stdin closes
  swarm_interop_lt.py leech TORRENT SAVE_DIR HOST:PORT
                                              downloads from that peer; prints {"done": true, ...}
  swarm_interop_lt.py magnet MAGNET_URI SAVE_DIR HOST:PORT
                                              the same from a magnet link (metadata via BEP 9)
DHT, LSD, UPnP, NAT-PMP, uTP are off; the session listens on 127.0.0.1 only. Every wait is
bounded (120 s).
"""
import json
import sys
import threading
import time

import libtorrent as lt

mode, torrent, save = sys.argv[1], sys.argv[2], sys.argv[3]
settings = lt.high_performance_seed() if mode == "seed" else {}
settings.update({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "dht_bootstrap_nodes": "",
    "alert_mask": 0,
    "allow_multiple_connections_per_ip": True,
})
session = lt.session(settings)
if mode == "magnet":
    atp = lt.parse_magnet_uri(torrent)
    atp.save_path = save
    handle = session.add_torrent(atp)
else:
    handle = session.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save})
deadline = time.monotonic() + 120


def state():
    return handle.status()


if mode == "seed":
    while time.monotonic() < deadline:
        s = state()
        if s.is_seeding:
            break
        if s.errc.value():
            print(json.dumps({"error": s.errc.message()}), flush=True)
            sys.exit(1)
        time.sleep(0.05)
    if not state().is_seeding:
        print(json.dumps({"error": "data did not check"}), flush=True)
        sys.exit(1)
    print(json.dumps({"port": session.listen_port()}), flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(timeout=120)
    s = state()
    print(json.dumps({"uploaded": s.total_payload_upload}), flush=True)
else:
    host, port = sys.argv[4].rsplit(":", 1)
    handle.connect_peer((host, int(port)))
    last_connect = time.monotonic()
    while time.monotonic() < deadline:
        s = state()
        if s.is_seeding:
            break
        if time.monotonic() - last_connect > 2 and s.num_peers == 0:
            handle.connect_peer((host, int(port)))
            last_connect = time.monotonic()
        time.sleep(0.05)
    s = state()
    print(json.dumps({"done": bool(s.is_seeding), "downloaded": s.total_payload_download}),
          flush=True)
    sys.exit(0 if s.is_seeding else 1)

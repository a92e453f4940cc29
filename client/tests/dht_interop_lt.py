"""python3-libtorrent DHT peer for Freshet's DHT interop test, loopback only.

Usage:
  dht_interop_lt.py seed TORRENT SAVE_DIR BOOTSTRAP_HOST:PORT
      seeds with the DHT on, bootstrapping from that (Freshet) node only; prints {"port": N}
      once seeding, {"dht_nodes": N, "announced": bool} every second; runs until stdin closes.
  dht_interop_lt.py magnet MAGNET_URI SAVE_DIR BOOTSTRAP_HOST:PORT
      downloads the magnet link (no tracker, no peer given) with peers from the DHT only;
      prints {"done": bool, "first_peer_secs": S, "secs": S} and exits 0 when complete
      (first_peer_secs: until the first DHT reply carrying peers). Its DHT announce interval is
      cut to 2 s (default 15 min) so a lookup that ran before the seeder's announce landed is
      retried within the bounded wait.

LSD, UPnP, NAT-PMP and uTP are off; the session listens on 127.0.0.1 only; the only DHT node
it is given is the loopback one. libtorrent 2.0.8 works with loopback DHT nodes at its default
settings (measured: the test passes with the four dht_* settings below left out); they are
turned off anyway so that its table may hold several nodes sharing 127.0.0.1
(dht_restrict_routing_ips / dht_restrict_search_ips) whose ids cannot be BEP 42-valid for that
IP (dht_prefer_verified_node_ids, dht_enforce_node_id). Every wait is bounded.
"""
import json
import sys
import threading
import time

import libtorrent as lt

mode, torrent, save, bootstrap = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
assert mode in ("seed", "magnet")
assert bootstrap.startswith("127.0.0.1:"), "loopback bootstrap nodes only"
settings = lt.high_performance_seed() if mode == "seed" else {"dht_announce_interval": 2}
settings.update({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": True,
    "dht_bootstrap_nodes": bootstrap,
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_prefer_verified_node_ids": False,
    "dht_enforce_node_id": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "alert_mask": lt.alert.category_t.dht_notification | lt.alert.category_t.status_notification,
    "allow_multiple_connections_per_ip": True,
})
session = lt.session(settings)
deadline = time.monotonic() + 120
if mode == "magnet":
    start = time.monotonic()
    atp = lt.parse_magnet_uri(torrent)
    atp.save_path = save
    handle = session.add_torrent(atp)
    first_peer = None
    while time.monotonic() < deadline:
        s = handle.status()
        for a in session.pop_alerts():
            if first_peer is None and isinstance(a, lt.dht_reply_alert):
                first_peer = time.monotonic() - start
        if s.is_seeding:
            break
        time.sleep(0.02)
    done = handle.status().is_seeding
    print(json.dumps({"done": done, "first_peer_secs": first_peer,
                      "secs": time.monotonic() - start}), flush=True)
    sys.exit(0 if done else 1)
handle = session.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save})
while time.monotonic() < deadline and not handle.status().is_seeding:
    time.sleep(0.05)
if not handle.status().is_seeding:
    print(json.dumps({"error": "data did not check"}), flush=True)
    sys.exit(1)
print(json.dumps({"port": session.listen_port()}), flush=True)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
announced = False
while not done.is_set() and time.monotonic() < deadline:
    for a in session.pop_alerts():
        # A DHT get_peers traversal for our torrent finished: the announce went out.
        if isinstance(a, lt.dht_reply_alert):
            announced = True
    nodes = session.status().dht_nodes
    print(json.dumps({"dht_nodes": nodes, "announced": announced}), flush=True)
    done.wait(timeout=1)
print(json.dumps({"uploaded": handle.status().total_payload_upload}), flush=True)

"""Seed one torrent with libtorrent on 127.0.0.1 only (DHT, LSD, UPnP, NAT-PMP, uTP off).

usage: lt_seeder.py PORT TORRENT SAVE_DIR
Prints "READY <port>" once seeding, then waits until stdin closes (at most 180 s).
"""
import select
import sys
import time

import libtorrent as lt

port, torrent, save = int(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = lt.high_performance_seed()
settings.update({
    "listen_interfaces": "127.0.0.1:%d" % port,
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "dht_bootstrap_nodes": "",
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "alert_mask": lt.alert.category_t.error_notification,
})
session = lt.session(settings)
params = lt.add_torrent_params()
params.ti = lt.torrent_info(torrent)
params.save_path = save
handle = session.add_torrent(params)
deadline = time.monotonic() + 30
while not handle.status().is_seeding:
    if time.monotonic() > deadline:
        print("NOT SEEDING: %s" % handle.status().state, flush=True)
        sys.exit(1)
    for alert in session.pop_alerts():
        print("alert: %s" % alert.message(), file=sys.stderr, flush=True)
    time.sleep(0.05)
print("READY %d" % session.listen_port(), flush=True)
select.select([sys.stdin], [], [], 180)

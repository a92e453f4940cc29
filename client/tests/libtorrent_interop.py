"""Loads a .torrent with python3-libtorrent and checks the data with a real hash check.

Usage: libtorrent_interop.py TORRENT SAVE_DIR
Prints one JSON object: info-hashes as libtorrent computes them, the file list, and whether a
full recheck of SAVE_DIR found every piece (is_seed). Network features are all off and the
session listens on 127.0.0.1 only.
"""
import json
import sys
import time

import libtorrent as lt

torrent, save = sys.argv[1], sys.argv[2]
ti = lt.torrent_info(torrent)
hashes = ti.info_hashes()
fs = ti.files()
out = {
    "v1": str(hashes.v1) if hashes.has_v1() else None,
    "v2": str(hashes.v2) if hashes.has_v2() else None,
    "files": [[fs.file_path(i), fs.file_size(i)] for i in range(fs.num_files())],
}
settings = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "alert_mask": 0,
}
session = lt.session(settings)
handle = session.add_torrent({"ti": ti, "save_path": save})
deadline = time.monotonic() + 60
status = handle.status()
while time.monotonic() < deadline:
    status = handle.status()
    if status.state in (lt.torrent_status.seeding, lt.torrent_status.finished) or status.errc.value():
        break
    time.sleep(0.05)
out["is_seed"] = bool(status.is_seeding)
out["pieces_have"] = sum(1 for p in status.pieces if p)
out["pieces_total"] = len(status.pieces)
print(json.dumps(out))

#!/usr/bin/env bash
# Seeds the fuzz corpora (corpus/ is git-ignored) from the shared test data and a few
# hand-written requests/replies. Usage: ./seed-corpus.sh [TESTDATA_DIR]
set -euo pipefail
cd "$(dirname "$0")"
td="${1:-${FRESHET_TESTDATA:-../../../shared/testdata}}"
mkdir -p corpus/http_response corpus/udp_packets corpus/server_request
cp "$td"/rqbit/librqbit/resources/test/udp-tracker-announce-response.bin corpus/udp_packets/
cp "$td"/libtorrent/misc/*.gz corpus/http_response/
printf 'd8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e' > corpus/http_response/announce
printf 'd5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei2e10:downloadedi7e10:incompletei1eeee' > corpus/http_response/scrape
printf 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' > corpus/http_response/head
printf '\x00\x00\x04\x17\x27\x10\x19\x80\x00\x00\x00\x00\x01\x02\x03\x04' > corpus/server_request/connect
printf '/announce?info_hash=%%124Vx%%9A%%BC%%DE%%F1%%23Eg%%89%%AB%%CD%%EF%%124Vx%%9A&peer_id=-TR3000-abcdefghijkl&port=51413&left=3&compact=1&event=started' > corpus/server_request/announce
cp corpus/server_request/connect corpus/udp_packets/connect
echo "seeded: $(find corpus -type f | wc -l) files"

#!/bin/sh
# Seeds fuzz/corpus/decode from the shared test data (.torrent files and the anacrolix Go
# fuzz regressions) plus a few hand-written edge cases. Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../../../shared/testdata"
out="$here/corpus/decode"
mkdir -p "$out"
find "$data" -name '*.torrent' -print0 | xargs -0 -I{} sh -c 'cp "$1" "$2/seed-$(sha1sum < "$1" | cut -c1-16)"' _ {} "$out"
find "$data/anacrolix-torrent/bencode/testdata/fuzz-raw" -name '*.bin' -print0 |
    xargs -0 -I{} sh -c 'cp "$1" "$2/seed-$(sha1sum < "$1" | cut -c1-16)"' _ {} "$out"
n=0
for s in 'i0e' 'i-9223372036854775808e' '0:' 'le' 'de' 'd1:ai1e1:bl1:xee' 'd1:bi1e1:ai2ee' 'lllleeee'; do
    n=$((n + 1))
    printf '%s' "$s" > "$out/hand-$n"
done
echo "$(ls "$out" | wc -l) seeds in $out"

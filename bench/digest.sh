#!/usr/bin/env bash
# bench/digest.sh - digest throughput against its physical limit and peers (not part of ctest).
# Builds a fully allocated dynamic VHD (qemu-img + qemu-io, 2 GiB by default), exports it raw
# once, then takes the median of RUNS timings of:
#   vhdfold digest (flat), vhdfold digest --mode tree,
#   openssl dgst -sha256 RAW (the SHA-256 speed limit on a warm page cache),
#   7zz x -so FILE | sha256sum (an independent reader),
# and prints the ratios (goal: flat >= 0.95 x openssl). Everything lives in a mktemp folder
# that is removed on exit.
# usage: bench/digest.sh [--size 2G] [--runs 5] [--vhdfold PATH]
set -euo pipefail

SIZE=2G
RUNS=5
HERE=$(cd "$(dirname "$0")" && pwd)
VHDFOLD=${VHDFOLD:-}
while [ $# -gt 0 ]; do
    case $1 in
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --vhdfold) VHDFOLD=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "digest.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
if [ -z "$VHDFOLD" ]; then
    for cand in "$HERE"/../build*/cli/vhdfold; do
        [ -x "$cand" ] && VHDFOLD=$cand && break
    done
fi
[ -n "$VHDFOLD" ] && [ -x "$VHDFOLD" ] || { echo "digest.sh: build vhdfold or pass --vhdfold" >&2; exit 2; }
for tool in qemu-img qemu-io openssl 7zz sha256sum; do
    command -v "$tool" >/dev/null || { echo "digest.sh: '$tool' is needed" >&2; exit 2; }
done
. "$HERE/bench_lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
IMG=$T/full.vhd
RAW=$T/full.raw

echo "building a fully allocated $SIZE dynamic VHD in $T ..."
qemu-img create -q -f vpc -o subformat=dynamic "$IMG" "$SIZE"
vsize=$(qemu-img info -f vpc --output=json "$IMG" | sed -n 's/.*"virtual-size": *\([0-9]*\).*/\1/p')
step=$((256 * 1024 * 1024))
for ((off = 0; off < vsize; off += step)); do
    len=$((vsize - off < step ? vsize - off : step))
    qemu-io -f vpc -c "write -P $(((off / step) % 250 + 1)) $off $len" "$IMG" >/dev/null
done
"$VHDFOLD" export "$IMG" "$RAW"
want=$(sha256sum "$RAW" | cut -d' ' -f1)
got=$("$VHDFOLD" digest "$IMG" | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "digest.sh: flat digest $got != sha256sum $want" >&2; exit 1; }
# Warm the page cache for every contender alike.
cat "$IMG" "$RAW" >/dev/null

echo "virtual size $vsize bytes, $RUNS runs each, medians:"
t_flat=$(bench_median "$RUNS" "$VHDFOLD" digest --progress=none "$IMG")
t_tree=$(bench_median "$RUNS" "$VHDFOLD" digest --mode tree --progress=none "$IMG")
t_ossl=$(bench_median "$RUNS" openssl dgst -sha256 "$RAW")
t_7zz=$(bench_median "$RUNS" sh -c '7zz x -so "$1" 2>/dev/null | sha256sum' sh "$IMG")

bench_row "vhdfold digest (flat)" "$t_flat" "$vsize"
bench_row "vhdfold digest --mode tree" "$t_tree" "$vsize"
bench_row "openssl dgst -sha256 RAW" "$t_ossl" "$vsize"
bench_row "7zz x -so | sha256sum" "$t_7zz" "$vsize"
echo
bench_ratio "flat vs openssl (throughput ratio, goal >= 0.95)" "$t_ossl" "$t_flat"
bench_ratio "tree vs flat (speed-up)" "$t_flat" "$t_tree"
bench_ratio "flat vs 7zz | sha256sum" "$t_7zz" "$t_flat"

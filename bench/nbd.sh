#!/usr/bin/env bash
# bench/nbd.sh - the nbdkit plugin's read throughput against vhdfold export (not part of
# ctest). Generates one VHDX chain (2 GiB, depth 3, density 0.5 by default), then takes the
# median of RUNS timings of:
#   vhdfold export TOP OUT            (the library walking the chain, writing a sparse raw file)
#   nbdcopy NBD-URI OUT               (the same bytes through nbdkit + the plugin on a Unix socket)
#   nbdcopy --connections=4 NBD-URI OUT
# and prints the ratios (export time / nbdcopy time: 1.00 = as fast as export). Everything
# lives in a mktemp folder that is removed on exit.
# usage: bench/nbd.sh [--size 2G] [--runs 3] [--density 0.5] [--format vhdx|vhd]
#                     [--vhdfold PATH] [--plugin PATH]
set -euo pipefail

SIZE=2G
RUNS=3
DENSITY=0.5
FORMAT=vhdx
HERE=$(cd "$(dirname "$0")" && pwd)
VHDFOLD=${VHDFOLD:-}
PLUGIN=${PLUGIN:-}
while [ $# -gt 0 ]; do
    case $1 in
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --density) DENSITY=$2; shift 2 ;;
    --format) FORMAT=$2; shift 2 ;;
    --vhdfold) VHDFOLD=$2; shift 2 ;;
    --plugin) PLUGIN=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "nbd.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
for cand in "$HERE/../build" "$HERE"/../build-*; do # build/ first: not a sanitizer build
    [ -z "$VHDFOLD" ] && [ -x "$cand/cli/vhdfold" ] && VHDFOLD=$cand/cli/vhdfold
    [ -z "$PLUGIN" ] && [ -f "$cand/plugin/nbdkit-vhdfold-plugin.so" ] &&
        PLUGIN=$cand/plugin/nbdkit-vhdfold-plugin.so
done
[ -n "$VHDFOLD" ] && [ -x "$VHDFOLD" ] || { echo "nbd.sh: build vhdfold or pass --vhdfold" >&2; exit 2; }
[ -n "$PLUGIN" ] && [ -f "$PLUGIN" ] || { echo "nbd.sh: build the plugin or pass --plugin" >&2; exit 2; }
for tool in nbdkit nbdcopy sha256sum; do
    command -v "$tool" >/dev/null || { echo "nbd.sh: '$tool' is needed" >&2; exit 2; }
done
. "$HERE/bench_lib.sh"

T=$(mktemp -d)
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$T"
}
trap cleanup EXIT

"$VHDFOLD" gen --format "$FORMAT" --seed 7 --depth 3 --size "$SIZE" --density "$DENSITY" \
    --profile mixed --progress none "$T/chain" >/dev/null
TOP=$(ls "$T/chain"/*."$FORMAT" | sort | tail -n 1)
BYTES=$(stat -c %s "$TOP")
VSIZE=$("$VHDFOLD" info "$TOP" --json | awk -F'[:,]' '/"virtual_size"/ { printf "%.0f\n", $2; exit }')

nbdkit -f -U "$T/sock" -P "$T/pid" "$PLUGIN" file="$TOP" &
SERVER=$!
for _ in $(seq 1 600); do [ -s "$T/pid" ] && break; sleep 0.05; done
[ -s "$T/pid" ] || { echo "nbd.sh: nbdkit did not start" >&2; exit 1; }
URI="nbd+unix:///?socket=$T/sock"

# One untimed pass of each warms the page cache, and shows both produce the same bytes.
"$VHDFOLD" export "$TOP" "$T/a.raw"
nbdcopy "$URI" "$T/b.raw"
[ "$(sha256sum <"$T/a.raw")" = "$(sha256sum <"$T/b.raw")" ] || { echo "nbd.sh: outputs differ" >&2; exit 1; }
rm -f "$T/a.raw" "$T/b.raw"

export_s=$(bench_median "$RUNS" "$VHDFOLD" export "$TOP" "$T/a.raw")
nbd1_s=$(bench_median "$RUNS" nbdcopy "$URI" "$T/b.raw")
nbd4_s=$(bench_median "$RUNS" nbdcopy --connections=4 "$URI" "$T/c.raw")

echo "nbd.sh: $FORMAT chain, depth 3, density $DENSITY, virtual $VSIZE bytes (top file $BYTES)," \
    "median of $RUNS"
echo "  cpu: $(lscpu | awk -F: '/Model name/ { sub(/^ +/, "", $2); print $2; exit }')," \
    "$(nproc) online"
bench_row "vhdfold export" "$export_s" "$VSIZE"
bench_row "nbdcopy (1 connection)" "$nbd1_s" "$VSIZE"
bench_row "nbdcopy --connections=4" "$nbd4_s" "$VSIZE"
bench_ratio "export / nbdcopy (1 connection)" "$export_s" "$nbd1_s"
bench_ratio "export / nbdcopy --connections=4" "$export_s" "$nbd4_s"

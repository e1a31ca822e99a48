#!/usr/bin/env bash
# bench/merge.sh - merge throughput against cp, and peak memory on a huge sparse chain (not
# part of ctest). Part 1 generates a chain (depth 3, --size, density 0.5), then RUNS times:
# restores a pristine copy (untimed), times 'vhdfold merge TOP BASE', and times 'cp' of the
# merged layer files (+ sync) in the same run; prints medians and the ratio
# (allocated bytes of the merged layers / second; goal: merge >= 0.8 x cp).
# Part 2 generates a 2040 GiB (the VHD maximum; "2 TiB") sparse chain of depth 16 and reports
# the peak RSS (goal < 64 MiB) and time of merging its top into its base, without --verify and
# with --verify=tree, next to a 1 GiB depth-16 chain holding a similar amount of data (time
# per merged byte, goal <= 1.2 x: cost follows data, not the virtual size).
# Everything lives in a mktemp folder removed on exit.
# usage: bench/merge.sh [--size 1G] [--runs 5] [--vhdfold PATH] [--skip-huge]
set -euo pipefail
SIZE=1G
RUNS=5
HUGE=1
HERE=$(cd "$(dirname "$0")" && pwd)
VHDFOLD=${VHDFOLD:-}
while [ $# -gt 0 ]; do
    case $1 in
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --vhdfold) VHDFOLD=$2; shift 2 ;;
    --skip-huge) HUGE=0; shift ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "merge.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
if [ -z "$VHDFOLD" ]; then
    for cand in "$HERE"/../build*/cli/vhdfold; do
        [ -x "$cand" ] && VHDFOLD=$cand && break
    done
fi
[ -x "${VHDFOLD:-}" ] || { echo "merge.sh: build vhdfold first or pass --vhdfold" >&2; exit 2; }
# shellcheck source=bench/bench_lib.sh
. "$HERE/bench_lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "vhdfold merge benchmark ($VHDFOLD), $RUNS runs, medians"
"$VHDFOLD" gen --seed 1 --depth 3 --size "$SIZE" --base dynamic --density 0.5 \
    --progress none "$tmp/orig" >/dev/null
layers=("01-diff.vhd" "02-diff.vhd" "03-diff.vhd")
bytes=0
for f in "${layers[@]}"; do bytes=$((bytes + $(stat -c %s "$tmp/orig/$f"))); done

merge_once() {
    rm -rf "$tmp/work" && cp -r "$tmp/orig" "$tmp/work" && sync
    local t0 t1
    t0=$(date +%s.%N)
    "$VHDFOLD" merge "$tmp/work/03-diff.vhd" "$tmp/work/00-base.vhd" --progress=none >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
cp_once() {
    rm -rf "$tmp/cp" && mkdir "$tmp/cp" && sync
    local t0 t1
    t0=$(date +%s.%N)
    (cd "$tmp/orig" && cp "${layers[@]}" "$tmp/cp/") && sync
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
median() { sort -n | awk '{ v[NR] = $1 } END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_times=() c_times=()
for ((i = 0; i < RUNS; i++)); do
    m_times+=("$(merge_once)")
    c_times+=("$(cp_once)")
done
m=$(printf '%s\n' "${m_times[@]}" | median)
c=$(printf '%s\n' "${c_times[@]}" | median)
echo "merged layers: $bytes bytes allocated (3 levels of a $SIZE chain)"
bench_row "vhdfold merge" "$m" "$bytes"
bench_row "cp + sync of the same files" "$c" "$bytes"
bench_ratio "merge throughput / cp throughput (goal >= 0.8)" "$c" "$m"

if [ "$HUGE" = 1 ]; then
    # Cost follows data: the same merge on a 1 GiB chain of depth 16 whose levels hold a
    # similar amount of data is the yardstick. The generator cannot place the very same data
    # in both, so times are compared per merged byte and per DESTINATION block touched (the
    # copy's cost is its writes and block allocations; goal: the 2040 GiB merge within 1.2 x).
    echo "peak memory and time, 2040 GiB sparse chain of depth 16 vs 1 GiB with similar data"
    gen_huge() { "$VHDFOLD" gen --seed 2 --depth 16 --size 2040G --base dynamic \
        --density 0.00002 --progress none "$tmp/huge" >/dev/null; }
    gen_small() { "$VHDFOLD" gen --seed 2 --depth 16 --size 1G --base dynamic \
        --density 0.07 --progress none "$tmp/small" >/dev/null; }
    measure() { # dir verify -> "rss_kib wall_s bytes_merged blocks_merged"
        rm -f "$tmp/time.txt"
        local extra=()
        [ "$2" != none ] && extra=(--verify="$2")
        /usr/bin/time -v -o "$tmp/time.txt" "$VHDFOLD" merge --json "$1/16-diff.vhd" \
            "$1/00-base.vhd" --progress=none "${extra[@]}" >"$tmp/merge.json"
        local rss wall bytes blocks
        rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$tmp/time.txt")
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
            for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$tmp/time.txt")
        read -r bytes blocks < <(python3 -c 'import json,sys; o = json.load(open(sys.argv[1]))
print(o["bytes_merged"], o["blocks_merged"])' "$tmp/merge.json")
        echo "$rss $wall $bytes $blocks"
    }
    gen_huge
    gen_small
    mv "$tmp/huge" "$tmp/huge.orig"
    mv "$tmp/small" "$tmp/small.orig"
    HRUNS=$((RUNS < 3 ? RUNS : 3))
    for v in none tree; do
        hw=() sw=()
        for ((i = 0; i < HRUNS; i++)); do
            rm -rf "$tmp/huge" "$tmp/small"
            cp -r --sparse=always "$tmp/huge.orig" "$tmp/huge"
            cp -r --sparse=always "$tmp/small.orig" "$tmp/small"
            sync
            read -r rss wall bytes blocks < <(measure "$tmp/huge" "$v")
            read -r srss swall sbytes sblocks < <(measure "$tmp/small" "$v")
            hw+=("$wall")
            sw+=("$swall")
        done
        wall=$(printf '%s\n' "${hw[@]}" | median)
        swall=$(printf '%s\n' "${sw[@]}" | median)
        printf '  2040 GiB, --verify=%-4s peak RSS %6.1f MiB, %6.2f s, %d bytes, %d blocks (goal < 64 MiB)\n' \
            "$v" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$wall" "$bytes" "$blocks"
        printf '  1 GiB,    --verify=%-4s peak RSS %6.1f MiB, %6.2f s, %d bytes, %d blocks\n' \
            "$v" "$(awk -v k="$srss" 'BEGIN { print k / 1024 }')" "$swall" "$sbytes" "$sblocks"
        awk -v a="$wall" -v b="$bytes" -v c="$swall" -v d="$sbytes" -v e="$blocks" -v f="$sblocks" 'BEGIN {
            if (c > 0 && b > 0 && e > 0)
                printf "  2040 GiB / 1 GiB: time per merged byte %.2f, per block %.2f (goal <= 1.2)\n",
                    (a / b) / (c / d), (a / e) / (c / f) }'
    done
fi

#!/usr/bin/env bash
# bench/gen.sh - generation speed against the physical limit: `vhdfold gen` writing a dense
# single-level chain of N MiB (whole 2 MiB blocks, manifest digests included) versus
# `dd if=/dev/zero bs=1M count=N conv=fsync` writing the same number of bytes to the same file
# system. Medians of RUNS runs each; prints the speed ratio gen/dd (the goal is >= 0.5).
# Usage: bench/gen.sh [VHDFOLD]   Environment: MIB (default 512), RUNS (default 5),
# BENCH_DIR (where to write; default a fresh mktemp -d). Not part of ctest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
vhdfold=${1:-${VHDFOLD:-$here/build/cli/vhdfold}}
mib=${MIB:-512}
runs=${RUNS:-5}
if [ -n "${BENCH_DIR:-}" ]; then
  dir=$(mktemp -d "$BENCH_DIR/vf-bench-gen.XXXXXX")
else
  dir=$(mktemp -d -t vf-bench-gen.XXXXXX)
fi
trap 'rm -rf "$dir"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

gen_times=() dd_times=()
for i in $(seq "$runs"); do
  t0=$(now)
  "$vhdfold" gen --seed "$i" --size "${mib}M" --depth 0 --density 1 --profile blocks \
    --base dynamic --progress none "$dir/g$i" >/dev/null
  t1=$(now)
  gen_times+=("$(echo "$t1 - $t0" | bc -l)")
  written=$(jq '[.levels[].written_bytes] | add' "$dir/g$i/manifest.json")
  rm -rf "$dir/g$i"

  t0=$(now)
  dd if=/dev/zero of="$dir/dd$i" bs=1M count="$mib" conv=fsync status=none
  t1=$(now)
  dd_times+=("$(echo "$t1 - $t0" | bc -l)")
  rm -f "$dir/dd$i"
done

g=$(printf '%s\n' "${gen_times[@]}" | median)
d=$(printf '%s\n' "${dd_times[@]}" | median)
mb=$(echo "$mib * 1048576 / 1000000" | bc -l)
printf 'bytes per run: gen %s (data written), dd %s\n' "$written" "$((mib * 1048576))"
printf 'gen: median %.3f s (%.0f MB/s)   dd: median %.3f s (%.0f MB/s)   runs %d\n' \
  "$g" "$(echo "$mb / $g" | bc -l)" "$d" "$(echo "$mb / $d" | bc -l)" "$runs"
ratio=$(echo "$d / $g" | bc -l)
printf 'speed ratio gen/dd: %.2f (goal >= 0.50): %s\n' "$ratio" \
  "$(echo "$ratio >= 0.5" | bc -l | sed 's/1/ok/; s/0/BELOW GOAL/')"

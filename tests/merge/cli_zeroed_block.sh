#!/usr/bin/env bash
# tests/merge/cli_zeroed_block.sh - a VHDX merge where a merged level trims a block that holds
# data in DESTINATION (gen seed 1: level 1's write 3 is a whole-block trim over the base's
# data at 3 MiB): the zeros go in place, so the block keeps its file space. After the merge
# (one batch, and batches of 1 MiB that cut the run elsewhere) check reports 0 warnings (no
# orphaned space), DESTINATION is 7 MiB (header area, log and regions 4 MiB, the base's two
# blocks and the one block the merge adds) with 3 allocated blocks, and its view is the
# manifest's. docs/merge.md "Space a merge frees".
# Env (from ctest): VHDFOLD = the built CLI. Layer: tests (merger, format/vhdx).
set -euo pipefail
V=${VHDFOLD:?VHDFOLD must name the built vhdfold}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
G=(--format vhdx --seed 1 --size 4M --block-size 1M --depth 1 --density 0.5 --base dynamic
  --sector-size 512 --progress none)

# the chain has what the test is about: a trim in level 1 over a block the base wrote
"$V" gen "${G[@]}" --list-writes "$tmp/list" >"$tmp/writes.json"
python3 - "$tmp/writes.json" <<'PY' || fail "seed 1 no longer trims a block holding base data"
import json, sys
w = json.load(open(sys.argv[1]))["writes"]
base = [(x["offset"], x["offset"] + x["length"]) for x in w if x["level"] == 0]
trims = [x for x in w if x["level"] == 1 and x["trim"]]
assert any(b0 < t["offset"] + t["length"] and t["offset"] < b1 for t in trims for b0, b1 in base)
PY

for batch in 256M 1M; do
  d="$tmp/b$batch"
  "$V" gen "${G[@]}" "$d" >/dev/null
  want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][1]["sha256"])' \
    "$d/manifest.json")
  "$V" merge -q --batch-size "$batch" "$d/01-diff.vhdx" >/dev/null ||
    fail "batch $batch: merge failed"
  out=$("$V" check "$d/00-base.vhdx" 2>&1) || fail "batch $batch: check exit $?"
  case "$out" in
  *"0 errors, 0 warnings"*) ;;
  *) fail "batch $batch: check reports: $out" ;;
  esac
  size=$(stat -c %s "$d/00-base.vhdx")
  [ "$size" = 7340032 ] || fail "batch $batch: DESTINATION is $size bytes, not 7340032"
  alloc=$("$V" info --json "$d/00-base.vhdx" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["levels"][0]["allocated_blocks"])')
  [ "$alloc" = 3 ] || fail "batch $batch: $alloc allocated blocks, not 3"
  got=$("$V" digest -q "$d/00-base.vhdx" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "batch $batch: the view changed ($got, manifest $want)"
done

[ "$fails" -eq 0 ] || exit 1
echo "ok: a trimmed block of DESTINATION keeps its space (0 warnings, 7 MiB, 3 blocks)"

#!/usr/bin/env bash
# tests/merge/cli_zeroed_block.sh - a VHDX merge where a merged level trims a block that holds
# data in DESTINATION (gen seed 1: level 1's write 3 is a whole-block trim over the base's
# data at 3 MiB): the zeros go in place, so the block keeps its file space. After the merge
# (one batch, and batches of 1 MiB that cut the run elsewhere) check reports 0 warnings (no
# orphaned space), DESTINATION is 7 MiB (header area, log and regions 4 MiB, the base's two
# blocks and the one block the merge adds) with 3 allocated blocks, its view is the
# manifest's, and the trimmed block's bytes in the file are a hole: the zeros were punched
# (vf_image_zero_in_place), not written (skipped with a message where the file system has no
# holes). docs/merge.md "Space a merge frees".
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

# Can this file system punch holes? (fallocate -p on a written file, then SEEK_DATA.)
holes=1
head -c 2097152 /dev/urandom >"$tmp/probe"
if ! fallocate -p -o 0 -l 1048576 "$tmp/probe" 2>/dev/null ||
  ! python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY)
sys.exit(os.lseek(fd, 0, os.SEEK_DATA) < 1048576)' "$tmp/probe"; then
  holes=0
  echo "SKIP (the trimmed block is a hole): this file system does not punch holes"
fi
rm -f "$tmp/probe"

# hole_at FILE VOFF LEN: the file bytes behind [VOFF, VOFF+LEN) of FILE's own view (vhdfold
# map) hold no data (SEEK_DATA finds none there).
hole_at() {
  "$V" map --json "$1" | python3 -c 'import json, os, sys
voff, n, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for e in json.load(sys.stdin)["extents"]:
    if e["depth"] == 0 and e["data"] and e["start"] <= voff < e["start"] + e["length"]:
        off = e["offset"] + voff - e["start"]
        fd = os.open(name, os.O_RDONLY)
        try:
            at = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            at = off + n  # ENXIO: nothing but a hole from off on
        sys.exit(0 if at >= off + n else 1)
sys.exit(2)  # not a block of the file: nothing to look at' "$2" "$3" "$1"
}

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
  if [ "$holes" = 1 ]; then
    rc=0
    hole_at "$d/00-base.vhdx" 3145728 1048576 || rc=$?
    [ "$rc" = 0 ] || fail "batch $batch: the trimmed block at 3 MiB is not a hole in the file" \
      "(zeros written, not punched; lookup status $rc)"
  fi
done

[ "$fails" -eq 0 ] || exit 1
echo "ok: a trimmed block of DESTINATION keeps its space (0 warnings, 7 MiB, 3 blocks, punched)"

#!/usr/bin/env bash
# tests/merge/cli_tight_locator.sh - VHDX merges whose level k-1 has no slack after its parent
# locator (tests/tools/tight_locator.py moves the item to the metadata region's end): the
# merge moves the grown locator into free space of the region through the log and succeeds,
# checked with our digest, 7-Zip ('7zz x -so DEST | sha256sum') and check against the
# manifest; a region with no free run left is refused (32770, exit 3) with its message,
# every file byte-identical and no journal left.
# Env (from ctest): VHDFOLD = the built CLI, VF_SOURCE_DIR. Layer: tests (format/vhdx, merger).
set -euo pipefail
V=${VHDFOLD:?VHDFOLD must name the built vhdfold}
TIGHT="${VF_SOURCE_DIR:?}/tests/tools/tight_locator.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
command -v 7zz >/dev/null || { echo "FAIL: 7zz is missing (ci/bootstrap installs the 7zip package)"; exit 1; }
manifest_sha() { # manifest level-index -> sha256
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][int(sys.argv[2])]["sha256"])' "$1" "$2"
}
gen() { # dir seed depth base
  "$V" gen --format vhdx --seed "$2" --depth "$3" --base "$4" --size 8M --block-size 1M \
    --density 0.4 --progress none "$1" >/dev/null
}

cases=0
for spec in "3 dynamic 0" "3 fixed 1" "2 dynamic 0" "4 dynamic 2"; do
  set -- $spec
  depth=$1 base=$2 lvl=$3
  d="$tmp/t-$depth-$base-$lvl"
  gen "$d" $((500 + depth + lvl)) "$depth" "$base"
  for ((i = 1; i <= depth; i++)); do
    f=$(printf '%s/%02d-diff.vhdx' "$d" $i)
    timeout 60 python3 "$TIGHT" "$f" >/dev/null
    [ "$("$V" digest "$f" | cut -d' ' -f1)" = "$(manifest_sha "$d/manifest.json" $i)" ] ||
      fail "tight_locator.py changed the view of $f"
  done
  top=$(printf '%s/%02d-diff.vhdx' "$d" "$depth")
  if [ "$lvl" = 0 ]; then dst="$d/00-base.vhdx"; else dst=$(printf '%s/%02d-diff.vhdx' "$d" "$lvl"); fi
  above=$(printf '%s/%02d-diff.vhdx' "$d" $((lvl + 1)))
  want=$(manifest_sha "$d/manifest.json" "$depth")
  if ! timeout 120 "$V" merge "$top" "$dst" --verify --progress=none >"$tmp/out" 2>"$tmp/err"; then
    fail "depth $depth ($base) into level $lvl with tight locators: $(cat "$tmp/err")"; continue
  fi
  ours=$("$V" digest "$dst" | cut -d' ' -f1)
  [ "$ours" = "$want" ] || fail "depth $depth into level $lvl: vhdfold digest $ours, manifest $want"
  if [ "$lvl" = 0 ]; then # 7-Zip reads the merged base (it follows no VHDX parents)
    got7=$(7zz x -so "$dst" 2>/dev/null | sha256sum | cut -d' ' -f1)
    [ "$got7" = "$want" ] || fail "depth $depth ($base) into level $lvl: 7zz $got7, manifest $want"
  fi
  "$V" check "$dst" >/dev/null 2>&1 || fail "depth $depth into level $lvl: check finds problems in DESTINATION"
  # level k-1 (its locator moved) still parses, and shows the grown locator's second linkage
  "$V" info "$above" >"$tmp/info" 2>/dev/null || true
  grep -q "^parent identity 2:" <<<"$(cat "$tmp/info")" || fail "level $((lvl + 1)): no parent_linkage2 after the merge"
  [ ! -e "$dst.vfmerge" ] || fail "journal left behind"
  cases=$((cases + 1))
done
echo "# $cases VHDX merges with tight locators checked with 7zz, vhdfold digest and check"

# the region itself full: refused before anything is written
d="$tmp/full"
gen "$d" 611 2 dynamic
timeout 60 python3 "$TIGHT" --fill "$d/01-diff.vhdx" >/dev/null
before=$(cd "$d" && sha256sum *)
rc=0
timeout 120 "$V" merge "$d/02-diff.vhdx" "$d/00-base.vhdx" --progress=none >"$tmp/out" 2>"$tmp/err" || rc=$?
[ "$rc" = 3 ] || fail "full metadata region: exit $rc, want 3"
grep -q "metadata region of '$d/01-diff.vhdx' is full: the parent locator needs [0-9]* bytes, 0 free" <<<"$(cat "$tmp/err")" ||
  fail "full metadata region: message: $(cat "$tmp/err")"
grep -q "status 32770" <<<"$(cat "$tmp/err")" || fail "full metadata region: not 32770: $(cat "$tmp/err")"
[ "$(cd "$d" && sha256sum *)" = "$before" ] || fail "a refused merge (full metadata region) changed a file"
[ ! -e "$d/00-base.vhdx.vfmerge" ] || fail "a refused merge left its journal"

[ $fails = 0 ] || { echo "$fails failures"; exit 1; }
echo "ok"

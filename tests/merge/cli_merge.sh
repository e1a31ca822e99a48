#!/usr/bin/env bash
# tests/merge/cli_merge.sh - 'vhdfold merge' through the CLI on generated chains in real
# files: every ancestor as DESTINATION for a few depths, profiles and base types, checked
# against the manifest with our digest AND with 7-Zip ('7zz x -so DEST | sha256sum', which
# follows DESTINATION's own parents); JSON shape, exit codes, --dry-run writing nothing,
# --progress=plain lines, a held lock (exit 4, nothing written) and a corrupt level (exit 3);
# VHDX chains cross-checked with 7-Zip and, for a dynamic base, qemu-img check.
# Env (from ctest): VHDFOLD = the built CLI. Layer: tests (merger, cli).
set -euo pipefail
V=${VHDFOLD:?VHDFOLD must name the built vhdfold}
tmp=$(mktemp -d)
holder=""
cleanup() {
  if [ -n "$holder" ]; then kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
have7z=1
command -v 7zz >/dev/null || have7z=0
[ $have7z = 1 ] || { echo "FAIL: 7zz is missing (ci/bootstrap installs the 7zip package)"; exit 1; }

manifest_sha() { # manifest level-index -> sha256
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][int(sys.argv[2])]["sha256"])' "$1" "$2"
}
gen() { # dir seed depth base profile
  "$V" gen --seed "$2" --depth "$3" --base "$4" --profile "$5" --size 6M --block-size 512K \
    --density 0.4 --progress none "$1" >/dev/null
}

cases=0
for spec in "1 fixed mixed" "2 dynamic sector" "3 fixed blocks" "4 dynamic aligned"; do
  set -- $spec
  depth=$1 base=$2 prof=$3
  for ((k = 1; k <= depth; k++)); do
    d="$tmp/c-$depth-$k"
    gen "$d" $((100 + depth)) "$depth" "$base" "$prof"
    top=$(printf '%s/%02d-diff.vhd' "$d" "$depth")
    lvl=$((depth - k))
    if [ $lvl = 0 ]; then dst="$d/00-base.vhd"; else dst=$(printf '%s/%02d-diff.vhd' "$d" $lvl); fi
    want=$(manifest_sha "$d/manifest.json" "$depth")
    if ! "$V" merge "$top" "$dst" --verify=flat --progress=none >"$tmp/out" 2>"$tmp/err"; then
      fail "depth $depth into level $lvl: $(cat "$tmp/err")"; continue
    fi
    got7=$(7zz x -so "$dst" 2>/dev/null | sha256sum | cut -d' ' -f1)
    [ "$got7" = "$want" ] || fail "depth $depth ($base, $prof) into level $lvl: 7zz $got7, manifest $want"
    ours=$("$V" digest "$dst" | cut -d' ' -f1)
    [ "$ours" = "$want" ] || fail "depth $depth into level $lvl: vhdfold digest $ours, manifest $want"
    grep -q "verified (flat): $want" "$tmp/out" || fail "depth $depth into level $lvl: summary lacks the verified digest"
    [ ! -e "$dst.vfmerge" ] || fail "journal left behind"
    if "$V" digest "$top" >/dev/null 2>&1; then fail "SOURCE still opens after the merge"; fi
    cases=$((cases + 1))
  done
done
echo "# $cases merges checked with 7zz and vhdfold digest"

# VHDX chains (issue 6): into the base and into a differencing level; 7-Zip and our digest
# must agree with the manifest, and qemu-img (which reads non-differencing VHDX) must find a
# dynamic base clean after the merge. VHDX files align to 1 MiB: small sizes, 1 MiB blocks.
command -v qemu-img >/dev/null || { echo "FAIL: qemu-img is missing (ci/bootstrap installs qemu-utils)"; exit 1; }
xcases=0
for spec in "3 dynamic mixed 0" "3 fixed sector 1" "2 dynamic blocks 0"; do
  set -- $spec
  depth=$1 base=$2 prof=$3 lvl=$4
  d="$tmp/x-$depth-$base-$lvl"
  "$V" gen --format vhdx --seed $((300 + depth)) --depth "$depth" --base "$base" --profile "$prof" \
    --size 8M --block-size 1M --density 0.4 --progress none "$d" >/dev/null
  top=$(printf '%s/%02d-diff.vhdx' "$d" "$depth")
  if [ "$lvl" = 0 ]; then dst="$d/00-base.vhdx"; else dst=$(printf '%s/%02d-diff.vhdx' "$d" "$lvl"); fi
  want=$(manifest_sha "$d/manifest.json" "$depth")
  if ! "$V" merge "$top" "$dst" --verify --remove-merged --progress=none >"$tmp/out" 2>"$tmp/err"; then
    fail "vhdx depth $depth into level $lvl: $(cat "$tmp/err")"; continue
  fi
  got7=$(7zz x -so "$dst" 2>/dev/null | sha256sum | cut -d' ' -f1)
  [ "$got7" = "$want" ] || fail "vhdx depth $depth ($base, $prof) into level $lvl: 7zz $got7, manifest $want"
  ours=$("$V" digest "$dst" | cut -d' ' -f1)
  [ "$ours" = "$want" ] || fail "vhdx depth $depth into level $lvl: vhdfold digest $ours, manifest $want"
  grep -q "verified (tree)" "$tmp/out" || fail "vhdx depth $depth into level $lvl: no tree verification in the summary"
  "$V" check "$dst" >/dev/null 2>&1 || fail "vhdx depth $depth into level $lvl: vhdfold check finds problems"
  if [ "$base" = dynamic ] && [ "$lvl" = 0 ]; then
    qemu-img check -f vhdx "$dst" >"$tmp/qc" 2>&1 || fail "vhdx: qemu-img check on the merged base: $(cat "$tmp/qc")"
  fi
  [ ! -e "$top" ] || fail "vhdx: --remove-merged left SOURCE"
  [ ! -e "$dst.vfmerge" ] || fail "vhdx: journal left behind"
  xcases=$((xcases + 1))
done
echo "# $xcases VHDX merges checked with 7zz, vhdfold digest/check and qemu-img check"

# JSON, progress lines, exit codes
d="$tmp/j"; gen "$d" 7 3 dynamic mixed
sum_before=$(cd "$d" && sha256sum *.vhd)
"$V" merge "$d/03-diff.vhd" "$d/00-base.vhd" --dry-run >"$tmp/plan"
grep -q "nothing written" "$tmp/plan" || fail "dry run printed no plan"
grep -q "files that become invalid: '$d/03-diff.vhd' '$d/02-diff.vhd' '$d/01-diff.vhd'" "$tmp/plan" || fail "dry run lacks the invalidated files"
[ "$(cd "$d" && sha256sum *.vhd)" = "$sum_before" ] || fail "--dry-run changed a file"
[ ! -e "$d/00-base.vhd.vfmerge" ] || fail "--dry-run created a journal"

set +e
"$V" merge "$d/01-diff.vhd" "$d/03-diff.vhd" --json >"$tmp/json" 2>"$tmp/err"; rc=$?
set -e
[ $rc = 2 ] || fail "not an ancestor: exit $rc, want 2"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["merge_status"]==32773 and o["merge_status_name"]=="invalid parameter" and o["status"]==-1 and o["exit"]==2 and o["error"]["name"]=="VF_E_INVAL", o' "$tmp/json" || fail "not-an-ancestor JSON"
grep -q "not an ancestor" "$tmp/err" || fail "not-an-ancestor message: $(cat "$tmp/err")"

# a lock held by another process: in use, exit 4, nothing written
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"rb"); fcntl.lockf(f, fcntl.LOCK_SH); open(sys.argv[2],"w").close(); time.sleep(30)' "$d/00-base.vhd" "$tmp/locked" &
holder=$!
for _ in $(seq 100); do [ -e "$tmp/locked" ] && break; sleep 0.05; done
set +e
"$V" merge "$d/03-diff.vhd" "$d/00-base.vhd" --json >"$tmp/json" 2>"$tmp/err"; rc=$?
set -e
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=""
[ $rc = 4 ] || fail "held lock: exit $rc, want 4 ($(cat "$tmp/err"))"
python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); assert o["merge_status"]==32774 and o["error"]["name"]=="VF_E_BUSY" and o["exit"]==4, o' "$tmp/json" || fail "held lock: status is not 32774"
[ "$(cd "$d" && sha256sum *.vhd)" = "$sum_before" ] || fail "a refused merge (lock) changed a file"
[ ! -e "$d/00-base.vhd.vfmerge" ] || fail "a refused merge (lock) created a journal"

# a read-only DESTINATION (permissions do not bind root; test_merge covers that case there)
if [ "$(id -u)" != 0 ]; then
  chmod a-w "$d/00-base.vhd"
  set +e; "$V" merge "$d/03-diff.vhd" "$d/00-base.vhd" --json >"$tmp/json" 2>/dev/null; rc=$?; set -e
  chmod u+w "$d/00-base.vhd"
  [ $rc = 4 ] || fail "read-only destination: exit $rc, want 4"
  python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["merge_status"]==32769' "$tmp/json" || fail "read-only: status"
else
  echo "# read-only DESTINATION: not checkable as root here; covered by test_merge (deny fs)"
fi

# the real merge, with plain progress and JSON
"$V" merge "$d/03-diff.vhd" "$d/00-base.vhd" --verify --json --progress=plain >"$tmp/json" 2>"$tmp/err" || fail "merge: $(cat "$tmp/err")"
grep -q "^100% completed$" "$tmp/err" || fail "--progress=plain printed no '100% completed' line"
python3 - "$tmp/json" <<'PY' || fail "merge JSON shape"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["schema"] == 2 and o["command"] == "merge" and o["status"] == 0 and o["exit"] == 0, o
assert o["error"] is None and o["merge_status"] == 0 and o["merge_status_name"] == "completed", o
assert [l["level"] for l in o["layers"]] == [0, 1, 2], o["layers"]
for key in ("bytes_merged", "blocks_merged", "seconds", "digest_before", "digest_after", "layers"):
    assert key in o, key
assert o["digest_before"] == o["digest_after"] and o["verify"] == "tree"
assert len(o["layers"]) == 3
PY

# a corrupt level anywhere: exit 3, nothing written
d="$tmp/k"; gen "$d" 9 3 dynamic mixed
printf 'X' | dd of="$d/02-diff.vhd" bs=1 seek=512 conv=notrunc status=none
sum_before=$(cd "$d" && sha256sum *.vhd)
set +e; "$V" merge "$d/03-diff.vhd" "$d/00-base.vhd" 2>"$tmp/err"; rc=$?; set -e
[ $rc = 3 ] || fail "corrupt intermediate: exit $rc, want 3 ($(cat "$tmp/err"))"
grep -q "02-diff.vhd" "$tmp/err" || fail "corrupt intermediate: the message does not name the file"
[ "$(cd "$d" && sha256sum *.vhd)" = "$sum_before" ] || fail "a refused merge (corrupt) changed a file"

if [ $fails -ne 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "cli_merge: all checks passed"

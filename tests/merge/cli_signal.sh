#!/usr/bin/env bash
# tests/merge/cli_signal.sh - SIGINT/SIGTERM during 'vhdfold merge' (issue 15 item 1): a
# generated chain merged in 1 MiB batches is signalled at several instants (during the digest
# before, early, midway and late in the copy, during the digest after, and twice in a row);
# each run must print the one "interrupted at N% (X of Y bytes)" line, exit 4, keep the
# journal once data was written, and the same command run again must finish with the digest
# an uninterrupted merge gives, the same file size, and a `check` summary as clean as the
# uninterrupted merge's (no orphaned space from the interrupted batches). The instants are found
# from the --progress=json stream (no sleeps decide what is tested).
# Usage: cli_signal.sh [FORMAT] (vhd or vhdx; default vhd).
# Env (from ctest): VHDFOLD = the built CLI; VF_SIGNAL_MB = chain size in MiB (default 192).
# Layer: tests (merger, cli).
set -euo pipefail
V=${VHDFOLD:?VHDFOLD must name the built vhdfold}
MB=${VF_SIGNAL_MB:-192}
FMT=${1:-vhd}
tmp=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$V" gen --seed 1515 --depth 2 --base dynamic --size "${MB}M" --density 0.6 --progress none \
  --format "$FMT" "$tmp/seed" >/dev/null
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][2]["sha256"])' \
  "$tmp/seed/manifest.json")

# the reference: an uninterrupted merge of the same chain
cp -r "$tmp/seed" "$tmp/ref"
"$V" merge --batch-size 1M --verify --progress=none "$tmp/ref/02-diff.$FMT" "$tmp/ref/00-base.$FMT" \
  >/dev/null || fail "uninterrupted merge"
ref_digest=$("$V" digest "$tmp/ref/00-base.$FMT" | cut -d' ' -f1)
[ "$ref_digest" = "$want" ] || fail "uninterrupted merge: digest $ref_digest, manifest $want"
ref_size=$(stat -c %s "$tmp/ref/00-base.$FMT")
ref_check=$("$V" check "$tmp/ref/00-base.$FMT" 2>&1 | tail -n 1)
ref_check=${ref_check##*: } # the summary without the file name
echo "# uninterrupted: size $ref_size; check: $ref_check"
[[ "$ref_check" == *", 0 errors, 0 warnings" ]] || fail "uninterrupted merge: check says $ref_check"

# wait_for FILE PHASE PCT: until the JSON stream shows PHASE with bytes_done >= PCT% of its
# bytes_total
wait_for() {
  local re='"phase":"([a-z-]+)","bytes_done":([0-9]+),"bytes_total":([0-9]+)' last
  for _ in $(seq 20000); do
    last=$(tail -n 1 "$1" 2>/dev/null || true)
    if [[ "$last" =~ $re ]] && [ "${BASH_REMATCH[1]}" = "$2" ] &&
      [ $((BASH_REMATCH[2] * 100)) -ge $((BASH_REMATCH[3] * $3)) ]; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.005
  done
  return 1
}

# run_case NAME PHASE PCT SIGNALS...: interrupt, check, rerun, compare
run_case() {
  local name=$1 phase=$2 pct=$3
  shift 3
  local d="$tmp/$name"
  cp -r "$tmp/seed" "$d"
  local cmd=("$V" merge --batch-size 1M --verify "$d/02-diff.$FMT" "$d/00-base.$FMT")
  timeout 120 "${cmd[@]}" --progress=json >"$d.out" 2>"$d.err" &
  pid=$!
  if ! wait_for "$d.err" "$phase" "$pct"; then
    wait "$pid" 2>/dev/null || true; pid=""
    fail "$name: the merge ended before reaching $phase at $pct%"; return
  fi
  for sig in "$@"; do kill -"$sig" "$pid" 2>/dev/null || true; done
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ $rc = 4 ] || fail "$name: exit $rc, want 4"
  local line
  line=$(grep '^vhdfold merge: interrupted' "$d.err" || true)
  [[ "$line" =~ ^"vhdfold merge: interrupted at "[0-9]+"% ("[0-9]+" of "[0-9]+" bytes); run the same command again to finish"$ ]] ||
    fail "$name: no interrupted line: $(grep -v '^{' "$d.err")"
  [ "$(grep -c '^vhdfold merge: interrupted' "$d.err")" = 1 ] || fail "$name: the line is not printed once"
  if [ "$phase" = copy ] && [[ "$line" =~ \(([0-9]+)" of "([0-9]+)" bytes" ]]; then
    # stopped at the next batch boundary, within the copy (not at its end)
    [ "${BASH_REMATCH[1]}" -lt "${BASH_REMATCH[2]}" ] || fail "$name: stopped only after the copy: $line"
  fi
  python3 - "$d.err" <<'PY' || fail "$name: the JSON stream does not end in state 8 (Terminated)"
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
assert last["JobState"] == 8 and last["phase"] == "done" and last["ErrorCode"] == 32768, last
PY
  if [ "$phase" = verify-before ]; then
    [ ! -e "$d/00-base.$FMT.vfmerge" ] || fail "$name: a journal, though nothing was written"
    cmp -s "$d/00-base.$FMT" "$tmp/seed/00-base.$FMT" || fail "$name: DESTINATION changed before the copy"
  else
    [ -e "$d/00-base.$FMT.vfmerge" ] || fail "$name: the journal is gone"
  fi
  timeout 120 "${cmd[@]}" --progress=none >"$d.out2" 2>"$d.err2" || fail "$name: rerun: $(cat "$d.err2")"
  [ ! -e "$d/00-base.$FMT.vfmerge" ] || fail "$name: journal left after the rerun"
  local got
  got=$("$V" digest "$d/00-base.$FMT" | cut -d' ' -f1)
  [ "$got" = "$ref_digest" ] || fail "$name: digest $got after the rerun, uninterrupted $ref_digest"
  local size chk
  size=$(stat -c %s "$d/00-base.$FMT")
  chk=$("$V" check "$d/00-base.$FMT" 2>&1 | tail -n 1)
  chk=${chk##*: }
  [ "$size" = "$ref_size" ] || fail "$name: size $size after the rerun, uninterrupted $ref_size"
  [ "$chk" = "$ref_check" ] || fail "$name: check says '$chk', uninterrupted '$ref_check'"
  echo "# $name: ${line#vhdfold merge: }; size after rerun $size; check: $chk"
}

run_case before verify-before 1 INT
run_case early copy 10 INT
run_case middle copy 45 TERM
run_case late copy 80 INT
run_case twice copy 30 INT TERM INT
run_case after verify-after 5 TERM

[ $fails = 0 ] && echo "cli_signal: all cases passed" || { echo "cli_signal: $fails failure(s)"; exit 1; }

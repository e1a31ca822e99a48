#!/usr/bin/env bash
# tests/merge/cli_status.sh - every merge status code the CLI can produce (issue 15 item 6;
# docs/errors.md "Merge status codes"): for each, the situation that gives it, the exit
# status, the JSON "merge_status", "job_state" and "exit" ("status", the library status, is 0
# only on success), and the "(status N, name)" of the message.
# 4096 (job started), 32771 (unknown), 32772 (timeout), 32777 (not available) and 32778 (out
# of memory) cannot be produced from the command line: test_merge_status covers them.
# 32768 from a signal is in cli_signal.sh. Env (from ctest): VHDFOLD = the built CLI.
# Layer: tests (merger, cli).
set -euo pipefail
V=$(realpath "${VHDFOLD:?VHDFOLD must name the built vhdfold}")
tmp=$(mktemp -d)
chmod 755 "$tmp"
holder=""
cleanup() {
  if [ -n "$holder" ]; then kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
gen() { "$V" gen --seed "$2" --depth "${3:-2}" --size 4M --block-size 512K --progress none "$1" >/dev/null; }

# expect NAME STATUS EXIT STATE MERGE-ARGS...: run `merge --json ARGS`, check all four
expect() {
  local name=$1 status=$2 want_rc=$3 state=$4
  shift 4
  local rc=0
  timeout 120 "${RUN[@]}" "$V" merge --json --progress=none "$@" >"$tmp/json" 2>"$tmp/err" || rc=$?
  [ "$rc" = "$want_rc" ] || fail "$name: exit $rc, want $want_rc ($(cat "$tmp/err"))"
  python3 - "$tmp/json" "$status" "$state" "$want_rc" <<'PY' || fail "$name: JSON $(tr -d '\n' <"$tmp/json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["merge_status"] == int(sys.argv[2]) and o["job_state"] == int(sys.argv[3]), o
assert (o["status"] == 0) == (int(sys.argv[2]) == 0) and o["exit"] == int(sys.argv[4]), o
PY
  if [ "$status" != 0 ]; then
    grep -q "(status $status, " "$tmp/err" || fail "$name: message lacks status $status: $(cat "$tmp/err")"
  fi
  echo "# $name: exit $rc, status $status; $(head -c 300 "$tmp/err" | tr '\n' ' ')"
}
RUN=()

# 0 completed (DESTINATION left out: SOURCE's parent)
gen "$tmp/ok" 1
expect "completed" 0 0 7 "$tmp/ok/02-diff.vhd"
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][2]["sha256"])' "$tmp/ok/manifest.json")
got=$("$V" digest "$tmp/ok/01-diff.vhd" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "default DESTINATION: the parent's view $got, SOURCE's was $want"
grep -q "into '$tmp/ok/01-diff.vhd'" "$tmp/json" || python3 - "$tmp/json" "$tmp/ok/01-diff.vhd" <<'PY' || fail "default DESTINATION: JSON does not name the parent"
import json, sys
assert json.load(open(sys.argv[1]))["destination"] == sys.argv[2]
PY

# 32768 failed: a parent of another identity stands where the locator points (exit 3)
gen "$tmp/mis" 2
gen "$tmp/other" 3
cp "$tmp/other/00-base.vhd" "$tmp/mis/00-base.vhd"
expect "failed (parent identity)" 32768 3 10 "$tmp/mis/02-diff.vhd" "$tmp/mis/00-base.vhd"

# 32769 access denied: DESTINATION read-only for the user running the merge
gen "$tmp/ro" 4
chmod 644 "$tmp"/ro/*.vhd
chmod 755 "$tmp/ro"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod 777 "$tmp/ro"
  chmod 666 "$tmp/ro/01-diff.vhd" "$tmp/ro/02-diff.vhd"
  RUN=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  expect "access denied" 32769 4 10 "$tmp/ro/02-diff.vhd" "$tmp/ro/00-base.vhd"
  RUN=()
elif [ "$(id -u)" != 0 ]; then
  chmod a-w "$tmp/ro/00-base.vhd"
  expect "access denied" 32769 4 10 "$tmp/ro/02-diff.vhd" "$tmp/ro/00-base.vhd"
else
  echo "# access denied: root without setpriv cannot be denied; test_merge covers it"
fi

# 32770 not supported: SOURCE is not a differencing disk (named DESTINATION, and left out)
gen "$tmp/ns" 5
expect "not supported" 32770 3 10 "$tmp/ns/00-base.vhd" "$tmp/ns/01-diff.vhd"
expect "not supported (no parent)" 32770 3 10 "$tmp/ns/00-base.vhd"

# 32773 invalid parameter: DESTINATION exists but is no ancestor; SOURCE = DESTINATION
expect "invalid parameter" 32773 2 10 "$tmp/ns/01-diff.vhd" "$tmp/ns/02-diff.vhd"
expect "invalid parameter (same)" 32773 2 10 "$tmp/ns/02-diff.vhd" "$tmp/ns/02-diff.vhd"

# 32774 in use: another process holds a lock on DESTINATION
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"rb"); fcntl.lockf(f, fcntl.LOCK_SH); open(sys.argv[2],"w").close(); time.sleep(60)' "$tmp/ns/00-base.vhd" "$tmp/locked" &
holder=$!
for _ in $(seq 200); do [ -e "$tmp/locked" ] && break; sleep 0.05; done
expect "in use" 32774 4 10 "$tmp/ns/02-diff.vhd" "$tmp/ns/00-base.vhd"
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=""

# 32775 invalid state: --resume without a journal
expect "invalid state" 32775 2 10 --resume "$tmp/ns/02-diff.vhd" "$tmp/ns/00-base.vhd"

# 32776 incorrect data type: SOURCE is not a virtual disk
head -c 1048576 /dev/urandom >"$tmp/junk.vhd"
expect "incorrect data type" 32776 3 10 "$tmp/junk.vhd" "$tmp/ns/00-base.vhd"

# 32779 file not found: SOURCE, DESTINATION, a parent (exit 4 each)
expect "file not found (SOURCE)" 32779 4 10 "$tmp/none.vhd" "$tmp/ns/00-base.vhd"
expect "file not found (DESTINATION)" 32779 4 10 "$tmp/ns/02-diff.vhd" "$tmp/none.vhd"
grep -q "DESTINATION '$tmp/none.vhd' does not exist" "$tmp/err" || fail "missing DESTINATION: message $(cat "$tmp/err")"
gen "$tmp/np" 6
rm "$tmp/np/00-base.vhd"
expect "file not found (parent)" 32779 4 10 "$tmp/np/02-diff.vhd" "$tmp/np/01-diff.vhd"
expect "file not found (parent, default DESTINATION)" 32779 4 10 "$tmp/np/02-diff.vhd"

# usage: SOURCE is required, DESTINATION optional (exit 2, no status: nothing ran)
rc=0; "$V" merge >/dev/null 2>"$tmp/err" || rc=$?
[ $rc = 2 ] || fail "no arguments: exit $rc, want 2"
grep -q "expected SOURCE \[DESTINATION\], got 0 arguments" "$tmp/err" || fail "usage message: $(cat "$tmp/err")"

[ $fails = 0 ] && echo "cli_status: all cases passed" || { echo "cli_status: $fails failure(s)"; exit 1; }

#!/usr/bin/env bash
# nbd_hostile.sh - hostile input and bad use: the plugin refuses a corrupt chain at start
# (nbdkit exits non-zero, the library's message is in nbdkit's log, as vhdfold info reports
# it); bad parameters are refused; verify=flat|tree with digest= serves only the expected
# chain; a client reading past the end gets an error and the server keeps serving; a level
# truncated by another program while verify= hashes it makes nbdkit refuse to start with an
# error, never die of SIGBUS. Run by ctest (tests/nbd.cmake, label nbd).
. "$(dirname "$0")/nbd_lib.sh"

# refused NAME PARAM...: nbdkit must exit non-zero without listening.
refused() {
  local name=$1
  shift
  if serve "$name" "$@"; then fail "$name: nbdkit served: $*"; fi
}

# corrupt NAME PYTHON-STATEMENTS: a copy of the good chain, patched (f is its folder).
corrupt() {
  cp -r "$GOOD" "$T/$1"
  python3 -c "import os; f='$T/$1'
$2"
}

# lib_message TOP: the library's error as the CLI prints it (TOP is absolute, as nbdkit's
# file= becomes, so the paths in both messages are the same).
lib_message() {
  local msg
  msg=$("$VHDFOLD" info "$1" 2>&1 >/dev/null | tail -n 1)
  [ -n "$msg" ] || fail "vhdfold info found nothing wrong with $1"
  echo "${msg#vhdfold: }"
}

expect_corrupt_refused() { # NAME TOP
  local msg
  msg=$(lib_message "$2")
  refused "$1" file="$2"
  grep -q 'vhdfold: cannot open the chain' "$T/$1.log" || fail "$1: no refusal in the log"
  grep -qF -- "$msg" "$T/$1.log" || fail "$1: '$msg' is not in nbdkit's log: $(cat "$T/$1.log")"
  echo "ok $1: refused ($msg)"
}

for fmt in vhdx vhd; do
  gen "good-$fmt" "$fmt" mixed 3 61
  GOOD=$T/good-$fmt
  top=$(basename "$TOP")
  # The base truncated: its tables point past the end.
  corrupt "$fmt-truncated" "os.truncate(f + '/00-base.$fmt', 1 << 20)"
  expect_corrupt_refused "$fmt-truncated" "$T/$fmt-truncated/$top"
  # Level 1's headers overwritten (VHDX: both headers; VHD: both footers and the header).
  if [ "$fmt" = vhdx ]; then
    patch="p = f + '/01-diff.vhdx'
with open(p, 'r+b') as h:
    for off in (65536, 131072): h.seek(off); h.write(os.urandom(4096))"
  else
    patch="p = f + '/01-diff.vhd'
n = os.path.getsize(p)
with open(p, 'r+b') as h:
    for off in (0, 512, n - 512): h.seek(off); h.write(os.urandom(512))"
  fi
  corrupt "$fmt-headers" "$patch"
  expect_corrupt_refused "$fmt-headers" "$T/$fmt-headers/$top"
done

# Parameters.
refused no-file verify=check
grep -q 'file=TOP is required' "$T/no-file.log" || fail "no-file: message"
refused bad-verify file="$TOP" verify=sometimes
grep -q 'verify=sometimes: expected' "$T/bad-verify.log" || fail "bad-verify: message"
# parent-dir=: the chain's own folder serves; an empty folder has no parents to find.
serve parent-dir file="$TOP" parent-dir="$(dirname "$TOP")" ||
  fail "parent-dir: the chain's folder: $(cat "$T/parent-dir.log")"
stop "$PID"
mkdir "$T/empty"
refused parent-dir-empty file="$TOP" parent-dir="$T/empty"
grep -q 'vhdfold: cannot open the chain' "$T/parent-dir-empty.log" ||
  fail "parent-dir-empty: message: $(cat "$T/parent-dir-empty.log")"
refused bad-absolute file="$TOP" allow-absolute-parents=perhaps
refused unknown file="$TOP" colour=blue
grep -q "unknown parameter 'colour'" "$T/unknown.log" || fail "unknown: message"

# verify= and digest=: the check and digest run before serving; a wrong digest is refused.
flat=$("$VHDFOLD" digest "$TOP")
flat=${flat%%  *}
tree=$("$VHDFOLD" digest --mode tree "$TOP")
tree=${tree%%  *}
serve v-flat file="$TOP" verify=flat digest="$flat" || fail "v-flat: $(cat "$T/v-flat.log")"
grep -q "flat digest of .*: $flat" "$T/v-flat.log" || fail "v-flat: digest not logged"
stop "$PID"
serve v-tree file="$TOP" verify=tree digest="$tree" || fail "v-tree: $(cat "$T/v-tree.log")"
stop "$PID"
refused v-wrong file="$TOP" verify=tree digest="$flat"
grep -q 'is not the expected one' "$T/v-wrong.log" || fail "v-wrong: message"
refused v-nodigest file="$TOP" verify=check digest="$flat"
echo "ok parameters and verify"

# Reading past the end: an error for the client, the server still serves.
serve past-end file="$TOP" || fail "past-end: $(cat "$T/past-end.log")"
nbdsh -u "$URI" -c '
size = h.get_size()
h.set_strict_mode(0)
for n, off in ((512, size), (1024, size - 512), (1, size), (4096, size + (1 << 40))):
    try:
        h.pread(n, off)
    except nbd.Error:
        continue
    raise SystemExit("a read of %d bytes at %d past the end succeeded" % (n, off))
assert len(h.pread(512, size - 512)) == 512
assert len(h.pread(3, size - 3)) == 3
'
kill -0 "$PID" || fail "past-end: the server died"
nbdcopy "$URI" "$T/after.raw"
expect_eq "$(sha "$T/after.raw")" "$TOP_SHA" "past-end: a full read afterwards"
stop "$PID"
echo "ok reads past the end refused, server alive"

# verify=flat|tree while another program truncates the level being hashed: the digest fails
# and nbdkit exits with an error (the plugin reads, it never maps, so no SIGBUS). nbdkit is
# stopped once it has spent 80 ms of CPU (part-way through the 256 MiB level), the file cut,
# nbdkit continued.
"$VHDFOLD" gen --seed 31 --depth 0 --base dynamic --size 256M --density 1 --progress none \
  "$T/cut" >/dev/null
for mode in flat tree; do
  cp "$T/cut/00-base.vhd" "$T/cut-$mode.vhd"
  env ${NBD_PRELOAD:+LD_PRELOAD="$NBD_PRELOAD"} nbdkit -f -v --log=stderr -U "$T/cut-$mode.sock" \
    -P "$T/cut-$mode.pid" "$PLUGIN" file="$T/cut-$mode.vhd" verify=$mode 2>"$T/cut-$mode.log" &
  PID=$!
  SERVERS+=("$PID")
  # CPU ticks (user + system) of nbdkit: hashing the level takes about 20, start-up 1 or 2
  for _ in $(seq 4000); do
    ticks=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$PID/stat" 2>/dev/null || echo 0)
    [ "${ticks:-0}" -ge 8 ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.005
  done
  kill -STOP "$PID" 2>/dev/null || true
  truncate -s 4M "$T/cut-$mode.vhd"
  kill -CONT "$PID" 2>/dev/null || true
  for _ in $(seq 600); do
    [ -s "$T/cut-$mode.pid" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  [ ! -s "$T/cut-$mode.pid" ] || fail "cut-$mode: the digest ended before the cut (served)"
  rc=0
  wait "$PID" || rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] ||
    fail "cut-$mode: nbdkit exit $rc, want an error exit (not a signal): $(tail -n 3 "$T/cut-$mode.log")"
  grep -q 'cannot digest the chain' "$T/cut-$mode.log" || fail "cut-$mode: no digest error logged"
done
echo "ok verify= of a level cut while hashed: an error, no SIGBUS"

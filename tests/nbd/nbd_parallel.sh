#!/usr/bin/env bash
# nbd_parallel.sh - parallel readers: nbdcopy --connections=4 and three nbdcopy processes at
# once against one server all get the manifest's bytes. The thread model of docs/nbd.md is
# checked where it shows: nbdkit runs the read-only plugin under serialize_requests, and four
# open connections hold four chain handles of their own (TOP open five times in the server:
# the chain kept from the start plus one per connection). Run by ctest (tests/nbd.cmake).
. "$(dirname "$0")/nbd_lib.sh"

for c in "vhdx mixed 5 31" "vhd sector 4 32"; do
  read -r fmt profile depth seed <<<"$c"
  name=$fmt-$profile-$depth
  gen "$name" "$fmt" "$profile" "$depth" "$seed"
  serve "$name" file="$TOP" || fail "$name: nbdkit refused a good chain: $(cat "$T/$name.log")"
  nbdcopy --connections=4 --requests=8 --request-size=65536 "$URI" "$T/$name.multi.raw" &
  readers=($!)
  for i in 1 2 3; do
    nbdcopy --request-size=32768 "$URI" "$T/$name.$i.raw" &
    readers+=($!)
  done
  for r in "${readers[@]}"; do
    wait "$r" || fail "$name: a reader failed"
  done
  for f in multi 1 2 3; do
    expect_eq "$(sha "$T/$name.$f.raw")" "$TOP_SHA" "$name: reader $f vs the manifest"
  done
  opened=$(grep -c 'vhdfold: open readonly=' "$T/$name.log" || true)
  [ "$opened" -ge 7 ] || fail "$name: expected at least 7 connections, the log shows $opened"
  grep -q 'using thread model: serialize_requests$' "$T/$name.log" ||
    fail "$name: read-only is not served under serialize_requests"
  "$NBDSH_PY" - "$URI" "$PID" "$TOP" <<'PY' || fail "$name: connections share a chain handle"
import os, sys
import nbd
uri, pid, top = sys.argv[1], sys.argv[2], os.path.realpath(sys.argv[3])
handles = []
for i in range(4):
    h = nbd.NBD()
    h.connect_uri(uri)
    h.pread(4096, 0)
    handles.append(h)
fds = "/proc/%s/fd" % pid
n = sum(1 for fd in os.listdir(fds) if os.path.realpath(os.path.join(fds, fd)) == top)
if n < 5:
    sys.exit("4 connections open, but the server has TOP open %d times (expected 5)" % n)
for h in handles:
    h.shutdown()
PY
  # stop only once the server has closed those connections' chains: a server stopped with
  # connections still open never runs their .close (a leak the sanitizer build reports)
  for i in $(seq 1 200); do
    n=0
    for fd in /proc/"$PID"/fd/*; do
      [ "$(readlink -f "$fd" 2>/dev/null)" = "$(readlink -f "$TOP")" ] && n=$((n + 1))
    done
    [ "$n" -le 1 ] && break
    sleep 0.05
  done
  stop "$PID"
  rm -f "$T/$name".*.raw
  echo "ok $name: 7 connections read the same bytes"
done

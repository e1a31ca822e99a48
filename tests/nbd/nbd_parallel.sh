#!/usr/bin/env bash
# nbd_parallel.sh - parallel readers: nbdcopy --connections=4 and three nbdcopy processes at
# once against one server (each connection has its own chain handle) all get the manifest's
# bytes. Run by ctest (tests/nbd.cmake, label nbd).
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
  stop "$PID"
  rm -f "$T/$name".*.raw
  echo "ok $name: 7 connections read the same bytes"
done

#!/usr/bin/env bash
# nbd_read.sh - the plugin serves generated VHD and VHDX chains (every profile, depths 1-8):
# nbdcopy of the export hashes to the manifest's top sha256; nbdinfo --map classifies every
# byte as 'vhdfold map' does (data, zero, hole); qemu-img convert from the NBD URI
# equals vhdfold export. Run by ctest (tests/nbd.cmake, label nbd).
. "$(dirname "$0")/nbd_lib.sh"

cases=("vhd aligned 1 11" "vhd sector 3 12" "vhd blocks 5 13" "vhd mixed 8 14"
  "vhdx aligned 2 21" "vhdx sector 4 22" "vhdx blocks 6 23" "vhdx mixed 7 24")
holes=0 # chains whose map shows a hole (a fixed base has none)
for c in "${cases[@]}"; do
  read -r fmt profile depth seed <<<"$c"
  name=$fmt-$profile-$depth
  gen "$name" "$fmt" "$profile" "$depth" "$seed"
  serve "$name" file="$TOP" || fail "$name: nbdkit refused a good chain: $(cat "$T/$name.log")"

  nbdcopy "$URI" "$T/$name.nbd.raw"
  expect_eq "$(sha "$T/$name.nbd.raw")" "$TOP_SHA" "$name: nbdcopy vs the manifest's sha256"

  nbdinfo --map "$URI" | awk '{ print $1, $2, $3 }' | coalesce >"$T/$name.nbd.map"
  vhdfold_map "$TOP" | coalesce >"$T/$name.vhdfold.map"
  diff -u "$T/$name.vhdfold.map" "$T/$name.nbd.map" >&2 ||
    fail "$name: nbdinfo --map disagrees with vhdfold map"
  grep -q ' 0$' "$T/$name.nbd.map" || fail "$name: the map shows no data"
  if grep -q ' 3$' "$T/$name.nbd.map"; then holes=$((holes + 1)); fi

  qemu-img convert -f raw -O raw "$URI" "$T/$name.qemu.raw"
  "$VHDFOLD" export "$TOP" "$T/$name.export.raw"
  cmp "$T/$name.qemu.raw" "$T/$name.export.raw" || fail "$name: qemu-img convert vs vhdfold export"
  stop "$PID"
  rm -f "$T/$name".*.raw
  echo "ok $name"
done
[ "$holes" -ge 4 ] || fail "only $holes chains showed a hole: the map check compares too little"
echo "nbd_read: ${#cases[@]} chains served and read three ways"

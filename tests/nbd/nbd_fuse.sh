#!/usr/bin/env bash
# nbd_fuse.sh - nbdfuse (libnbd-bin) exposes a chain served by the plugin as a file: the file
# hashes to the manifest's top sha256 for a VHD and a VHDX chain. Skips (77) without nbdfuse
# or a usable /dev/fuse (containers without FUSE). Run by ctest (tests/nbd.cmake, label nbd).
. "$(dirname "$0")/nbd_lib.sh"
if ! command -v nbdfuse >/dev/null 2>&1 || [ ! -c /dev/fuse ]; then
  echo "SKIP: nbdfuse or /dev/fuse missing"
  exit 77
fi
MNTS=()
trap 'fuse_rc=$?; for m in "${MNTS[@]}"; do umount "$m" 2>/dev/null || fusermount3 -u "$m" 2>/dev/null || true; done
(exit $fuse_rc); nbd_cleanup' EXIT

for fmt in vhd vhdx; do
  name=fuse-$fmt
  gen "$name" "$fmt" mixed 3 41
  serve "$name" file="$TOP" || fail "$name: refused: $(cat "$T/$name.log")"
  mkdir "$T/$name.mnt"
  nbdfuse -r "$T/$name.mnt" "$URI" 2>"$T/$name.fuse.log" &
  fpid=$!
  for i in $(seq 1 200); do
    [ -f "$T/$name.mnt/nbd" ] && break
    if ! kill -0 "$fpid" 2>/dev/null; then
      wait "$fpid" || true
      echo "SKIP: nbdfuse could not mount: $(cat "$T/$name.fuse.log")"
      exit 77
    fi
    sleep 0.05
  done
  MNTS+=("$T/$name.mnt")
  expect_eq "$(sha "$T/$name.mnt/nbd")" "$TOP_SHA" "$name: the nbdfuse file vs the manifest"
  umount "$T/$name.mnt" 2>/dev/null || fusermount3 -u "$T/$name.mnt"
  wait "$fpid" 2>/dev/null || true
  stop "$PID"
  echo "ok $name"
done
echo "nbd_fuse: two chains read through nbdfuse"

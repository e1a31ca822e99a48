#!/bin/sh
# flatten.sh - vhdfold conform reader adapter for qemu-img (Debian qemu-utils): converts FILE
# to raw with `qemu-img convert` and prints the SHA-256 of the flattened view like sha256sum.
# Called by `vhdfold conform --reader 'flatten.sh {top}'` (ci/conform, docs/conform.md).
# The format is named, never probed: `.vhd` as vpc (a fixed VHD has no header qemu could
# probe) with force_size_calc=current_size (else qemu sizes a dynamic VHD of an unknown creator
# by its CHS geometry), `.vhdx` as vhdx. qemu-img 7.2 opens a differencing VHD as if it had no
# parent and refuses a differencing VHDX; ci/conform's expectation files say so.
# With --raw OUT, leaves the raw view in OUT instead (`conform --reader-raw`).
# Usage: flatten.sh [--raw OUT] FILE
set -eu
raw=""
if [ "${1:-}" = --raw ]; then
  [ $# = 3 ] || { echo "usage: flatten.sh [--raw OUT] FILE" >&2; exit 2; }
  raw="$2"
  shift 2
fi
case "$1" in
*.vhd) opts="driver=vpc,force_size_calc=current_size,file.filename=$1" ;;
*.vhdx) opts="driver=vhdx,file.filename=$1" ;;
*) echo "flatten.sh: '$1': want a .vhd or .vhdx file" >&2; exit 2 ;;
esac
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if [ -n "$raw" ]; then
  exec qemu-img convert --image-opts "$opts" -O raw "$raw"
fi
qemu-img convert --image-opts "$opts" -O raw "$tmp/view.raw"
sum="$(sha256sum "$tmp/view.raw" | cut -d' ' -f1)"
echo "$sum  $1"

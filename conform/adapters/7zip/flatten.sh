#!/bin/sh
# flatten.sh - vhdfold conform reader adapter for 7-Zip (Debian package 7zip, command 7zz):
# `7zz x -so FILE` writes the flattened disk of a VHD or VHDX, following parents; this prints
# its SHA-256 like sha256sum. Called by `vhdfold conform --reader 'flatten.sh {top}'`
# (ci/conform). Fails (non-zero) when 7zz fails, rather than hashing an empty stream.
# With --raw OUT, writes the flattened disk to OUT instead (`conform --reader-raw`, which
# locates the first differing byte of a wrong digest).
# Usage: flatten.sh [--raw OUT] FILE
set -eu
if [ "${1:-}" = --raw ]; then
  [ $# = 3 ] || { echo "usage: flatten.sh [--raw OUT] FILE" >&2; exit 2; }
  7zz x -so -- "$3" >"$2"
  exit 0
fi
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
if ! 7zz x -so -- "$1" 2>"$tmp" | sha256sum >"$tmp.sum"; then
  cat "$tmp" >&2
  rm -f "$tmp.sum"
  exit 1
fi
if grep -qi 'error' "$tmp"; then
  cat "$tmp" >&2
  rm -f "$tmp.sum"
  exit 1
fi
sed "s|  -\$|  $1|" "$tmp.sum"
rm -f "$tmp.sum"

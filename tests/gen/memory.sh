#!/usr/bin/env bash
# memory.sh - bounded memory: a sparse chain of the largest virtual size (2040 GiB VHD, 2 TiB
# VHDX) generates in small resident memory (the model holds extents, never data), skips the
# flat digest above --flat-limit, and its tree digest per level equals `vhdfold digest
# --mode tree`. Environment: VHDFOLD (the built CLI). Registered by tests/gen.cmake.
set -euo pipefail
: "${VHDFOLD:?VHDFOLD must name the built vhdfold}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Peak RSS limit in MiB: argument 1 (tests/gen.cmake passes more under sanitizers, whose
# shadow memory counts as resident), else 32.
limit_kib=$((${1:-32} * 1024))

peak_rss_kib() { # run a command, print the peak RSS of it (KiB); fail when it fails
  python3 -c '
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
if r.returncode:
    sys.exit(r.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}

check() { # name, gen options...
  local name=$1
  shift
  local rss
  rss=$(peak_rss_kib "$VHDFOLD" gen "$@" --progress none "$tmp/$name")
  if [ "$rss" -gt "$limit_kib" ]; then
    echo "FAIL: $name: gen peaked at $rss KiB resident, limit $limit_kib KiB" >&2
    exit 1
  fi
  local man="$tmp/$name/manifest.json"
  if [ "$(jq '[.levels[].sha256] | map(select(. != null)) | length' "$man")" != 0 ]; then
    echo "FAIL: $name: flat digests computed above --flat-limit" >&2
    exit 1
  fi
  local n=0 file tree got
  while read -r file tree; do
    got=$("$VHDFOLD" digest --mode tree "$tmp/$name/$file" | cut -d' ' -f1)
    if [ "$got" != "$tree" ]; then
      echo "FAIL: $name/$file: tree digest $got, manifest $tree" >&2
      exit 1
    fi
    n=$((n + 1))
  done < <(jq -r '.levels[] | "\(.file) \(.tree)"' "$man")
  echo "$name: $(jq .virtual_size "$man") bytes virtual, peak RSS $rss KiB, $n tree digests agree"
  rm -rf "${tmp:?}/$name"
}

check vhd2040g --seed 11 --size 2040G --depth 2 --density 0.000005 --base dynamic
check vhdx2t --format vhdx --seed 12 --size 2T --depth 1 --density 0.000005 --base dynamic

#!/usr/bin/env bash
# badopts.sh - `vhdfold gen` refuses bad options with exit 2 and a message naming the option,
# writes nothing (OUTDIR is not even created), refuses to overwrite an existing chain (files
# untouched), and prints a drawn seed that repeats the run.
# Environment: VHDFOLD (the built CLI). Registered by tests/gen.cmake.
set -euo pipefail
: "${VHDFOLD:?VHDFOLD must name the built vhdfold}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
n=0

expect() { # want_exit, needle, gen args... (OUTDIR appended)
  local want=$1 needle=$2
  shift 2
  local rc=0
  "$VHDFOLD" gen "$@" "$tmp/out" >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
  n=$((n + 1))
  if [ "$rc" != "$want" ] || ! grep -qF -- "$needle" "$tmp/stderr"; then
    echo "FAIL: gen $*: exit $rc (want $want), stderr: $(cat "$tmp/stderr")" >&2
    fails=$((fails + 1))
  elif [ -e "$tmp/out" ]; then
    echo "FAIL: gen $*: refused but created '$tmp/out'" >&2
    fails=$((fails + 1))
  fi
}

expect 2 "--size 0" --size 0
expect 2 "--size 1000" --size 1000
expect 2 "--size" --size 4M7
expect 2 "power of two" --block-size 3M
expect 2 "--block-size" --block-size 64K
expect 2 "--depth: '65' is out of range (0..64)" --depth 65
expect 2 "--depth" --depth -1
expect 2 "--density" --density 1.5
expect 2 "--density" --density abc
expect 2 "--profile: 'fast' is not one of" --profile fast
expect 2 "--format: 'qcow2' is not one of vhd, vhdx" --format qcow2
expect 2 "--base: 'thin' is not one of" --base thin
expect 2 "--seed" --seed -5
expect 2 "--seed: '9223372036854775808' is out of range" --seed 9223372036854775808
expect 2 "--seed: '0x1g' is not a number" --seed 0x1g
expect 2 "--size" --size 2041G
expect 2 "multiple of 4096" --format vhdx --size 2097664
expect 2 "multiple of 8192" --format vhdx --size 2101248 --sector-size 4096
expect 2 "--sector-size: '1024' is not one of 512, 4096" --format vhdx --sector-size 1024
expect 2 "--sector-size 4096" --format vhd --sector-size 4096
expect 2 "--dirty: 'some' is not one of" --format vhdx --dirty some
expect 2 "--dirty top" --format vhd --dirty top
expect 2 "unknown option" --frobnicate
expect 2 "OUTDIR" --seed 1 "$tmp/second-outdir"

# an existing chain is never overwritten
"$VHDFOLD" gen --seed 3 --size 2M --depth 1 --progress none "$tmp/chain" >/dev/null
before=$(cd "$tmp/chain" && sha256sum ./*)
rc=0
"$VHDFOLD" gen --seed 4 --size 2M --depth 1 --progress none "$tmp/chain" 2>"$tmp/stderr" || rc=$?
n=$((n + 1))
if [ "$rc" != 2 ] || ! grep -q "already exists" "$tmp/stderr" ||
  [ "$before" != "$(cd "$tmp/chain" && sha256sum ./*)" ]; then
  echo "FAIL: rerun into an existing chain: exit $rc, $(cat "$tmp/stderr")" >&2
  fails=$((fails + 1))
fi

# without --seed a seed is drawn, printed, and repeats the run
"$VHDFOLD" gen --size 2M --depth 1 --progress none "$tmp/drawn" >/dev/null 2>"$tmp/stderr"
seed=$(sed -n 's/.*seed \([0-9]*\) (repeat with --seed.*/\1/p' "$tmp/stderr")
n=$((n + 1))
if [ -z "$seed" ]; then
  echo "FAIL: no drawn seed printed: $(cat "$tmp/stderr")" >&2
  fails=$((fails + 1))
else
  "$VHDFOLD" gen --seed "$seed" --size 2M --depth 1 --progress none "$tmp/again" >/dev/null
  cmp "$tmp/drawn/manifest.json" "$tmp/again/manifest.json"
  cmp "$tmp/drawn/01-diff.vhd" "$tmp/again/01-diff.vhd"
fi

# --json prints the head of docs/json.md and, under "manifest", manifest.json itself
"$VHDFOLD" gen --seed 9 --size 2M --depth 0 --json --progress none "$tmp/json" >"$tmp/stdout"
n=$((n + 1))
if ! python3 -c 'import json, sys
o, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert list(o)[:5] == ["schema", "command", "status", "exit", "error"] and o["command"] == "gen"
assert o["manifest"] == m and o["seed"] == m["seed"] == "9", o' "$tmp/stdout" "$tmp/json/manifest.json"; then
  echo "FAIL: --json output is not the head and manifest.json" >&2
  fails=$((fails + 1))
fi

echo "$n checks, $fails failures"
[ "$fails" = 0 ]

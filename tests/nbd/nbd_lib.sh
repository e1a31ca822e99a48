# nbd_lib.sh - shared by the nbdkit plugin tests (tests/nbd.cmake): a scratch folder, nbdkit
# servers on Unix sockets in it (always stopped by the EXIT trap), chain generation and small
# assertions. Sourced as: . nbd_lib.sh PLUGIN (VHDFOLD comes from ctest;
# NBD_PRELOAD, set in sanitizer builds, lists the runtimes nbdkit must preload).
set -euo pipefail
PLUGIN=${1:?usage: test PLUGIN}
VHDFOLD=${VHDFOLD:?VHDFOLD must name the vhdfold program}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for tool in nbdkit nbdcopy nbdinfo nbdsh qemu-img 7zz python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is not installed (ci/bootstrap installs nbdkit, libnbd-bin," \
      "python3-libnbd, qemu-utils, 7zip)"
    exit 77
  fi
done

# nbdsh is "python3 -m nbd" with the first python3 on PATH; use one that has the nbd module (python3-libnbd
# installs it for the system's python3, which another python3 earlier on PATH may hide).
NBDSH_PY=
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import nbd' 2>/dev/null; then
    NBDSH_PY=$py
    break
  fi
done
if [ -z "$NBDSH_PY" ]; then
  echo "SKIP: no python3 with the nbd module (python3-libnbd)"
  exit 77
fi
nbdsh() { "$NBDSH_PY" -m nbd "$@"; } # what /usr/bin/nbdsh runs

T=$(mktemp -d)
SERVERS=()
nbd_cleanup() {
  local p rc=$? bad
  for p in "${SERVERS[@]}"; do
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  # A sanitizer report in any server's log fails the test (sanitizer builds).
  bad=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.log 2>/dev/null || true)
  if [ -n "$bad" ]; then
    echo "FAIL: sanitizer report in nbdkit's log:" >&2
    grep -h -A20 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' $bad >&2
    rc=1
  fi
  rm -rf "$T"
  exit "$rc"
}
trap nbd_cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
expect_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# gen NAME FORMAT PROFILE DEPTH SEED: a 64 MiB chain in $T/NAME; sets TOP and TOP_SHA.
gen() {
  "$VHDFOLD" gen --format "$2" --profile "$3" --depth "$4" --seed "$5" --size 64M \
    --progress none "$T/$1" >/dev/null
  local out
  out=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); l=m["levels"][-1]
print(l["file"], l["sha256"])' "$T/$1/manifest.json")
  TOP=$T/$1/${out% *}
  TOP_SHA=${out#* }
}

# serve NAME PARAM...: nbdkit with the plugin on $T/NAME.sock, log in $T/NAME.log. Returns
# once the server listens (its pid file exists); sets PID and URI. Fails (status 1) when
# nbdkit exits first, e.g. because the plugin refused the chain.
serve() {
  local name=$1 i
  shift
  rm -f "$T/$name.pid"
  env ${NBD_PRELOAD:+LD_PRELOAD="$NBD_PRELOAD"} nbdkit -f -v --log=stderr -U "$T/$name.sock" -P "$T/$name.pid" "$PLUGIN" "$@" \
    2>"$T/$name.log" &
  PID=$!
  SERVERS+=("$PID")
  URI="nbd+unix:///?socket=$T/$name.sock"
  for i in $(seq 1 600); do
    [ -s "$T/$name.pid" ] && return 0
    if ! kill -0 "$PID" 2>/dev/null; then
      wait "$PID" 2>/dev/null || true
      return 1
    fi
    # refused before listening: with the sanitizer runtimes preloaded, nbdkit may then hang
    # in an exit handler (see stop), so an error in its log counts as the refusal
    if grep -q 'error: ' "$T/$name.log" 2>/dev/null; then
      sleep 0.2
      [ -s "$T/$name.pid" ] && return 0
      kill -9 "$PID" 2>/dev/null || true
      wait "$PID" 2>/dev/null || true
      return 1
    fi
    sleep 0.05
  done
  fail "nbdkit $name did not start within 30 s"
}

# stop PID: a clean shutdown (SIGTERM: the plugin's unload flushes a writable top). With the
# sanitizer runtimes preloaded, nbdkit can deadlock in libp11-kit's exit handler (freelocale)
# after the plugin is unloaded; there it gets 30 s, then SIGKILL.
stop() {
  local i
  kill "$1"
  if [ -n "${NBD_PRELOAD:-}" ]; then
    for i in $(seq 1 600); do
      kill -0 "$1" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$1" 2>/dev/null; then
      echo "note: nbdkit $1 did not exit within 30 s of SIGTERM (sanitizer build); killed" >&2
      kill -9 "$1" 2>/dev/null || true
    fi
  fi
  wait "$1" 2>/dev/null || true
}

# vhdfold_map TOP: `vhdfold map --json` as nbdinfo --map's "OFF LEN TYPE" lines (0 data,
# 2 zero, 3 hole,zero).
vhdfold_map() {
  "$VHDFOLD" map --json "$1" | python3 -c 'import json, sys
for e in json.load(sys.stdin)["extents"]:
    print(e["start"], e["length"], 0 if e["data"] else 2 if e["present"] else 3)'
}

# coalesce < "OFF LEN TYPE" lines: adjacent runs of one type merged.
coalesce() {
  awk '{ if (NR > 1 && $3 == t && $1 == o + l) { l += $2 } else { if (NR > 1) print o, l, t;
         o = $1; l = $2; t = $3 } } END { if (NR) print o, l, t }'
}

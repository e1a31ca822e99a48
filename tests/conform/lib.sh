# lib.sh - shared helpers for the conformance runner's script tests (tests/conform/*.sh).
# Sourced, not run. Needs VHDFOLD (the built CLI) and VF_SOURCE_DIR from ctest; makes a
# private temp folder ($T) removed on exit.
set -euo pipefail
: "${VHDFOLD:?VHDFOLD must name the built vhdfold}"
: "${VF_SOURCE_DIR:?VF_SOURCE_DIR must name the source tree}"
HERE="$VF_SOURCE_DIR/tests/conform"
BROKEN="$HERE/broken"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
T="$(mktemp -d -t vf-conform-test.XXXXXX)"
trap 'rm -rf "$T"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# conform ARGS...: runs vhdfold conform, output in $T/out, exit status in $rc.
conform() {
  set +e
  "$VHDFOLD" conform --work-dir "$T/work" "$@" >"$T/out" 2>"$T/err"
  rc=$?
  set -e
  rm -rf "$T/work"
}

# The closing line, checked to be exactly "P passed, F failed".
summary() {
  tail -n 1 "$T/out"
}

expect_rc() {
  if [ "$rc" != "$1" ]; then
    echo "--- stdout" >&2; tail -n 30 "$T/out" >&2
    echo "--- stderr" >&2; cat "$T/err" >&2
    fail "$2: exit status $rc, expected $1"
  fi
}

expect_summary() {
  local got
  got="$(summary)"
  [ "$got" = "$1" ] || { tail -n 30 "$T/out" >&2; fail "$2: closing line '$got', expected '$1'"; }
}

# Failed count of the closing line.
failed_count() {
  summary | sed -n 's/^[0-9]* passed, \([0-9]*\) failed$/\1/p'
}

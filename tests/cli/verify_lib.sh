# verify_lib.sh - helpers for the read-side CLI tests (tests/cli/verify_*.sh: info, check,
# digest, export, compare, corpus, qemu). Sourced, not run. Needs VHDFOLD (the built CLI)
# and VF_SOURCE_DIR from ctest; makes a private temp folder ($T) removed on exit.
set -euo pipefail
: "${VHDFOLD:?VHDFOLD must name the built vhdfold}"
: "${VF_SOURCE_DIR:?VF_SOURCE_DIR must name the source tree}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# Debian's python3 (tests/tools needs only the standard library; any python3 works).
PY=python3
FAILS=0
CHECKS=0

fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}

# run CMD...: runs it, keeps stdout in $OUT, stderr in $ERR, status in $RC.
run() {
    set +e
    "$@" >"$T/.out" 2>"$T/.err"
    RC=$?
    set -e
    OUT=$(cat "$T/.out")
    ERR=$(cat "$T/.err")
}

expect_rc() { # expect_rc WANT WHAT
    CHECKS=$((CHECKS + 1))
    if [ "$RC" != "$1" ]; then
        fail "$2: exit $RC, want $1 (stderr: $ERR)"
    fi
}

expect_eq() { # expect_eq GOT WANT WHAT
    CHECKS=$((CHECKS + 1))
    if [ "$1" != "$2" ]; then
        fail "$3: got '$1', want '$2'"
    fi
}

expect_match() { # expect_match TEXT REGEX WHAT
    CHECKS=$((CHECKS + 1))
    # a here-string, not a pipe: grep -q stops reading at the first match, and under pipefail
    # the writer's broken pipe would fail the check
    if ! grep -Eq -- "$2" <<<"$1"; then
        fail "$3: '$1' does not match /$2/"
    fi
}

# json_get FILE_OR_TEXT EXPR: evaluate a Python expression on the parsed JSON document `j`.
json_get() {
    printf '%s' "$1" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# qemu_vhd NAME SIZE SUBFORMAT [PATTERN OFFSET LENGTH]...: a VHD made by qemu-img, written by
# qemu-io (qemu names itself creator 'qemu' and sizes the disk by its CHS geometry).
qemu_vhd() {
    local name=$1 size=$2 sub=$3
    shift 3
    qemu-img create -q -f vpc -o subformat="$sub" "$name" "$size"
    while [ $# -ge 3 ]; do
        qemu-io -f vpc -c "write -P $1 $2 $3" "$name" >/dev/null
        shift 3
    done
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS of $CHECKS checks failed" >&2
        exit 1
    fi
    echo "all $CHECKS checks passed"
}

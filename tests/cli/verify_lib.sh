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
    # a here-string, not a pipe: under pipefail a grep -q that stops reading early can make
    # the writer's SIGPIPE fail the match
    if ! grep -Eq -- "$2" <<<"$1"; then
        fail "$3: '$1' does not match /$2/"
    fi
}

# json_get FILE_OR_TEXT EXPR: evaluate a Python expression on the parsed JSON document `j`.
json_get() {
    printf '%s' "$1" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# snap DIR: the folder's listing (mode, size, name; hidden files too) and every file's sha256:
# "nothing written" is this output unchanged. Not 'total': block counts lag.
snap() { (cd "$1" && ls -la --time-style=+ . | awk 'NR > 1 {print $1, $5, $NF}' && sha256sum -- *); }

# plant_journal SOURCE [INTERMEDIATE...] DESTINATION: the journal of an interrupted merge of
# that VHD chain (phase copying, nothing copied yet) beside DESTINATION, bound to the files as
# they are (tests/tools/mkjournal.py); $JOURNAL names it.
plant_journal() {
    JOURNAL="${!#}.vfmerge"
    "$PY" "$VF_SOURCE_DIR/tests/tools/mkjournal.py" "$JOURNAL" "$@" --phase 1 --cursor 0
}

# hold_journal J: a process holds J's lock as a running merge does (its pid in $HOLDER) until
# release_journal, or at most 60 s, or until $T is gone.
hold_journal() {
    rm -f "$T/.held" "$T/.release"
    "$PY" -c 'import fcntl, os, sys, time
f = open(sys.argv[1], "r+b")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
end = time.time() + 60
while time.time() < end and os.path.isdir(sys.argv[4]) and not os.path.exists(sys.argv[3]):
    time.sleep(0.05)' "$1" "$T/.held" "$T/.release" "$T" &
    HOLDER=$!
    for _ in $(seq 200); do [ -e "$T/.held" ] && return 0; sleep 0.05; done
    fail "hold_journal: no lock on $1 after 10 s"
}
release_journal() {
    touch "$T/.release"
    wait "$HOLDER" 2>/dev/null || true
    rm -f "$T/.held" "$T/.release"
}

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

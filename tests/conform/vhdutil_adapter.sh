#!/usr/bin/env bash
# vhdutil_adapter.sh - conform/adapters/vhd-util/coalesce.sh without blktap: a stand-in
# vhd-util on PATH checks that the adapter folds the chain from the top (SOURCE into its
# parent, then that parent into its own, down to DESTINATION), stops at the first failure
# with vhd-util's own message on its last stderr line, refuses a chain of one file, and says
# so when there is no vhd-util at all. Then a suite with the stand-in doing each step with
# `vhdfold merge CHILD PARENT` must pass under corpus/conform/vhd-util.expect (its model line:
# SOURCE kept byte-for-byte).
# shellcheck source=tests/conform/lib.sh
source "$(dirname "$0")/lib.sh"
ADAPTER="$VF_SOURCE_DIR/conform/adapters/vhd-util/coalesce.sh"
mkdir -p "$T/bin" "$T/c"
cat >"$T/bin/vhd-util" <<'EOF'
#!/bin/sh
# Stand-in: logs its arguments; FAIL_ON names a child it refuses as vhd-util does (stdout,
# status 22); with MERGE set, merges CHILD into the level below it (NN-…, NN-1-…).
[ "$1" = coalesce ] && [ "$2" = -n ] || { echo "stand-in: unexpected '$*'"; exit 9; }
echo "$*" >>"$LOG"
if [ "$3" = "${FAIL_ON:-}" ]; then
  echo "error coalescing: -22"
  exit 22
fi
if [ -n "${MERGE:-}" ]; then
  dir="$(dirname "$3")"
  n="$(basename "$3" | cut -c1-2)"
  n="${n#0}"
  parent="$(ls "$dir/$(printf '%02d' $((n - 1)))"-*.vhd)"
  "$VHDFOLD" merge "$3" "$parent" >/dev/null || exit 1
fi
printf 'Coalesced 8 sectors'
EOF
chmod +x "$T/bin/vhd-util"
export LOG="$T/log"
cd "$T/c"

# No vhd-util: a clear refusal (only checkable where no real vhd-util is installed).
if ! PATH=/usr/bin:/bin command -v vhd-util >/dev/null 2>&1; then
  set +e
  PATH=/usr/bin:/bin "$ADAPTER" 02-diff.vhd 01-diff.vhd 2>"$T/err"
  rc=$?
  set -e
  [ "$rc" = 127 ] || fail "no vhd-util: exit status $rc, expected 127"
  grep -q 'no vhd-util on PATH' "$T/err" || fail "no vhd-util: message missing: $(cat "$T/err")"
fi

# The fold, from the top, one `coalesce -n` per level above DESTINATION.
: >"$LOG"
PATH="$T/bin:$PATH" "$ADAPTER" 03-diff.vhd 02-diff.vhd 01-diff.vhd 2>"$T/err" ||
  fail "fold: exit status $?: $(cat "$T/err")"
printf 'coalesce -n 03-diff.vhd\ncoalesce -n 02-diff.vhd\n' | cmp -s - "$LOG" ||
  fail "fold: vhd-util was called as: $(cat "$LOG")"

# A refusal stops the fold; its status and vhd-util's message come back.
: >"$LOG"
set +e
FAIL_ON=02-diff.vhd PATH="$T/bin:$PATH" "$ADAPTER" 03-diff.vhd 02-diff.vhd 01-diff.vhd \
  2>"$T/err"
rc=$?
set -e
[ "$rc" = 22 ] || fail "refusal: exit status $rc, expected 22"
[ "$(wc -l <"$LOG")" = 2 ] || fail "refusal: vhd-util called after the failure: $(cat "$LOG")"
tail -n 1 "$T/err" | grep -q "02-diff.vhd' (into '01-diff.vhd'): status 22: error coalescing" ||
  fail "refusal: last stderr line is '$(tail -n 1 "$T/err")'"

# One file is not a chain.
set +e
PATH="$T/bin:$PATH" "$ADAPTER" 01-diff.vhd 2>"$T/err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "one file: exit status $rc, expected 2"

# A correct coalescer passes the suite under the committed model line.
cd "$T"
MERGE=1 PATH="$T/bin:$PATH" conform --cases 8 --seed 19 --depth 1..4 --dest any --size 4M..5M \
  --impl "$ADAPTER {chain}" --expect "$VF_SOURCE_DIR/corpus/conform/vhd-util.expect"
expect_rc 0 "suite with a correct stand-in"
[ "$(summary)" = "8 passed, 0 failed" ] || fail "suite: closing line '$(summary)'"
echo "vhdutil_adapter: ok"

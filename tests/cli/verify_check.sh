#!/usr/bin/env bash
# verify_check.sh - 'vhdfold check': a clean image and chain (exit 0), a parent time stamp
# mismatch (warning, exit 0), a parent identity mismatch or a missing parent (error findings,
# exit 1), an unreadable FILE (exit 3) or a missing one (exit 4), and the --json shape.
# Run by ctest (tests/verify.cmake).
. "$(dirname "$0")/verify_lib.sh"
cd "$T"
MK="$VF_SOURCE_DIR/tests/tools/mkdiff_vhd.py"

qemu_vhd base.vhd 8M dynamic 0x5a 1M 3M
"$PY" "$MK" base.vhd top.vhd --write 0x100000:4096:0x77
"$PY" "$MK" base.vhd stamp.vhd --write 0:512:1 --bad-timestamp

run "$VHDFOLD" check base.vhd
expect_rc 0 "check a clean dynamic image"
expect_match "$OUT" 'base\.vhd: 1 image checked, 0 errors' "clean summary"
run "$VHDFOLD" check top.vhd
expect_rc 0 "check a clean chain"
expect_match "$OUT" 'top\.vhd: 2 images checked, 0 errors' "clean chain summary"

run "$VHDFOLD" check stamp.vhd
expect_rc 0 "a time stamp mismatch is only a warning"
expect_match "$OUT" '^warning: .*stamp\.vhd.*time stamp' "time stamp warning listed"
run "$VHDFOLD" check --json stamp.vhd
expect_rc 0 "check --json with a warning"
expect_eq "$(json_get "$OUT" 'j["schema"]')" 2 "json schema"
expect_eq "$(json_get "$OUT" 'j["clean"]')" True "json clean"
expect_eq "$(json_get "$OUT" 'j["warnings"] >= 1')" True "json warnings"
expect_eq "$(json_get "$OUT" 'sorted(j["findings"][0])')" "['code', 'file', 'message', 'name', 'offset', 'severity']" \
    "json finding keys"
expect_eq "$(json_get "$OUT" 'sorted(j)')" \
    "['clean', 'command', 'dropped', 'error', 'errors', 'exit', 'file', 'findings', 'levels_checked', 'pending_merge', 'repair', 'repairable', 'schema', 'status', 'warnings']" \
    "json keys"

# The parent disappears: FILE is checked alone, the broken chain is an error finding.
mv base.vhd gone.vhd
run "$VHDFOLD" check top.vhd
expect_rc 1 "check with a missing parent"
expect_match "$OUT" '^error: .*top\.vhd.*base\.vhd' "missing parent finding names the parent"
run "$VHDFOLD" check --json top.vhd
expect_rc 1 "check --json with a missing parent"
expect_eq "$(json_get "$OUT" 'j["clean"]')" False "json not clean"
expect_eq "$(json_get "$OUT" '[f["name"] for f in j["findings"] if f["severity"]=="error"][0]')" VF_E_CHAIN \
    "json chain finding status"
mv gone.vhd base.vhd

# An identity mismatch: the chain refuses to open (VF_E_CHAIN), check reports it as an error.
"$PY" "$MK" base.vhd wrongid.vhd --write 0:512:1 --bad-parent-id
run "$VHDFOLD" check wrongid.vhd
expect_rc 1 "check with a parent identity mismatch"
expect_match "$OUT" '^error: ' "identity mismatch is an error"

# FILE itself unreadable or absent.
head -c 2000 base.vhd >trunc.vhd
run "$VHDFOLD" check trunc.vhd
expect_rc 3 "check of a truncated image"
expect_match "$ERR" '^vhdfold: .*trunc\.vhd' "truncated error names the file"
run "$VHDFOLD" check absent.vhd
expect_rc 4 "check of a missing file"
expect_match "$ERR" 'absent\.vhd' "missing error names the file"
run "$VHDFOLD" check --help
expect_rc 0 "check --help"
expect_match "$OUT" '^usage: vhdfold check' "help text"
finish

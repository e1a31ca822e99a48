#!/usr/bin/env bash
# cmd_multi.sh - several FILEs for digest, info and check (sha256sum-like lines in order, the
# others still handled after a failure, the worst exit status, one JSON document with results)
# and the short options -j, -q, -n, -s (grouped too). Run by ctest (tests/cmds.cmake).
. "$(dirname "$0")/verify_lib.sh"

"$VHDFOLD" gen -q --format vhd --depth 1 -s 8M --seed 3 "$T/a" >/dev/null
"$VHDFOLD" gen -q --format vhdx --depth 1 -s 8M --seed 4 "$T/b" >/dev/null
A=$T/a/01-diff.vhd B=$T/b/01-diff.vhdx C=$T/a/00-base.vhd
want=""
for f in "$A" "$B" "$C"; do want+="$("$VHDFOLD" digest "$f")"$'\n'; done
run "$VHDFOLD" digest "$A" "$B" "$C"
expect_rc 0 "digest A B C"
expect_eq "$OUT"$'\n' "$want" "digest A B C prints each line in order"
run "$VHDFOLD" digest "$A" "$T/missing.vhd" "$C"
expect_rc 4 "digest with a missing FILE: the worst status"
expect_eq "$(wc -l <<<"$OUT")" 2 "the other FILEs are still digested"
expect_match "$ERR" "missing.vhd" "the failure names its FILE"
printf 'junk' >"$T/junk.vhd"
run "$VHDFOLD" digest "$T/junk.vhd" "$T/missing.vhd"
expect_rc 4 "exit 3 and exit 4: the worst is 4"
run "$VHDFOLD" digest -jq "$A" "$T/junk.vhd"
expect_rc 3 "digest -jq with a non-image"
expect_eq "$(json_get "$OUT" 'j["command"], j["exit"], len(j["results"]), j["results"][0]["digest"] == "'"${want%%  *}"'"')" \
    "('digest', 3, 2, True)" "one JSON document holding each FILE's"
run "$VHDFOLD" digest -j "$A"
expect_eq "$(json_get "$OUT" '"results" in j, j["file"]')" "(False, '$A')" "one FILE: the single document"
run "$VHDFOLD" info "$A" "$B"
expect_rc 0 "info A B"
expect_eq "$(grep -c '^file:' <<<"$OUT")" 2 "info describes both"
run "$VHDFOLD" check -j "$A" "$B"
expect_rc 0 "check A B"
expect_eq "$(json_get "$OUT" '[r["clean"] for r in j["results"]]')" "[True, True]" "check -j A B"
run "$VHDFOLD" check "$A" "$T/junk.vhd"
expect_rc 3 "check with a non-image: the worst status"
run "$VHDFOLD" digest
expect_rc 2 "digest without FILE"
expect_match "$ERR" "expected FILE\.\.\." "the usage error names FILE..."
# -n is --dry-run, -s is --size
cp "$C" "$T/r.vhd"
before=$(sha "$T/r.vhd")
run "$VHDFOLD" merge -n "$A" "$C"
expect_rc 0 "merge -n"
expect_match "$OUT" "nothing written \(--dry-run\)" "merge -n is a dry run"
run "$VHDFOLD" resize -s 16M -j "$T/r.vhd"
expect_eq "$(json_get "$OUT" 'j["virtual_size"]')" 16777216 "resize -s"
run "$VHDFOLD" --help
for c in map repair resize; do expect_match "$OUT" "^  $c " "vhdfold --help lists $c"; done
run "$VHDFOLD" digest --help
expect_match "$OUT" "-j, --json" "help shows -j"
expect_match "$OUT" "-q, --quiet" "help shows -q"
finish

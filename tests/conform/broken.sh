#!/usr/bin/env bash
# broken.sh - the runner must catch each deliberately broken merge (tests/conform/broken/)
# within 50 cases, for the right reason, and the reference mode of the same script must pass
# all 50 (so a broken mode is caught for its bug, not for the script's VHD handling).
# Also checks that a failure's printed reproducer really reproduces it.
. "$(dirname "$0")/lib.sh"
M="$PY $BROKEN/vhdmerge.py"
common=(--cases 50 --jobs 2 --seed 7 --format vhd --size 4M..6M --timeout 60)

conform "${common[@]}" --dest any --depth 1..4 --impl "$M --mode correct {chain}"
expect_rc 0 "vhdmerge.py --mode correct"
expect_summary "50 passed, 0 failed" "vhdmerge.py --mode correct"

# mode, extra options, the failure kind that must show
check_caught() {
  local name="$1" kind="$2"
  shift 2
  conform "${common[@]}" "$@"
  expect_rc 1 "$name"
  local n
  n="$(failed_count)"
  [ -n "$n" ] && [ "$n" -ge 1 ] || fail "$name: not caught in 50 cases"
  grep -q ": FAIL $kind: " "$T/out" || { cat "$T/out" >&2; fail "$name: no '$kind' failure"; }
  grep -q "^  reproduce: " "$T/out" || fail "$name: no reproducer printed"
  echo "caught $name: $n of 50 cases failed ($kind)"
}

check_caught "top-only" digest --dest base --depth 2..4 --impl "$M --mode top-only {chain}"
check_caught "whole-blocks" digest --profile sector,mixed --impl "$M --mode whole-blocks {chain}"
check_caught "no-zeros" digest --profile mixed --dest any --impl "$M --mode no-zeros {chain}"
check_caught "bat-first" exit --base dynamic --impl "$M --mode bat-first {chain}"
check_caught "cp-top" result --impl "$BROKEN/cp-top.sh {source} {dest}"

# Failing midway: after correct writes it is a plain `exit` (SOURCE's view intact, the changed
# DESTINATION named); after retagging DESTINATION it is `damage`, the worse kind.
check_caught "fail-midway" exit --cases 6 --dest any --impl "$M --mode fail-midway {chain}"
! grep -q ': FAIL damage: ' "$T/out" || fail "fail-midway judged as damage"
grep -q "; SOURCE's view intact, but DESTINATION '[0-9]*-[a-z]*.vhd' changed" "$T/out" ||
  fail "fail-midway: the changed DESTINATION is not named"
check_caught "retag-then-fail" damage --cases 6 --dest any --json "$T/rt.json" \
  --impl "$M --mode retag-then-fail {chain}"
"$PY" - "$T/rt.json" <<'PYEOF' || fail "retag-then-fail: damage without its facts"
import json, re, sys
cases = json.load(open(sys.argv[1]))["cases"]
pat = (r"^damage: the failed command left SOURCE's chain unreadable \('vhdfold digest \d+-diff\.vhd': "
       r".*expects parent id \{[-0-9a-f]{36}\} but .* has id \{[-0-9a-f]{36}\}.*\); "
       r"DESTINATION '\d+-\w+\.vhd' changed; also exit: the command exited with status 1")
bad = [c["reason"] for c in cases if c["kind"] != "damage" or not re.search(pat, c["reason"])]
assert len(cases) == 6 and not bad, bad
PYEOF

# The printed reproducer of the first whole-blocks failure, run by hand, gives a DESTINATION
# whose digest differs from the manifest's digest of SOURCE, and the failure line names the
# first differing offset.
conform "${common[@]}" --profile sector --impl "$M --mode whole-blocks {chain}"
expect_rc 1 "whole-blocks (reproducer)"
grep -m1 ": FAIL digest: " "$T/out" | grep -q "first differing offset [0-9]" ||
  fail "digest failure without a first differing offset"
awk '/: FAIL digest: /{f=1; next} f && /^  reproduce: /{sub(/^  reproduce: /,""); print; next}
     f && /^             /{sub(/^ +/,""); print; exit}' "$T/out" >"$T/repro.sh"
[ "$(wc -l <"$T/repro.sh")" = 2 ] || { cat "$T/out"; fail "reproducer is not two lines"; }
line="$(grep -m1 ': FAIL digest: ' "$T/out")"
(cd "$T" && bash "$T/repro.sh") || fail "the reproducer did not run"
dir="$(sed -n '1s/^rm -rf \([^ ]*\) .*/\1/p' "$T/repro.sh" | tr -d "'")"
[ -f "$dir/manifest.json" ] || fail "reproducer folder '$dir' has no manifest"
read -r src dst want < <("$PY" - "$dir" "$line" <<'PYEOF'
import json, re, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
dest = int(re.search(r"dest=(\d+)", sys.argv[2]).group(1))
lv = m["levels"]
print(lv[-1]["file"], lv[-1 - dest]["file"], lv[-1]["sha256"])  # dest= counts from the top
PYEOF
)
got="$("$VHDFOLD" digest "$dir/$dst" | cut -d' ' -f1)"
[ "$got" != "$want" ] || fail "the reproducer did not reproduce the wrong digest"
rm -rf "$dir"
echo "reproducer reproduces the digest failure"
echo "broken.sh: all broken implementations caught"

#!/usr/bin/env bash
# runner.sh - the conformance runner's own logic, against fake_vhdfold.py (a stand-in whose
# "images" are the flattened views themselves), so each verdict is known in advance:
# passes, each failure kind, time limits with process-group kill, untouched files, --result,
# readers, determinism and shards, expectation files (known, unknown, stale), reports, usage.
. "$(dirname "$0")/lib.sh"
FAKE=(--vhdfold "$HERE/fake_vhdfold.py")
lines() { grep '^case ' "$T/out" | sed 's/ (.*s)$//; s/: pass$/: pass/' | sort; }

# 1. the default impl (the fake's merge) passes; the closing line is exact
conform "${FAKE[@]}" --cases 12 --jobs 2 --dest any
expect_rc 0 "default impl"
expect_summary "12 passed, 0 failed" "default impl"
[ "$(grep -c '^case [0-9]* \[.*\]: pass' "$T/out")" = 12 ] || fail "one pass line per case"

# 2. cases are reproducible from (seed, index); another seed gives other cases
conform "${FAKE[@]}" --cases 12 --jobs 1 --dest any
lines >"$T/a"
conform "${FAKE[@]}" --cases 12 --jobs 2 --dest any
lines >"$T/b"
cmp -s "$T/a" "$T/b" || fail "same seed, different cases"
conform "${FAKE[@]}" --cases 12 --dest any --seed 99
lines >"$T/c"
! cmp -s "$T/a" "$T/c" || fail "another seed gave the same cases"

# 3. shards partition the suite
for k in 1 2 3; do
  conform "${FAKE[@]}" --cases 12 --dest any --shard "$k/3"
  expect_rc 0 "shard $k/3"
  lines >>"$T/shards"
done
sort "$T/shards" | cmp -s - "$T/a" || fail "shards 1/3..3/3 are not the whole suite"

# 4. a wrong result: digest failure with the first differing offset and a reproducer
conform "${FAKE[@]}" --cases 4 --dest any --impl 'cp {dest} {source}'
expect_rc 1 "wrong merge"
expect_summary "0 passed, 4 failed" "wrong merge"
[ "$(grep -c ': FAIL digest: .*first differing offset [0-9]* (sector' "$T/out")" = 4 ] ||
  fail "digest failures without offsets"
[ "$(grep -c '^  reproduce: rm -rf .* gen --format vhd --seed [0-9]* --depth' "$T/out")" = 4 ] ||
  fail "no gen reproducer"
grep -q '^             cd .* && cp ' "$T/out" || fail "reproducer lacks the merge command"

# 5. non-zero exit, with the command's stderr
conform "${FAKE[@]}" --cases 2 --impl 'echo merge exploded >&2; exit 7'
expect_rc 1 "exit 7"
[ "$(grep -c ': FAIL exit: the command exited with status 7; stderr: merge exploded' "$T/out")" = 2 ] ||
  fail "exit failure not reported"

# 6. time limit: the whole process group dies, including a background child
start=$(date +%s)
conform "${FAKE[@]}" --cases 2 --jobs 2 --timeout 1 \
  --impl "sleep 60 & echo \$! >> '$T/bg'; sleep 60"
end=$(date +%s)
expect_rc 1 "timeout"
[ "$(grep -c ': FAIL timeout: the command timed out after' "$T/out")" = 2 ] || fail "no timeout"
[ $((end - start)) -lt 20 ] || fail "timeout took $((end - start)) s"
# alive = exists and is not a zombie waiting for init to reap it
alive() { local st; st="$(ps -o stat= -p "$1" 2>/dev/null || true)"; [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
while read -r pid; do
  for _ in 1 2 3 4 5 6; do alive "$pid" || break; sleep 0.5; done
  ! alive "$pid" || fail "background child $pid survived the timeout"
done <"$T/bg"

# 7. files below DESTINATION must stay byte-for-byte the same
conform "${FAKE[@]}" --cases 3 --depth 2..3 \
  --impl 'cp {source} {dest} && printf x >> {dir}/00-base.img'
expect_rc 1 "touched base"
[ "$(grep -c ": FAIL touched: level 0 '.*00-base.img' changed" "$T/out")" = 3 ] ||
  fail "touched base not reported"

# 8. --result: where the merged disk ends up; a missing result is its own failure
conform "${FAKE[@]}" --cases 3 --impl 'cp {source} {dir}/out.img' --result '{dir}/out.img'
expect_rc 0 "--result"
conform "${FAKE[@]}" --cases 2 --impl 'true' --result '{dir}/nowhere.img'
expect_rc 1 "missing result"
[ "$(grep -c ": FAIL result: the result '.*nowhere.img' does not exist" "$T/out")" = 2 ] ||
  fail "missing result not reported"

# 9. several failures of one case are all named
conform "${FAKE[@]}" --cases 2 --impl 'cp {source} {dest} && printf x >> {dest}'
expect_rc 1 "digest and check"
[ "$(grep -c ': FAIL digest: .*; also check: ' "$T/out")" = 2 ] || fail "check not listed"

# 10. expectation files: known divergences pass, unknown ones fail, stale ones fail
printf '# cp is backwards\ndigest -- copies the wrong way round\n' >"$T/all.expect"
conform "${FAKE[@]}" --cases 4 --dest any --impl 'cp {dest} {source}' --expect "$T/all.expect"
expect_rc 0 "all known"
expect_summary "4 passed, 0 failed" "all known"
[ "$(grep -c 'known divergence (expectation line 2: copies the wrong way round)' "$T/out")" = 4 ] ||
  fail "known divergences not labelled"
printf 'digest depth=2 -- only depth 2 is known\n' >"$T/some.expect"
conform "${FAKE[@]}" --cases 8 --depth 1..3 --impl 'cp {dest} {source}' --expect "$T/some.expect"
expect_rc 1 "partly known"
known=$(grep -c ': known divergence' "$T/out" || true)
unknown=$(grep -c ': FAIL digest' "$T/out" || true)
[ "$known" -ge 1 ] && [ "$unknown" -ge 1 ] || fail "want both known ($known) and unknown ($unknown)"
expect_summary "$known passed, $unknown failed" "partly known"
printf 'exit -- an old bug that was fixed\n' >"$T/stale.expect"
conform "${FAKE[@]}" --cases 3 --expect "$T/stale.expect"
expect_rc 1 "stale expectation"
expect_summary "3 passed, 1 failed" "stale expectation"
grep -q '^expectation line 1 no longer reproduces (3 matching cases passed): an old bug' "$T/out" ||
  fail "stale expectation not named"
printf 'digest colour=red -- nonsense\n' >"$T/bad.expect"
conform "${FAKE[@]}" --cases 1 --expect "$T/bad.expect"
expect_rc 2 "bad expectation file"
grep -q "bad.expect' line 1: unknown filter key 'colour'" "$T/err" || fail "bad expect message"

# 11. readers: the first 64-hex word of stdout is compared with the manifest
conform "${FAKE[@]}" --cases 3 --reader 'sha256sum {top}'
expect_rc 0 "good reader"
conform "${FAKE[@]}" --cases 2 --reader "printf '%064d  x\\n' 0"
expect_rc 1 "wrong reader"
[ "$(grep -c ": FAIL digest: the reader's digest 0000000000000000" "$T/out")" = 2 ] ||
  fail "wrong reader not reported"
conform "${FAKE[@]}" --cases 2 --reader 'echo no digest here'
[ "$(grep -c ': FAIL output: the reader printed no 64-digit SHA-256' "$T/out")" = 2 ] ||
  fail "silent reader not reported"
conform "${FAKE[@]}" --cases 2 --reader 'sha256sum {top}; printf x >> {top}'
[ "$(grep -c ': FAIL touched: ' "$T/out")" = 2 ] || fail "a reader that writes is not caught"

# 12. reports and kept failures
conform "${FAKE[@]}" --cases 5 --dest any --impl 'cp {dest} {source}' --expect "$T/some.expect" \
  --junit "$T/r.xml" --json "$T/r.json" --keep-failures "$T/keep"
"$PY" - "$T/r.xml" "$T/r.json" <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot()
cases = suite.findall("testcase")
assert suite.get("tests") == "5" and len(cases) == 5, "junit case count"
nfail = len(suite.findall("testcase/failure")) + len(suite.findall("testcase/skipped"))
assert nfail == 5, nfail
r = json.load(open(sys.argv[2]))
assert r["schema"] == 1 and len(r["cases"]) == 5
assert r["passed"] + r["failed"] >= 5
assert all(c["verdict"] in ("known", "fail") and "digest" in c["kinds"] for c in r["cases"])
assert all("first_diff" in c and "reproduce" in c for c in r["cases"])
assert r["expectations"][0]["line"] == 1
PYEOF
[ "$(ls "$T/keep" | wc -l)" = 5 ] || fail "kept failures: $(ls "$T/keep")"
[ -f "$(ls -d "$T"/keep/seed-1-case-000000)/chain/manifest.json" ] || fail "kept case lacks its chain"

# 13. usage errors exit 2 and name the problem
for bad in "--shard 0/2" "--depth 3..1" "--jobs 0" "--dest sideways" "--size 1K" "--cases x"; do
  # shellcheck disable=SC2086
  conform "${FAKE[@]}" $bad
  expect_rc 2 "$bad"
done
conform "${FAKE[@]}" --cases 1 --impl 'merge {src} {dest}'
expect_rc 2 "unknown placeholder"
grep -q "unknown placeholder '{src}'" "$T/err" || fail "unknown placeholder not named"
conform "${FAKE[@]}" --impl true --reader true
expect_rc 2 "impl and reader"
echo "runner.sh: all runner checks passed"

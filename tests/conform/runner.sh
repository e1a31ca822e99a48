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
"$PY" - "$T/r.xml" "$T/r.json" "$T" <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot()
cases = suite.findall("testcase")
assert suite.get("tests") == "5" and len(cases) == 5, "junit case count"
nfail = len(suite.findall("testcase/failure")) + len(suite.findall("testcase/skipped"))
assert nfail == 5, nfail
r = json.load(open(sys.argv[2]))
assert r["schema"] == 2 and r["command"] == "conform" and r["exit"] == 1 and len(r["cases"]) == 5
assert isinstance(r["seed"], str) and all(isinstance(c["case"]["gen_seed"], str) for c in r["cases"])
assert r["passed"] + r["failed"] >= 5
assert all(c["verdict"] in ("known", "fail") and "digest" in c["kinds"] for c in r["cases"])
assert all("first_diff" in c and "reproduce" in c for c in r["cases"])
for c in r["cases"]:
    rep = c["reproduce"]
    assert rep["gen_argv"][1] == "gen" and rep["gen_argv"][-1] == rep["cwd"], rep
    assert rep["command_argv"][:2] == ["/bin/sh", "-c"] and "cp " in rep["command_argv"][2], rep
    assert rep["shell"].startswith("  reproduce: rm -rf "), rep
    # kept failures: everything names the kept folder, not the removed work folder
    assert c["kept"] in rep["cwd"] and "/keep/" in rep["shell"] and sys.argv[3] + "/work/" not in rep["shell"], rep
assert r["expectations"][0]["line"] == 1
PYEOF
[ "$(ls "$T/keep" | wc -l)" = 5 ] || fail "kept failures: $(ls "$T/keep")"
[ -f "$(ls -d "$T"/keep/seed-1-case-000000)/chain/manifest.json" ] || fail "kept case lacks its chain"

grep -q "^  reproduce: rm -rf $T/keep/seed-1-case-" "$T/out" ||
  fail "console reproducer does not name the kept folder"
! grep -q "$T/work" "$T/out" || fail "console names the removed work folder"

# 13. damage: a command that fails and leaves SOURCE's view changed is worse than `exit`;
# one that fails and changes only DESTINATION is a plain `exit` (the fact is listed)
conform "${FAKE[@]}" --cases 2 --impl 'printf x >> {source}; echo boom >&2; exit 3' --json "$T/d.json" \
  --junit "$T/d.xml"
expect_rc 1 "damage"
[ "$(grep -c ": FAIL damage: the failed command left SOURCE's view changed (flat digest [0-9a-f]\{64\}, before the command [0-9a-f]\{64\}); SOURCE '0[0-9]-diff.img' changed; also exit: the command exited with status 3; stderr: boom" "$T/out")" = 2 ] ||
  { cat "$T/out"; fail "damage not reported with its facts"; }
"$PY" - "$T/d.json" "$T/d.xml" <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
r = json.load(open(sys.argv[1]))
assert r["severity_order"][:3] == ["damage", "touched", "digest"], r["severity_order"]
assert r["severity_order"].index("damage") < r["severity_order"].index("exit")
for c in r["cases"]:
    assert c["kind"] == "damage" and c["severity"] == 1 and c["kinds"] == ["damage", "exit"], c
suite = ET.parse(sys.argv[2]).getroot()
props = {p.get("name"): p.get("value") for p in suite.iter("property")}
assert props["severity_order"].startswith("damage,touched,digest"), props
for f in suite.iter("failure"):
    assert f.get("type") == "damage" and f.get("severity") == "1", f.attrib
PYEOF
conform "${FAKE[@]}" --cases 2 --impl 'printf x >> {dest}; exit 3'
expect_rc 1 "exit after changing DESTINATION"
[ "$(grep -c ": FAIL exit: the command exited with status 3; SOURCE's view intact, but DESTINATION '0[0-9]-.*.img' changed$" "$T/out")" = 2 ] ||
  { cat "$T/out"; fail "a harmless failure is not a plain exit with its facts"; }
# an expectation for `exit` does not hide the damage; one for `damage` explains it
printf 'exit -- it fails\n' >"$T/exit.expect"
conform "${FAKE[@]}" --cases 2 --impl 'printf x >> {source}; exit 3' --expect "$T/exit.expect"
expect_rc 1 "exit expectation vs damage"
[ "$(grep -c ': FAIL damage: ' "$T/out")" = 2 ] || fail "an exit expectation hid the damage"
printf 'damage -- it fails and breaks SOURCE\n' >"$T/damage.expect"
conform "${FAKE[@]}" --cases 2 --impl 'printf x >> {source}; exit 3' --expect "$T/damage.expect"
expect_rc 0 "damage expectation"

# 14. declared semantics (a model line): files from DESTINATION up besides the result
printf 'model source=kept intermediates=kept\n' >"$T/kept.model"
conform "${FAKE[@]}" --cases 4 --dest any --depth 2..3 --expect "$T/kept.model"
expect_rc 0 "model kept (the fake merge leaves SOURCE alone)"
printf 'model source=removed\n' >"$T/removed.model"
conform "${FAKE[@]}" --cases 2 --expect "$T/removed.model"
expect_rc 1 "model removed"
[ "$(grep -c ": FAIL model: SOURCE '0[0-9]-diff.img' still exists; the model (expectation line 1) says removed" "$T/out")" = 2 ] ||
  { cat "$T/out"; fail "model violation not reported"; }
conform "${FAKE[@]}" --cases 2 --impl 'cp {source} {dest} && printf y >> {source}' --expect "$T/kept.model"
expect_rc 1 "model kept, SOURCE changed"
grep -q ": FAIL model: SOURCE '0[0-9]-diff.img' changed; the model (expectation line 1) says kept" "$T/out" ||
  fail "changed SOURCE not reported against the model"
# a removed SOURCE that is the result (vhd-lib's rename) is judged as the result, not by the model
printf 'model source=removed dest=removed\n' >"$T/vhdlib.model"
conform "${FAKE[@]}" --cases 2 --impl 'mv {dest} {dest}.old && cp {source} {dest}.new && rm {dest}.old && mv {dest}.new {source}' \
  --result '{source}' --expect "$T/vhdlib.model"
expect_rc 0 "rename model (DESTINATION gone, SOURCE holds the result)"
conform "${FAKE[@]}" --cases 2 --impl 'cp {source} {dest}.new && mv {dest}.new {source}' \
  --result '{source}' --expect "$T/vhdlib.model"
expect_rc 1 "rename model, DESTINATION left behind"
[ "$(grep -c ": FAIL model: DESTINATION '0[0-9]-.*' still exists; the model (expectation line 1) says removed" "$T/out")" = 2 ] ||
  { cat "$T/out"; fail "DESTINATION left behind not reported"; }
printf 'model source=sideways\n' >"$T/bad.model"
conform "${FAKE[@]}" --cases 1 --expect "$T/bad.model"
expect_rc 2 "bad model line"
grep -q "bad.model' line 1: model term 'source' is not" "$T/err" || { cat "$T/err"; fail "bad model message"; }

# 15. a long reason: whole in the reports and in the kept folder, shortened on the console at
# a word boundary (never inside a UUID)
long="$(printf 'w%.0s ' $(seq 1 170))id {0123abcd-4567-89ab-cdef-0123456789ab} at the end"
echo "$long" >"$T/long.txt"
conform "${FAKE[@]}" --cases 1 --impl "cat '$T/long.txt' >&2; exit 5" --json "$T/l.json" \
  --junit "$T/l.xml" --keep-failures "$T/lkeep"
expect_rc 1 "long reason"
line="$(grep ': FAIL exit: ' "$T/out")"
grep -q "more bytes; whole reason in $T/lkeep/seed-1-case-000000/reason.txt)" <<<"$line" ||
  fail "console does not say where the whole reason is: $line"
! grep -q '{0123abcd' <<<"$line" || fail "console kept the tail it should have shortened"
grep -q -- "$long" "$T/lkeep/seed-1-case-000000/reason.txt" || fail "reason.txt lacks the whole reason"
"$PY" - "$T/l.json" "$T/l.xml" "$long" <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
r = json.load(open(sys.argv[1]))
assert sys.argv[3] + "; SOURCE's view intact" in r["cases"][0]["reason"], r["cases"][0]["reason"]
f = next(ET.parse(sys.argv[2]).getroot().iter("failure"))
assert sys.argv[3] in f.get("message"), f.get("message")
PYEOF

# 16. an unwritable report path is refused before the first case runs
conform "${FAKE[@]}" --cases 3 --json "$T/no/such/dir/r.json"
[ "$rc" != 0 ] && [ "$rc" != 1 ] || fail "unwritable --json: exit status $rc"
! grep -q '^case ' "$T/out" || fail "cases ran before the unwritable --json was reported"
grep -q "cannot write the report '$T/no/such/dir/r.json'" "$T/err" || { cat "$T/err"; fail "no message"; }
conform "${FAKE[@]}" --cases 3 --junit "$T/no/such/dir/r.xml"
! grep -q '^case ' "$T/out" || fail "cases ran before the unwritable --junit was reported"
conform "${FAKE[@]}" --cases 1 --json "$T/fresh.json"
[ -s "$T/fresh.json" ] || fail "the probe removed a report it should have written"

# 17. every committed expectation file parses (model lines included)
for f in "$VF_SOURCE_DIR"/corpus/conform/*.expect; do
  conform "${FAKE[@]}" --cases 0 --expect "$f"
  expect_rc 0 "parsing $(basename "$f")"
done

# 18. usage errors exit 2 and name the problem
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

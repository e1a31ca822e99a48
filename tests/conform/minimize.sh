#!/usr/bin/env bash
# minimize.sh - two deliberately broken merges of our own (tests/conform/broken/) judged by the
# runner, and `conform --minimize` on one of them:
#   crash-midway.sh overwrites DESTINATION with half of SOURCE and exits 1: every failure is
#     `damage` (not the milder `exit`), with the facts;
#   drop-level.sh forgets the level above DESTINATION: every failure is `digest`, and
#     --minimize shrinks the first one to a 2-level chain with at most 2 writes, counts its
#     trials within --minimize-budget, names the level and write of the first differing
#     offset, and prints a reproducer that, run in an empty folder, gives the wrong digest.
. "$(dirname "$0")/lib.sh"
common=(--jobs 2 --seed 5 --format vhd --size 4M..6M --timeout 60)

conform "${common[@]}" --cases 6 --base dynamic --dest any --json "$T/crash.json" \
  --impl "$BROKEN/crash-midway.sh {source} {dest}"
expect_rc 1 "crash-midway"
"$PY" - "$T/crash.json" <<'PYEOF' || fail "crash-midway: not every case is damage with its facts"
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
bad = [(c["index"], c.get("kind"), c.get("reason")) for c in cases
       if c.get("kind") != "damage" or "the failed command left SOURCE's" not in c["reason"]
       or "also exit: the command exited with status 1" not in c["reason"]]
assert len(cases) == 6 and not bad, bad
PYEOF
echo "crash-midway: 6 of 6 cases judged damage"

budget=60
conform "${common[@]}" --cases 8 --depth 2..4 --dest any --minimize \
  --minimize-budget "$budget" --json "$T/drop.json" --impl "$BROKEN/drop-level.sh {chain}"
expect_rc 1 "drop-level"
cp "$T/out" "$T/drop.out"
read -r trials shell < <("$PY" - "$T/drop.json" "$budget" <<'PYEOF'
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
budget = int(sys.argv[2])
failed = [c for c in cases if c["verdict"] == "fail"]
assert failed and all(c["kind"] == "digest" for c in failed), [c.get("kind") for c in failed]
mins = [c["minimized"] for c in failed if "minimized" in c]
assert len(mins) == 1, "one class, so one case minimized: %d" % len(mins)
m = mins[0]
assert 1 <= m["trials"] <= budget and not m["exhausted"], m
assert m["depth"] == 1 and m["dest_level"] == 0, m          # a 2-level chain
assert 1 <= m["writes_kept"] <= 2, m                         # few writes
assert m["from_level"] == 1 and m["first_diff"] is not None, m   # SOURCE's write was lost
assert m["reason"].startswith("digest: "), m["reason"]
print(m["trials"], m["shell"])
PYEOF
)
grep -q "^minimized case [0-9]* (digest, unknown divergence): $trials trials of $budget, [0-9]* rounds\?$" \
  "$T/drop.out" || fail "drop-level: no minimization line with the trial count"
grep -q "^  minimal reproducer (from an empty folder): mkdir d && " "$T/drop.out" ||
  fail "drop-level: no minimal reproducer printed"
# The reproducer, run in an empty folder: DESTINATION's digest is not SOURCE's view before.
mkdir "$T/empty"
(cd "$T/empty" && sh -c "$shell") || fail "the minimal reproducer did not run: $shell"
[ "$(ls "$T/empty/d" | grep -c '\.vhd$')" = 2 ] || fail "the reproducer's chain is not 2 levels"
want="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][-1]["sha256"])' \
  "$T/empty/d/manifest.json")"
got="$("$VHDFOLD" digest "$T/empty/d/00-base.vhd" | cut -d' ' -f1)"
[ "$got" != "$want" ] || fail "the minimal reproducer did not reproduce the wrong digest"
echo "drop-level: minimized to a 2-level chain in $trials trials; the reproducer reproduces it"

# A second round: empty-dest.sh is broken on 3-level chains and on a DESTINATION without data,
# so depth 1 fails only once ddmin has removed the base's writes; one round stops at depth 2.
conform --jobs 2 --seed 5 --format vhd --cases 1 --base dynamic --dest base --depth 2..2 \
  --size 5M --minimize --minimize-budget 80 --json "$T/round.json" \
  --impl "$BROKEN/empty-dest.sh {chain}"
expect_rc 1 "empty-dest"
"$PY" - "$T/round.json" <<'PYEOF' || fail "empty-dest: not shrunk to depth 1 in a later round"
import json, sys
c = json.load(open(sys.argv[1]))["cases"][0]
m = c["minimized"]
assert c["kind"] == "digest" and c["case"]["depth"] == 2, c
assert m["depth"] == 1 and m["rounds"] >= 2 and m["writes_kept"] >= 1, m
assert m["trials"] <= 80 and not m["exhausted"], m
PYEOF
grep -q "^minimized case 0 (digest, unknown divergence): [0-9]* trials of 80, [2-9] rounds$" \
  "$T/out" || fail "empty-dest: no minimization line with its rounds"
echo "empty-dest: depth 2 -> 1 in a later round of the minimizer"
# The budget bounds the trials, rounds included.
for b in 3 7; do
  conform --jobs 2 --seed 5 --format vhd --cases 1 --base dynamic --dest base --depth 2..2 \
    --size 5M --minimize --minimize-budget "$b" --json "$T/b.json" \
    --impl "$BROKEN/empty-dest.sh {chain}"
  "$PY" - "$T/b.json" "$b" <<'PYEOF' || fail "budget $b: trials not bounded"
import json, sys
m = json.load(open(sys.argv[1]))["cases"][0]["minimized"]
b = int(sys.argv[2])
assert m["trials"] == b and m["exhausted"] and m["budget"] == b, m
PYEOF
done
echo "empty-dest: budgets 3 and 7 stop the minimizer at exactly 3 and 7 trials"

echo "minimize.sh: ok"

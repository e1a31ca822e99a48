#!/usr/bin/env bash
# ours.sh - our own merger (the default --impl) passes 60 generated VHD cases across every
# generator profile, depths 1..5, both base types and DESTINATION anywhere in the chain
# (ci/conform runs the full 200-case suite in CI).
. "$(dirname "$0")/lib.sh"
conform --cases 60 --jobs 2 --seed 2024 --format vhd --profile all --depth 1..5 --dest any \
  --size 4M..8M --timeout 120 --json "$T/ours.json"
expect_rc 0 "our merger"
expect_summary "60 passed, 0 failed" "our merger"
"$PY" - "$T/ours.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
cases = r["cases"]
assert len(cases) == 60 and all(c["verdict"] == "pass" for c in cases), "json verdicts"
profiles = {c["case"]["profile"] for c in cases}
bases = {c["case"]["base"] for c in cases}
depths = {c["case"]["depth"] for c in cases}
# dest_level counts from the top (docs/json.md): 1 is SOURCE's parent, depth the base
dests = {("parent" if c["case"]["dest_level"] == 1 else
          "base" if c["case"]["dest_level"] == c["case"]["depth"] else "middle") for c in cases}
assert profiles == {"mixed", "aligned", "sector", "blocks"}, profiles
assert bases == {"fixed", "dynamic"}, bases
assert depths == {1, 2, 3, 4, 5}, depths
assert dests == {"parent", "base", "middle"}, dests
print("coverage: profiles", sorted(profiles), "bases", sorted(bases), "depths", sorted(depths),
      "dest", sorted(dests))
PYEOF
echo "ours.sh: 60 cases passed"

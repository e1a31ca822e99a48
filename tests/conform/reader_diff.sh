#!/usr/bin/env bash
# reader_diff.sh - a reader's wrong digest is located: bad-reader.sh (tests/conform/broken/)
# flips one byte of the view; with --reader-raw the runner names the first differing offset
# in the console and the JSON, and --minimize names the level and write that define it.
. "$(dirname "$0")/lib.sh"
# A broken reader: the first differing offset is located through --reader-raw, and the
# minimized case names the level and write that define it (or none: zeros).
V="$VHDFOLD"
conform --seed 3 --format vhd --cases 2 --size 4M --minimize --minimize-budget 40 \
  --json "$T/reader.json" --reader "$BROKEN/bad-reader.sh $V {top}" \
  --reader-raw "$BROKEN/bad-reader.sh $V --raw {out} {top}"
expect_rc 1 "bad-reader"
grep -q "^case 0 .*FAIL digest: the reader's digest .*; first differing offset 300000 (sector 585, block 0 of 2 MiB), 1 bytes differ, " \
  "$T/out" || fail "bad-reader: the console does not locate the first differing byte"
"$PY" - "$T/reader.json" <<'PYEOF' || fail "bad-reader: first_diff missing from the JSON"
import json, sys
cases = json.load(open(sys.argv[1]))["cases"]
assert all(c["kind"] == "digest" and c["first_diff"] == 300000 for c in cases), cases
m = cases[0]["minimized"]
assert m["first_diff"] == 300000 and "from_level" in m, m
PYEOF
# over the first written byte: the level and write that define it
BAD_READER_OFFSET=data conform --seed 3 --format vhd --cases 1 --size 4M --profile blocks \
  --base dynamic --minimize --minimize-budget 40 --json "$T/reader0.json" \
  --reader "$BROKEN/bad-reader.sh $V {top}" --reader-raw "$BROKEN/bad-reader.sh $V --raw {out} {top}"
"$PY" - "$T/reader0.json" <<'PYEOF' || fail "bad-reader over data: no level and write named"
import json, sys
c = json.load(open(sys.argv[1]))["cases"][0]
m = c["minimized"]
assert c["first_diff"] is not None and m["first_diff"] is not None, c
assert c["from_level"] is not None and c["from_write"] is not None, c
assert m["from_level"] is not None and m["from_write"] is not None, m
PYEOF
grep -q "^case 0 .*; first differing offset [0-9]* .*, defined in SOURCE's view by level [0-9]* write [0-9]*$" \
  "$T/out" || fail "bad-reader over data: the case line names no level and write"
grep -q "^    SOURCE's view takes it from level [0-9]* write [0-9]*" "$T/out" ||
  fail "bad-reader over data: the console names no level and write"
echo "bad-reader: first differing offset located (300000; over data with its level and write)"
echo "reader_diff.sh: ok"

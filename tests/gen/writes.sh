#!/usr/bin/env bash
# writes.sh - `vhdfold gen --writes` replays a subset of the planned writes and `--list-writes`
# lists them (docs/gen.md "Replaying a subset of the writes"):
#   - a thinned chain reads (vhdfold digest) as its manifest says, level by level, VHD and VHDX;
#   - a level the selector does not name is byte-for-byte the full chain's level;
#   - the writes kept are the full plan's: --list-writes of the thinned chain is exactly the
#     full list filtered by the selector, and `writes_selected` is in the manifest;
#   - bad selectors (syntax, a level past --depth, a write the level lacks) exit 2, write nothing.
# Environment: VHDFOLD (the built CLI). Registered by tests/gen.cmake.
set -euo pipefail
: "${VHDFOLD:?VHDFOLD must name the built vhdfold}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for fmt in vhd vhdx; do
  ext=$fmt
  args=(--format "$fmt" --seed 77 --depth 3 --size 4M --block-size 1M --density 0.7 --profile mixed)
  "$VHDFOLD" gen "${args[@]}" --list-writes "$tmp/$fmt-full" >"$tmp/$fmt-full.json"
  # keep the even-numbered writes of level 1 and none of level 3; levels 0 and 2 whole
  sel="$("$PY" - "$tmp/$fmt-full.json" <<'PYEOF'
import json, sys
w = json.load(open(sys.argv[1]))["writes"]
even = [x["write"] for x in w if x["level"] == 1 and x["write"] % 2 == 0]
assert even and any(x["level"] == 3 for x in w), "seed 77 must give level 1 and 3 writes"
print("1:" + ",".join(map(str, even)) + "/3:none")
PYEOF
)"
  "$VHDFOLD" gen "${args[@]}" --writes "$sel" --list-writes "$tmp/$fmt-thin" >"$tmp/$fmt-thin.json"
  "$PY" - "$tmp/$fmt-full.json" "$tmp/$fmt-thin.json" "$tmp/$fmt-thin/manifest.json" "$sel" <<'PYEOF' ||
import json, sys
full = json.load(open(sys.argv[1]))["writes"]
thin = json.load(open(sys.argv[2]))["writes"]
man = json.load(open(sys.argv[3]))
want = [x for x in full if not (x["level"] == 3 or (x["level"] == 1 and x["write"] % 2))]
assert thin == want, "the writes kept are not the full plan's"
assert man["writes_selected"] == sys.argv[4]
assert [l["writes"] for l in man["levels"]] == [sum(1 for x in thin if x["level"] == n) for n in range(4)]
PYEOF
    fail "$fmt: --list-writes of the thinned chain is not the full list filtered"
  for l in 0 1 2 3; do
    f=$(printf '%02d-%s.%s' "$l" "$([ "$l" = 0 ] && echo base || echo diff)" "$ext")
    want="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][int(sys.argv[2])]["sha256"])' "$tmp/$fmt-thin/manifest.json" "$l")"
    got="$("$VHDFOLD" digest "$tmp/$fmt-thin/$f" | cut -d' ' -f1)"
    [ "$got" = "$want" ] || fail "$fmt: level $l of the thinned chain reads $got, manifest $want"
  done
  cmp -s "$tmp/$fmt-full/00-base.$ext" "$tmp/$fmt-thin/00-base.$ext" ||
    fail "$fmt: the base (not named) differs from the full chain's"
  ! grep -q writes_selected "$tmp/$fmt-full/manifest.json" || fail "full manifest names a selection"
  echo "$fmt: --writes '$sel' reads as its manifest; kept writes are the full plan's"
done

bad() { # selector, needle
  local rc=0
  "$VHDFOLD" gen --seed 77 --depth 3 --size 4M --density 1 --writes "$1" "$tmp/bad" >"$tmp/o" 2>"$tmp/e" || rc=$?
  [ "$rc" = 2 ] || fail "--writes '$1': exit $rc, expected 2"
  grep -q -- "$2" "$tmp/e" || { cat "$tmp/e"; fail "--writes '$1': no '$2' in the message"; }
  [ ! -e "$tmp/bad" ] || fail "--writes '$1': something was written"
}
bad '1:x' 'expected a write number'
bad '1' 'expected LEVEL:LIST'
bad '4:1' 'no such level'
bad '0:1/0:2' 'level named twice'
bad '1:5-2' 'B >= A'
bad '0:9999' 'no write 9999'
echo "writes.sh: ok"

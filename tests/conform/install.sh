#!/usr/bin/env bash
# install.sh - reproducers run from an empty folder with vhdfold installed and nothing else
# (issue 18, item 6). Installs the build into a temporary prefix with `cmake --install`, then,
# in empty folders with PATH at that prefix's bin, a bare environment (no VF_SOURCE_DIR, no
# VHDFOLD, HOME elsewhere) and the working directory outside the source tree:
#   1. the adapters are installed (DATADIR/vhdfold/adapters), the build-tree marker is not;
#   2. a broken merge of a user's own (drop-level.sh, copied out of the tree, passed by path)
#      fails; its printed reproducer (JSON `shell`) and its minimal reproducer, each run in a
#      new empty folder, give the same wrong digest again;
#   3. with qemu-img present: `conform --adapter qemu-img` runs the installed adapter, its
#      reproducers name it under the prefix (never the source tree), the first differing
#      offset is located, and the minimal reproducer prints the same wrong digest again.
# The build-tree binary's reproducers name the configured install folder, not the source tree.
# Usage: install.sh BUILD_DIR (ctest passes it).
. "$(dirname "$0")/lib.sh"
build="${1:?usage: install.sh BUILD_DIR}"
prefix="$T/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
prefix="$(cd "$prefix" && pwd -P)"
adapters="$prefix/share/vhdfold/adapters"
for f in 7zip/flatten.sh qemu-img/flatten.sh libvhdi/flatten.py vhd-lib/merge.js; do
  [ -x "$adapters/$f" ] || fail "adapter $f not installed (executable) under the prefix"
done
[ ! -e "$prefix/bin/vhdfold-source-adapters" ] || fail "the build-tree marker was installed"
libdir="$(dirname "$(find "$prefix" -name 'libvhdfold.so.*' -type f | head -n 1)")"
mkdir -p "$T/mine" "$T/home" "$T/tmp"
cp "$BROKEN/drop-level.sh" "$BROKEN/vhdmerge.py" "$T/mine/"

# bare DIR CMD...: CMD in DIR (created empty) with only the installed vhdfold reachable.
bare() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  (cd "$dir" && env -i PATH="$prefix/bin:/usr/bin:/bin" LD_LIBRARY_PATH="$libdir" \
    HOME="$T/home" TMPDIR="$T/tmp" "$@")
}
[ "$(bare "$T/where" sh -c 'command -v vhdfold')" = "$prefix/bin/vhdfold" ] ||
  fail "PATH does not find the installed vhdfold first"

# 2. a user's own broken merge, by path
set +e
bare "$T/run1" vhdfold conform --seed 5 --cases 4 --depth 2..3 --size 4M --jobs 2 \
  --minimize --minimize-budget 30 --json r.json --impl "$T/mine/drop-level.sh {chain}" \
  >"$T/out" 2>"$T/err"
rc=$?
set -e
expect_rc 1 "installed conform on drop-level.sh"
{ read -r got; read -r shell; read -r small; } < <("$PY" - "$T/run1/r.json" <<'PYEOF'
import json, re, sys
c = next(c for c in json.load(open(sys.argv[1]))["cases"] if c["verdict"] == "fail")
assert c["kind"] == "digest", c
got = re.search(r"flat digest of the result ([0-9a-f]{16})", c["reason"]).group(1)
shell = c["reproduce"]["shell"].strip().replace("reproduce:", "").replace("\n", " ; ")
print(got, shell, c["minimized"]["shell"], sep="\n")
PYEOF
)
case "$shell$small" in *"$VF_SOURCE_DIR"*) fail "a reproducer names the source tree: $shell" ;; esac
bare "$T/repro1" sh -c "$shell" >/dev/null || fail "the printed reproducer did not run: $shell"
dest="$(sed -n 's/.* \([^ ]*\)$/\1/p' <<<"$shell")"
again="$(bare "$T/repro1" vhdfold digest "$dest" | cut -c1-16)"
[ "$again" = "$got" ] || fail "printed reproducer: digest $again, the run said $got"
bare "$T/repro2" sh -c "$small" >/dev/null || fail "the minimal reproducer did not run: $small"
want="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][-1]["sha256"])' \
  "$T/repro2/d/manifest.json")"
got2="$(bare "$T/repro2" vhdfold digest d/00-base.vhd | cut -d' ' -f1)"
[ "$got2" != "$want" ] || fail "the minimal reproducer did not give the wrong digest again"
echo "installed: drop-level.sh's printed and minimal reproducers fail again from empty folders"

# 3. an installed adapter by name
if command -v qemu-img >/dev/null; then
  set +e
  bare "$T/run2" vhdfold conform --adapter qemu-img --seed 23 --cases 2 --size 4M \
    --minimize --minimize-budget 12 --json q.json >"$T/out" 2>"$T/err"
  rc=$?
  set -e
  expect_rc 1 "installed conform --adapter qemu-img"
  grep -q "&& $adapters/qemu-img/flatten.sh " "$T/out" ||
    fail "the console reproducer does not name the installed adapter"
  { read -r got; read -r small; } < <("$PY" - "$T/run2/q.json" "$adapters" <<'PYEOF'
import json, re, sys
c = next(c for c in json.load(open(sys.argv[1]))["cases"] if c["verdict"] == "fail")
rep = c["reproduce"]
assert rep["command_argv"][2].startswith(sys.argv[2] + "/qemu-img/flatten.sh "), rep
assert c["kind"] == "digest" and isinstance(c.get("first_diff"), int), c
assert sys.argv[2] in c["minimized"]["shell"], c["minimized"]
got = re.search(r"reader's digest ([0-9a-f]{16})", c["minimized"]["reason"]).group(1)
print(got, c["minimized"]["shell"], sep="\n")
PYEOF
  )
  again="$(bare "$T/repro3" sh -c "$small" | tail -n 1 | cut -c1-16)"
  [ "$again" = "$got" ] || fail "qemu-img minimal reproducer printed $again, the run said $got"
  echo "installed: --adapter qemu-img runs from the prefix; its minimal reproducer fails again"
  # The build tree's binary uses the source tree's adapters but names the installed ones.
  conform --adapter qemu-img --seed 23 --cases 1 --size 4M
  expect_rc 1 "build-tree conform --adapter qemu-img"
  grep -q "share/vhdfold/adapters/qemu-img/flatten.sh " "$T/out" ||
    fail "the build tree's reproducer does not name the installed adapter folder"
  ! grep -q "$VF_SOURCE_DIR/conform" "$T/out" || fail "the build tree's reproducer names the source tree"
else
  echo "install.sh: qemu-img not installed: the --adapter part is skipped"
fi
echo "install.sh: ok"

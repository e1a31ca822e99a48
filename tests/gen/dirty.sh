#!/usr/bin/env bash
# dirty.sh - `vhdfold gen --format vhdx --dirty`: levels left with pending log entries read
# the post-replay content. For each case: the dirty level reports a log replay
# (`info --json`), digests to the manifest (our read-only replay), 7-Zip (which does not
# replay) sees something else, qemu-img refuses to read it until `qemu-img check -r all`
# replays the log, and after that replay qemu-img's raw conversion equals the manifest too
# (non-differencing images; qemu 7.2 reads only 512-byte-sector VHDX). Nothing here writes
# to the generated files except qemu's replay, on a copy.
# Environment: VHDFOLD (the built CLI). Registered by tests/gen.cmake.
set -euo pipefail
: "${VHDFOLD:?VHDFOLD must name the built vhdfold}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cases=(
  "--seed 31 --size 8M --block-size 1M --density 0.5 --profile mixed"
  "--seed 32 --size 6M --block-size 2M --density 0.9 --profile sector"
  "--seed 33 --size 40M --block-size 32M --density 1 --profile aligned"
  "--seed 34 --size 4M --block-size 256M --density 1 --profile blocks"
)
n=0
for c in "${cases[@]}"; do
  n=$((n + 1))
  out=$tmp/d$n
  # shellcheck disable=SC2086
  "$VHDFOLD" gen --format vhdx $c --depth 0 --base dynamic --sector-size 512 --dirty top \
    --progress none "$out" >/dev/null
  f=$out/00-base.vhdx
  want=$(jq -r '.levels[0].sha256' "$out/manifest.json")
  [ "$(jq -r '.levels[0].dirty' "$out/manifest.json")" = true ] || fail "case $n: not marked dirty"
  replayed=$("$VHDFOLD" info --json "$f" | jq -r '.levels[0].vhdx.log_replayed')
  [ "$replayed" = true ] || fail "case $n ($c): info says log_replayed=$replayed"
  ours=$("$VHDFOLD" digest "$f" | cut -d' ' -f1)
  [ "$ours" = "$want" ] || fail "case $n ($c): vhdfold digest $ours, manifest $want"
  seven=$({ 7zz x -so "$f" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)
  [ "$seven" != "$want" ] || fail "case $n ($c): 7-Zip read the post-replay content: not dirty?"
  { 7zz x -so "$f" 2>&1 >/dev/null || true; } | grep -q "LOG was not replayed" ||
    fail "case $n ($c): 7-Zip did not report a pending log"
  cp "$f" "$tmp/q.vhdx"
  if qemu-img convert -O raw "$tmp/q.vhdx" "$tmp/q.raw" 2>"$tmp/err"; then
    fail "case $n ($c): qemu-img read the file without a replay"
  fi
  grep -q "log that needs to be replayed" "$tmp/err" || fail "case $n: qemu said: $(cat "$tmp/err")"
  qemu-img check -r all "$tmp/q.vhdx" >/dev/null 2>&1 || true # exit 1..3: it repaired
  qemu-img check "$tmp/q.vhdx" >/dev/null || fail "case $n ($c): qemu-img check after replay"
  qemu-img convert -O raw "$tmp/q.vhdx" "$tmp/q.raw"
  q=$(sha256sum "$tmp/q.raw" | cut -d' ' -f1)
  [ "$q" = "$want" ] || fail "case $n ($c): qemu-img after replay $q, manifest $want"
  # our reader agrees with qemu's replay, and the generated file was left as it was
  [ "$("$VHDFOLD" digest "$tmp/q.vhdx" | cut -d' ' -f1)" = "$want" ] || fail "case $n: after qemu"
  [ "$("$VHDFOLD" info --json "$f" | jq -r '.levels[0].vhdx.log_replayed')" = true ] ||
    fail "case $n: the generated file changed"
  rm -f "$tmp/q.vhdx" "$tmp/q.raw"
done
echo "dirty: $n non-differencing dirty VHDX images read the post-replay content (vhdfold, qemu-img)"

# a dirty chain: every level dirty, 4096-byte sectors; each level digests to the manifest
out=$tmp/chain
"$VHDFOLD" gen --format vhdx --seed 35 --size 8M --block-size 1M --depth 3 --density 0.6 \
  --base dynamic --sector-size 4096 --dirty all --progress none "$out" >/dev/null
levels=0
while read -r file sha dirty; do
  [ "$dirty" = true ] || fail "chain: $file not marked dirty"
  [ "$("$VHDFOLD" info --json "$out/$file" | jq -r '.levels[0].vhdx.log_replayed')" = true ] ||
    fail "chain: $file has no pending log"
  d=$("$VHDFOLD" digest "$out/$file" | cut -d' ' -f1)
  [ "$d" = "$sha" ] || fail "chain: $file digest $d, manifest $sha"
  levels=$((levels + 1))
done < <(jq -r '.levels[] | "\(.file) \(.sha256) \(.dirty)"' "$out/manifest.json")
echo "dirty chain: $levels levels with pending logs digest to their manifest values"

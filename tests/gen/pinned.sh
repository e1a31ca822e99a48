#!/usr/bin/env bash
# pinned.sh - seeds are forever: `vhdfold gen` for a few fixed seeds must produce files whose
# SHA-256 equal the pinned list below (an accidental change of the PRNG, the plan, the data
# function or a driver's byte layout fails here), VHD and VHDX alike (VHDX: 512- and 4096-byte
# sectors, trims, a dirty chain whose log entries are pinned too). Also: a second run
# elsewhere gives the same bytes, and a moved OUTDIR still resolves its parents.
# Environment: VHDFOLD (the built CLI). Registered by tests/gen.cmake.
# After an intended change, rerun with VF_GEN_REPIN=1 to print the new list.
set -euo pipefail
: "${VHDFOLD:?VHDFOLD must name the built vhdfold}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cases=(
  "s1|--seed 1 --size 4M --block-size 512K --depth 3 --density 0.4 --base dynamic"
  "s42|--seed 42 --size 8390656 --depth 2 --density 0.5 --profile sector --base fixed"
  "s2024|--seed 2024 --size 6M --block-size 1M --depth 4 --density 0.3 --profile blocks --base dynamic"
  "x7|--format vhdx --seed 7 --size 4M --block-size 1M --depth 2 --density 0.5 --base dynamic"
  "x11|--format vhdx --seed 11 --size 6M --block-size 2M --depth 3 --density 0.6 --sector-size 4096 --dirty all --base dynamic"
  "x12|--format vhdx --seed 12 --size 3M --block-size 32M --depth 2 --density 1 --profile sector --base fixed"
)

pinned=$(cat <<'PINS'
22ceaa4543945d665966a07b8210024fd6f84cd5ce6e65b96ec244861bedb86d  s1/00-base.vhd
5cbf169c1977fe227d5b9eae4370f3a84818576623af047513eae53a712880c2  s1/01-diff.vhd
29aef01ff5ccb170ab8f608b4a17e387f530967de593fddf3db403c59898f492  s1/02-diff.vhd
cdcf01140c669c784dc68bf22c2d2292ff6f43e6d51c48f772c6c79f971370df  s1/03-diff.vhd
c4379681f30a8fb5479af2c2324513845739121c3d9d62ad2837190d59260296  s1/manifest.json
d9dc6919897defe843338c89d831fa9775884b71c9cfda094d9958d9819882bb  s42/00-base.vhd
f83c1c4e734828e6ecfa62c4fc19f11b145af82743377c4461e7deb4371f7987  s42/01-diff.vhd
67eb85d6edc9a3b3b08bf9cf31bb76311225e645cf89e90a58c942db24c5a7af  s42/02-diff.vhd
dccf11d001243547e90b8910d4d8c68ae3533cdac11f3caf9c83cd2d46c9ebdd  s42/manifest.json
22522d8898bf2b1d673d78922db39956d56ab90ed51be6717ea99cfc29e1e2d3  s2024/00-base.vhd
bae97bc7cff34d5a019051c6314ca80dc788ed4e118c72514727c7601bf8a02e  s2024/01-diff.vhd
4f6e94ae588c130983d3d119e97e7f78efc877a9172fc433a6846f5eca86652f  s2024/02-diff.vhd
d2a8ac7b3f00a5fa3a3b44f4a3e735cda2295b6a2a8e31fec775887e9535c3a5  s2024/03-diff.vhd
095b0dc1d9b685f22e645a25b8a0e2bee446f670425662e5b4067d74e4a5a486  s2024/04-diff.vhd
cd79daa77d0a9157973869530d0aebb4a65a01dcfb3e68f6297617e785bca990  s2024/manifest.json
3e9bfa1cbb9d9aa379af92edc42d061e3e664f54c55e4db9f1a36256d4c099ed  x7/00-base.vhdx
8f08cd1a45a172fa93cc7153baaeb66e8d84ba9c4d2e5923797f24fbe25d30f9  x7/01-diff.vhdx
cb696f0e3b0d1a64b534cd0141ccb79862d3ab665b51c1098616df5815bbba70  x7/02-diff.vhdx
8178810495b78125d01397057ecf345dbf5740a99c2fbcbfdd8dda71d8f6a44e  x7/manifest.json
d9f99c086703f47c71561340800fa91a13d679bb1faab2351440b8d3fd764969  x11/00-base.vhdx
609a1911203b4889ef5fdd8d7f45d61e44747ed561f1266a3feb5bfe7d93aca9  x11/01-diff.vhdx
a311a6a997f501fb7edae271c7df0bd56e5805ea3565a4970491c82e0a984841  x11/02-diff.vhdx
6e5f1988ebafc76be3899fee48af23dbd5db1fa146e773a935c05afdbb4d1a89  x11/03-diff.vhdx
c0d0002e5e02c732ae4798de66d7997625f8cb02aae688a839677dbaca2dfdc7  x11/manifest.json
34489c7955349cff9ea1bcce78a9521102dc26c2576f80a3f8fa51c41b56a529  x12/00-base.vhdx
f718c9a0821858ed639728f8bec9d42c650f6b493257091f4d9db26c289ab042  x12/01-diff.vhdx
74247692bc3a8e618212b82868fec0d95125e156d672fd865e804a26f039a66f  x12/02-diff.vhdx
1ae51e72238b66bcfff98aaa9dc9a433e76c9dd0580f1370ec8b99890dd86acf  x12/manifest.json
PINS
)

got=""
for c in "${cases[@]}"; do
  name=${c%%|*}
  # shellcheck disable=SC2086
  "$VHDFOLD" gen ${c#*|} --progress none "$tmp/$name" >/dev/null
  for f in "$tmp/$name"/*; do
    got+="$(sha256sum "$f" | cut -d' ' -f1)  $name/$(basename "$f")"$'\n'
  done
done

if [ "${VF_GEN_REPIN:-0}" = 1 ]; then
  printf '%s' "$got"
  exit 0
fi
if [ "$got" != "$pinned"$'\n' ]; then
  echo "FAIL: generated files differ from the pinned digests" >&2
  diff <(printf '%s\n' "$pinned") <(printf '%s' "$got") >&2 || true
  exit 1
fi
echo "pinned: $(printf '%s' "$got" | wc -l) files match their pinned SHA-256"

# the same seed elsewhere: the same bytes
"$VHDFOLD" gen --seed 1 --size 4M --block-size 512K --depth 3 --density 0.4 --base dynamic \
  --progress none "$tmp/again/deeper" >/dev/null
for f in "$tmp/s1"/*; do
  cmp "$f" "$tmp/again/deeper/$(basename "$f")"
done
"$VHDFOLD" gen --format vhdx --seed 11 --size 6M --block-size 2M --depth 3 --density 0.6 \
  --sector-size 4096 --dirty all --base dynamic --progress none "$tmp/again/x11" >/dev/null
for f in "$tmp/x11"/*; do
  cmp "$f" "$tmp/again/x11/$(basename "$f")"
done
echo "reruns elsewhere: VHD and VHDX (dirty) chains are byte-identical"

# a moved OUTDIR still opens: every level digests to its manifest value
mv "$tmp/s2024" "$tmp/moved"
n=0
while read -r file sha; do
  d=$("$VHDFOLD" digest "$tmp/moved/$file" | cut -d' ' -f1)
  if [ "$d" != "$sha" ]; then
    echo "FAIL: moved chain, $file: digest $d, manifest $sha" >&2
    exit 1
  fi
  n=$((n + 1))
done < <(jq -r '.levels[] | "\(.file) \(.sha256)"' "$tmp/moved/manifest.json")
echo "moved chain: $n levels digest to their manifest values"

#!/usr/bin/env bash
# tests/merge/reflink.sh - a VHDX merge on XFS (reflink=1) and on btrfs shares its data with
# the merged layers instead of copying it: after 'vhdfold merge TOP BASE' on a loop file
# system, FIEMAP (tests/tools/fiemap.py) must show DESTINATION's data as shared extents
# (FIEMAP_EXTENT_SHARED) covering at least 90% of the data the merge took from the layers,
# and the merged disk must have the top's tree digest; DESTINATION's blocks that the merge
# replaced whole moved to its end (check notes the holes left, with 0 warnings), the clones
# join (strace, when installed, counts fewer FICLONERANGE calls than shared blocks), and on
# the temporary folder's file system (no reflinks) the same merge moves nothing. VHD: blocks vhdfold allocated (data
# on 4 KiB) are shared when they land in new blocks of DESTINATION: a generated chain's top
# is merged into the middle level (copied: the generator packs blocks like other producers),
# then the middle into the base, which must share at least a quarter of that data.
# Counts extents, never times anything.
# Needs root, loop devices, mkfs.xfs / mkfs.btrfs (ci/bootstrap: xfsprogs, btrfs-progs):
# exits 77 (skipped) saying what is missing. Env (from ctest): VHDFOLD = the built CLI.
# Layer: tests (merger, format/io_file.c copy path).
set -euo pipefail
V=${VHDFOLD:?VHDFOLD must name the built vhdfold}
HERE=$(cd "$(dirname "$0")" && pwd)
FIEMAP=$HERE/../tools/fiemap.py
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (loop devices and mount)"
command -v losetup >/dev/null || skip "losetup is missing"
[ -e /dev/loop-control ] || skip "no loop devices (/dev/loop-control)"
tmp=$(mktemp -d)
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0 ran=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
json() { python3 -c 'import json,sys; print(eval(sys.argv[2], {"j": json.load(open(sys.argv[1]))}))' "$@"; }

# mkfs_mount FS DIR: a loop file system of type FS mounted on DIR; false (with a message)
# when this machine cannot make one.
mkfs_mount() {
  local fs=$1 dir=$2 img=$tmp/$1.img
  truncate -s 768M "$img"
  case $fs in
  xfs) command -v mkfs.xfs >/dev/null || { echo "no mkfs.xfs: XFS case skipped"; return 1; }
    mkfs.xfs -q -m reflink=1 "$img" || { echo "mkfs.xfs failed: XFS case skipped"; return 1; } ;;
  btrfs) command -v mkfs.btrfs >/dev/null || { echo "no mkfs.btrfs: btrfs case skipped"; return 1; }
    mkfs.btrfs -q "$img" >/dev/null || { echo "mkfs.btrfs failed: btrfs case skipped"; return 1; } ;;
  esac
  mkdir -p "$dir"
  mount -o loop "$img" "$dir" 2>"$tmp/mount.err" ||
    { echo "cannot mount a loop $fs file system ($(tail -n 1 "$tmp/mount.err")): skipped"; return 1; }
  mounts+=("$dir")
}

# case_fs FS: generate a VHDX chain on FS, merge it, count shared extents in DESTINATION.
case_fs() {
  local fs=$1 mnt=$tmp/mnt-$1
  mkfs_mount "$fs" "$mnt" || return 0
  ran=$((ran + 1))
  local d=$mnt/chain
  "$V" gen --seed 19 --format vhdx --depth 2 --size 256M --density 0.3 --profile blocks \
    --base dynamic --progress none "$d" >/dev/null
  local want before
  want=$(json "$d/manifest.json" 'j["levels"][-1]["tree"]')
  before=$(json <(python3 "$FIEMAP" "$d/00-base.vhdx") 'j["shared_bytes"]')
  [ "$before" = 0 ] || fail "$fs: the generated base already shares $before bytes"
  "$V" merge --json --progress=none "$d/02-diff.vhdx" "$d/00-base.vhdx" >"$tmp/merge-$fs.json" ||
    { fail "$fs: merge failed"; return 0; }
  local data shared got
  data=$(json "$tmp/merge-$fs.json" 'sum(l["data_bytes"] for l in j["layers"])')
  python3 "$FIEMAP" "$d/00-base.vhdx" >"$tmp/fiemap-$fs.json"
  shared=$(json "$tmp/fiemap-$fs.json" 'j["shared_bytes"]')
  echo "$fs: merged $data bytes of data; DESTINATION: $(cat "$tmp/fiemap-$fs.json")"
  [ "$data" -gt $((32 << 20)) ] || fail "$fs: the chain gave the merge only $data bytes of data"
  [ "$shared" -ge $((data / 10 * 9)) ] ||
    fail "$fs: DESTINATION shares $shared bytes, want >= 90% of the $data bytes merged"
  for lv in 01-diff.vhdx 02-diff.vhdx; do
    [ "$(json <(python3 "$FIEMAP" "$d/$lv") 'j["shared_extents"]')" -gt 0 ] ||
      fail "$fs: $lv shares no extent with DESTINATION"
  done
  got=$("$V" digest --mode tree --progress=none "$d/00-base.vhdx" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "$fs: merged disk has tree digest $got, want $want"
  moved_blocks "$fs" "$d/00-base.vhdx" yes
  clones_join "$fs" "$mnt" "$shared"
  case_vhd "$fs" "$mnt"
  umount "$mnt" && mounts=("${mounts[@]/$mnt/}")
}

# moved_blocks WHERE FILE yes|no: check of the merged VHDX FILE finds 0 errors and 0 warnings,
# and notes free space (holes where blocks the merge replaced whole were punched after they
# moved to the file end, docs/merge.md "Reflinks") exactly when the third argument is yes.
moved_blocks() {
  local where=$1 file=$2 want=$3 out
  out=$tmp/check-${1//[^a-z]/_}.txt
  "$V" check "$file" >"$out" 2>&1 || fail "$where: check of the merged VHDX: $(tail -n 1 "$out")"
  grep -q ' 0 errors, 0 warnings' "$out" || fail "$where: check of the merged VHDX: $(tail -n 1 "$out")"
  if grep -q 'free space: .* holes' "$out"; then
    [ "$want" = yes ] || fail "$where: blocks moved where extents cannot be shared: $(grep 'free space' "$out")"
    echo "$where: $(grep 'free space' "$out")"
  else
    [ "$want" = no ] || fail "$where: no block of DESTINATION moved (check notes no free space)"
  fi
}

# clones_join FS MNT SHARED: the same merge again, under strace when it is installed, makes
# fewer FICLONERANGE calls than the 2 MiB blocks of the SHARED bytes (clones of blocks side
# by side in SOURCE join, the moved ones included).
clones_join() {
  local fs=$1 d=$2/chain2 shared=$3 n
  command -v strace >/dev/null || { echo "$fs: no strace, clone count not checked"; return 0; }
  "$V" gen --seed 19 --format vhdx --depth 2 --size 256M --density 0.3 --profile blocks \
    --base dynamic --progress none "$d" >/dev/null
  # LeakSanitizer cannot run under ptrace: a sanitizer build would abort at exit.
  if ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    strace -f -qq -e trace=ioctl -o "$tmp/strace-$fs.txt" \
    "$V" merge --progress=none "$d/02-diff.vhdx" "$d/00-base.vhdx" >/dev/null; then
    n=$(grep -c FICLONERANGE "$tmp/strace-$fs.txt" || true)
    echo "$fs: $n FICLONERANGE calls for $((shared >> 21)) shared blocks"
    [ "$n" -gt 0 ] && [ "$n" -lt $((shared >> 21)) ] ||
      fail "$fs: $n FICLONERANGE calls, want 1 to $(((shared >> 21) - 1)) for $shared shared bytes"
  else
    fail "$fs: merge under strace failed"
  fi
  rm -rf "$d" # the VHD case needs the space, whatever happened here
  moves_join "$fs" "$2"
}

# moves_join FS MNT: into a base that holds half the blocks, the top's blocks that replace
# the base's whole move to DESTINATION's end one after another, and the file growing for each
# (ftruncate) no longer forces out the clone pending for the one before: the clones of blocks
# side by side in SOURCE join, so the merge makes at most a quarter as many FICLONERANGE calls
# as it merges 2 MiB blocks (6 for 56 on 2026-12-06; 33 when each growth settled the clone).
moves_join() {
  local fs=$1 d=$2/chain3 n data
  "$V" gen --seed 51 --format vhdx --depth 1 --size 256M --density 0.5 --profile blocks \
    --base dynamic --progress none "$d" >/dev/null
  if ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    strace -f -qq -e trace=ioctl -o "$tmp/strace3-$fs.txt" \
    "$V" merge --json --progress=none "$d/01-diff.vhdx" >"$tmp/merge3-$fs.json"; then
    n=$(grep -c FICLONERANGE "$tmp/strace3-$fs.txt" || true)
    data=$(json "$tmp/merge3-$fs.json" 'sum(l["data_bytes"] for l in j["layers"])')
    echo "$fs: $n FICLONERANGE calls for $((data >> 21)) merged blocks, moves included"
    [ "$n" -gt 0 ] && [ $((n * 4)) -le $((data >> 21)) ] ||
      fail "$fs: $n FICLONERANGE calls for $((data >> 21)) merged blocks, want at most a quarter"
    moved_blocks "$fs moves" "$d/00-base.vhdx" yes
    [ "$("$V" digest --mode tree --progress=none "$d/00-base.vhdx" | cut -d' ' -f1)" = \
      "$(json "$d/manifest.json" 'j["levels"][-1]["tree"]')" ] ||
      fail "$fs: the merge with moves changed the disk's tree digest"
  else
    fail "$fs: merge with moves under strace failed"
  fi
  rm -rf "$d"
}

# plain_fs: on the temporary folder's file system, which shares no extents (the test
# assumes it is neither XFS nor btrfs, and says so when it is), the same merge moves no block.
plain_fs() {
  local d=$tmp/plain fstype
  fstype=$(stat -f -c %T "$tmp")
  case $fstype in xfs | btrfs) echo "the temporary folder is on $fstype: no-move case skipped"; return 0 ;; esac
  "$V" gen --seed 19 --format vhdx --depth 2 --size 256M --density 0.3 --profile blocks \
    --base dynamic --progress none "$d" >/dev/null
  "$V" merge --progress=none "$d/02-diff.vhdx" "$d/00-base.vhdx" >/dev/null ||
    { fail "plain ($fstype): merge failed"; return 0; }
  moved_blocks "plain ($fstype)" "$d/00-base.vhdx" no
  rm -rf "$d"
}

# case_vhd FS MNT: the VHD case on the mounted FS (see the top).
case_vhd() {
  local fs=$1 d=$2/vchain want data shared got
  "$V" gen --seed 19 --format vhd --depth 2 --size 256M --density 0.3 --profile blocks \
    --base dynamic --progress none "$d" >/dev/null
  want=$(json "$d/manifest.json" 'j["levels"][-1]["tree"]')
  "$V" merge --progress=none "$d/02-diff.vhd" "$d/01-diff.vhd" >/dev/null ||
    { fail "$fs: VHD merge into the middle level failed"; return 0; }
  "$V" merge --json --progress=none "$d/01-diff.vhd" "$d/00-base.vhd" >"$tmp/vmerge-$fs.json" ||
    { fail "$fs: VHD merge into the base failed"; return 0; }
  data=$(json "$tmp/vmerge-$fs.json" 'sum(l["data_bytes"] for l in j["layers"])')
  python3 "$FIEMAP" "$d/00-base.vhd" >"$tmp/vfiemap-$fs.json"
  shared=$(json "$tmp/vfiemap-$fs.json" 'j["shared_bytes"]')
  echo "$fs: VHD merged $data bytes of data; DESTINATION: $(cat "$tmp/vfiemap-$fs.json")"
  [ "$shared" -ge $((data / 4)) ] ||
    fail "$fs: VHD DESTINATION shares $shared bytes, want >= 25% of the $data bytes merged"
  got=$("$V" digest --mode tree --progress=none "$d/00-base.vhd" | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "$fs: merged VHD has tree digest $got, want $want"
  "$V" check "$d/00-base.vhd" >"$tmp/vcheck-$fs.txt" 2>&1 ||
    fail "$fs: check of the merged VHD: $(tail -n 1 "$tmp/vcheck-$fs.txt")"
  grep -q ' 0 errors, 0 warnings' "$tmp/vcheck-$fs.txt" ||
    fail "$fs: check of the merged VHD: $(tail -n 1 "$tmp/vcheck-$fs.txt")"
}

case_fs xfs
case_fs btrfs
plain_fs
[ "$ran" -gt 0 ] || skip "no XFS or btrfs loop file system could be made here"
if [ "$fails" -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "reflink: $ran file system(s) checked"

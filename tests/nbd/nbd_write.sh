#!/usr/bin/env bash
# nbd_write.sh - writable=true: a random nbdsh workload (pwrite aligned and not, zero, trim)
# against a raw model, on a VHD and two VHDX chains, its last write left to the clean shutdown
# (SIGTERM) to flush; afterwards vhdfold digest and 7-Zip read the model's sha256 from TOP,
# vhdfold check is clean and every level below TOP is byte-identical. Refusals: a pending
# merge journal beside a level, a second server while the first holds the exclusive lock.
# Run by ctest (tests/nbd.cmake, label nbd).
. "$(dirname "$0")/nbd_lib.sh"

for c in "vhdx mixed 3 41" "vhd aligned 2 42" "vhdx sector 2 43"; do
  read -r fmt profile depth seed <<<"$c"
  name=$fmt-$profile-$depth
  gen "$name" "$fmt" "$profile" "$depth" "$seed"
  lower=$(ls "$T/$name"/*."$fmt" | sort | head -n -1)
  sha256sum $lower >"$T/$name.lower.sha"
  "$VHDFOLD" export "$TOP" "$T/$name.model"

  serve "$name" file="$TOP" writable=true || fail "$name: writable refused: $(cat "$T/$name.log")"
  wpid=$PID wuri=$URI
  grep -q 'using thread model: serialize_all_requests$' "$T/$name.log" ||
    fail "$name: writable is not served under serialize_all_requests"
  # The exclusive lock keeps a second server, writable or not, away.
  if serve "$name-2" file="$TOP" writable=true; then fail "$name: a second writer was served"; fi
  grep -q 'VF_E_BUSY' "$T/$name-2.log" || fail "$name: no VF_E_BUSY in: $(cat "$T/$name-2.log")"
  if serve "$name-3" file="$TOP"; then fail "$name: a reader was served beside the writer"; fi

  NBD_MODEL=$T/$name.model NBD_SEED=$seed NBD_OPS=150 \
    nbdsh -u "$wuri" -c "exec(open('$HERE/workload.py').read())"
  stop "$wpid"

  model_sha=$(sha "$T/$name.model")
  got=$("$VHDFOLD" digest "$TOP")
  expect_eq "${got%%  *}" "$model_sha" "$name: vhdfold digest of TOP vs the model"
  expect_eq "$(7zz x -so "$TOP" 2>/dev/null | sha256sum | cut -d' ' -f1)" "$model_sha" \
    "$name: 7-Zip's flattening of TOP vs the model"
  "$VHDFOLD" check "$TOP" >"$T/$name.check" || fail "$name: check after writing: $(cat "$T/$name.check")"
  sha256sum --quiet -c "$T/$name.lower.sha" || fail "$name: a level below TOP changed"

  # A merge journal beside any level: writable is refused, read-only still served.
  base=$(echo "$lower" | head -n 1)
  : >"$base.vfmerge"
  if serve "$name-j" file="$TOP" writable=true; then fail "$name: served writable with a journal"; fi
  grep -q 'pending merge journal' "$T/$name-j.log" || fail "$name: journal refusal not logged"
  serve "$name-r" file="$TOP" || fail "$name: read-only refused with a journal"
  stop "$PID"
  rm -f "$base.vfmerge" "$T/$name.model"
  echo "ok $name"
done

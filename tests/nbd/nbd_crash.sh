#!/usr/bin/env bash
# nbd_crash.sh - kill -9 of a writable nbdkit mid-workload, on a VHDX and a VHD chain: writes,
# an acknowledged flush (the model saved), then writes without a flush until the kill. The
# chain must still open and check (vhdfold check exit 0), every level below TOP is unchanged,
# and crash_check.py holds: every byte written before the last acknowledged flush reads back
# as written unless a later write covered it; a sector written after the flush reads either as
# at the flush or as after one of those later writes. Run by ctest (tests/nbd.cmake).
. "$(dirname "$0")/nbd_lib.sh"

for c in "vhdx mixed 3 51" "vhd sector 2 52"; do
  read -r fmt profile depth seed <<<"$c"
  name=$fmt-$profile-$depth
  gen "$name" "$fmt" "$profile" "$depth" "$seed"
  lower=$(ls "$T/$name"/*."$fmt" | sort | head -n -1)
  sha256sum $lower >"$T/$name.lower.sha"
  "$VHDFOLD" export "$TOP" "$T/$name.model"
  serve "$name" file="$TOP" writable=true || fail "$name: writable refused: $(cat "$T/$name.log")"

  NBD_MODEL=$T/$name.model NBD_SEED=$seed NBD_OPS=60 NBD_FLUSHED=$T/$name.flushed \
    NBD_MARK=$T/$name.mark NBD_LOG=$T/$name.wlog \
    nbdsh -u "$URI" -c "exec(open('$HERE/crash_workload.py').read())" 2>"$T/$name.client" &
  client=$!
  for i in $(seq 1 600); do # the flush acknowledged, then at least 40 more writes sent
    if [ -e "$T/$name.mark" ] && [ "$(wc -l <"$T/$name.wlog")" -ge 40 ]; then break; fi
    kill -0 "$client" 2>/dev/null || fail "$name: the client died: $(cat "$T/$name.client")"
    sleep 0.05
  done
  [ -e "$T/$name.mark" ] || fail "$name: the workload never flushed"
  kill -9 "$PID"
  wait "$PID" 2>/dev/null || true
  if wait "$client" 2>/dev/null; then fail "$name: the client did not notice the kill"; fi

  "$VHDFOLD" check "$TOP" >"$T/$name.check" ||
    fail "$name: check after the kill: $(cat "$T/$name.check")"
  sha256sum --quiet -c "$T/$name.lower.sha" || fail "$name: a level below TOP changed"
  "$VHDFOLD" export "$TOP" "$T/$name.after"
  sector=$("$VHDFOLD" info "$TOP" --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["levels"][0]["logical_sector_size"])')
  python3 "$HERE/crash_check.py" "$T/$name.flushed" "$T/$name.wlog" "$T/$name.after" "$sector" ||
    fail "$name: the disk after the kill breaks the flush contract"
  rm -f "$T/$name".{model,flushed,after}
  echo "ok $name"
done

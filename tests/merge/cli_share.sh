#!/usr/bin/env bash
# tests/merge/cli_share.sh - concurrency around a running merge (issue 15 item 3): a merge is
# started with small batches and frozen (SIGSTOP) once its journal holds a record, so it
# holds its locks for as long as the checks need; then a second merge gets 32774 with the
# first one's pid; info, check and digest say "in use: merge of SOURCE into DEST in progress
# (pid N)" and exit 4; -U/--force-share info and digest read anyway with a warning; after
# kill -9 info names the pending journal and the exact command, and that command finishes
# the merge (same digest as before); convert is refused (4) during the merge and with -U reads
# anyway; repair and set-parent are refused (2) during the merge; resize refuses DESTINATION and SOURCE meanwhile, create --parent an intermediate, and convert, export and map note the journal. Also: info on a chain whose parent at level 3 is
# missing lists levels 0-2, then the break (JSON broken_at 3). Env: VHDFOLD. Layer: tests.
set -euo pipefail
V=${VHDFOLD:?VHDFOLD must name the built vhdfold}
tmp=$(mktemp -d)
merger=""
cleanup() {
  if [ -n "$merger" ]; then
    [ -z "${mpid:-}" ] || kill -9 "$mpid" 2>/dev/null || true
    kill -9 "$merger" 2>/dev/null || true
    wait "$merger" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
T() { timeout 120 "$V" "$@"; }
# run CMD...: $rc, $out (stdout), $err (stderr)
run() {
  set +e
  T "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  set -e
  out=$(cat "$tmp/out") err=$(cat "$tmp/err")
}
has() { grep -qF -- "$2" <<<"$1"; }
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$tmp/out" "$1"; }

d="$tmp/chain"
T gen --seed 5 --depth 3 --base dynamic --profile mixed --size 96M --block-size 1M \
  --density 0.6 --progress none "$d" >/dev/null
top="$d/03-diff.vhd" dst="$d/00-base.vhd" j="$d/00-base.vhd.vfmerge"
want=$(T digest "$top" | cut -d' ' -f1)

# --- a merge that holds its locks: frozen once its journal has a record ---
timeout 120 "$V" merge "$top" "$dst" --batch-size 1M --progress none >"$tmp/m.out" 2>&1 &
merger=$! # timeout's pid; the merge is its child
mpid=""
for _ in $(seq 200); do
  mpid=$(pgrep -P "$merger" || true)
  [ -n "$mpid" ] && break
  sleep 0.01
done
for _ in $(seq 600); do
  [ -s "$j" ] && break
  kill -0 "$mpid" 2>/dev/null || break
  sleep 0.01
done
kill -STOP "$mpid" 2>/dev/null || true
[ -s "$j" ] || fail "the merge wrote no journal before ending: $(cat "$tmp/m.out")"
inuse="merge of '$top' into '$dst' in progress (pid $mpid"

run merge "$top" "$dst" --progress none
[ $rc != 0 ] || fail "second merge: succeeded"
has "$err" "32774" || fail "second merge: not 32774: $err"
has "$err" "in use: $inuse" || fail "second merge: no pid / in-use message: $err"

for cmd in info check digest; do
  run $cmd "$top"
  [ $rc = 4 ] || fail "$cmd during the merge: exit $rc, want 4: $err"
  has "$out$err" "$inuse" || fail "$cmd during the merge: does not name the merge: $out$err"
  has "$err" "--force-share" || fail "$cmd during the merge: no -U hint: $err"
done

run info -U "$top"
[ $rc = 0 ] || fail "info -U: exit $rc: $err"
has "$err" "the view may be changing" || fail "info -U: no warning: $err"
has "$out" "chain:               4 levels" || fail "info -U: not the whole chain: $out"
has "$out" "merge:               in use: $inuse" || fail "info -U: no merge line: $out"
run info --force-share --json "$top"
[ "$(json 'j["pending_merge"]["running"], j["pending_merge"]["pid"], j["pending_merge"]["source_level"], j["pending_merge"]["destination_level"]')" = "(True, $mpid, 0, 3)" ] ||
  fail "info -U --json: pending_merge: $out"
run digest -U "$top"
[ $rc = 0 ] || fail "digest -U: exit $rc: $err"
has "$err" "note: in use: $inuse" || fail "digest -U: no note: $err"
run convert -q "$top" "$tmp/during.vhd"
[ $rc = 4 ] || fail "convert during the merge: exit $rc, want 4: $err"
has "$err" "$inuse" || fail "convert during the merge: does not name the merge: $err"
has "$err" "--force-share" || fail "convert during the merge: no -U hint: $err"
[ ! -e "$tmp/during.vhd" ] || fail "convert during the merge: OUT was made"
run convert -U --json "$top" "$tmp/during.vhd"
[ $rc = 0 ] || fail "convert -U: exit $rc: $err"
has "$err" "the view may be changing" || fail "convert -U: no warning: $err"
has "$err" "note: in use: $inuse" || fail "convert -U: no note: $err"
[ "$(json 'j["command"], j["exit"], j["virtual_size"]')" = "('convert', 0, 100663296)" ] ||
  fail "convert -U --json: $out"
rm -f "$tmp/during.vhd"
# nothing rewrites a level in place meanwhile: repair and set-parent are refused, nothing changed
before=$(cd "$d" && sha256sum -- *)
for args in "repair $top" "repair $dst" "set-parent $top $d/02-diff.vhd" "set-parent $d/01-diff.vhd $dst"; do
  # shellcheck disable=SC2086 # the words of args
  run $args
  [ $rc = 2 ] || fail "$args during the merge: exit $rc, want 2: $err"
  f=${args#* } f=${f%% *}
  has "$err" "'$f' is part of a merge: in use: merge of " || fail "$args during the merge: $err"
  has "$err" "into '$dst' in progress (pid $mpid;" || fail "$args during the merge: not the merge: $err"
done
[ "$(cd "$d" && sha256sum -- *)" = "$before" ] || fail "repair or set-parent during the merge changed a file"

# --- kill -9: the journal stays, with nobody holding it ---
kill -9 "$mpid" 2>/dev/null || true
wait "$merger" 2>/dev/null || true
merger=""
[ -s "$j" ] || fail "kill -9 left no journal"
run info "$top"
[ $rc = 0 ] || fail "info after kill: exit $rc: $err"
has "$out" "pending merge journal '$j': an interrupted merge of '$top' into '$dst'" ||
  fail "info after kill: no pending journal: $out"
has "$out" "run the same command to finish: vhdfold merge '$top' '$dst'" ||
  fail "info after kill: no command: $out"
run check "$top"
has "$err" "note: pending merge journal '$j'" || fail "check after kill: no note: $err"
# resize must not change a level of the interrupted merge (it would break the rerun)
for f in "$dst" "$top"; do
  h=$(sha256sum "$f" | cut -d' ' -f1)
  run resize "$f" --size 128M
  [ $rc = 2 ] || fail "resize $f with a pending merge: exit $rc, want 2: $err"
  has "$err" "pending merge journal '$j'" || fail "resize $f: does not name the journal: $err"
  [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$h" ] || fail "resize $f with a pending merge: file changed"
done
# an intermediate's view is half-merged: create --parent refuses it, the copies note it
mid="$d/01-diff.vhd"
run create "$tmp/newchild.vhd" --parent "$mid"
[ $rc = 2 ] || fail "create --parent over a pending merge: exit $rc, want 2: $err"
has "$err" "pending merge journal '$j'" || fail "create --parent: does not name the journal: $err"
[ ! -e "$tmp/newchild.vhd" ] || fail "create --parent over a pending merge: the file was made"
run convert -q "$mid" "$tmp/conv.vhd"
has "$err" "note: pending merge journal '$j'" || fail "convert: no note: $err"
run export -q "$mid" "$tmp/exp.raw"
has "$err" "note: pending merge journal '$j'" || fail "export: no note: $err"
run map "$mid"
has "$err" "note: pending merge journal '$j'" || fail "map: no note: $err"
rm -f "$tmp/conv.vhd" "$tmp/exp.raw"
run info --json "$top"
cmd=$(json 'j["pending_merge"]["command"]')
[ "$(json 'j["pending_merge"]["running"], j["pending_merge"]["pid"]')" = "(False, None)" ] ||
  fail "info --json after kill: $out"
case "$cmd" in "vhdfold merge "*) ;; *) fail "info --json: command is '$cmd'" ;; esac
set +e # the command as info printed it (shell words), with this build's vhdfold
eval "timeout 120 \"\$V\" ${cmd#vhdfold }" --progress none >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
out=$(cat "$tmp/out") err=$(cat "$tmp/err")
[ $rc = 0 ] || fail "the command info gave ($cmd) did not finish: $err"
has "$out" "resumed an interrupted merge" || fail "finishing: not a resume: $out"
[ ! -e "$j" ] || fail "finishing: the journal is still there"
[ "$(T digest "$dst" | cut -d' ' -f1)" = "$want" ] || fail "finishing: DESTINATION's digest differs"
run info "$dst"
has "$out" "merge:" && fail "info after the merge: still a merge line: $out"

# a journal no merge can use (no valid record) does not stop resize
head -c 4096 /dev/zero >"$j"
chmod 600 "$j"
run resize "$dst" --size 96M
[ $rc = 0 ] || fail "resize beside an unusable journal: exit $rc: $err"
rm -f "$j"

# --- info on a chain whose parent at level 3 is missing ---
b="$tmp/broken"
T gen --seed 7 --depth 4 --base dynamic --size 4M --block-size 512K --progress none "$b" >/dev/null
rm "$b/01-diff.vhd"
run info "$b/04-diff.vhd"
[ $rc = 3 ] || fail "broken chain: exit $rc, want 3"
has "$out" "chain:               3 levels resolved, then broken at level 3: cannot find parent of '$b/02-diff.vhd'" ||
  fail "broken chain: no break line: $out"
has "$out" "  2  $b/02-diff.vhd" || fail "broken chain: level 2 not listed: $out"
run info --json "$b/04-diff.vhd"
[ "$(json 'j["depth"], j["broken_at"], len(j["levels"]), j["error"]["name"]')" = "(3, 3, 3, 'VF_E_CHAIN')" ] ||
  fail "broken chain json: $out"

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli_share: all cases passed"

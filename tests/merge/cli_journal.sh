#!/usr/bin/env bash
# tests/merge/cli_journal.sh - a plain 'vhdfold merge SOURCE DEST' next to a planted journal
# (tests/tools/mkjournal.py, bound to the real chain, then altered): a removing-phase record,
# a record with --child files, a cursor claiming the copy is done, a record of another chain,
# a journal that is a symbolic link, a hard link to another file, one others may write, one
# owned by another user (as root), one locked by a running merge (32774 in use); a journal the
# merge creates has mode 0600. Each refusal exits
# non-zero naming the journal; every file not asked to change (the chain, the journal, a
# folder beside the chain) stays byte-identical; under strace nothing outside the chain's
# folder is opened for writing, removed or renamed. Env: VHDFOLD (from ctest). Layer: tests.
set -euo pipefail
V=${VHDFOLD:?VHDFOLD must name the built vhdfold}
src_dir=${VF_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
MKJ="$src_dir/tests/tools/mkjournal.py"
tmp=$(mktemp -d)
holder=""
cleanup() {
  if [ -n "$holder" ]; then kill "$holder" 2>/dev/null || true; wait "$holder" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
have_strace=1
command -v strace >/dev/null || { have_strace=0; echo "SKIP: strace is missing: no system-call checks"; }

setup() { # -> $d (chain folder), $o (folder beside it)
  d="$tmp/$1/chain" o="$tmp/$1/other"
  mkdir -p "$d" "$o"
  "$V" gen --seed 9 --depth 2 --base dynamic --profile mixed --size 4M --block-size 512K \
    --density 0.5 --progress none "$d" >/dev/null
  echo "secret" >"$o/secret.txt"
  cp "$d/01-diff.vhd" "$o/victim.vhd"
  top="$d/02-diff.vhd" mid="$d/01-diff.vhd" dst="$d/00-base.vhd" j="$d/00-base.vhd.vfmerge"
}
hashes() { (cd "$tmp/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) }

# Runs the plain merge; $rc, $tmp/err; the strace log in $tmp/$1.log
merge_plain() {
  set +e
  if [ $have_strace = 1 ]; then
    # LeakSanitizer cannot run under ptrace (sanitizer builds)
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
      strace -f -e trace=open,openat,unlink,unlinkat,rename,renameat,renameat2 -o "$tmp/$1.log" \
      "$V" merge "$top" "$dst" --progress=none >"$tmp/out" 2>"$tmp/err"
  else
    "$V" merge "$top" "$dst" --progress=none >"$tmp/out" 2>"$tmp/err"
  fi
  rc=$?
  set -e
}

# Nothing outside the chain's folder opened for writing, removed or renamed (and nothing at
# all under the folder beside it opened).
check_syscalls() {
  [ $have_strace = 1 ] || return 0
  local log="$tmp/$1.log"
  if grep -E 'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|unlink|rename' "$log" | grep -F '"/' |
    grep -vF "\"$d/" | grep -v ' = -1 ' >"$tmp/bad"; then
    fail "$1: writes outside the chain folder: $(head -3 "$tmp/bad")"
  fi
  if grep -F "$tmp/$1/other" "$log" >"$tmp/bad"; then
    fail "$1: the folder beside the chain was touched: $(head -3 "$tmp/bad")"
  fi
}

expect_refusal() { # case reason
  [ $rc != 0 ] || fail "$1: the merge succeeded"
  grep -qF "$j" "$tmp/err" || fail "$1: the error does not name the journal: $(cat "$tmp/err")"
  grep -q "32775" "$tmp/err" || fail "$1: not status 32775: $(cat "$tmp/err")"
  grep -q "$2" "$tmp/err" || fail "$1: the error does not say '$2': $(cat "$tmp/err")"
  grep -q "rm" "$tmp/err" || fail "$1: the error does not say how to delete it"
}

unchanged() { # case before-file
  hashes "$1" >"$tmp/after"
  cmp -s "$2" "$tmp/after" || fail "$1: files changed: $(diff "$2" "$tmp/after" | head -4)"
}

# 1. a removing-phase record listing the chain: nothing removed, refused
setup removing
python3 "$MKJ" "$j" "$top" "$mid" "$dst" --phase 4 --cursor done --remove
hashes removing >"$tmp/before"
merge_plain removing
expect_refusal removing "new identity"
unchanged removing "$tmp/before"
check_syscalls removing

# 2. a children-phase record with a child: nothing re-pointed, refused
setup children
python3 "$MKJ" "$j" "$top" "$mid" "$dst" --phase 3 --cursor done --children 1
hashes children >"$tmp/before"
merge_plain children
expect_refusal children "child"
unchanged children "$tmp/before"
check_syscalls children

# 3. a cursor saying "done" that DESTINATION does not back: the copy restarts from byte 0
setup done
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][2]["sha256"])' "$d/manifest.json")
python3 "$MKJ" "$j" "$top" "$mid" "$dst" --phase 1 --cursor done --dest-size-delta 4096
(cd "$tmp/done" && sha256sum other/secret.txt other/victim.vhd) >"$tmp/before"
merge_plain done
[ $rc = 0 ] || fail "done: the restarted merge failed: $(cat "$tmp/err")"
grep -q "byte 0" "$tmp/out" || fail "done: no note about the restart: $(cat "$tmp/out")"
got=$("$V" digest "$dst" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "done: DESTINATION's view $got, SOURCE's was $want"
[ -e "$top" ] && [ -e "$mid" ] || fail "done: a merged file was removed without --remove-merged"
[ ! -e "$j" ] || fail "done: journal left behind"
(cd "$tmp/done" && sha256sum -c --quiet "$tmp/before") || fail "done: the folder beside changed"
check_syscalls done

# 4. a record of another chain (an intermediate's identity differs): refused
setup other
python3 "$MKJ" "$j" "$top" "$mid" "$dst" --phase 1 --cursor done --alter-level 1
hashes other >"$tmp/before"
merge_plain other
expect_refusal other "identity"
unchanged other "$tmp/before"
check_syscalls other

# 5. a signed record of version 1 (the layout with paths): refused, not ignored
setup v1
python3 "$MKJ" "$j" "$top" "$mid" "$dst" --phase 4 --version 1
hashes v1 >"$tmp/before"
merge_plain v1
expect_refusal v1 "does not use"
unchanged v1 "$tmp/before"

# 6. the journal is a symbolic link to a file elsewhere: refused, the target unchanged
setup link
ln -s "$o/secret.txt" "$j"
hashes link >"$tmp/before"
merge_plain link
expect_refusal link "symbolic link"
unchanged link "$tmp/before"
[ -L "$j" ] || fail "link: the link was replaced"
check_syscalls link

# 7. a dangling link (a create through it would make the target): refused, nothing created
setup dangling
ln -s "$o/created-by-merge" "$j"
merge_plain dangling
expect_refusal dangling "symbolic link"
[ ! -e "$o/created-by-merge" ] || fail "dangling: the merge created the link's target"

# 7b. a directory in the journal's place: refused as not a regular file
setup dir
mkdir "$j"
merge_plain dir
expect_refusal dir "not a regular file"
[ -d "$j" ] || fail "dir: the directory was replaced"

# 7c. a hard link to another file of this user (no record in it: a fresh merge would reuse
# the file and write its slots into that file): refused, the other file unchanged
setup hardlink
ln "$o/victim.vhd" "$j"
hashes hardlink >"$tmp/before"
merge_plain hardlink
expect_refusal hardlink "hard link"
unchanged hardlink "$tmp/before"

# 7d. a journal others may write (group-writable): what it says may be forged: refused
setup groupw
python3 "$MKJ" "$j" "$top" "$mid" "$dst" --phase 1 --cursor 0
chmod 664 "$j"
hashes groupw >"$tmp/before"
merge_plain groupw
expect_refusal groupw "others may write it"
unchanged groupw "$tmp/before"

# 7e. the journal a merge creates is for this user alone (mode 0600 whatever the umask)
setup private
merge_plain private
[ $rc = 0 ] || fail "private: the merge failed: $(cat "$tmp/err")"
if [ $have_strace = 1 ] && ! grep -E "vfmerge\", [A-Z_|]*O_CREAT[A-Z_|]*, 0600\)" "$tmp/private.log" >/dev/null; then
  fail "private: the journal was not created with mode 0600: $(grep vfmerge "$tmp/private.log" | head -2)"
fi

# 8. a journal owned by another user (root only: chown)
if [ "$(id -u)" = 0 ]; then
  setup owner
  python3 "$MKJ" "$j" "$top" "$mid" "$dst" --phase 1 --cursor 0
  chown 12345 "$j"
  hashes owner >"$tmp/before"
  merge_plain owner
  expect_refusal owner "owned by uid 12345"
  unchanged owner "$tmp/before"
else
  echo "SKIP: not root: the other-owner case needs chown"
fi

# 9. a journal held by a running merge (an exclusive lock, as the merge takes): 32774 in use
setup inuse
python3 "$MKJ" "$j" "$top" "$mid" "$dst" --phase 1 --cursor 0
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"r+b"); fcntl.lockf(f, fcntl.LOCK_EX); open(sys.argv[2],"w").close(); time.sleep(30)' "$j" "$tmp/locked" &
holder=$!
for _ in $(seq 100); do [ -e "$tmp/locked" ] && break; sleep 0.05; done
hashes inuse >"$tmp/before"
merge_plain inuse
kill "$holder"; wait "$holder" 2>/dev/null || true; holder=""
[ $rc != 0 ] || fail "inuse: the merge succeeded"
grep -q "32774" "$tmp/err" || fail "inuse: not status 32774: $(cat "$tmp/err")"
grep -qF "$j" "$tmp/err" || fail "inuse: the error does not name the journal: $(cat "$tmp/err")"
grep -q "another merge" "$tmp/err" || fail "inuse: the error does not say a merge runs: $(cat "$tmp/err")"
unchanged inuse "$tmp/before"

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "cli_journal: all cases passed"

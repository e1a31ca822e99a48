#!/usr/bin/env bash
# verify_parents.sh - where the read-side commands and merge look for parents (docs/chain.md,
# "Policy"), on chains crafted here with tests/tools/mkdiff_vhd.py: a FIFO parent fails at
# once; a locator holding a POSIX absolute path to a file that is no disk is not followed
# (strace: never opened) and, when allowed, tells only "not a virtual disk"; an absolute
# locator to a real parent works with --allow-absolute-parents; --parent-dir finds parents
# inside DIR and refuses a '..' escape or a symbolic link out of it; merge accepts the
# DESTINATION it is given even when only an absolute locator names it; control characters in
# locator text never reach the terminal (info, check, digest). Run by ctest.
. "$(dirname "$0")/verify_lib.sh"
cd "$T"
MK="$VF_SOURCE_DIR/tests/tools/mkdiff_vhd.py"
mkdir vm store secret pd pd/base pd/snap outside

# expect_quiet WHAT: stderr/stdout say nothing of the secret file (size or content)
SECRET_SIZE=4321
expect_quiet() {
    CHECKS=$((CHECKS + 1))
    if grep -Eq "TOPSECRET|swordfish|$SECRET_SIZE" <<<"$OUT$ERR"; then
        fail "$1: the output tells something of the secret file: $ERR"
    fi
}

# never_opened LOG PATH WHAT: strace LOG has no open of PATH
never_opened() {
    CHECKS=$((CHECKS + 1))
    if grep -F -- "$2" "$1" | grep -E 'open(at)?\(' >/dev/null; then
        fail "$3: '$2' was opened: $(grep -F -- "$2" "$1" | head -1)"
    fi
}

HAVE_STRACE=0
if command -v strace >/dev/null && strace -f -e trace=open,openat -o "$T/.probe" true 2>/dev/null; then
    HAVE_STRACE=1
else
    echo "SKIP (strace checks): strace missing or not permitted"
fi

# --- a FIFO where the parent should be: every command fails at once ---
qemu_vhd vm/base.vhd 8M dynamic 0x11 0 64K
"$PY" "$MK" vm/base.vhd vm/top.vhd --write 0:4096:0x22
rm vm/base.vhd
mkfifo vm/base.vhd
for cmd in info check digest; do
    run timeout 10 "$VHDFOLD" "$cmd" vm/top.vhd
    CHECKS=$((CHECKS + 1))
    if [ "$RC" = 0 ] || [ "$RC" = 124 ]; then
        fail "$cmd on a FIFO parent: exit $RC (124: it hung)"
    fi
    expect_match "$OUT$ERR" "FIFO" "$cmd names the FIFO"
done
run timeout 10 "$VHDFOLD" info vm/base.vhd
expect_rc 4 "info on a FIFO named directly"
expect_match "$ERR" "it is a FIFO" "info FIFO message"

# --- an absolute locator to a file that is not a disk ---
"$PY" -c 'import sys; t=b"TOPSECRET-swordfish-"; open(sys.argv[1],"wb").write((t*400)[:4321])' \
    secret/shadow.txt
qemu_vhd store/real.vhd 8M dynamic 0x33 0 64K
"$PY" "$MK" store/real.vhd vm/leak.vhd --no-w2ru --w2ku "$T/secret/shadow.txt" --name shadow.txt
for cmd in info check digest; do
    run "$VHDFOLD" "$cmd" vm/leak.vhd
    CHECKS=$((CHECKS + 1))
    [ "$RC" != 0 ] || fail "$cmd follows an absolute locator by default"
    expect_match "$OUT$ERR" "absolute path not followed" "$cmd says the absolute locator was refused"
    expect_quiet "$cmd default"
done
if [ "$HAVE_STRACE" = 1 ]; then
    for cmd in info check digest; do
        strace -f -e trace=open,openat -o "$T/$cmd.log" "$VHDFOLD" "$cmd" vm/leak.vhd \
            >/dev/null 2>&1 || true
        never_opened "$T/$cmd.log" "secret/shadow.txt" "$cmd (strace)"
        CHECKS=$((CHECKS + 1))
        grep -q 'leak.vhd' "$T/$cmd.log" || fail "$cmd (strace): the log does not show the child opened"
    done
fi
run "$VHDFOLD" info --allow-absolute-parents vm/leak.vhd
expect_rc 3 "info --allow-absolute-parents on a file that is no disk"
expect_match "$ERR" "shadow.txt' is not a virtual disk" "allowed: only 'not a virtual disk'"
expect_quiet "info --allow-absolute-parents"
run "$VHDFOLD" check --json --allow-absolute-parents vm/leak.vhd
expect_quiet "check --json --allow-absolute-parents"

# --- an absolute locator to a real parent ---
"$PY" "$MK" store/real.vhd vm/abs.vhd --no-w2ru --w2ku "$T/store/real.vhd" --name elsewhere.vhd \
    --write 0:512:0x44
run "$VHDFOLD" info vm/abs.vhd
expect_rc 3 "absolute parent refused by default"
run "$VHDFOLD" info --json --allow-absolute-parents vm/abs.vhd
expect_rc 0 "absolute parent with --allow-absolute-parents"
expect_eq "$(json_get "$OUT" 'j["levels"][1]["file"]')" "$T/store/real.vhd" "absolute parent's path"
run "$VHDFOLD" digest --allow-absolute-parents vm/abs.vhd
expect_rc 0 "digest --allow-absolute-parents"
run "$VHDFOLD" export --allow-absolute-parents vm/abs.vhd "$T/abs.raw"
expect_rc 0 "export --allow-absolute-parents"
run "$VHDFOLD" compare --allow-absolute-parents vm/abs.vhd "$T/abs.raw"
expect_rc 0 "compare --allow-absolute-parents"

# --- --parent-dir ---
qemu_vhd pd/base/b.vhd 8M dynamic 0x55 0 64K
"$PY" "$MK" pd/base/b.vhd pd/snap/t.vhd --write 0:512:0x66
run "$VHDFOLD" info --json --parent-dir pd pd/snap/t.vhd
expect_rc 0 "parent found inside --parent-dir"
expect_eq "$(json_get "$OUT" 'j["levels"][1]["file"]')" "pd/base/b.vhd" "parent inside DIR"
# a '..' escape to a valid parent outside DIR
qemu_vhd outside/o.vhd 8M dynamic 0x77 0 64K
"$PY" "$MK" outside/o.vhd pd/snap/esc.vhd
run "$VHDFOLD" info pd/snap/esc.vhd
expect_rc 0 "the escaping chain opens without --parent-dir"
run "$VHDFOLD" info --parent-dir pd pd/snap/esc.vhd
expect_rc 3 "'..' out of --parent-dir refused"
expect_match "$ERR" "outside the parent folder" "'..' escape named"
if [ "$HAVE_STRACE" = 1 ]; then
    strace -f -e trace=open,openat -o "$T/esc.log" "$VHDFOLD" info --parent-dir pd pd/snap/esc.vhd \
        >/dev/null 2>&1 || true
    never_opened "$T/esc.log" "outside/o.vhd" "'..' escape (strace)"
fi
# a symbolic link inside DIR pointing out of it
ln -s ../../outside/o.vhd pd/base/link.vhd
"$PY" "$MK" outside/o.vhd pd/snap/sym.vhd --w2ru '..\base\link.vhd' --name link.vhd
run "$VHDFOLD" info pd/snap/sym.vhd
expect_rc 0 "the symlinked chain opens without --parent-dir"
run "$VHDFOLD" check --parent-dir pd pd/snap/sym.vhd
CHECKS=$((CHECKS + 1))
[ "$RC" != 0 ] || fail "a symbolic link out of --parent-dir was followed"
expect_match "$OUT$ERR" "symbolic link" "symlink refusal named"

# --- merge: the DESTINATION named by the user, reached only through an absolute locator ---
qemu_vhd store/mbase.vhd 8M dynamic 0x12 0 64K
"$PY" "$MK" store/mbase.vhd vm/mtop.vhd --no-w2ru --w2ku "$T/store/mbase.vhd" --name none.vhd \
    --write 0:4096:0x34
run "$VHDFOLD" merge --progress=none vm/mtop.vhd store/mbase.vhd --verify
expect_rc 0 "merge into the named DESTINATION behind an absolute locator"
qemu_vhd store/mbase2.vhd 8M dynamic 0x12 0 64K
"$PY" "$MK" store/mbase2.vhd vm/mtop2.vhd --no-w2ru --w2ku "$T/store/mbase2.vhd" --name none.vhd
run "$VHDFOLD" merge --progress=none --parent-dir pd vm/mtop2.vhd store/mbase2.vhd
expect_rc 0 "merge with --parent-dir: the DESTINATION outside DIR is still accepted"
# a named file is taken only when its identity binds: mbase is no parent of mtop2
"$PY" "$MK" store/mbase2.vhd vm/mtop3.vhd --no-w2ru --w2ku "$T/store/mbase2.vhd" --name none.vhd
run "$VHDFOLD" merge --progress=none --dry-run vm/mtop3.vhd store/mbase.vhd
expect_rc 3 "a named DESTINATION that is not the parent is not taken for it"
expect_match "$ERR" "cannot find parent of 'vm/mtop3.vhd'" "unbound DESTINATION message"

# --- locator text holding terminal control sequences: printed with '?' for each control ---
"$PY" "$MK" store/mbase.vhd vm/esc.vhd --w2ru "$(printf 'e\033]2;owned\007\033[2Jx.vhd')" \
    --name "$(printf 'n\033[31m\302\233m.vhd')"
for cmd in info check digest; do
    run "$VHDFOLD" "$cmd" vm/esc.vhd
    CHECKS=$((CHECKS + 1))
    if LC_ALL=C grep -q "$(printf '[\001-\037\177]\\|\302[\200-\237]')" "$T/.out" "$T/.err"; then
        fail "$cmd: a control character from the locator reached the terminal: $(cat -v "$T/.err")"
    fi
    expect_match "$OUT$ERR" "e\?\]2;owned\?\?\[2Jx\.vhd" "$cmd: the locator is still shown"
done
run "$VHDFOLD" info vm/esc.vhd
expect_match "$OUT" "W2ru  e\?\]2;owned" "info: the locator line shows the text with '?'"

# --- a MacX locator holding bytes that are not UTF-8: the JSON keeps every key, with U+FFFD ---
"$PY" "$MK" store/mbase.vhd vm/badutf.vhd --no-w2ru --name mbase.vhd \
    --macx "$(printf 'file://x\377\376y.vhd' | od -An -tx1 | tr -d ' \n')"
run "$VHDFOLD" info --json vm/badutf.vhd
CHECKS=$((CHECKS + 1))
if ! "$PY" -c '
import json, sys
d = json.loads(sys.argv[1])
locs = [l for lv in d["levels"] for l in (lv.get("parent") or {}).get("locators", [])]
macx = [l for l in locs if l["tag"] == "MacX"]
assert macx and "path" in macx[0], locs
assert "x\ufffd\ufffdy.vhd" in macx[0]["path"], macx[0]["path"]
' "$OUT"; then
    fail "info --json lost or mangled the MacX locator: $OUT"
fi

finish

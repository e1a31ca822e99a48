#!/usr/bin/env bash
# cmd_repair.sh - 'vhdfold repair': VHD files whose trailing footer the test removes or damages
# (cut by one sector, bad checksum, zeroed) get it back from the copy at offset 0 (bytes equal
# the original, digest equal the manifest, check's hint before); a VHDX with a pending log
# (gen --dirty) is replayed (then 7-Zip, which ignores logs, reads the manifest's bytes) and a
# damaged VHDX header copy re-synced; --dry-run and every unsafe case write nothing (folder
# listing and file hashes compared); a level of a pending or running merge (a planted journal,
# then that journal locked) is refused, even with --dry-run. Run by ctest (tests/cmds.cmake).
. "$(dirname "$0")/verify_lib.sh"

manifest_sha() { # manifest_sha DIR FILE
    "$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]+"/manifest.json"))
print([l["sha256"] for l in m["levels"] if l["file"] == sys.argv[2]][0])' "$1" "$2"
}

"$VHDFOLD" gen --format vhd --depth 1 --base dynamic --size 24M --density 0.3 --seed 41 \
    --progress none "$T/g" >/dev/null
for lvl in 00-base.vhd 01-diff.vhd; do
    want=$(manifest_sha "$T/g" "$lvl")
    for damage in cut checksum zeroed; do
        d=$T/$damage-$lvl
        mkdir "$d"
        cp "$T/g"/*.vhd "$d/"
        f=$d/$lvl
        size=$(stat -c %s "$f")
        case $damage in
        cut) truncate -s $((size - 512)) "$f" ;;
        checksum) printf '\001' | dd of="$f" bs=1 seek=$((size - 512 + 70)) conv=notrunc 2>/dev/null ;;
        zeroed) dd if=/dev/zero of="$f" bs=512 count=1 seek=$((size / 512 - 1)) conv=notrunc 2>/dev/null ;;
        esac
        run "$VHDFOLD" digest "$f"
        expect_rc 3 "$damage $lvl: digest of the damaged file"
        run "$VHDFOLD" check "$f"
        expect_rc 3 "$damage $lvl: check of the damaged file"
        expect_match "$ERR" "hint: 'vhdfold repair .*' can fix this: .*trailing footer" "$damage $lvl: check's hint"
        run "$VHDFOLD" check --json "$f"
        expect_eq "$(json_get "$OUT" 'j["repairable"]')" True "$damage $lvl: check --json repairable"
        before=$(snap "$d")
        run "$VHDFOLD" repair --dry-run "$f"
        expect_rc 0 "$damage $lvl: repair --dry-run"
        expect_match "$OUT" "^would repair: .*trailing footer at offset" "$damage $lvl: the plan"
        expect_eq "$(snap "$d")" "$before" "$damage $lvl: --dry-run wrote nothing"
        run "$VHDFOLD" repair "$f"
        expect_rc 0 "$damage $lvl: repair"
        expect_match "$OUT" "^repairing: .*copy from offset 0" "$damage $lvl: listed before made"
        CHECKS=$((CHECKS + 1))
        cmp -s "$f" "$T/g/$lvl" || fail "$damage $lvl: repaired file differs from the original"
        run "$VHDFOLD" digest "$f"
        expect_eq "${OUT%% *}" "$want" "$damage $lvl: digest after repair"
        run "$VHDFOLD" repair --json "$f"
        expect_eq "$(json_get "$OUT" 'len(j["actions"]), j["repaired"], j["command"]')" \
            "(0, False, 'repair')" "$damage $lvl: a second repair has nothing to do"
    done
done

# unsafe: nothing written, exit 3, "cannot repair safely"
unsafe() { # unsafe WHAT FILE
    local dir
    dir=$(dirname "$2")
    before=$(snap "$dir")
    run "$VHDFOLD" repair "$2"
    expect_rc 3 "$1: repair refused"
    expect_match "$ERR" "cannot repair safely" "$1: the refusal"
    run "$VHDFOLD" repair --json "$2"
    expect_eq "$(json_get "$OUT" 'j["exit"], "cannot repair safely" in j["error"]["message"], j["repaired"]')" \
        "(3, True, False)" "$1: JSON refusal"
    expect_eq "$(snap "$dir")" "$before" "$1: nothing written"
}
mkdir "$T/u"
cp "$T/g/00-base.vhd" "$T/u/header.vhd" # a damaged dynamic header: not a footer problem
printf 'XXXX' | dd of="$T/u/header.vhd" bs=1 seek=600 conv=notrunc 2>/dev/null
unsafe "damaged dynamic header" "$T/u/header.vhd"
cp "$T/g/00-base.vhd" "$T/u/short.vhd" # cut inside the last block: data is gone
truncate -s $(($(stat -c %s "$T/u/short.vhd") - 4096)) "$T/u/short.vhd"
unsafe "data cut off" "$T/u/short.vhd"
qemu-img create -q -f vpc -o subformat=fixed "$T/u/fixed.vhd" 4M 2>/dev/null ||
    "$VHDFOLD" gen --format vhd --depth 0 --base fixed --size 4M --seed 1 --progress none "$T/uf" >/dev/null
[ -f "$T/u/fixed.vhd" ] || cp "$T/uf/00-base.vhd" "$T/u/fixed.vhd"
truncate -s -512 "$T/u/fixed.vhd" # a fixed VHD has no copy of its footer
unsafe "fixed VHD without its footer" "$T/u/fixed.vhd"
printf 'not a disk at all' >"$T/u/junk.vhd"
before=$(snap "$T/u")
run "$VHDFOLD" repair "$T/u/junk.vhd"
expect_rc 3 "not a virtual disk"
expect_eq "$(snap "$T/u")" "$before" "not a virtual disk: nothing written"
run "$VHDFOLD" repair "$T/u/missing.vhd"
expect_rc 4 "missing file"

# VHDX: pending logs replayed; a damaged header copy re-synced
"$VHDFOLD" gen --format vhdx --depth 2 --dirty all --size 16M --seed 3 --progress none \
    "$T/x" >/dev/null
replayed=0
for f in "$T"/x/*.vhdx; do
    lvl=$(basename "$f")
    run "$VHDFOLD" repair -n "$f"
    expect_rc 0 "$lvl: repair -n"
    if ! grep -q "replay the pending log" <<<"$OUT"; then continue; fi
    replayed=$((replayed + 1))
    before=$(sha "$f")
    run "$VHDFOLD" repair "$f"
    expect_rc 0 "$lvl: repair"
    CHECKS=$((CHECKS + 1))
    [ "$(sha "$f")" != "$before" ] || fail "$lvl: the replay wrote nothing"
    run "$VHDFOLD" repair "$f"
    expect_match "$OUT" "nothing to repair" "$lvl: replayed once"
done
CHECKS=$((CHECKS + 1))
[ "$replayed" -ge 1 ] || fail "no generated VHDX level had a pending log"
base_sha=$(manifest_sha "$T/x" 00-base.vhdx)
if [ -n "$(command -v 7zz)" ]; then
    CHECKS=$((CHECKS + 1))
    [ "$(7zz x -so "$T/x/00-base.vhdx" 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$base_sha" ] ||
        fail "7-Zip does not read the manifest's bytes from the replayed base"
fi
top=$(ls "$T"/x/02-*)
want=$(manifest_sha "$T/x" "$(basename "$top")")
printf 'ZZ' | dd of="$top" bs=1 seek=$((65536 + 100)) conv=notrunc 2>/dev/null # header 1
printf 'ZZ' | dd of="$top" bs=1 seek=$((131072 + 100)) conv=notrunc 2>/dev/null # and 2
run "$VHDFOLD" repair "$top"
expect_rc 3 "VHDX with both headers damaged is refused"
run "$VHDFOLD" gen --format vhdx --depth 1 --size 16M --seed 5 --progress none "$T/y"
top=$T/y/01-diff.vhdx
want=$(manifest_sha "$T/y" 01-diff.vhdx)
printf 'ZZ' | dd of="$top" bs=1 seek=$((65536 + 100)) conv=notrunc 2>/dev/null
run "$VHDFOLD" check "$top"
expect_match "$OUT" "hint: 'vhdfold repair .*' can fix this: .*rewrite header 1" "VHDX header: check's hint"
run "$VHDFOLD" repair "$top"
expect_rc 0 "VHDX header re-sync"
expect_match "$OUT" "^repairing: .*rewrite header 1 \(at 65536: CRC-32C mismatch\) from header 2" "the plan names the header"
run "$VHDFOLD" repair "$top"
expect_match "$OUT" "nothing to repair" "both headers valid afterwards"
run "$VHDFOLD" digest "$top"
expect_eq "${OUT%% *}" "$want" "VHDX digest after the header re-sync"
# a level of a merge: with the journal of an interrupted merge of 03 into 01 beside 01 (a
# pending merge), then with that journal held as a running merge holds it, repair (and its dry
# run) of SOURCE, the intermediate and DESTINATION is refused naming the file and the merge,
# nothing written (the rerun that finishes the merge checks the files the journal recorded)
"$VHDFOLD" gen --format vhd --depth 3 --base dynamic --size 4M --block-size 512K --seed 43 \
    --density 0.4 --progress none "$T/pm" >/dev/null
plant_journal "$T"/pm/03-diff.vhd "$T"/pm/02-diff.vhd "$T"/pm/01-diff.vhd
for state in pending running; do
    [ $state = pending ] || hold_journal "$JOURNAL"
    for lvl in 03-diff 02-diff 01-diff; do
        for dry in "" --dry-run; do
            what="repair ${dry:+$dry }$lvl with a $state merge"
            before=$(snap "$T/pm")
            run "$VHDFOLD" repair $dry "$T/pm/$lvl.vhd"
            expect_rc 2 "$what"
            expect_match "$ERR" "'$T/pm/$lvl.vhd' is part of a merge: .*repair refused" "$what: names the file"
            if [ $state = pending ]; then
                expect_match "$ERR" "pending merge journal '$JOURNAL'" "$what: names the journal"
            else
                expect_match "$ERR" "in use: merge of .* into '$T/pm/01-diff.vhd' in progress \(pid $HOLDER;" "$what: names the merge"
            fi
            expect_eq "$(snap "$T/pm")" "$before" "$what: nothing written"
        done
    done
    run "$VHDFOLD" repair --json "$T/pm/02-diff.vhd"
    expect_eq "$(json_get "$OUT" 'j["exit"], j["error"]["name"], j["error"]["file"]')" \
        "(2, 'VF_E_STATE', '$T/pm/02-diff.vhd')" "repair --json with a $state merge"
    [ $state = pending ] || release_journal
done
rm "$JOURNAL"
run "$VHDFOLD" repair "$T/pm/02-diff.vhd"
expect_rc 0 "repair once the journal is gone"
finish

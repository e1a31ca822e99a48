#!/usr/bin/env bash
# cmd_resize.sh - 'vhdfold resize': dynamic VHD and VHDX images grow (the old bytes unchanged,
# the new space zeros), and 7-Zip ('7zz x -so') and qemu-img read the grown disk as vhdfold
# exports it; a differencing VHD grows over its parent; shrinking works only when nothing is
# allocated past the new end; bad input (shrink over data, unaligned, past the format's room,
# not an image, no --size) is refused with the folder listing and every file's
# hash unchanged. Fixed VHDs grow and shrink (over zeros); VHDX shrinks over unallocated
# space; the VHD crash window between the two footers is fixed by repair. Run by ctest.
. "$(dirname "$0")/verify_lib.sh"
command -v 7zz >/dev/null || { echo "SKIP: 7zz not installed (ci/bootstrap installs 7zip)"; exit 77; }


# grown FILE OLD_SIZE NEW_SIZE FORMAT [SEVENZIP_BYTES]: resize, then compare the old bytes and
# zeros, 7-Zip (its first SEVENZIP_BYTES: 7-Zip stops a child at its parent's end) and qemu-img
# (standalone VHD: qemu's vpc driver reads no parent).
grown() {
    local f=$1 old=$2 new=$3 fmt=$4 sz=${5:-}
    "$VHDFOLD" export "$f" "$T/before.raw"
    run "$VHDFOLD" resize --json "$f" --size "$new"
    expect_rc 0 "resize $f to $new"
    RESIZE_OUT=$OUT
    expect_eq "$(json_get "$OUT" 'j["command"], j["virtual_size_before"], j["virtual_size"]')" \
        "('resize', $old, $new)" "resize --json $f"
    "$VHDFOLD" export "$f" "$T/after.raw"
    expect_eq "$(stat -c %s "$T/after.raw")" "$new" "$f: exported size after growing"
    CHECKS=$((CHECKS + 1))
    cmp -s -n "$old" "$T/before.raw" "$T/after.raw" || fail "$f: old bytes changed"
    CHECKS=$((CHECKS + 1))
    cmp -s -i "$old:0" -n $((new - old)) "$T/after.raw" /dev/zero || fail "$f: new space not zero"
    CHECKS=$((CHECKS + 1))
    if [ -n "$sz" ]; then
        (7zz x -so "$f" 2>/dev/null || true) | head -c "$sz" >"$T/7z.raw"
        cmp -s -n "$sz" "$T/7z.raw" "$T/after.raw" && [ "$(stat -c %s "$T/7z.raw")" = "$sz" ] ||
            fail "$f: 7-Zip reads other bytes"
    else
        7zz x -so "$f" 2>/dev/null | cmp -s - "$T/after.raw" || fail "$f: 7-Zip reads other bytes"
    fi
    # qemu-img opens a VHDX whose log was used only read-write (it would replay it): VHD only
    if [ "$fmt" = vhd ] && [ -z "$sz" ] && command -v qemu-img >/dev/null &&
        ! "$VHDFOLD" info "$f" | grep -q differencing; then
        CHECKS=$((CHECKS + 1))
        qemu-img convert -f vpc -O raw "$f" "$T/qemu.raw" &&
            cmp -s "$T/qemu.raw" "$T/after.raw" || fail "$f: qemu-img reads other bytes"
    fi
    run "$VHDFOLD" check "$f"
    expect_rc 0 "check after growing $f"
}

for fmt in vhd vhdx; do
    "$VHDFOLD" gen --format $fmt --depth 1 --base dynamic --size 16M --density 0.4 --seed 21 \
        --progress none "$T/$fmt" >/dev/null
    grown "$T/$fmt/00-base.$fmt" 16777216 67108864 $fmt
    grown "$T/$fmt/00-base.$fmt" 67108864 100663296 $fmt
    # a differencing top grows over its (unchanged) parent: the new space reads as zeros
    "$VHDFOLD" gen --format $fmt --depth 2 --base dynamic --size 16M --density 0.4 --seed 22 \
        --progress none "$T/d$fmt" >/dev/null
    top=$(ls "$T/d$fmt"/02-*)
    if [ $fmt = vhd ]; then # a VHD keeps its identity: the whole chain grows, 7-Zip reads it all
        for f in "$T/d$fmt"/0[01]-*; do "$VHDFOLD" resize "$f" -s 32M >/dev/null; done
        grown "$top" 16777216 33554432 $fmt
    else # a VHDX resize changes its DataWriteGuid: only the top grows, over a smaller parent
        grown "$top" 16777216 33554432 $fmt 16777216
        expect_match "$RESIZE_OUT" '"identity_changed": true' "VHDX resize says the identity changed"
    fi
    run "$VHDFOLD" resize "$top" -s 32M
    expect_match "$OUT" "already" "$fmt: same size is nothing to do"

    # refusals: nothing written
    before=$(snap "$T/$fmt")
    for bad in "--size 1M" "--size 1000" "--size 3T" "" "--size 0"; do
        # shellcheck disable=SC2086
        run "$VHDFOLD" resize "$T/$fmt/00-base.$fmt" $bad
        CHECKS=$((CHECKS + 1))
        [ "$RC" -ge 2 ] || fail "$fmt: resize '$bad' accepted (exit $RC)"
        expect_match "$ERR" "." "$fmt: resize '$bad' says why"
    done
    expect_eq "$(snap "$T/$fmt")" "$before" "$fmt: refused resizes wrote nothing"
done

# VHD shrink where nothing is allocated past the new end
qemu_vhd "$T/s.vhd" 64M dynamic 0x5a 0 1M
before=$(sha "$T/s.vhd")
run "$VHDFOLD" resize "$T/s.vhd" --size 8M
expect_rc 0 "shrink an image whose data ends early"
run "$VHDFOLD" export "$T/s.vhd" "$T/s.raw"
expect_eq "$(stat -c %s "$T/s.raw")" 8388608 "shrunk size"
expect_eq "$(head -c 1048576 "$T/s.raw" | tr -d '\132' | wc -c)" 0 "shrunk data kept"
CHECKS=$((CHECKS + 1))
7zz x -so "$T/s.vhd" 2>/dev/null | cmp -s - "$T/s.raw" || fail "7-Zip reads the shrunk disk otherwise"

# dynamic VHD grown past its table's room (qemu's: one BAT sector, 128 entries): the blocks in
# the way move to the end of the file; 7-Zip reads the grown disk as we export it, qemu-img
# (which goes by the CHS geometry of its own images) reads the same bytes as far as it goes
qemu_vhd "$T/m.vhd" 8M dynamic 0x5a 0 3M 0x11 7M 4096
"$VHDFOLD" export "$T/m.vhd" "$T/m0.raw"
run "$VHDFOLD" resize "$T/m.vhd" --size 512M
expect_rc 0 "grow a dynamic VHD past its table's room"
"$VHDFOLD" export "$T/m.vhd" "$T/m1.raw"
CHECKS=$((CHECKS + 1))
cmp -s -n 8390656 "$T/m0.raw" "$T/m1.raw" || fail "moving blocks changed the old bytes"
CHECKS=$((CHECKS + 1))
cmp -s -i 8390656:0 -n $((536870912 - 8390656)) "$T/m1.raw" /dev/zero || fail "moved: new space not zero"
CHECKS=$((CHECKS + 1))
7zz x -so "$T/m.vhd" 2>/dev/null | cmp -s - "$T/m1.raw" || fail "7-Zip reads the moved VHD otherwise"
CHECKS=$((CHECKS + 1))
qemu-img convert -f vpc -O raw "$T/m.vhd" "$T/mq.raw" &&
    cmp -s -n "$(stat -c %s "$T/mq.raw")" "$T/mq.raw" "$T/m1.raw" || fail "qemu-img reads the moved VHD otherwise"
run "$VHDFOLD" check "$T/m.vhd"
expect_rc 0 "check after moving blocks"

# fixed VHD (qemu's, 'force_size': qemu then reads 'current size', not the geometry): grows
# (old bytes, then zeros: 7-Zip and qemu-img agree) and shrinks over zeros
qemu-img create -q -f vpc -o subformat=fixed,force_size=on "$T/f.vhd" 8M
qemu-io -f vpc -c "write -P 0x5a 0 1M" -c "write -P 0x3c 7M 512" "$T/f.vhd" >/dev/null
grown "$T/f.vhd" 8388608 16777216 vhd
expect_eq "$(stat -c %s "$T/f.vhd")" 16777728 "fixed VHD: the footer follows the new data"
run "$VHDFOLD" resize "$T/f.vhd" --size 7340544
expect_rc 0 "fixed VHD shrinks to just past its last non-zero byte"
run "$VHDFOLD" export "$T/f.vhd" "$T/fs.raw"
expect_eq "$(stat -c %s "$T/fs.raw")" 7340544 "fixed VHD shrunk size"
expect_eq "$(stat -c %s "$T/f.vhd")" 7341056 "fixed VHD: the file ends with the new footer"
CHECKS=$((CHECKS + 1))
head -c 7340544 "$T/after.raw" | cmp -s - "$T/fs.raw" || fail "fixed VHD: shrinking changed the kept bytes"
CHECKS=$((CHECKS + 1))
7zz x -so "$T/f.vhd" 2>/dev/null | cmp -s - "$T/fs.raw" || fail "7-Zip reads the shrunk fixed VHD otherwise"
CHECKS=$((CHECKS + 1))
qemu-img convert -f vpc -O raw "$T/f.vhd" "$T/fq.raw" && cmp -s "$T/fq.raw" "$T/fs.raw" ||
    fail "qemu-img reads the shrunk fixed VHD otherwise"
run "$VHDFOLD" check "$T/f.vhd"
expect_rc 0 "check after shrinking a fixed VHD"

# VHDX shrink (qemu's image): over unallocated space, to a size inside a fully present block
# whose bytes past the new end are zeros (a multiple of 4096: 7-Zip refused a VHDX of 33 MiB
# + 512 when tried); qemu-img check clean, 7-Zip reads what we export
qemu-img create -q -f vhdx -o block_size=1M "$T/x.vhdx" 64M
qemu-io -f vhdx -c "write -P 0x5a 0 1M" -c "write -P 0x33 33M 512" -c "write -P 0x34 34611200 512" \
    "$T/x.vhdx" >/dev/null
"$VHDFOLD" export "$T/x.vhdx" "$T/x0.raw"
run "$VHDFOLD" resize --json "$T/x.vhdx" --size 34M
expect_rc 0 "VHDX shrinks over unallocated blocks"
expect_eq "$(json_get "$OUT" 'j["virtual_size_before"], j["virtual_size"]')" \
    "(67108864, 35651584)" "VHDX shrink --json sizes"
run "$VHDFOLD" resize "$T/x.vhdx" --size 34607104
expect_rc 3 "VHDX shrink over a non-zero byte past the new end refused"
expect_match "$ERR" "byte 34611200 past the new end is not zero" "the refusal names the byte"
qemu-io -f vhdx -c "write -P 0 34611200 512" "$T/x.vhdx" >/dev/null
"$VHDFOLD" export "$T/x.vhdx" "$T/x0.raw"
run "$VHDFOLD" resize "$T/x.vhdx" --size 34607104
expect_rc 0 "VHDX shrinks into a block whose tail is zero"
expect_match "$ERR" "warning: '$T/x.vhdx' has a new identity" "human resize warns of the new identity"
expect_match "$ERR" "set-parent CHILD $T/x.vhdx --ignore-id-mismatch" "the warning names the re-attach"
"$VHDFOLD" export "$T/x.vhdx" "$T/x1.raw"
expect_eq "$(stat -c %s "$T/x1.raw")" 34607104 "VHDX shrunk size"
CHECKS=$((CHECKS + 1))
head -c 34607104 "$T/x0.raw" | cmp -s - "$T/x1.raw" || fail "VHDX shrink changed the kept bytes"
CHECKS=$((CHECKS + 1))
7zz x -so "$T/x.vhdx" 2>/dev/null | cmp -s - "$T/x1.raw" || fail "7-Zip reads the shrunk VHDX otherwise"
cp "$T/x.vhdx" "$T/xq.vhdx" # qemu-img check replays the log of a copy, not ours
CHECKS=$((CHECKS + 1))
qemu-img check -q -f vhdx "$T/xq.vhdx" || fail "qemu-img check finds errors in the shrunk VHDX"
CHECKS=$((CHECKS + 1))
qemu-img convert -f vhdx -O raw "$T/xq.vhdx" "$T/xq.raw" && cmp -s "$T/xq.raw" "$T/x1.raw" ||
    fail "qemu-img reads the shrunk VHDX otherwise"
run "$VHDFOLD" check "$T/x.vhdx"
expect_rc 0 "check after shrinking a VHDX"
grown "$T/x.vhdx" 34607104 50331648 vhdx

# the crash window between a VHD's two footer writes: copy at 0 one step behind; check says
# repair helps, --dry-run lists only, repair rewrites the copy from the trailing footer
qemu_vhd "$T/w.vhd" 8M dynamic 0x5a 0 1M
head -c 512 "$T/w.vhd" >"$T/w.head"
"$VHDFOLD" resize "$T/w.vhd" --size 16M >/dev/null
"$VHDFOLD" export "$T/w.vhd" "$T/w.raw"
dd if="$T/w.head" of="$T/w.vhd" conv=notrunc status=none
run "$VHDFOLD" check "$T/w.vhd"
expect_rc 3 "copies that differ: a normal open refuses"
expect_match "$ERR" "hint: 'vhdfold repair .*copy at offset 0" "check says repair would help"
before=$(sha "$T/w.vhd")
run "$VHDFOLD" repair --dry-run "$T/w.vhd"
expect_rc 0 "repair --dry-run"
expect_match "$OUT" "would repair: .*trailing footer over the copy at offset 0" "dry run lists it"
expect_eq "$(sha "$T/w.vhd")" "$before" "repair --dry-run wrote nothing"
run "$VHDFOLD" repair "$T/w.vhd"
expect_rc 0 "repair the copy at offset 0"
expect_match "$OUT" "repairing: " "the repair is listed"
run "$VHDFOLD" check "$T/w.vhd"
expect_rc 0 "check after the repair"
CHECKS=$((CHECKS + 1))
"$VHDFOLD" export "$T/w.vhd" "$T/w2.raw" && cmp -s "$T/w.raw" "$T/w2.raw" ||
    fail "the repaired VHD is not the resized disk"
CHECKS=$((CHECKS + 1))
7zz x -so "$T/w.vhd" 2>/dev/null | cmp -s - "$T/w.raw" || fail "7-Zip reads the repaired VHD otherwise"

# a fixed VHD shrink stopped after its first step (the new footer over the old one, the
# bytes before it zeros): resizing to the same size finishes it, the disk unchanged
mkdir "$T/fs"
qemu-img create -q -f vpc -o subformat=fixed,force_size=on "$T/fs/f.vhd" 8M
qemu-io -f vpc -c "write -P 0x42 0 1M" "$T/fs/f.vhd" >/dev/null
cp "$T/fs/f.vhd" "$T/fs/g.vhd"
"$VHDFOLD" resize "$T/fs/g.vhd" --size 4M >/dev/null
# the footer as another writer might have it: its CHS geometry one cylinder short (checksum
# fixed), which the finishing move must keep byte for byte
tail -c 512 "$T/fs/g.vhd" | "$PY" -c 'import sys
f = bytearray(sys.stdin.buffer.read()); c = int.from_bytes(f[56:58], "big") - 1
f[56:58] = c.to_bytes(2, "big"); f[64:68] = bytes(4)
f[64:68] = ((~sum(f)) & 0xffffffff).to_bytes(4, "big"); sys.stdout.buffer.write(f)' >"$T/fs/foot"
dd if="$T/fs/foot" of="$T/fs/f.vhd" bs=512 seek=16384 conv=notrunc status=none
view=$("$VHDFOLD" digest "$T/fs/f.vhd" | cut -d' ' -f1)
expect_eq "$view" "$("$VHDFOLD" digest "$T/fs/g.vhd" | cut -d' ' -f1)" "the stopped shrink shows the new disk"
run "$VHDFOLD" resize "$T/fs/f.vhd" --size 4M
expect_rc 0 "the same size finishes the shrink"
expect_match "$OUT" "the file was cut from 8389120 to 4194816 bytes" "resize says it cut the file"
expect_eq "$(stat -c %s "$T/fs/f.vhd")" 4194816 "the file ends after the data and one footer"
expect_eq "$("$VHDFOLD" digest "$T/fs/f.vhd" | cut -d' ' -f1)" "$view" "the disk is unchanged"
expect_eq "$(tail -c 512 "$T/fs/f.vhd" | sha256sum)" "$(sha256sum <"$T/fs/foot")" \
    "the footer moved byte for byte (its geometry kept)"
run "$VHDFOLD" resize "$T/fs/f.vhd" --size 4M
expect_match "$OUT" "already 4194304 bytes .4 MiB.$" "a second run has nothing to do"

# a resized VHDX parent: its child no longer opens through it, the warning's set-parent
# re-attaches it, and the child's view is what it was (the parent grew past the child's end)
mkdir "$T/rp"
"$VHDFOLD" create "$T/rp/p.vhdx" --size 16M >/dev/null
qemu-io -f vhdx -c "write -P 0x61 1M 1M" "$T/rp/p.vhdx" >/dev/null
"$VHDFOLD" create "$T/rp/c.vhdx" --parent "$T/rp/p.vhdx" >/dev/null
view=$("$VHDFOLD" digest "$T/rp/c.vhdx" | cut -d' ' -f1)
run "$VHDFOLD" resize "$T/rp/p.vhdx" --size 32M
expect_rc 0 "resize a VHDX parent"
expect_match "$ERR" "set-parent CHILD $T/rp/p.vhdx --ignore-id-mismatch" "the parent's resize warns"
run "$VHDFOLD" digest "$T/rp/c.vhdx"
expect_rc 3 "the child no longer binds to the resized parent"
run "$VHDFOLD" set-parent "$T/rp/c.vhdx" "$T/rp/p.vhdx" --ignore-id-mismatch
expect_rc 0 "set-parent re-attaches the child"
expect_eq "$("$VHDFOLD" digest "$T/rp/c.vhdx" | cut -d' ' -f1)" "$view" "the child's view after re-attaching"

# refusals, nothing written: a fixed VHD shrunk over data, a VHDX shrunk over an allocated
# block or a marked sector, a non-image
mkdir "$T/bad"
qemu-img create -q -f vpc -o subformat=fixed,force_size=on "$T/bad/fixed.vhd" 8M
qemu-io -f vpc -c "write -P 0x5a 6M 512" "$T/bad/fixed.vhd" >/dev/null
qemu-img create -q -f vhdx -o block_size=1M "$T/bad/x.vhdx" 16M
qemu-io -f vhdx -c "write -P 0x5a 9M 4096" "$T/bad/x.vhdx" >/dev/null
printf 'junk' >"$T/bad/junk.vhd"
before=$(snap "$T/bad")
run "$VHDFOLD" resize "$T/bad/fixed.vhd" --size 4M
expect_rc 3 "fixed VHD shrink over data refused"
expect_match "$ERR" "byte 6291456 past the new end is not zero" "the refusal names the byte"
run "$VHDFOLD" resize "$T/bad/x.vhdx" --size 8M
expect_rc 3 "VHDX shrink over an allocated block refused"
expect_match "$ERR" "block 9 .* is allocated past the new end" "the refusal names the block"
run "$VHDFOLD" resize --json "$T/bad/junk.vhd" --size 16M
expect_rc 3 "non-image refused"
expect_match "$OUT" '"error"' "JSON error"
expect_eq "$(snap "$T/bad")" "$before" "refusals wrote nothing"
finish

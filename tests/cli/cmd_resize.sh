#!/usr/bin/env bash
# cmd_resize.sh - 'vhdfold resize': dynamic VHD and VHDX images grow (the old bytes unchanged,
# the new space zeros), and 7-Zip ('7zz x -so') and qemu-img read the grown disk as vhdfold
# exports it; a differencing VHD grows over its parent; shrinking works only when nothing is
# allocated past the new end; bad input (shrink over data, unaligned, past the format's room,
# a fixed VHD, not an image, no --size) is refused with the folder listing and every file's
# hash unchanged. Run by ctest (tests/cmds.cmake).
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

# fixed VHD and a non-image: refused, nothing written
mkdir "$T/bad"
qemu-img create -q -f vpc -o subformat=fixed "$T/bad/fixed.vhd" 8M
printf 'junk' >"$T/bad/junk.vhd"
before=$(snap "$T/bad")
run "$VHDFOLD" resize "$T/bad/fixed.vhd" --size 16M
expect_rc 3 "fixed VHD refused"
expect_match "$ERR" "fixed VHD" "the refusal names the reason"
run "$VHDFOLD" resize --json "$T/bad/junk.vhd" --size 16M
expect_rc 3 "non-image refused"
expect_match "$OUT" '"error"' "JSON error"
expect_eq "$(snap "$T/bad")" "$before" "refusals wrote nothing"
finish

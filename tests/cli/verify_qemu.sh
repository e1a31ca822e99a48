#!/usr/bin/env bash
# verify_qemu.sh - images made by qemu-img/qemu-io: our flat digest equals sha256sum of
# 'qemu-img convert -O raw', for dynamic and fixed VHDs. qemu (creator 'qemu') sizes a disk by
# its CHS geometry: asking for 8M gives 8390656 bytes (241/4/17), and it stores that product as
# the current size, so both tools see the same size; the test states it explicitly.
# Run by ctest (tests/verify.cmake).
. "$(dirname "$0")/verify_lib.sh"
cd "$T"

for sub in dynamic fixed; do
    qemu_vhd "$sub.vhd" 8M "$sub" 0x5a 3M 1M 0xa5 6M 512
    qemu-img convert -f vpc -O raw "$sub.vhd" "$sub.qemu.raw"
    qsize=$(stat -c %s "$sub.qemu.raw")
    expect_eq "$qsize" 8390656 "qemu's raw size for 8M ($sub; CHS-rounded, not 8388608)"
    run "$VHDFOLD" info --json "$sub.vhd"
    expect_rc 0 "info $sub.vhd"
    expect_eq "$(json_get "$OUT" 'j["levels"][0]["virtual_size"]')" "$qsize" "our virtual size equals qemu's ($sub)"
    expect_eq "$(json_get "$OUT" 'j["levels"][0]["type"]')" "$sub" "type ($sub)"
    expect_eq "$(json_get "$OUT" 'j["levels"][0]["creator"]')" "qemu" "creator ($sub)"
    run "$VHDFOLD" digest "$sub.vhd"
    expect_rc 0 "digest $sub.vhd"
    expect_eq "${OUT%%  *}" "$(sha "$sub.qemu.raw")" "flat digest equals qemu's raw export ($sub)"
    run "$VHDFOLD" compare "$sub.vhd" "$sub.qemu.raw"
    expect_rc 0 "compare with qemu's raw export ($sub)"
    run "$VHDFOLD" check "$sub.vhd"
    expect_rc 0 "check $sub.vhd"
done
# 7-Zip reads the same bytes.
expect_eq "$(7zz x -so dynamic.vhd 2>/dev/null | sha256sum | cut -d' ' -f1)" "$(sha dynamic.qemu.raw)" \
    "7-Zip agrees with qemu on the dynamic image"
finish

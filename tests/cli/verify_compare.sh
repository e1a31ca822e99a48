#!/usr/bin/env bash
# verify_compare.sh - 'vhdfold compare': an image against its raw export (identical, exit 0),
# a flipped byte found at its offset (exit 1), sizes differing, --raw, --json shape, usage and
# bad-input exit codes. Run by ctest (tests/verify.cmake).
. "$(dirname "$0")/verify_lib.sh"
cd "$T"

qemu_vhd a.vhd 16M dynamic 0x5a 3M 1M 0x44 9M 8k
"$VHDFOLD" export a.vhd a.raw

run "$VHDFOLD" compare a.vhd a.raw
expect_rc 0 "image vs its export"
expect_match "$OUT" '^identical' "identical text"
run "$VHDFOLD" compare a.vhd a.vhd
expect_rc 0 "image vs itself"

# One byte flipped in block 4 (8-10 MiB) of the raw copy.
cp a.raw b.raw
off=$((9 * 1024 * 1024 + 4321))
printf '\001' | dd of=b.raw bs=1 seek=$off conv=notrunc status=none
run "$VHDFOLD" compare a.vhd b.raw
expect_rc 1 "one flipped byte"
expect_match "$OUT" "first difference at byte $off\$" "first difference offset"
expect_match "$OUT" 'differing 2 MiB blocks: 1$' "one differing block"
run "$VHDFOLD" compare --json a.vhd b.raw
expect_rc 1 "compare --json, different"
expect_eq "$(json_get "$OUT" 'j["schema"]')" 2 "json schema"
expect_eq "$(json_get "$OUT" 'j["exit"]')" 1 "json exit when different"
expect_eq "$(json_get "$OUT" 'j["identical"]')" False "json identical"
expect_eq "$(json_get "$OUT" 'j["first_difference"]')" "$off" "json first difference"
expect_eq "$(json_get "$OUT" 'j["differing_blocks"]')" 1 "json differing blocks"
expect_eq "$(json_get "$OUT" 'j["a"]["source"] + " " + j["b"]["source"]')" "chain raw" "json sources"
expect_eq "$(json_get "$OUT" 'sorted(j)')" \
    "['a', 'b', 'block_size', 'command', 'differing_blocks', 'error', 'exit', 'first_difference', 'identical', 'read_bytes', 'schema', 'status']" \
    "json keys"
run "$VHDFOLD" compare --json a.vhd a.raw
expect_rc 0 "compare --json, identical"
expect_eq "$(json_get "$OUT" 'j["first_difference"]')" None "json first difference when identical"

# --raw compares the image files' own bytes.
qemu_vhd c.vhd 16M dynamic 0x5a 3M 1M 0x44 9M 8k
run "$VHDFOLD" compare a.vhd c.vhd
expect_rc 0 "two images with the same content"
run "$VHDFOLD" compare --raw a.vhd c.vhd
expect_rc 1 "--raw: the files differ (identities, time stamps)"

# Sizes differ.
head -c $((8 * 1024 * 1024)) a.raw >short.raw
run "$VHDFOLD" compare a.raw short.raw
expect_rc 1 "sizes differ"
expect_match "$OUT" 'sizes differ' "sizes differ text"
expect_match "$OUT" "first difference at byte $((8 * 1024 * 1024))\$" "difference starts at the end"

# Bad input and usage.
head -c 3000 a.vhd >trunc.vhd
run "$VHDFOLD" compare trunc.vhd a.raw
expect_rc 3 "compare with a truncated image"
expect_match "$ERR" "trunc\.vhd" "error names the truncated image"
run "$VHDFOLD" compare a.vhd gone.raw
expect_rc 4 "compare with a missing file"
expect_match "$ERR" "gone\.raw" "error names the missing file"
run "$VHDFOLD" compare a.vhd
expect_rc 2 "compare with one file"
run "$VHDFOLD" compare --help
expect_rc 0 "compare --help"
expect_match "$OUT" '^usage: vhdfold compare' "help text"
finish

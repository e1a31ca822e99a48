#!/usr/bin/env bash
# verify_export.sh - 'vhdfold export': the raw export is virtual-size bytes equal to qemu's own
# conversion, sparse where zero, the same through '-' (stdout), --json summary, and bad input
# (truncated image, missing file, OUT being the image itself) writes nothing.
# Run by ctest (tests/verify.cmake).
. "$(dirname "$0")/verify_lib.sh"
cd "$T"

qemu_vhd d.vhd 64M dynamic 0x5a 3M 1M 0x33 40M 64k
qemu-img convert -f vpc -O raw d.vhd qemu.raw

run "$VHDFOLD" export d.vhd out.raw
expect_rc 0 "export"
expect_eq "$OUT" "" "export prints nothing without --json"
expect_eq "$(stat -c %s out.raw)" "$(stat -c %s qemu.raw)" "export size equals qemu's raw size"
expect_eq "$(sha out.raw)" "$(sha qemu.raw)" "export bytes equal qemu's raw conversion"
# Sparse: 64 MiB virtual, about 1.1 MiB of data; allow file-system allocation slack.
alloc=$(($(stat -c %b out.raw) * $(stat -c %B out.raw)))
CHECKS=$((CHECKS + 1))
[ "$alloc" -lt $((8 * 1024 * 1024)) ] || fail "export is not sparse: $alloc bytes allocated"

# Streaming to stdout gives every byte.
"$VHDFOLD" export d.vhd - >stdout.raw
expect_eq "$(sha stdout.raw)" "$(sha qemu.raw)" "export to stdout"

# Replacing an existing file truncates it first.
head -c 100M /dev/zero | tr '\0' '\377' >big.raw
run "$VHDFOLD" export d.vhd big.raw
expect_rc 0 "export over an existing file"
expect_eq "$(sha big.raw)" "$(sha qemu.raw)" "existing OUT replaced"

run "$VHDFOLD" export --json d.vhd j.raw
expect_rc 0 "export --json"
expect_eq "$(json_get "$OUT" 'j["schema"]')" 2 "json schema"
expect_eq "$(json_get "$OUT" 'j["output"]')" j.raw "json output"
expect_eq "$(json_get "$OUT" 'j["virtual_size"]')" "$(stat -c %s qemu.raw)" "json virtual size"
expect_eq "$(json_get "$OUT" '0 < j["written_bytes"] <= 2*1024*1024')" True "json written bytes"
run "$VHDFOLD" export --json d.vhd -
expect_rc 2 "--json with stdout output"

# Bad input: nothing is created.
head -c 3000 d.vhd >trunc.vhd
run "$VHDFOLD" export trunc.vhd t.raw
expect_rc 3 "export of a truncated image"
expect_match "$ERR" "trunc\.vhd" "error names the truncated image"
CHECKS=$((CHECKS + 1))
[ ! -e t.raw ] || fail "export of a bad image created its output"
run "$VHDFOLD" export nothere.vhd t.raw
expect_rc 4 "export of a missing file"
expect_match "$ERR" "nothere\.vhd" "error names the missing file"
CHECKS=$((CHECKS + 1))
[ ! -e t.raw ] || fail "export of a missing image created its output"
before=$(sha d.vhd)
run "$VHDFOLD" export d.vhd d.vhd
expect_rc 2 "export onto the image itself"
expect_eq "$(sha d.vhd)" "$before" "the image is untouched"
run "$VHDFOLD" export d.vhd
expect_rc 2 "export without OUT"
run "$VHDFOLD" export --help
expect_rc 0 "export --help"
expect_match "$OUT" '^usage: vhdfold export' "help text"
finish

#!/usr/bin/env bash
# verify_info.sh - 'vhdfold info': text and --json description of a qemu-made dynamic VHD and
# of a two-level chain (child written by tests/tools/mkdiff_vhd.py), a missing parent (FILE
# still described, exit 3), truncated (3) and missing (4) files. Run by ctest.
. "$(dirname "$0")/verify_lib.sh"
cd "$T"

qemu_vhd base.vhd 8M dynamic 0x5a 1M 3M
"$PY" "$VF_SOURCE_DIR/tests/tools/mkdiff_vhd.py" base.vhd top.vhd --write 0x100000:4096:0x77
vsize=$(qemu-img info -f vpc --output=json base.vhd | json_get "$(cat)" 'j["virtual-size"]')

run "$VHDFOLD" info base.vhd
expect_rc 0 "info base.vhd"
expect_match "$OUT" '^format: +vhd$' "text format"
expect_match "$OUT" '^type: +dynamic$' "text type"
expect_match "$OUT" "^virtual size: +$vsize " "text virtual size"
expect_match "$OUT" '^block size: +2097152$' "text block size"
expect_match "$OUT" '^sector size: +512 logical' "text sector size"
expect_match "$OUT" '^identity: +\{[0-9a-f-]{36}\}$' "text identity"
expect_match "$OUT" '^chain: +1 level$' "text chain depth"

run "$VHDFOLD" info --json top.vhd
expect_rc 0 "info --json top.vhd"
expect_eq "$(json_get "$OUT" 'j["schema"]')" 1 "json schema"
expect_eq "$(json_get "$OUT" 'j["depth"]')" 2 "json depth"
expect_eq "$(json_get "$OUT" 'j["chain_error"]')" None "json chain_error"
expect_eq "$(json_get "$OUT" '[l["type"] for l in j["levels"]]')" "['differencing', 'dynamic']" "json level types"
expect_eq "$(json_get "$OUT" 'j["levels"][0]["virtual_size"]')" "$vsize" "json virtual size"
expect_eq "$(json_get "$OUT" 'j["levels"][0]["parent"]["id"] == j["levels"][1]["id"]')" True \
    "json parent id equals the base identity"
expect_eq "$(json_get "$OUT" 'j["levels"][0]["parent"]["locators"][0]["tag"]')" W2ru "json locator tag"
expect_match "$(json_get "$OUT" 'j["levels"][0]["parent"]["locators"][0]["path"]')" 'base\.vhd$' "json locator path"
expect_match "$(json_get "$OUT" 'j["levels"][1]["file"]')" 'base\.vhd$' "json level 1 file"
expect_eq "$(json_get "$OUT" 'j["levels"][1]["parent"]')" None "json base has no parent"
expect_eq "$(json_get "$OUT" 'j["levels"][0]["vhd"]["creator_os"] > 0')" True "json vhd section"
expect_eq "$(json_get "$OUT" 'sorted(j)')" "['broken_at', 'chain_error', 'command', 'depth', 'file', 'levels', 'pending_merge', 'schema']" "json keys"

run "$VHDFOLD" info top.vhd
expect_rc 0 "info top.vhd"
expect_match "$OUT" '^type: +differencing$' "text differencing type"
expect_match "$OUT" '^parent locator: +W2ru' "text parent locator"
expect_match "$OUT" '^chain: +2 levels$' "text chain depth 2"
expect_match "$OUT" '^  1  .*base\.vhd  vhd dynamic' "text chain level 1"

# The parent goes missing: FILE is still described, the chain error is reported, exit 3.
mv base.vhd away.vhd
run "$VHDFOLD" info top.vhd
expect_rc 3 "info with a missing parent"
expect_match "$OUT" '^type: +differencing$' "FILE still described"
expect_match "$ERR" 'base\.vhd' "the chain error names the parent"
run "$VHDFOLD" info --json top.vhd
expect_rc 3 "info --json with a missing parent"
expect_eq "$(json_get "$OUT" 'j["depth"]')" 1 "json depth with a missing parent"
expect_eq "$(json_get "$OUT" 'j["chain_error"]["status"]')" VF_E_CHAIN "json chain error status"
mv away.vhd base.vhd

head -c 1000 base.vhd >trunc.vhd
run "$VHDFOLD" info trunc.vhd
expect_rc 3 "info of a truncated image"
expect_match "$ERR" '^vhdfold: .*trunc\.vhd' "truncated error names the file"
run "$VHDFOLD" info nofile.vhd
expect_rc 4 "info of a missing file"
expect_match "$ERR" 'nofile\.vhd' "missing error names the file"
run "$VHDFOLD" info --json nofile.vhd
expect_rc 4 "info --json of a missing file"
expect_eq "$(json_get "$OUT" 'j["error"]["status"]')" VF_E_IO "json error status"
run "$VHDFOLD" info
expect_rc 2 "info without FILE"
run "$VHDFOLD" info --help
expect_rc 0 "info --help"
expect_match "$OUT" '^usage: vhdfold info' "help text"
finish

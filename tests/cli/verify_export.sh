#!/usr/bin/env bash
# verify_export.sh - 'vhdfold export': the raw export is virtual-size bytes equal to qemu's own
# conversion, sparse where zero, the same through '-' (stdout), --json summary, and bad input
# (truncated image, missing file, OUT being the image itself) writes nothing. The file-to-file
# path: generated VHD and VHDX chains (VHDX with pending logs, whose overlaid runs are read,
# not copied) export to their flat digest and 7-Zip's reading, the runs one file holds are
# copied in the kernel (copied_bytes), an empty disk exports as a hole.
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
# qemu's dynamic VHD stores whole 2 MiB blocks (zero-filled around what was written): 3 blocks.
expect_eq "$(json_get "$OUT" '0 < j["written_bytes"] <= 6*1024*1024')" True "json written bytes"
expect_eq "$(json_get "$OUT" 'j["copied_bytes"] == j["written_bytes"]')" True \
    "every run of a VHD is copied file to file"

# An empty disk: nothing written, one hole of the virtual size.
"$VHDFOLD" create empty.vhd --size 1G >/dev/null
run "$VHDFOLD" export --json empty.vhd empty.raw
expect_rc 0 "export of an empty disk"
expect_eq "$(json_get "$OUT" 'j["written_bytes"]')" 0 "empty disk: nothing written"
expect_eq "$(stat -c %s empty.raw)" 1073741824 "empty disk: virtual size"
expect_eq "$(stat -c %b empty.raw)" 0 "empty disk: no block allocated"

# Generated chains: the export is the flat digest (and 7-Zip's reading of the top).
manifest_top_sha() { "$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["levels"][-1]["sha256"])' "$1/manifest.json"; }
for fmt in vhd vhdx; do
    dirty=()
    [ $fmt = vhdx ] && dirty=(--dirty all)
    "$VHDFOLD" gen --format $fmt --depth 2 --size 24M --seed 5 --progress none "${dirty[@]}" \
        g$fmt >/dev/null
    top=$(ls g$fmt/*.$fmt | sort | tail -n 1)
    run "$VHDFOLD" export --json "$top" g$fmt.raw
    expect_rc 0 "$fmt chain: export"
    want=$("$VHDFOLD" digest --progress=none "$top" | cut -d' ' -f1)
    expect_eq "$(sha g$fmt.raw)" "$want" "$fmt chain: export equals the flat digest"
    expect_eq "$(sha g$fmt.raw)" "$(manifest_top_sha g$fmt)" "$fmt chain: export equals the manifest"
    expect_eq "$(json_get "$OUT" 'j["copied_bytes"] > 0')" True "$fmt chain: runs copied in the kernel"
    # 7-Zip follows VHD parents, not VHDX ones: for VHDX it reads the base alone.
    [ $fmt = vhd ] || top=g$fmt/00-base.$fmt
    if [ -n "$(command -v 7zz)" ]; then
        run "$VHDFOLD" export "$top" g$fmt-7z.raw
        expect_eq "$(7zz x -so "$top" 2>/dev/null | sha256sum | cut -d' ' -f1)" \
            "$(sha g$fmt-7z.raw)" "$fmt: 7zz x -so reads what export wrote ($top)"
    fi
done
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

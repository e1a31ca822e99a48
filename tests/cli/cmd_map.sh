#!/usr/bin/env bash
# cmd_map.sh - 'vhdfold map': on standalone dynamic VHDs made by qemu-img (and one made by
# vhdfold gen) the JSON extents equal 'qemu-img map --output=json -f vpc' in start, length,
# zero, data and offset; on VHD and VHDX chains the runs tile the disk, every data run's bytes
# at (file, offset) equal the export's bytes at start, and holes read as zeros; bad input is
# refused. Run by ctest (tests/cmds.cmake).
. "$(dirname "$0")/verify_lib.sh"
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || {
    echo "SKIP: qemu-img/qemu-io not installed (ci/bootstrap installs qemu-utils)"
    exit 77
}

# same_as_qemu IMAGE: our extents and qemu-img's agree in the fields both report.
same_as_qemu() {
    run "$VHDFOLD" map --json "$1"
    expect_rc 0 "map --json $1"
    printf '%s' "$OUT" >"$T/ours.json"
    qemu-img map --output=json -f vpc "$1" >"$T/qemu.json"
    CHECKS=$((CHECKS + 1))
    "$PY" - "$T/ours.json" "$T/qemu.json" <<'PY' || fail "$1: map differs from qemu-img map"
import json, sys
ours = json.load(open(sys.argv[1]))
assert ours["command"] == "map" and ours["status"] == 0, ours
keys = ("start", "length", "zero", "data", "offset")
a = [{k: e.get(k) for k in keys} for e in ours["extents"]]
b = [{k: e.get(k) for k in keys} for e in json.load(open(sys.argv[2]))]
if a != b:
    print("ours:", a, "\nqemu:", b, file=sys.stderr)
    sys.exit(1)
# data runs: the level is 0 and the file is the image itself, as qemu's depth 0 says
for e in ours["extents"]:
    if e["data"]:
        assert e["depth"] == 0 and e["present"] and e["file"] == ours["file"], e
PY
}

qemu_vhd "$T/q1.vhd" 16M dynamic 0x11 0 64k 0x22 5M 1M 0x33 9M 3M
same_as_qemu "$T/q1.vhd"
qemu_vhd "$T/q2.vhd" 8M dynamic
same_as_qemu "$T/q2.vhd"
"$VHDFOLD" gen --format vhd --depth 1 --base dynamic --size 16M --density 0.4 --seed 7 \
    --progress none "$T/g" >/dev/null
same_as_qemu "$T/g/00-base.vhd"

# tiles CHAIN_TOP: runs are in order, contiguous, cover the disk; data runs hold the export's
# bytes at their (file, offset); holes and zero runs are zeros in the export.
tiles() {
    run "$VHDFOLD" map --json "$1"
    expect_rc 0 "map --json $1"
    printf '%s' "$OUT" >"$T/m.json"
    "$VHDFOLD" export "$1" "$T/m.raw"
    CHECKS=$((CHECKS + 1))
    "$PY" - "$T/m.json" "$T/m.raw" <<'PY' || fail "$1: map runs do not describe the export"
import json, sys
m = json.load(open(sys.argv[1]))
raw = open(sys.argv[2], "rb").read()
pos, data, levels = 0, 0, len(m["levels"])
for e in m["extents"]:
    assert e["start"] == pos and e["length"] > 0, e
    want = raw[e["start"]:e["start"] + e["length"]]
    if e["data"]:
        data += 1
        with open(e["file"], "rb") as f:
            f.seek(e["offset"])
            assert f.read(e["length"]) == want, e
        assert 0 <= e["depth"] < levels and m["levels"][e["depth"]]["file"] == e["file"], e
    else:
        assert e["zero"] and want == bytes(len(want)), e
        if not e["present"]:
            assert e["depth"] == levels and e["file"] is None, e
    pos += e["length"]
assert pos == m["virtual_size"] == len(raw), (pos, len(raw))
assert data > 0, "no data run"
PY
}
for fmt in vhd vhdx; do
    "$VHDFOLD" gen --format $fmt --depth 3 --base dynamic --size 24M --density 0.3 --seed 9 \
        --block-size 1M --progress none "$T/c$fmt" >/dev/null
    top=$(ls "$T/c$fmt"/03-*)
    tiles "$top"
    run "$VHDFOLD" map "$top"
    expect_rc 0 "map $top (text)"
    expect_match "$OUT" "data +[0-9] +[0-9]+ +$T/c$fmt/0" "map text names level and file"
done

# bad input: not an image, a missing file, a usage error
printf 'not a disk' >"$T/junk.vhd"
run "$VHDFOLD" map "$T/junk.vhd"
expect_rc 3 "map of a non-image"
expect_match "$ERR" "junk.vhd" "the error names the file"
run "$VHDFOLD" map --json "$T/missing.vhd"
expect_rc 4 "map of a missing file"
expect_match "$OUT" '"error"' "the JSON error object"
run "$VHDFOLD" map
expect_rc 2 "map without FILE"
finish

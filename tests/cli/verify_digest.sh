#!/usr/bin/env bash
# verify_digest.sh - 'vhdfold digest': output line, flat equal to sha256sum of the export, tree
# equal to the Python reference (tests/tools/tree_digest.py), --raw, --json shape, usage and
# bad-input exit codes (truncated image 3, missing file 4). Run by ctest (tests/verify.cmake).
. "$(dirname "$0")/verify_lib.sh"
cd "$T"

qemu_vhd d.vhd 8M dynamic 0x5a 3M 1M 0x11 0 4k 0x22 7M 512
run "$VHDFOLD" digest d.vhd
expect_rc 0 "digest d.vhd"
expect_match "$OUT" '^[0-9a-f]{64}  d\.vhd$' "digest output line"
flat=${OUT%%  *}

"$VHDFOLD" export d.vhd d.raw
expect_eq "$flat" "$(sha d.raw)" "flat digest vs sha256sum of the export"
run "$VHDFOLD" digest --mode flat d.vhd
expect_eq "${OUT%%  *}" "$flat" "--mode flat is the default"

run "$VHDFOLD" digest --mode tree d.vhd
expect_rc 0 "digest --mode tree"
expect_eq "${OUT%%  *}" "$("$PY" "$VF_SOURCE_DIR/tests/tools/tree_digest.py" d.raw | cut -d' ' -f1)" \
    "tree digest vs the Python reference"
tree=${OUT%%  *}
expect_match "$tree" '^[0-9a-f]{64}$' "tree digest is hex"
[ "$tree" != "$flat" ] || fail "tree and flat digests should differ"

# --raw hashes the bytes as they are; the raw export hashes like the image.
run "$VHDFOLD" digest --raw d.raw
expect_rc 0 "digest --raw"
expect_eq "${OUT%%  *}" "$flat" "digest --raw of the export"
run "$VHDFOLD" digest --raw --mode tree d.raw
expect_eq "${OUT%%  *}" "$tree" "tree digest --raw of the export"
# Without --raw a raw file is not an image.
run "$VHDFOLD" digest d.raw
expect_rc 3 "digest of a raw file without --raw"
expect_match "$ERR" "d\.raw" "error names the raw file"

# JSON: a stable shape with schema 1.
run "$VHDFOLD" digest --json --mode tree d.vhd
expect_rc 0 "digest --json"
expect_eq "$(json_get "$OUT" 'j["schema"]')" 2 "json schema"
expect_eq "$(json_get "$OUT" 'j["command"]')" digest "json command"
expect_eq "$(json_get "$OUT" 'j["file"]')" d.vhd "json file"
expect_eq "$(json_get "$OUT" 'j["mode"]')" tree "json mode"
expect_eq "$(json_get "$OUT" 'j["digest"]')" "$tree" "json digest"
expect_eq "$(json_get "$OUT" 'j["block_size"]')" 2097152 "json block size"
expect_eq "$(json_get "$OUT" 'j["virtual_size"]')" "$(stat -c %s d.raw)" "json virtual size"
expect_eq "$(json_get "$OUT" 'sorted(j)')" \
    "['algorithm', 'block_size', 'command', 'digest', 'error', 'exit', 'file', 'mode', 'pending_merge', 'schema', 'source', 'status', 'virtual_size']" \
    "json keys"

# A two-level chain (child by tests/tools/mkdiff_vhd.py, sector-granular writes that cross a
# block boundary): flat digest equals 7-Zip's flattening, tree equals the Python reference.
"$PY" "$VF_SOURCE_DIR/tests/tools/mkdiff_vhd.py" d.vhd top.vhd \
    --write 0x1ffe00:1024:0x61 --write 0x300200:512:0x62 --write 0:512:0
run "$VHDFOLD" digest top.vhd
expect_rc 0 "digest of a chain"
expect_eq "${OUT%%  *}" "$(7zz x -so top.vhd 2>/dev/null | sha256sum | cut -d' ' -f1)" "chain flat digest vs 7-Zip"
[ "${OUT%%  *}" != "$flat" ] || fail "the child's writes should change the digest"
"$VHDFOLD" export top.vhd top.raw
run "$VHDFOLD" digest --mode tree top.vhd
expect_eq "${OUT%%  *}" "$("$PY" "$VF_SOURCE_DIR/tests/tools/tree_digest.py" top.raw | cut -d' ' -f1)" \
    "chain tree digest vs the Python reference"
run "$VHDFOLD" compare top.vhd d.vhd
expect_rc 1 "chain vs its base"
expect_match "$OUT" 'first difference at byte 0$' "the zero-filled sector 0 is the first difference"

# Usage.
run "$VHDFOLD" digest --help
expect_rc 0 "digest --help"
expect_match "$OUT" '^usage: vhdfold digest' "help text"
run "$VHDFOLD" digest --version
expect_rc 0 "digest --version"
expect_match "$OUT" '^vhdfold digest [0-9]' "version line"
run "$VHDFOLD" digest --mode fast d.vhd
expect_rc 2 "bad --mode"
expect_match "$ERR" "mode" "bad --mode message"
run "$VHDFOLD" digest
expect_rc 2 "no FILE"
run "$VHDFOLD" digest --progress=sometimes d.vhd
expect_rc 2 "bad --progress"
run "$VHDFOLD" digest --progress=plain d.vhd
expect_rc 0 "--progress=plain"
expect_eq "${OUT%%  *}" "$flat" "digest with plain progress"
expect_match "$ERR" '^100% completed' "plain progress reaches 100% on stderr"

# Bad input: a truncated image (exit 3), a missing file (exit 4); one line naming the file.
head -c 5000 d.vhd >trunc.vhd
run "$VHDFOLD" digest trunc.vhd
expect_rc 3 "truncated image"
expect_match "$ERR" "^vhdfold: .*trunc\.vhd" "truncated image error names the file"
expect_eq "$(printf '%s\n' "$ERR" | wc -l)" 1 "one error line"
expect_eq "$OUT" "" "nothing on stdout for a truncated image"
run "$VHDFOLD" digest --json trunc.vhd
expect_rc 3 "truncated image --json"
expect_eq "$(json_get "$OUT" 'j["error"]["name"] in ("VF_E_TRUNCATED","VF_E_FORMAT","VF_E_CORRUPT") and j["exit"] == 3 and j["error"]["file"] == "trunc.vhd"')" True \
    "json error status"
run "$VHDFOLD" digest missing.vhd
expect_rc 4 "missing file"
expect_match "$ERR" "missing\.vhd" "missing file error names the file"
# A file cut by another program while it is hashed: an error and exit 3 (a read past the
# end) or 4 (mapped pages vanished, SIGBUS caught: both digests hash stored runs through
# mappings), never a crash. The digest is stopped once it has hashed something, the file cut,
# the digest continued. A digest that ends before it is stopped (exit 0: the tree digest of
# 256 MiB takes a tenth of a second) is tried again, up to 5 times.
# cut_digest MODE: one attempt; sets rc.
cut_digest() {
    rm -rf "$T/cut"
    "$VHDFOLD" gen --seed 31 --depth 0 --base dynamic --size 256M --density 1 --progress none \
        "$T/cut" >/dev/null
    "$VHDFOLD" digest --mode "$1" --progress json "$T/cut/00-base.vhd" >"$T/cut.out" 2>"$T/cut.err" &
    local dpid=$!
    for _ in $(seq 2000); do
        grep -q '"bytes_done":[1-9]' "$T/cut.err" 2>/dev/null && break
        kill -0 $dpid 2>/dev/null || break
        sleep 0.005
    done
    kill -STOP $dpid 2>/dev/null || true
    truncate -s 4M "$T/cut/00-base.vhd"
    kill -CONT $dpid 2>/dev/null || true
    rc=0
    wait $dpid || rc=$?
}
for mode in flat tree; do
    for _ in 1 2 3 4 5; do
        cut_digest $mode
        [ "$rc" != 0 ] && break
    done
    CHECKS=$((CHECKS + 1))
    case $rc in 3 | 4) ;; *) fail "$mode digest of a file cut while read: exit $rc, want 3 or 4" ;; esac
    expect_match "$(grep -v '^{' "$T/cut.err")" "^vhdfold: " "$mode digest of a cut file: an error line"
done

# Zero copy: both digests of a dense 32 MiB image hash its blocks where they lie in the page
# cache (mappings), so the bytes they pread are the metadata, far less than the data; counted
# with strace (skipped with a message where it cannot trace). The tree digest maps a group of
# blocks that follow one another in the file (a VHD's sector bitmaps between them) at once: a
# group is 8 blocks on 1 or 2 cores, 32 MiB / (2 MiB x cores) from 3 cores on, so the 16
# blocks take at most 16 / group mappings, rounded up (one per block before groups; not
# checked from 9 cores on, where a group is one block). Each digest must equal the manifest.
if command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null; then
    "$VHDFOLD" gen --seed 32 --depth 0 --base dynamic --size 32M --density 1 --progress none \
        "$T/dense" >/dev/null
    cores=$(getconf _NPROCESSORS_ONLN)
    group=$((16 / (cores > 0 ? cores : 1)))
    [ "$group" -gt 8 ] && group=8
    for mode in flat tree; do
        case $mode in flat) key=sha256 ;; *) key=tree ;; esac
        want="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["levels"][0][sys.argv[2]])' \
            "$T/dense/manifest.json" $key)  $T/dense/00-base.vhd"
        # LeakSanitizer cannot run under ptrace: leak checking is off for the traced run only.
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
            run strace -f -qq -e trace=pread64,mmap -o "$T/pread.log" "$VHDFOLD" digest \
            --mode $mode --progress none "$T/dense/00-base.vhd"
        expect_rc 0 "traced $mode digest"
        expect_eq "$OUT" "$want" "traced $mode digest equals the manifest's"
        bytes=$(grep pread64 "$T/pread.log" | sed -n 's/.*= \([0-9][0-9]*\)$/\1/p' |
            awk '{s += $1} END {print s + 0}')
        CHECKS=$((CHECKS + 1))
        [ "$bytes" -lt $((1024 * 1024)) ] ||
            fail "$mode digest of 32 MiB of stored blocks read $bytes bytes with pread, want < 1 MiB"
        [ "$mode" = tree ] || continue
        maps=$(grep -c 'PROT_READ, MAP_SHARED|MAP_POPULATE' "$T/pread.log" || true)
        most=$(((16 + group - 1) / group))
        if [ "$group" -gt 1 ]; then
            CHECKS=$((CHECKS + 1))
            [ "$maps" -ge 1 ] && [ "$maps" -le "$most" ] ||
                fail "tree digest of 16 stored blocks made $maps mappings, want 1 to $most"
        else
            echo "SKIP (tree mapping count): $cores cores, a group is one block"
        fi
    done
else
    echo "SKIP (zero-copy check): strace missing or not permitted"
fi
finish

#!/usr/bin/env bash
# commands.sh CASE - the image-making commands on VHD and VHDX (cli/cmd_create.c,
# cmd_set_parent.c, cmd_convert.c). CASE is create, set-parent or convert:
#  create:     fixed, dynamic and differencing images read back by 7-Zip, qemu-img check clean
#              (VHDX; qemu has no check for VHD) and qemu-img compare equal to zeros / the
#              parent; the child's locators name the parent relatively and absolutely;
#  set-parent: a parent moved to another folder, re-pointed with the digest unchanged (and
#              7-Zip agreeing); an identity mismatch refused with nothing written; the override
#              prints both digests and its warning;
#  convert:    a generated chain flattened to dynamic and fixed VHD/VHDX and raw, each read
#              back by 7-Zip and qemu-img compare equal to the flattened source, qemu-img check
#              clean (VHDX), zero blocks left unallocated;
# and for each, bad input refused with the folder's listing and every file unchanged.
# Needs 7zz and qemu-img (Debian 7zip, qemu-utils; ci/bootstrap): exits 77 without them.
# Environment: VHDFOLD, VF_SOURCE_DIR. Registered by tests/commands.cmake.
# shellcheck source=tests/cli/verify_lib.sh
. "$(dirname "$0")/verify_lib.sh"
case_name=${1:?usage: commands.sh create|set-parent|convert}
for tool in 7zz qemu-img; do
    command -v "$tool" >/dev/null || {
        echo "SKIP: $tool not installed"
        exit 77
    }
done
cd "$T"
V=$VHDFOLD

# 7-Zip's flattening of FILE (it follows VHD/VHDX parents itself).
sz_sha() { 7zz x -so "$1" 2>/dev/null | sha256sum | cut -d' ' -f1; }
flat() { "$V" digest "$1" | cut -d' ' -f1; }
# Everything in the folder with its size and content digest: "nothing written" is this
# listing unchanged (hidden files included, so a left-over temporary file shows).
# (run's own .out/.err in $T excluded)
listing() {
    find . -type f ! -path ./.out ! -path ./.err -printf '%p %s\n' | sort
    find . -type f ! -path ./.out ! -path ./.err -exec sha256sum {} + | sort
}
# qemu's view of an image: VHD through vpc with the footer's current size (qemu otherwise
# sizes images of other creators by CHS geometry; docs/formats/vhd.md "Creator field").
qopts() {
    case $1 in
    *.vhd) echo "driver=vpc,force_size_calc=current_size,file.filename=$1" ;;
    *.vhdx) echo "driver=vhdx,file.filename=$1" ;;
    *) echo "driver=raw,file.filename=$1" ;;
    esac
}
qcompare() { # qcompare A B WHAT: qemu-img compare says identical
    run qemu-img compare --image-opts "$(qopts "$1")" "$(qopts "$2")"
    expect_rc 0 "$3 (qemu-img compare: $OUT $ERR)"
}
qcheck() { # qcheck FILE: clean where qemu has a check (vhdx); vpc has none (exit 63)
    case $1 in *.vhdx) ;; *) return 0 ;; esac
    run qemu-img check -f vhdx "$1"
    expect_rc 0 "qemu-img check $1 ($OUT)"
}
# refused WANT_RC WHAT CMD...: CMD exits WANT_RC and the folder is byte for byte unchanged.
refused() {
    local want=$1 what=$2
    shift 2
    local before after
    before=$(listing)
    run "$@"
    expect_rc "$want" "$what"
    CHECKS=$((CHECKS + 1))
    [ -n "$ERR" ] || fail "$what: no message on stderr"
    after=$(listing)
    expect_eq "$after" "$before" "$what: nothing written"
}

make_chain() { # make_chain FMT DIR: a 2-level generated chain of 512-byte sectors
    "$V" gen --format "$1" --seed 11 --depth 2 --size 8M --block-size 1M --density 0.3 \
        --sector-size 512 --base dynamic --progress none "$2" >/dev/null
}

test_create() {
    local f
    for f in vhd vhdx; do
        run "$V" create "dyn.$f" --size 8M --json
        expect_rc 0 "create dyn.$f"
        expect_eq "$(json_get "$OUT" 'j["type"], j["virtual_size"], j["format"], j["command"]')" \
            "('dynamic', 8388608, '$f', 'create')" "create dyn.$f JSON"
        run "$V" create "fix.$f" -s 8M -t fixed
        expect_rc 0 "create fix.$f"
        head -c 8388608 /dev/zero >zero.raw
        for img in "dyn.$f" "fix.$f"; do
            expect_eq "$(sz_sha "$img")" "$(sha zero.raw)" "7-Zip reads $img as zeros"
            qcheck "$img"
            qcompare "$img" zero.raw "qemu reads $img as zeros"
            run "$V" check "$img"
            expect_rc 0 "check $img"
        done
        # a child: locators relative then absolute, the parent's size, reads as the parent
        make_chain "$f" "c$f"
        mkdir "kids$f"
        run "$V" create "kids$f/kid.$f" --parent "c$f/02-diff.$f" --json
        expect_rc 0 "create --parent ($f)"
        expect_eq "$(json_get "$OUT" 'j["parent"]["relative"]')" "../c$f/02-diff.$f" \
            "relative locator ($f)"
        expect_eq "$(json_get "$OUT" 'j["parent"]["absolute"]')" "$T/c$f/02-diff.$f" \
            "absolute locator ($f)"
        expect_eq "$(json_get "$OUT" 'j["type"], j["virtual_size"]')" "('differencing', 8388608)" \
            "child type and size ($f)"
        run "$V" info "kids$f/kid.$f"
        expect_match "$OUT" "parent locator: .*(relative)" "info lists the relative locator ($f)"
        expect_eq "$(flat "kids$f/kid.$f")" "$(flat "c$f/02-diff.$f")" "child reads as its parent ($f)"
        # 7-Zip (7zz 22 on Linux) opens a parent only from the child's own folder
        run "$V" create "c$f/kid.$f" --parent "c$f/02-diff.$f"
        expect_rc 0 "create --parent in the parent's folder ($f)"
        expect_eq "$(sz_sha "c$f/kid.$f")" "$(flat "c$f/02-diff.$f")" "7-Zip reads the child ($f)"
        run "$V" check "kids$f/kid.$f"
        expect_rc 0 "check the child ($f)"
        # refusals, nothing written
        refused 2 "create an existing file ($f)" "$V" create "dyn.$f" --size 1M
        refused 2 "create without --size ($f)" "$V" create "n.$f"
        refused 2 "create with a bad block size ($f)" "$V" create "n.$f" -s 8M -b 3M
        refused 2 "create --parent with --size ($f)" "$V" create "n.$f" -p "dyn.$f" -s 8M
        refused 2 "create --parent of another format ($f)" "$V" create "n.$f" -p "dyn.$f" -f \
            "$([ "$f" = vhd ] && echo vhdx || echo vhd)"
        refused 2 "create a size that is not whole sectors ($f)" "$V" create "n.$f" -s 1000
        refused 4 "create in a missing folder ($f)" "$V" create "nowhere/n.$f" -s 8M
        refused 3 "create a child of a non-image ($f)" "$V" create "n.$f" -p zero.raw
        refused 2 "create with a name of no format" "$V" create n.img -s 8M
    done
    refused 2 "create a 4096-sector VHD" "$V" create n.vhd -s 8M --sector-size 4096
    run "$V" create s4k.vhdx -s 8M --sector-size 4096 --json
    expect_rc 0 "create a 4096-sector VHDX"
    expect_eq "$(json_get "$OUT" 'j["logical_sector_size"]')" 4096 "4096-byte sectors"
}

test_set_parent() {
    local f
    for f in vhd vhdx; do
        make_chain "$f" "p$f"
        cd "p$f"
        local want
        want=$(flat "02-diff.$f")
        mkdir moved
        mv "00-base.$f" "01-diff.$f" moved/ # the parent and its own parent move together
        refused 3 "the moved parent breaks the chain ($f)" "$V" digest "02-diff.$f"
        refused 2 "set-parent on a non-differencing image ($f)" \
            "$V" set-parent "moved/00-base.$f" "moved/01-diff.$f"
        refused 3 "set-parent to an image of another identity ($f)" \
            "$V" set-parent "02-diff.$f" "moved/00-base.$f"
        expect_match "$ERR" "expects parent id .*--ignore-id-mismatch" "the mismatch is explained ($f)"
        refused 2 "set-parent making a loop ($f)" "$V" set-parent "moved/01-diff.$f" "moved/01-diff.$f"
        refused 4 "set-parent to a missing file ($f)" "$V" set-parent "02-diff.$f" "moved/none.$f"
        run "$V" set-parent "02-diff.$f" "moved/01-diff.$f" --json
        expect_rc 0 "set-parent after the move ($f)"
        expect_eq "$(json_get "$OUT" 'j["identity_matched"], j["command"]')" "(True, 'set-parent')" \
            "set-parent JSON ($f)"
        expect_eq "$(flat "02-diff.$f")" "$want" "digest unchanged after the move ($f)"
        run "$V" info --json "02-diff.$f"
        expect_eq "$(json_get "$OUT" 'j["levels"][0]["parent"]["locators"][0]["kind"]')" relative \
            "relative locator first ($f)"
        run "$V" check "02-diff.$f"
        expect_rc 0 "check after set-parent ($f)"
        if [ "$f" = vhd ]; then
            # a power loss tore the header write: its checksum fails, every other field is
            # valid (here: a reserved byte of its second sector changed). Refused until
            # `set-parent --recover` rewrites the header.
            "$PY" - "02-diff.$f" <<'PYEOF'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    head = f.read(512)
    hdr = struct.unpack(">Q", head[16:24])[0]
    f.seek(hdr + 1000)
    b = f.read(1)
    f.seek(hdr + 1000)
    f.write(bytes([b[0] ^ 0x5A]))
PYEOF
            refused 3 "a torn header is refused ($f)" "$V" digest "02-diff.$f"
            refused 3 "set-parent without --recover refuses it ($f)" \
                "$V" set-parent "02-diff.$f" "moved/01-diff.$f"
            run "$V" set-parent --recover "02-diff.$f" "moved/01-diff.$f"
            expect_rc 0 "set-parent --recover ($f)"
            expect_eq "$(flat "02-diff.$f")" "$want" "digest after the recovery ($f)"
            run "$V" check "02-diff.$f"
            expect_rc 0 "check after the recovery ($f)"
        fi
        cd ..
        # a parent renamed in its folder (where 7-Zip, which opens parents only from the
        # child's folder, can follow it), then the override onto another image
        make_chain "$f" "q$f"
        cd "q$f"
        mv "01-diff.$f" "renamed.$f"
        run "$V" set-parent "02-diff.$f" "renamed.$f"
        expect_rc 0 "set-parent after a rename ($f)"
        expect_match "$OUT" "same identity" "the rename keeps the identity ($f)"
        expect_eq "$(flat "02-diff.$f")" "$want" "digest unchanged after the rename ($f)"
        expect_eq "$(sz_sha "02-diff.$f")" "$want" "7-Zip reads the re-pointed chain ($f)"
        run "$V" set-parent "02-diff.$f" "00-base.$f" --ignore-id-mismatch
        expect_rc 0 "set-parent --ignore-id-mismatch ($f)"
        expect_match "$ERR" "the view of CHILD may change" "the override warns ($f)"
        CHECKS=$((CHECKS + 1))
        if grep -q $'\033' <<<"$ERR"; then fail "bold escape written to a file ($f)"; fi
        expect_match "$OUT" "^digest before: $want\$" "digest before printed ($f)"
        local after
        after=$(flat "02-diff.$f")
        expect_match "$OUT" "^digest after: +$after\$" "digest after printed ($f)"
        expect_match "$OUT" "^the view changed\$" "the change is said ($f)"
        CHECKS=$((CHECKS + 1))
        [ "$after" != "$want" ] || fail "the view should have changed ($f)"
        expect_eq "$(sz_sha "02-diff.$f")" "$after" "7-Zip reads the override's result ($f)"
        run "$V" set-parent "02-diff.$f" "renamed.$f" --ignore-id-mismatch --json
        expect_rc 0 "set-parent --ignore-id-mismatch --json ($f)"
        expect_eq "$(json_get "$OUT" 'j["identity_matched"], j["digest_before"], j["digest_after"], j["view_changed"]')" \
            "(False, '$after', '$want', True)" "the override's JSON, back to the first parent ($f)"
        cd ..
    done
    test_set_parent_merge
}

# set-parent beside a merge of 03 into 01 (the journal beside 01, planted: a pending merge;
# then held as a running merge holds it): CHILD as SOURCE, intermediate or DESTINATION, with
# and without --ignore-id-mismatch, and a CHILD outside the merge whose NEWPARENT is in it, are
# refused naming the file and the journal or the merge, everything unchanged.
test_set_parent_merge() {
    "$V" gen --format vhd --seed 12 --depth 3 --size 4M --block-size 512K --density 0.3 \
        --base dynamic --progress none pm >/dev/null
    cp -r pm pm-copy # the same identities, no journal: its top re-pointed into pm
    "$V" create pm-other.vhd --size 4M >/dev/null
    plant_journal pm/03-diff.vhd pm/02-diff.vhd pm/01-diff.vhd
    local state child parent named opt
    for state in pending running; do
        [ $state = pending ] || hold_journal "$JOURNAL"
        while read -r child parent named opt; do
            # shellcheck disable=SC2086 # opt: no word or one option
            refused 2 "set-parent ${opt:+$opt }$child $parent with a $state merge" \
                "$V" set-parent $opt "$child" "$parent"
            expect_match "$ERR" "^vhdfold: '$named' is part of a merge: .*; set-parent refused" \
                "set-parent $child $parent with a $state merge: names $named"
            if [ $state = pending ]; then
                expect_match "$ERR" "pending merge journal '$JOURNAL'" "$child $parent: the journal"
            else
                expect_match "$ERR" "in use: merge of .* in progress \(pid $HOLDER;" "$child $parent: the merge"
            fi
        done <<'CASES'
pm/03-diff.vhd pm/02-diff.vhd pm/03-diff.vhd
pm/03-diff.vhd pm/01-diff.vhd pm/03-diff.vhd --ignore-id-mismatch
pm/02-diff.vhd pm/01-diff.vhd pm/02-diff.vhd
pm/01-diff.vhd pm/00-base.vhd pm/01-diff.vhd
pm/01-diff.vhd pm-other.vhd pm/01-diff.vhd --ignore-id-mismatch
pm-copy/03-diff.vhd pm/02-diff.vhd pm/02-diff.vhd
CASES
        [ $state = pending ] || release_journal
    done
    rm "$JOURNAL"
    run "$V" set-parent pm-copy/03-diff.vhd pm/02-diff.vhd
    expect_rc 0 "set-parent into the chain once the journal is gone"
}

# convert_syncs: a dynamic VHD OUT of 64 MiB of data in 2 MiB blocks (32 new blocks) costs a
# bounded number of fsync/fdatasync calls (the new blocks are announced once, before the copy), not
# one per block; counted with strace (skipped with a message where it cannot trace).
convert_syncs() {
    if ! command -v strace >/dev/null || ! strace -f -o /dev/null true 2>/dev/null; then
        echo "SKIP (convert sync count): strace missing or not permitted"
        return 0
    fi
    # LeakSanitizer cannot run under ptrace (an ASan build exits non-zero at the end): leak
    # checking is off for the traced run only; its exit status is checked like any other.
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        run strace -f -qq -e trace=fsync,fdatasync -o syncs.log "$V" convert full.vhd full-copy.vhd
    expect_rc 0 "the traced convert"
    local n
    n=$(grep -c -E 'fsync|fdatasync' syncs.log)
    CHECKS=$((CHECKS + 1))
    [ "$n" -le 12 ] || fail "convert of 32 new VHD blocks made $n syncs (want at most 12)"
    expect_eq "$(flat full-copy.vhd)" "$(flat full.vhd)" "the counted convert reads as its source"
}

# convert_corrupted: one bit flipped in a large write to OUT's temporary file (the
# VF_FLIP_SHIM preload, tests/support/flip_write.c) is caught by the read-back compare:
# exit 1, the first differing byte named, no OUT, no temporary file. Without the shim (or
# in a sanitizer build, whose runtime must come first) it says so and skips.
convert_corrupted() {
    # a here-string, not a pipe: under pipefail, grep -q leaving before ldd's last line made
    # ldd die of SIGPIPE and the sanitizer build run the shim anyway (seen once in CI)
    if [ -z "${VF_FLIP_SHIM:-}" ] || [ ! -f "$VF_FLIP_SHIM" ] ||
        grep -q 'lib[at]san' <<<"$(ldd "$V" 2>/dev/null)"; then
        echo "SKIP (convert corruption): no VF_FLIP_SHIM, or a sanitizer build"
        return 0
    fi
    local f
    for f in vhd vhdx raw; do
        run env LD_PRELOAD="$VF_FLIP_SHIM" VF_FLIP_AT=3 "$V" convert --verify full.vhd "bad.$f"
        expect_rc 1 "a corrupted write to OUT ($f)"
        expect_match "$ERR" "verification failed: 'bad.$f' read back differs .* from byte [0-9]+" \
            "the compare names the first differing byte ($f)"
        CHECKS=$((CHECKS + 1))
        [ ! -e "bad.$f" ] && [ -z "$(find . -name '*.vhdfold-tmp')" ] ||
            fail "a refused convert left OUT or a temporary file ($f)"
    done
    run env LD_PRELOAD="$VF_FLIP_SHIM" "$V" convert full.vhd good.vhdx
    expect_rc 0 "the shim without VF_FLIP_AT changes nothing"
}

# convert_write_fails: the third large write to OUT's temporary file fails with EIO (the
# VF_FLIP_SHIM preload's VF_FAIL_AT), in the middle of the copy, with the hashing thread at work:
# exit 4 with the write's error naming the temporary file, nothing left in the folder (the
# temporary file removed). Then OUT may not grow past 8 MiB (ulimit -f, SIGXFSZ ignored: EFBIG),
# which fails when OUT's space is claimed, before the copy (a raw OUT's size, a VHD's footer
# moved past the new blocks, a VHDX's file grown): the same answer. The shim's part is skipped
# with a message without it or in a sanitizer build.
convert_write_fails() {
    local f
    if [ -n "${VF_FLIP_SHIM:-}" ] && [ -f "$VF_FLIP_SHIM" ] &&
        ! grep -q 'lib[at]san' <<<"$(ldd "$V" 2>/dev/null)"; then
        for f in vhd vhdx raw; do
            refused 4 "a write to OUT fails in the middle of the copy ($f)" \
                env LD_PRELOAD="$VF_FLIP_SHIM" VF_FAIL_AT=3 "$V" convert --verify full.vhd "eio.$f"
            expect_match "$ERR" "eio\.$f\..*vhdfold-tmp.*Input/output error" \
                "the failed write's error names the temporary file ($f)"
        done
    else
        echo "SKIP (convert write failure): no VF_FLIP_SHIM, or a sanitizer build"
    fi
    for f in vhd vhdx raw; do
        refused 4 "convert past the file size limit ($f)" \
            bash -c 'trap "" XFSZ; ulimit -f 8192; exec "$0" convert --verify full.vhd "big.$1"' \
            "$V" "$f"
        expect_match "$ERR" "big\.$f\..*vhdfold-tmp.*File too large" \
            "the error names the temporary file ($f)"
    done
}

test_convert() {
    local f to
    for f in vhd vhdx; do
        make_chain "$f" "v$f"
        local src="v$f/02-diff.$f" want
        want=$(flat "$src")
        run "$V" convert "$src" "flat-$f.raw" --format raw --json
        expect_rc 0 "convert to raw ($f)"
        expect_eq "$(sha "flat-$f.raw")" "$want" "raw output equals the flat digest ($f)"
        run "$V" convert "$src" "by-name-$f.RAW" --json
        expect_eq "$(json_get "$OUT" 'j["format"]')" raw "OUT's extension .RAW picks raw ($f)"
        for to in vhd vhdx; do
            for type in dynamic fixed; do
                local out="$f-to-$type.$to"
                run "$V" convert "$src" "$out" --type "$type" --json
                expect_rc 0 "convert $f to $type $to"
                expect_eq "$(json_get "$OUT" 'j["verified"], j["digest"], j["format"]')" \
                    "(True, '$want', '$to')" "convert $f to $type $to JSON"
                expect_eq "$(flat "$out")" "$want" "$out reads as the source"
                expect_eq "$(sz_sha "$out")" "$want" "7-Zip reads $out"
                qcheck "$out"
                qcompare "$out" "flat-$f.raw" "qemu: $out equals the flattened source"
                run "$V" info --json "$out"
                expect_eq "$(json_get "$OUT" 'j["levels"][0]["type"], len(j["levels"])')" \
                    "('$type', 1)" "$out is standalone $type"
            done
        done
        # zero blocks stay unallocated: a dynamic copy with 1 MiB blocks allocates exactly the
        # 1 MiB blocks of the flattened disk that hold a non-zero byte
        run "$V" convert "$src" "b1m.$f" --block-size 1M
        expect_rc 0 "convert --block-size 1M ($f)"
        run "$V" info --json "b1m.$f"
        local alloc nonzero
        alloc=$(json_get "$OUT" 'j["levels"][0]["allocated_blocks"], j["levels"][0]["total_blocks"]')
        nonzero=$("$PY" -c 'import sys
d = open(sys.argv[1], "rb").read(); m = 1 << 20
print((sum(1 for i in range(0, len(d), m) if d[i:i + m].count(0) != m), len(d) // m))' "flat-$f.raw")
        expect_eq "$alloc" "$nonzero" "allocated blocks equal the non-zero blocks ($f)"
        "$V" create "empty.$f" --size 8M >/dev/null
        run "$V" convert "empty.$f" "empty-copy.$f" --json
        expect_rc 0 "convert an empty image ($f)"
        run "$V" info --json "empty-copy.$f"
        expect_eq "$(json_get "$OUT" 'j["levels"][0]["allocated_blocks"]')" 0 "zeros allocate nothing ($f)"
        # refusals, nothing written
        refused 2 "convert onto an existing OUT ($f)" "$V" convert "$src" "flat-$f.raw" -f raw
        refused 2 "convert onto a level of the chain ($f)" "$V" convert "$src" "v$f/00-base.$f" --force
        refused 2 "convert to raw with --type ($f)" "$V" convert "$src" "n.raw" -f raw -t fixed
        refused 2 "convert with a bad block size ($f)" "$V" convert "$src" "n.$f" -b 3M
        refused 2 "convert --verify --no-verify ($f)" "$V" convert "$src" "n.$f" --verify --no-verify
        refused 3 "convert a non-image ($f)" "$V" convert "flat-$f.raw" "n.$f"
        refused 4 "convert a missing source ($f)" "$V" convert "none.$f" "n.$f"
        # --force replaces a regular file, atomically (the old one until the copy is verified)
        echo old >"old.$f"
        run "$V" convert "$src" "old.$f" --force
        expect_rc 0 "convert --force ($f)"
        expect_eq "$(flat "old.$f")" "$want" "--force replaced the file ($f)"
        CHECKS=$((CHECKS + 1))
        [ -z "$(find . -name '*.vhdfold-tmp')" ] || fail "a temporary file was left ($f)"
    done
    # full.vhd: 64 MiB of data in 2 MiB blocks, for the three checks below
    qemu-img create -q -f vpc -o subformat=dynamic,force_size=on full.vhd 64M
    qemu-io -f vpc -c "write -P 0x5c 0 64M" full.vhd >/dev/null
    convert_syncs
    convert_corrupted
    convert_write_fails
    # a 4096-sector VHDX cannot become a VHD: refused before anything is written
    "$V" create s4k.vhdx -s 8M --sector-size 4096 >/dev/null
    refused 2 "convert 4096-byte sectors to VHD" "$V" convert s4k.vhdx s4k.vhd
}

case $case_name in
create) test_create ;;
set-parent) test_set_parent ;;
convert) test_convert ;;
*) echo "unknown case $case_name" >&2; exit 2 ;;
esac
finish

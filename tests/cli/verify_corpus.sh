#!/usr/bin/env bash
# verify_corpus.sh - the real Windows images of VF_SHARED_DIR/corpus/real (gunzipped into a
# temp folder) digest to the values in corpus/README.md; the export matches the flat digest and
# the tree digest matches the Python reference; info and check accept them.
# Rows run only when listed in VF_CORPUS_CHECKED; a row whose driver is not ready yet goes to
# VF_CORPUS_PENDING instead (the script prints which rows it did not check).
# Run by ctest (tests/verify.cmake); needs the shared folder beside the checkout.
. "$(dirname "$0")/verify_lib.sh"
: "${VF_SHARED_DIR:?VF_SHARED_DIR must name the shared folder}"
REAL="$VF_SHARED_DIR/corpus/real"
[ -d "$REAL" ] || { echo "FAIL: no corpus at $REAL" >&2; exit 1; }

# file|virtual size|flat sha256 (corpus/README.md)
ROWS='dynamic.vhd|10485760|ecff2ef6615a3cddc6a6885f1c6d9cf13a232697e1dc6575f2c2f01f57247784
fixed.vhd|10485760|459325ab1fcd1d5ec9854cba790ee26378317cda177ffc1072008a1df88e6463
dynamic.vhdx|10485760|8e2b5e9265d694b42b81819e3bff29770eff4ed0f4f9f311693ff3dbdc93efac
fixed.vhdx|10485760|bc0be4623b15aa84216fb31ba24e3b621ec7f1c72d198c990ac0eced222d9f62'
VF_CORPUS_CHECKED="dynamic.vhd fixed.vhd dynamic.vhdx fixed.vhdx differencing.avhdx"
VF_CORPUS_PENDING=""

cd "$T"
while IFS='|' read -r name size want; do
    case " $VF_CORPUS_CHECKED " in *" $name "*) ;; *) continue ;; esac
    gunzip -c "$REAL/$name.gz" >"$name"
    run "$VHDFOLD" digest "$name"
    expect_rc 0 "digest $name"
    expect_eq "$OUT" "$want  $name" "flat digest of $name"
    "$VHDFOLD" export "$name" "$name.raw"
    expect_eq "$(stat -c %s "$name.raw")" "$size" "export size of $name"
    expect_eq "$(sha "$name.raw")" "$want" "export of $name"
    run "$VHDFOLD" digest --mode tree "$name"
    expect_eq "${OUT%%  *}" "$("$PY" "$VF_SOURCE_DIR/tests/tools/tree_digest.py" "$name.raw" | cut -d' ' -f1)" \
        "tree digest of $name vs the Python reference"
    run "$VHDFOLD" info --json "$name"
    expect_rc 0 "info $name"
    expect_eq "$(json_get "$OUT" 'j["levels"][0]["virtual_size"]')" "$size" "info size of $name"
    case $name in
    *.vhd) expect_eq "$(json_get "$OUT" 'j["levels"][0]["creator"]')" "win " "info creator of $name" ;;
    esac
    run "$VHDFOLD" check "$name"
    expect_rc 0 "check $name"
    run "$VHDFOLD" compare "$name" "$name.raw"
    expect_rc 0 "compare $name with its export"
done <<<"$ROWS"

# differencing.avhdx: its parent is not included, so info describes it and
# exits 3 naming the locator paths tried; digest fails with the same chain error.
case " $VF_CORPUS_CHECKED " in
*" differencing.avhdx "*)
    gunzip -c "$REAL/differencing.avhdx.gz" >differencing.avhdx
    run "$VHDFOLD" info differencing.avhdx
    expect_rc 3 "info of a checkpoint without its parent"
    expect_match "$OUT" '^type: +differencing$' "the checkpoint is described"
    expect_match "$ERR" 'parent.*differencing\.avhdx' "the chain error names the file"
    expect_match "$ERR" 'relative_path' "the chain error lists the locators tried"
    run "$VHDFOLD" info --json differencing.avhdx
    expect_rc 3 "info --json of a checkpoint without its parent"
    expect_eq "$(json_get "$OUT" 'j["levels"][0]["virtual_size"]')" 8589934592 "checkpoint virtual size"
    expect_eq "$(json_get "$OUT" 'j["error"]["name"]')" VF_E_CHAIN "checkpoint chain error"
    run "$VHDFOLD" check differencing.avhdx
    expect_rc 1 "check of a checkpoint without its parent"
    run "$VHDFOLD" digest differencing.avhdx
    expect_rc 3 "digest of a checkpoint without its parent"
    ;;
esac
[ -z "$VF_CORPUS_PENDING" ] || echo "corpus rows not checked yet: $VF_CORPUS_PENDING"
finish

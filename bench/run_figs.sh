# shellcheck shell=bash disable=SC2154
# run_figs.sh - the figures of bench/run: one function per group, each building its chains in
# the scratch folder $W and timing its contenders interleaved (rotated run by run, so no
# contender always runs first). Sourced by bench/run, which defines timed, gen_chain, ppm,
# level_file, data_bytes, check_data, check_tree, log and the size variables.

# interleave FIG CONTENDER_FN...: RUNS rounds, each in its own order, a shuffle seeded by the
# round (the same orders in every invocation). A fixed or merely rotated order would give each
# contender the same predecessor in every round, and on this machine kind a run that writes
# gigabytes slows the one after it (docs/performance.md "Method": a convert right after an
# export took 2.7 to 6.8 s, right after a digest 1.8 s).
interleave() {
    local fig=$1 r i
    shift
    local fns=("$@") order
    for ((r = 1; r <= RUNS; r++)); do
        order=$(awk -v n=$# -v seed="$r" 'BEGIN { srand(seed * 7919 + n)
            for (i = 0; i < n; i++) print rand(), i }' | sort -n | cut -d' ' -f2)
        for i in $order; do
            "${fns[$i]}" "$fig" "$r"
        done
    done
}

# --- digest: flat and tree against openssl and 7-Zip on a fully allocated dynamic image -----
# fig_digest [FORMAT]: the figure is "digest" for VHD (the goals read it) and "digest-vhdx"
# for VHDX (reported beside it).

fig_digest() {
    local fmt=${1:-vhd} fig=digest
    [ "$fmt" = vhd ] || fig=digest-$fmt
    local d=$W/$fig
    log "$fig: fully allocated dynamic $fmt of $((DIGEST_SIZE / MiB)) MiB"
    gen_chain "$d" "$fmt" "$DIGEST_SIZE" 0 1.000000 11 "$DIGEST_SIZE"
    DG_IMG=$(level_file "$d" 0)
    DG_RAW=$W/digest.raw
    check_data "$fig image" "$(data_bytes "$d" 0 0)" "$DIGEST_SIZE"
    "$VHDFOLD" export "$DG_IMG" "$DG_RAW"
    local want got
    want=$(jq -r '.levels[0].sha256' "$d/manifest.json")
    got=$("$VHDFOLD" digest --progress=none "$DG_IMG" | cut -d' ' -f1)
    if [ "$got" = "$want" ]; then echo "$fig: flat digest equals the manifest" >>"$OUT/checks.txt"
    else echo "$fig: WRONG flat digest $got (manifest $want)" >>"$OUT/checks.txt"; fi
    # The same warm page cache for every contender, as a read leaves it: the files' pages
    # (written by gen and export, in whatever folios those writes made) are dropped and read
    # back, so readahead's folios hold them, as for an image read from the disk.
    sync "$DG_IMG" "$DG_RAW"
    dd if="$DG_IMG" iflag=nocache count=0 status=none
    dd if="$DG_RAW" iflag=nocache count=0 status=none
    cat "$DG_IMG" "$DG_RAW" >/dev/null
    interleave "$fig" dg_flat dg_tree dg_openssl dg_7zz dg_limit dg_export dg_convert dg_cp \
        dg_kcopy_1 dg_kcopy_2 dg_kcopy_2files
    rm -rf "$d" "$DG_RAW" "$W/export.raw" "$W/cp.raw" "$W/convert.$fmt" "$W"/kcopy.raw*
}
# dg_limit FIG RUN: the SHA-256 limits of this CPU in this run: `openssl speed -elapsed`
# hashing 1 MiB buffers in memory on one core (sha-limit-1) and on both (sha-limit-2, -multi
# 2), turned into the seconds hashing DIGEST_SIZE bytes would take at that speed (no I/O, no
# copy). Wall-clock rates (-elapsed), so load from other work slows the limit as it slows us;
# the CPU column holds the same figure. sha-limit-cpu: the same on one core in CPU time (no
# -elapsed), the CPU seconds SHA-256 alone needs for DIGEST_SIZE bytes.
dg_limit() {
    local who procs
    for procs in 1 2 cpu; do
        who=sha-limit-$procs
        if [ "$procs" = 1 ]; then
            openssl speed -elapsed -evp sha256 -bytes 1048576 -seconds 1 >"$W/speed.txt" 2>/dev/null || true
        elif [ "$procs" = cpu ]; then
            # without -elapsed: bytes per second of the process's own CPU time, which the
            # load hardly moves (sha-limit-cpu: the CPU seconds SHA-256 alone needs)
            openssl speed -evp sha256 -bytes 1048576 -seconds 1 >"$W/speed.txt" 2>/dev/null || true
        else
            openssl speed -elapsed -multi 2 -evp sha256 -bytes 1048576 \
                -seconds 1 >"$W/speed.txt" \
                2>/dev/null || true
        fi
        # The last line is "sha256 <k bytes/s>" (k = 1000 bytes), summed over processes.
        awk -v f="$1" -v c="$who" -v r="$2" -v b="$DIGEST_SIZE" '$1 ~ /sha256$/ && $NF ~ /k$/ {
            v = $NF; sub(/k$/, "", v); rate = v * 1000 } END {
            if (rate > 0) printf "%s,%s,%s,%.4f,%.3f,0,%s,ok\n", f, c, r, b / rate, b / rate, b
            else printf "%s,%s,%s,0,0,0,%s,failed\n", f, c, r, b }' "$W/speed.txt" >>"$RAW"
    done
}
# export of the image vs cp of its raw export, both to the scratch file system and synced.
dg_export() {
    rm -f "$W/export.raw" && sync
    timed "$1" vhdfold-export "$2" "$DIGEST_SIZE" sh -c '"$0" export --progress=none "$1" "$2" \
        && sync' "$VHDFOLD" "$DG_IMG" "$W/export.raw"
}
# convert of the image into a new dynamic image of the same format (verified, as by default:
# the copy, its sync and the read-back digest), synced; compared with cp+sync of the raw disk.
dg_convert() {
    local out=$W/convert.${DG_IMG##*.}
    rm -f "$out" && sync
    timed "$1" vhdfold-convert "$2" "$DIGEST_SIZE" sh -c '"$0" convert --progress=none "$1" "$2" \
        && sync' "$VHDFOLD" "$DG_IMG" "$out"
}
dg_cp() {
    rm -f "$W/cp.raw" && sync
    timed "$1" cp-sync "$2" "$DIGEST_SIZE" sh -c 'cp "$0" "$1" && sync' "$DG_RAW" "$W/cp.raw"
}
# The kernel's copy of the raw disk (bench/kcopy.py: copy_file_range, fsync): on one thread
# into one file (kcopy-1), on two threads into that one file (kcopy-2), and on two threads
# into a file each (kcopy-2files). A merge writes one file, so kcopy-2 against kcopy-1 says
# what a second copying thread could gain it; kcopy-2files, what it gains without the file.
dg_kcopy() {
    rm -f "$W"/kcopy.raw* && sync
    timed "$1" "kcopy-$3" "$2" "$DIGEST_SIZE" python3 "$HERE/kcopy.py" "$DG_RAW" \
        "$W/kcopy.raw" "${3%files}" ${4:+--files}
}
dg_kcopy_1() { dg_kcopy "$1" "$2" 1; }
dg_kcopy_2() { dg_kcopy "$1" "$2" 2; }
dg_kcopy_2files() { dg_kcopy "$1" "$2" 2files --files; }

# --- reflink: merges on XFS (reflink=1) and btrfs loop file systems --------------------------

# rl_mount FS: make and mount a loop file system of type FS under $W (RL_MNT); false with a
# message when this machine cannot (not root, no loop devices, no mkfs).
rl_mount() {
    RL_MNT=$W/mnt-$1
    local img=$W/$1.img
    [ "$(id -u)" = 0 ] || { log "reflink-$1: skipped (needs root for loop mounts)"; return 1; }
    [ -e /dev/loop-control ] || { log "reflink-$1: skipped (no loop devices)"; return 1; }
    command -v "mkfs.$1" >/dev/null || { log "reflink-$1: skipped (no mkfs.$1)"; return 1; }
    truncate -s $((3 * RL_BIG + 2 * GiB)) "$img"
    case $1 in
    xfs) mkfs.xfs -q -m reflink=1 "$img" >/dev/null 2>&1 ;;
    btrfs) mkfs.btrfs -q "$img" >/dev/null 2>&1 ;;
    esac || { log "reflink-$1: skipped (mkfs.$1 failed)"; rm -f "$img"; return 1; }
    mkdir -p "$RL_MNT"
    mount -o loop "$img" "$RL_MNT" 2>/dev/null ||
        { log "reflink-$1: skipped (cannot mount a loop file system)"; rm -f "$img"; return 1; }
    RL_MOUNTS+=("$RL_MNT")
}
rl_umount() {
    umount "$RL_MNT" 2>/dev/null || umount -l "$RL_MNT" 2>/dev/null || true
    rm -f "$W/$1.img"
}

# rl_shared FIG FILE: record how much of FILE FIEMAP reports as shared extents.
rl_shared() {
    local j
    j=$(python3 "$HERE/../tests/tools/fiemap.py" "$2" 2>/dev/null) || j='{"shared_bytes": -1}'
    echo "$1: merged DESTINATION shares $(jq .shared_bytes <<<"$j") of its $(jq .bytes <<<"$j") bytes (FIEMAP)" \
        >>"$OUT/checks.txt"
}

# fig_reflink FS: VHDX merges of RL_SMALL and RL_BIG bytes of data (depth 1, whole blocks; into
# the generated base, then into an empty one: rlempty-FS-SIZE) on
# a loop FS, timed with sync; their times should not grow with the data.
fig_reflink() {
    local fs=$1 size fig
    rl_mount "$fs" || { echo "reflink-$fs: skipped (see the log)" >>"$OUT/checks.txt"; return 0; }
    local saved_w=$W
    for size in "$RL_SMALL" "$RL_BIG"; do
        fig=reflink-$fs-$((size / MiB))M
        W=$RL_MNT
        log "$fig: VHDX depth 1 on $fs, $((size / MiB)) MiB of data"
        merge_setup "$fig" vhdx $((2 * size)) 1 0.500000 51
        check_data "$fig chain" "$(data_bytes "$MG_DIR/orig" 1 1)" "$size"
        interleave "$fig" mg_vhdfold
        rl_shared "$fig" "$MG_DIR/work/${MG_FILES[0]}"
        mg_intact "$fig"
        rm -rf "$MG_DIR"
        # The same top merged into an empty base: every block is new and appended, so the
        # clones join into one per run of SOURCE's file.
        fig=rlempty-$fs-$((size / MiB))M
        log "$fig: the same into an empty base"
        GEN_WRITES=0:none merge_setup "$fig" vhdx $((2 * size)) 1 0.500000 51
        interleave "$fig" mg_vhdfold
        rl_shared "$fig" "$MG_DIR/work/${MG_FILES[0]}"
        mg_intact "$fig"
        rm -rf "$MG_DIR"
        W=$saved_w
    done
    rl_umount "$fs"
}
dg_flat() { timed "$1" vhdfold-flat "$2" "$DIGEST_SIZE" "$VHDFOLD" digest --progress=none "$DG_IMG"; }
dg_tree() {
    timed "$1" vhdfold-tree "$2" "$DIGEST_SIZE" "$VHDFOLD" digest --mode tree --progress=none \
        "$DG_IMG"
}
dg_openssl() { timed "$1" openssl-dgst "$2" "$DIGEST_SIZE" openssl dgst -sha256 "$DG_RAW"; }
dg_7zz() {
    timed "$1" 7zz-sha256sum "$2" "$DIGEST_SIZE" sh -c '7zz x -so "$1" 2>/dev/null | sha256sum' \
        sh "$DG_IMG"
}

# --- merge: vhdfold merge vs cp (+sync) of the merged layers vs vhd-lib ----------------------

# merge_setup FIG FORMAT VSIZE DEPTH DENSITY SEED: generate FIG's chain in $W/FIG/orig and set
# the MG_* variables the contenders use.
merge_setup() {
    local d=$W/$1/orig i
    gen_chain "$d" "$2" "$3" "$4" "$5" "$6"
    MG_DIR=$W/$1
    MG_DEPTH=$4
    MG_FORMAT=$2
    MG_FILES=()
    MG_BYTES=0
    for ((i = 0; i <= $4; i++)); do MG_FILES+=("$(jq -r ".levels[$i].file" "$d/manifest.json")"); done
    for ((i = 1; i <= $4; i++)); do MG_BYTES=$((MG_BYTES + $(stat -c %s "$d/${MG_FILES[$i]}"))); done
    MG_TREE=$(jq -r ".levels[$4].tree" "$d/manifest.json")
}

# The destination is copied (the merge changes it); the merged layers are only read by
# vhdfold merge, so hard links to the pristine files do.
mg_vhdfold() {
    local w=$MG_DIR/work i
    rm -rf "$w" && mkdir "$w"
    cp "$MG_DIR/orig/${MG_FILES[0]}" "$w/"
    for ((i = 1; i <= MG_DEPTH; i++)); do ln "$MG_DIR/orig/${MG_FILES[$i]}" "$w/"; done
    sync
    timed "$1" vhdfold-merge "$2" "$MG_BYTES" sh -c '"$0" merge "$1" "$2" --progress=none && sync' \
        "$VHDFOLD" "$w/${MG_FILES[$MG_DEPTH]}" "$w/${MG_FILES[0]}"
    [ "$2" = 1 ] && [ "$TIMED_OK" = 1 ] && check_tree "$1: vhdfold merge" "$w/${MG_FILES[0]}" "$MG_TREE"
    return 0
}
mg_cp() {
    local w=$MG_DIR/cp i files=()
    rm -rf "$w" && mkdir "$w"
    for ((i = 1; i <= MG_DEPTH; i++)); do files+=("$MG_DIR/orig/${MG_FILES[$i]}"); done
    sync
    timed "$1" cp-sync "$2" "$MG_BYTES" sh -c 'cp "$@" && sync' sh "${files[@]}" "$w/"
}
# vhd-lib writes into the destination (a copy) and renames or deletes the other files, which
# leaves the pristine inodes behind hard links intact; mg_intact checks they stay unchanged.
mg_vhdlib() {
    local w=$MG_DIR/vl i chain=()
    rm -rf "$w" && mkdir "$w"
    cp "$MG_DIR/orig/${MG_FILES[0]}" "$w/"
    for ((i = 1; i <= MG_DEPTH; i++)); do ln "$MG_DIR/orig/${MG_FILES[$i]}" "$w/"; done
    for ((i = MG_DEPTH; i >= 0; i--)); do chain+=("$w/${MG_FILES[$i]}"); done
    sync
    timed "$1" vhd-lib "$2" "$MG_BYTES" \
        sh -c 'node "$@" && sync' sh "$VHDLIB_JS" "$w" "${chain[@]}"
    [ "$2" = 1 ] && [ "$TIMED_OK" = 1 ] && check_tree "$1: vhd-lib merge" "$w/${MG_FILES[$MG_DEPTH]}" "$MG_TREE"
    return 0
}

# fig_merge FIG FORMAT VSIZE DEPTH DATA SEED: a chain of DEPTH+1 levels holding DATA bytes.
fig_merge() {
    local fig=$1 density
    density=$(ppm "$5" "$3" $(($4 + 1)))
    log "$fig: $2, depth $4, $(($3 / MiB)) MiB virtual, about $(($5 / MiB)) MiB of data"
    merge_setup "$fig" "$2" "$3" "$4" "$density" "$6"
    check_data "$fig chain" "$(data_bytes "$MG_DIR/orig" 0 "$4")" "$5"
    local who=(mg_vhdfold mg_cp)
    if [ "$2" != vhd ]; then
        echo "$fig: vhd-lib: n/a (VHD only)" >>"$OUT/checks.txt"
    elif [ "$HAVE_VHDLIB" = 1 ]; then
        who+=(mg_vhdlib)
    else
        echo "$fig: vhd-lib: not installed" >>"$OUT/checks.txt"
    fi
    interleave "$fig" "${who[@]}"
    mg_intact "$fig"
    rm -rf "$MG_DIR"
}

# mg_intact FIG: the pristine chain still has its manifest digest (no contender wrote to it).
mg_intact() {
    check_tree "$1: pristine chain after all runs" "$MG_DIR/orig/${MG_FILES[$MG_DEPTH]}" "$MG_TREE"
}

# Per format: the issue's two chains (3 levels holding MERGE_DATA over twice that virtual
# size, so layers rarely overlap; 32 small levels), and the reference case the issue quotes
# for vhd-lib ("folding 800 MiB of whole-block child data into a 1 GiB base"): a 1 GiB disk of
# 3 levels at density 0.4, 400 MiB in the base and 800 MiB in the two children, which overlap
# as the layers of one running machine do.
fig_merges() {
    local f
    for f in vhd vhdx; do
        fig_merge "merge-$f-3level" "$f" $((2 * MERGE_DATA)) 2 "$MERGE_DATA" 21
        fig_merge "merge-$f-32level" "$f" $((4 * GiB)) 31 $((32 * SMALL_LAYER)) 22
        fig_merge "merge-$f-ref" "$f" "$REF_VSIZE" 2 $((REF_VSIZE * 6 / 5)) 23
    done
}

# --- generation vs dd of the same bytes ------------------------------------------------------

fig_gen() {
    log "gen: a dense $((GEN_DATA / MiB)) MiB VHD vs dd of as many bytes"
    gen_chain "$W/gen-probe" vhd "$GEN_DATA" 0 1.000000 31
    check_data "gen image" "$(data_bytes "$W/gen-probe" 0 0)" "$GEN_DATA"
    rm -rf "$W/gen-probe"
    interleave gen gn_gen gn_dd
    rm -rf "$W/gen" "$W/dd.bin"
}
gn_gen() {
    rm -rf "$W/gen" && sync
    timed "$1" vhdfold-gen "$2" "$GEN_DATA" sh -c '"$0" gen --seed 31 --size "$1" --depth 0 \
        --density 1 --profile blocks --base dynamic --progress none "$2" && sync' \
        "$VHDFOLD" "$GEN_DATA" "$W/gen"
}
gn_dd() {
    rm -f "$W/dd.bin" && sync
    timed "$1" dd "$2" "$GEN_DATA" sh -c 'dd if=/dev/zero of="$0" bs=1M count="$1" \
        conv=fsync status=none && sync' "$W/dd.bin" $((GEN_DATA / MiB))
}

# --- scaling: merge and tree digest of a depth-1 chain ----------------------------------------

sc_tree() {
    timed "$1" vhdfold-tree "$2" "$SC_DATA" "$VHDFOLD" digest --mode tree --progress=none \
        "$MG_DIR/orig/${MG_FILES[$MG_DEPTH]}"
}

# scale_point FIG VSIZE DEPTH DATA SEED [FORMAT]
scale_point() {
    local density fmt=${6:-vhd}
    density=$(ppm "$4" "$2" $(($3 + 1)))
    log "$1: $fmt, depth $3, $(($2 / MiB)) MiB virtual, about $(($4 / MiB)) MiB of data"
    merge_setup "$1" "$fmt" "$2" "$3" "$density" "$5"
    SC_DATA=$(data_bytes "$MG_DIR/orig" 0 "$3")
    check_data "$1 chain" "$SC_DATA" "$4"
    interleave "$1" mg_vhdfold sc_tree
    mg_intact "$1"
    rm -rf "$MG_DIR"
}

# fig_scale_size [vhdx]: VHD over SIZES (figures size-*), or VHDX over SIZESX (sizex-*).
fig_scale_size() {
    local s
    if [ "${1:-vhd}" = vhdx ]; then
        for s in $SIZESX; do scale_point "sizex-${s}G" $((s * GiB)) 1 "$FIXED_DATA" 41 vhdx; done
    else
        for s in $SIZES; do scale_point "size-${s}G" $((s * GiB)) 1 "$FIXED_DATA" 41; done
    fi
}
fig_scale_data() {
    local m
    for m in $DATAS; do scale_point "data-${m}M" "$DATA_VSIZE" 1 $((m * MiB)) 42; done
}
fig_scale_depth() {
    local n
    for n in $DEPTHS; do scale_point "depth-$n" $((4 * GiB)) "$n" "$FIXED_DATA" 43; done
}

# shellcheck shell=bash disable=SC2154
# run_report.sh - turns bench/run's raw.csv into results.csv (medians), results.md (goals,
# medians, machine, command) and the scaling plots. Sourced by bench/run, which defines OUT,
# RAW, RUNS, VHDFOLD, W and log; `report` is the entry point. Also usable alone on an existing
# raw.csv: bash -c '. bench/run_report.sh; OUT=DIR RAW=DIR/raw.csv report'.

# medians: results.csv from raw.csv (failed runs are counted, not timed).
rp_medians() {
    awk -F, 'NR > 1 {
        k = $1 SUBSEP $2
        if (!(k in n)) { order[++nk] = k; n[k] = 0; bad[k] = 0 }
        if ($8 != "ok") { bad[k]++; next }
        i = ++n[k]; wall[k, i] = $4; cpu[k, i] = $5; rss[k, i] = $6; bytes[k] = $7
    }
    function med(a, k, m,    i, j, t, v) {
        for (i = 1; i <= m; i++) v[i] = a[k, i] + 0
        for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        if (m == 0) return -1
        return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    function max(a, k, m,    i, x) { x = 0; for (i = 1; i <= m; i++) if (a[k, i] + 0 > x) x = a[k, i] + 0; return x }
    BEGIN { print "fig,contender,runs,failed,wall_s,cpu_s,rss_mib,rss_max_mib,bytes,mib_per_s" }
    END {
        for (o = 1; o <= nk; o++) {
            k = order[o]; split(k, p, SUBSEP); m = n[k]
            w = med(wall, k, m)
            printf "%s,%s,%d,%d,%.3f,%.3f,%.1f,%.1f,%s,%.1f\n", p[1], p[2], m, bad[k], w,
                med(cpu, k, m), med(rss, k, m) / 1024, max(rss, k, m) / 1024, bytes[k],
                (w > 0 ? bytes[k] / 1048576 / w : 0)
        }
    }' "$RAW" >"$OUT/results.csv"
}

# rp_get FIG CONTENDER COLUMN: one median from results.csv ("" when absent or failed).
rp_get() {
    awk -F, -v f="$1" -v c="$2" -v col="$3" 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        $1 == f && $2 == c && $3 > 0 { print $h[col] }' "$OUT/results.csv"
}

# rp_goal NAME NUM_FIG NUM_WHO DEN_FIG DEN_WHO OP TARGET [COLUMN]: a goal row whose ratio is
# median(NUM)/median(DEN) of COLUMN (wall_s by default); OP is ge or le.
rp_goal() {
    local col=${8:-wall_s} a b
    a=$(rp_get "$2" "$3" "$col")
    b=$(rp_get "$4" "$5" "$col")
    if [ -z "$a" ] || [ -z "$b" ]; then
        printf '| %s | not measured (see Checks) | | %s %s | - |\n' "$1" \
            "$([ "$6" = ge ] && echo '>=' || echo '<=')" "$7"
        return
    fi
    local wa=$3 wb=$5
    [ "$2" != "$4" ] && wa=$2 wb=$4
    awk -v n="$1" -v a="$a" -v b="$b" -v op="$6" -v t="$7" -v c="${col%_s}" -v wa="$wa" \
        -v wb="$wb" 'BEGIN {
        r = b > 0 ? a / b : 0
        ok = op == "ge" ? r >= t : r <= t
        printf "| %s | %s %s %s s, %s %s s | %.3f | %s %s | %s |\n", n, c, wa, a, wb, b, r,
            (op == "ge" ? ">=" : "<="), t, (ok ? "met" : "**missed**") }'
}

# rp_abs NAME FIG WHO COLUMN OP TARGET UNIT: a goal on one absolute median.
rp_abs() {
    local v
    v=$(rp_get "$2" "$3" "$4")
    if [ -z "$v" ]; then
        printf '| %s | not measured (see Checks) | | %s %s %s | - |\n' "$1" \
            "$([ "$5" = ge ] && echo '>=' || echo '<=')" "$6" "$7"
        return
    fi
    awk -v n="$1" -v v="$v" -v op="$5" -v t="$6" -v u="$7" 'BEGIN {
        ok = op == "ge" ? v >= t : v <= t
        printf "| %s | %s %s | | %s %s %s | %s |\n", n, v, u, (op == "ge" ? ">=" : "<="), t, u,
            (ok ? "met" : "**missed**") }'
}

rp_goals() {
    local f first last
    echo "| goal | medians | ratio | target | verdict |"
    echo "|---|---|---|---|---|"
    for f in merge-vhd-3level merge-vhd-32level merge-vhd-ref merge-vhdx-3level \
        merge-vhdx-32level merge-vhdx-ref; do
        rp_goal "$f: merge speed vs cp+sync" "$f" cp-sync "$f" vhdfold-merge ge 1.0
        case $f in merge-vhd-*) rp_goal "$f: merge speed vs vhd-lib" "$f" vhd-lib "$f" \
            vhdfold-merge ge 3 ;; esac
    done
    rp_goal "digest: flat speed vs openssl dgst" digest openssl-dgst digest vhdfold-flat ge 1.0
    rp_goal "digest: flat CPU vs openssl dgst" digest openssl-dgst digest vhdfold-flat ge 0.95 cpu_s
    rp_goal "digest: flat speed vs the 1-core SHA-256 limit" digest sha-limit-1 digest \
        vhdfold-flat ge 0.9
    rp_goal "digest: flat speed vs 7zz x -so / sha256sum" digest 7zz-sha256sum digest vhdfold-flat ge 2
    rp_goal "digest: tree speed vs flat" digest vhdfold-flat digest vhdfold-tree ge 2.0
    rp_goal "digest: tree speed vs the 2-core SHA-256 limit" digest sha-limit-2 digest \
        vhdfold-tree ge 0.9
    # CPU rows: on a shared machine CPU seconds move less than wall seconds. sha-limit-cpu is
    # the CPU time one core needs to hash the bytes in memory (SHA-256 alone, no I/O).
    rp_goal "digest: tree CPU vs the SHA-256 work alone" digest sha-limit-cpu digest \
        vhdfold-tree ge 0.9 cpu_s
    rp_goal "export speed vs cp+sync of the raw disk" digest cp-sync digest vhdfold-export ge 0.9
    rp_goal "export CPU vs cp+sync of the raw disk" digest cp-sync digest vhdfold-export ge 0.9 \
        cpu_s
    rp_goal "export speed vs cp+sync (VHDX)" digest-vhdx cp-sync digest-vhdx vhdfold-export \
        ge 0.9
    rp_goal "convert speed (verified) vs cp+sync of the raw disk" digest cp-sync digest \
        vhdfold-convert ge 0.9
    rp_goal "convert speed (verified) vs cp+sync (VHDX)" digest-vhdx cp-sync digest-vhdx \
        vhdfold-convert ge 0.9
    local fs
    for fs in xfs btrfs; do
        first=$(rp_first "reflink-$fs-") last=$(rp_last "reflink-$fs-")
        if [ -z "$first" ]; then
            echo "| reflink on $fs: merge time, more data vs less | not measured (see Checks) | | <= 1.2 | - |"
            continue
        fi
        rp_goal "reflink on $fs: VHDX merge time, $last vs $first of data" "$last" vhdfold-merge \
            "$first" vhdfold-merge le 1.2
        first=$(rp_first "rlempty-$fs-") last=$(rp_last "rlempty-$fs-")
        [ -n "$first" ] && rp_goal "reflink on $fs into an empty base: merge time, $last vs $first" \
            "$last" vhdfold-merge "$first" vhdfold-merge le 1.2
    done
    rp_goal "gen: speed vs dd" gen dd gen vhdfold-gen ge 0.5
    first=$(rp_first size-) last=$(rp_last size-) # size- does not match sizex-
    rp_goal "merge time, $last vs $first virtual (fixed data)" "$last" vhdfold-merge "$first" \
        vhdfold-merge le 1.2
    rp_goal "tree time, $last vs $first virtual (fixed data)" "$last" vhdfold-tree "$first" \
        vhdfold-tree le 1.2
    rp_per_byte "merge time per byte of data, $last vs $first" "$last" "$first" vhdfold-merge
    rp_per_byte "tree time per byte of data, $last vs $first" "$last" "$first" vhdfold-tree
    rp_abs "tree digest, $last virtual chain" "$last" vhdfold-tree wall_s le 1 s
    first=$(rp_first sizex-) last=$(rp_last sizex-)
    if [ -n "$first" ]; then
        rp_goal "VHDX merge time, $last vs $first virtual (fixed data)" "$last" vhdfold-merge \
            "$first" vhdfold-merge le 1.2
        rp_goal "VHDX tree time, $last vs $first virtual (fixed data)" "$last" vhdfold-tree \
            "$first" vhdfold-tree le 1.2
    fi
    rp_max_rss
}

# rp_per_byte NAME FIG_A FIG_B WHO: the time ratio A/B scaled by the data each chain really
# holds (the generator's random draw makes "fixed data" vary by some per cent).
rp_per_byte() {
    local ta tb ba bb
    ta=$(rp_get "$2" "$4" wall_s) tb=$(rp_get "$3" "$4" wall_s)
    ba=$(rp_get "$2" "$4" bytes) bb=$(rp_get "$3" "$4" bytes)
    [ -n "$ta" ] && [ -n "$tb" ] || return 0
    awk -v n="$1" -v ta="$ta" -v tb="$tb" -v ba="$ba" -v bb="$bb" 'BEGIN {
        r = (tb > 0 && ba > 0) ? (ta / ba) / (tb / bb) : 0
        printf "| %s | %s s for %.0f MiB, %s s for %.0f MiB | %.3f | <= 1.2 | %s |\n", n, ta,
            ba / 1048576, tb, bb / 1048576, r, (r <= 1.2 ? "met" : "**missed**") }'
}

# The first and last figure whose name starts with PREFIX, in run order.
rp_first() { awk -F, -v p="$1" 'NR > 1 && index($1, p) == 1 { print $1; exit }' "$OUT/results.csv"; }
rp_last() { awk -F, -v p="$1" 'NR > 1 && index($1, p) == 1 { x = $1 } END { print x }' "$OUT/results.csv"; }

rp_max_rss() {
    awk -F, 'NR > 1 && $2 ~ /^vhdfold-/ && $3 > 0 { if ($8 > m) { m = $8; w = $1 "/" $2 } }
        END { printf "| peak RSS of every vhdfold run | %.1f MiB (%s) | | <= 64 MiB | %s |\n", m, w,
              (m <= 64 ? "met" : "**missed**") }' "$OUT/results.csv"
}

# rp_ratio NAME FIG WHO_A WHO_B: a speed ratio of two contenders of one figure, no target (the
# Limits table: what this machine allows, measured in the same run as the goals).
rp_ratio() {
    local a b
    a=$(rp_get "$2" "$3" wall_s) b=$(rp_get "$2" "$4" wall_s)
    if [ -z "$a" ] || [ -z "$b" ]; then
        printf '| %s | not measured (see Checks) | |\n' "$1"
        return
    fi
    awk -v n="$1" -v a="$a" -v b="$b" -v wa="$3" -v wb="$4" 'BEGIN {
        printf "| %s | wall %s %s s, %s %s s | %.3f |\n", n, wa, a, wb, b, (b > 0 ? a / b : 0) }'
}

rp_limits() {
    echo "| limit | medians | speed ratio |"
    echo "|---|---|---|"
    rp_ratio "kernel copy of the raw disk into one file: 2 threads vs 1" digest kcopy-1 kcopy-2
    rp_ratio "kernel copy on 2 threads: a file each vs one file" digest kcopy-2 kcopy-2files
    rp_ratio "cp + sync vs the 1-thread kernel copy" digest kcopy-1 cp-sync
    rp_ratio "two cores' SHA-256 vs one core's" digest sha-limit-1 sha-limit-2
}

rp_table() {
    echo "| figure | contender | runs | wall s | CPU s | MiB/s | peak RSS MiB |"
    echo "|---|---|---|---|---|---|---|"
    awk -F, 'NR > 1 { printf "| %s | %s | %d%s | %s | %s | %s | %s |\n", $1, $2, $3,
        ($4 > 0 ? " (" $4 " failed)" : ""), $5, $6, $10, $8 }' "$OUT/results.csv"
}

rp_machine() {
    local disk
    disk=$(df -hT "$W" 2>/dev/null | awk 'NR == 2 { print $2 ", " $3 " (" $1 ")" }')
    echo "- CPU: $(nproc) online cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "- memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- scratch file system: ${disk:-unknown} (the reflink figures: XFS and btrfs loop files on it)"
    echo "- kernel: $(uname -sr)"
    echo "- load average (1, 5, 15 min) at the start: ${LOAD_START:-?}; at the end:" \
        "$(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the 2 cores)"
    if [ "${REPORT_ONLY:-0}" = 1 ]; then echo "- report rebuilt from an earlier raw.csv"
    else echo "- this run took $(($(date +%s) - ${START:-$(date +%s)})) s"; fi
    echo "- vhdfold: $("$VHDFOLD" --version 2>/dev/null | head -n 1) ($VHDFOLD, $(grep -s \
        '^CMAKE_BUILD_TYPE:STRING=' "${VHDFOLD%/cli/vhdfold}/CMakeCache.txt" | cut -d= -f2) build)"
}

rp_plot() {
    command -v gnuplot >/dev/null || { log "no gnuplot: plots skipped"; return 0; }
    local kind x
    for kind in size sizex data depth; do
        awk -F, -v k="$kind-" 'NR > 1 && index($1, k) == 1 {
            x = substr($1, length(k) + 1); sub(/[GM]$/, "", x)
            if ($2 == "vhdfold-merge") m[x] = $5; else if ($2 == "vhdfold-tree") t[x] = $5
            if (!(x in seen)) { seen[x] = 1; xs[++n] = x }
        } END { for (i = 1; i <= n; i++) print xs[i], (xs[i] in m ? m[xs[i]] : "NaN"),
                (xs[i] in t ? t[xs[i]] : "NaN") }' "$OUT/results.csv" >"$W/$kind.dat"
        [ -s "$W/$kind.dat" ] || continue
        case $kind in
        size) x='virtual size (GiB, log scale; fixed data)' ;;
        sizex) x='VHDX virtual size (GiB, log scale; fixed data)' ;;
        data) x='data in the chain (MiB; fixed virtual size)' ;;
        depth) x='differencing levels (log scale; fixed data)' ;;
        esac
        gnuplot <<EOF || log "gnuplot failed for $kind"
set terminal pngcairo size 800,500
set output '$OUT/scale-$kind.png'
set title 'vhdfold: $kind scaling (median wall seconds of $RUNS runs)'
set xlabel '$x'
set ylabel 'seconds'
$([ "$kind" = data ] || echo 'set logscale x 2')
set key top left
set yrange [0:*]
set grid
plot '$W/$kind.dat' using 1:2 with linespoints title 'merge top into base', \
     '$W/$kind.dat' using 1:3 with linespoints title 'tree digest of the top'
EOF
    done
}

report() {
    rp_medians
    rp_plot
    {
        echo "# vhdfold benchmark results"
        echo
        echo "Produced by \`bench/run${ARGS:+ $ARGS}\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Every"
        echo "figure is the median of $RUNS runs; contenders of a figure ran interleaved, and"
        echo "ratios are speed ratios (the other side's median time over ours: > 1 means we are"
        echo "faster, except the scaling rows, which compare our own times)."
        echo
        echo "## Machine"
        echo
        rp_machine
        echo
        echo "## Goals"
        echo
        rp_goals
        echo
        echo "## Limits"
        echo
        echo "Not goals: what this machine allows, measured in the same run (docs/performance.md"
        echo "\"What stands in the way\")."
        echo
        rp_limits
        echo
        echo "## Medians"
        echo
        rp_table
        echo
        echo "## Checks"
        echo
        sed 's/^/- /' "$OUT/checks.txt"
    } | rp_scrub >"$OUT/results.md"
    rp_scrub <"$OUT/checks.txt" >"$W/checks.txt" && mv "$W/checks.txt" "$OUT/checks.txt"
}

# Paths of this machine stay out of the report: the checkout becomes '.', scratch '$TMP'.
rp_scrub() {
    local root
    root=$(cd "$HERE/.." && pwd)
    awk -v r="$root" -v w="$W" '{ while ((i = index($0, w)) > 0) $0 = substr($0, 1, i - 1) "$TMP" substr($0, i + length(w))
        while ((i = index($0, r)) > 0) $0 = substr($0, 1, i - 1) "." substr($0, i + length(r)); print }'
}

# publish: the machine, goals and medians of results.md (headings one level down) replace
# what stands between the markers in docs/performance.md and in README.md's Performance
# section.
publish() {
    local root doc
    root=$(cd "$HERE/.." && pwd)
    awk 'NR > 2 { sub(/^## /, "### "); print }' "$OUT/results.md" >"$W/full.md"
    # README gets the machine and the goals; docs/performance.md everything.
    awk '/^### Medians/ { exit } { print }' "$W/full.md" >"$W/short.md"
    echo "Medians of every contender: [bench/results/results.md](bench/results/results.md)." \
        >>"$W/short.md"
    for doc in "$root/docs/performance.md" "$root/README.md"; do
        if [ "$doc" = "$root/README.md" ]; then cp "$W/short.md" "$W/publish.md"
        else cp "$W/full.md" "$W/publish.md"; fi
        grep -q '^<!-- bench/run results begin -->$' "$doc" || {
            log "no results markers in $doc: not published"
            continue
        }
        awk -v f="$W/publish.md" '/^<!-- bench\/run results begin -->$/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
            /^<!-- bench\/run results end -->$/ { skip = 0 } !skip { print }' "$doc" >"$W/doc.new"
        cat "$W/doc.new" >"$doc"
        log "published into ${doc#"$root"/}"
    done
}

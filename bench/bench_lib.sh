# bench_lib.sh - timing helpers for bench/*.sh: medians of repeated runs, rows and ratios.
# Sourced by bench/digest.sh; needs only bash, date and awk.

# bench_median RUNS CMD...: run CMD RUNS times (output discarded), print the median seconds.
bench_median() {
    local runs=$1
    shift
    local i t0 t1 times=()
    for ((i = 0; i < runs; i++)); do
        t0=$(date +%s.%N)
        "$@" >/dev/null
        t1=$(date +%s.%N)
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_row LABEL SECONDS BYTES: one line with time and MiB/s.
bench_row() {
    awk -v l="$1" -v s="$2" -v b="$3" 'BEGIN {
        printf "  %-32s %8.3f s  %9.1f MiB/s\n", l, s, (s > 0 ? b / 1048576 / s : 0) }'
}

# bench_ratio LABEL REFERENCE_SECONDS SECONDS: reference / seconds (> 1 means faster).
bench_ratio() {
    awk -v l="$1" -v r="$2" -v s="$3" 'BEGIN { printf "  %-50s %6.2f\n", l, (s > 0 ? r / s : 0) }'
}

#!/usr/bin/env bash
# fuzz/coverage.sh - line coverage of format/ reached by fuzz corpora, with gcov.
# Usage: fuzz/coverage.sh COV_BUILD_DIR [CORPUS_ROOT...]
#   COV_BUILD_DIR: a test build configured with -DVF_COVERAGE=ON (gcc), replay binaries built.
#   CORPUS_ROOT: folders holding <target>/ subfolders of inputs (default: corpus/seeds and
#   corpus/regress); afl-fuzz output folders (<target>/default/queue) are understood too.
# Prints per-file and total line coverage of format/*.c and format/*/*.c.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: $0 COV_BUILD_DIR [CORPUS_ROOT...]}" && pwd)
shift
roots=("$@")
[ ${#roots[@]} -gt 0 ] || roots=("$here/corpus/seeds" "$here/corpus/regress")

find "$build" -name '*.gcda' -delete
for bin in "$build"/fuzz/fuzz_*_replay; do
    t=$(basename "$bin" _replay)
    t=${t#fuzz_}
    dirs=()
    for r in "${roots[@]}"; do
        for d in "$r/$t" "$r/$t/default/queue"; do
            [ -d "$d" ] && [ -n "$(ls -A "$d")" ] && dirs+=("$d")
        done
    done
    [ ${#dirs[@]} -gt 0 ] || continue
    "$bin" "${dirs[@]}" >/dev/null 2>&1 || echo "coverage: $t replay failed" >&2
done

objdir="$build/format/CMakeFiles/vf_format.dir"
total=0 hit=0
cd "$objdir"
while IFS= read -r gcda; do
    src="$here/format/${gcda%.c.gcda}.c"
    line=$(gcov -n -o "${gcda%.gcda}.o" "$src" 2>/dev/null | grep -m1 "Lines executed" || true)
    [ -n "$line" ] || continue
    pct=${line#*:}
    pct=${pct%%%*}
    n=${line##* of }
    h=$(awk -v p="$pct" -v n="$n" 'BEGIN { printf "%d", p * n / 100 + 0.5 }')
    total=$((total + n))
    hit=$((hit + h))
    printf '%-28s %6s%% of %5s lines\n' "format/${gcda%.gcda}" "$pct" "$n"
done < <(find . -name '*.gcda' | sed 's|^\./||' | sort)
awk -v h="$hit" -v t="$total" 'BEGIN { printf "format/ total: %d of %d lines (%.1f%%)\n", h, t, t ? 100 * h / t : 0 }'

#!/usr/bin/env bash
# fuzz/make-seeds.sh - regenerates corpus/seeds/<target>/ from our writer's templates:
# runs fuzz_mkseeds (from a test build), then, given an AFL++ build of the harnesses, keeps
# only the inputs afl-cmin finds distinct per target. Usage:
#   fuzz/make-seeds.sh TEST_BUILD_DIR [AFL_BUILD_DIR]
# Replaces the seed folders of the targets it writes; commit the result after a review.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: $0 TEST_BUILD_DIR [AFL_BUILD_DIR]}
afl=${2:-}
# afl-cmin refuses to work under /tmp, so the scratch folder lives in the build folder.
tmp=$(mktemp -d "$(cd "$build" && pwd)/seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$build/fuzz/fuzz_mkseeds" "$tmp/raw" >/dev/null
for dir in "$tmp"/raw/*/; do
    t=$(basename "$dir")
    dest="$here/corpus/seeds/$t"
    src=$dir
    if [ -n "$afl" ] && [ -x "$afl/fuzz/fuzz_$t" ]; then
        AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 afl-cmin -i "$dir" -o "$tmp/min-$t" -m none \
            -t 5000 -- "$afl/fuzz/fuzz_$t" >"$tmp/cmin-$t.log" 2>&1 ||
            { cat "$tmp/cmin-$t.log" >&2; exit 1; }
        src="$tmp/min-$t/"
    fi
    rm -rf "$dest"
    mkdir -p "$dest"
    cp "$src"* "$dest/"
    echo "corpus/seeds/$t: $(ls "$dest" | wc -l) files, $(du -sk "$dest" | cut -f1) KiB"
done

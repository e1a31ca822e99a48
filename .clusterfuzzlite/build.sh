#!/bin/bash -eu
# .clusterfuzzlite/build.sh - builds vhdfold's fuzz harnesses the way OSS-Fuzz and
# ClusterFuzzLite expect: CC/CXX, CFLAGS/CXXFLAGS (sanitizer + -fsanitize=fuzzer-no-link) and
# LIB_FUZZING_ENGINE come from the environment; binaries, seed corpora (<fuzzer>_seed_corpus.zip)
# and dictionaries (<fuzzer>.dict) go to $OUT. Sources are at $SRC/vhdfold; $WORK is scratch.
set -eu
src=${SRC}/vhdfold
work=${WORK:-$(mktemp -d)}
build=$work/vhdfold-build

# Engines written in C++ (libFuzzer, AFL's driver) are linked with the C++ compiler.
cmake -S "$src" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$CFLAGS" \
    -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
    -DVF_BUILD_FUZZERS=ON -DVF_BUILD_TESTS=OFF -DVF_WERROR=OFF \
    -DVF_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" -DVF_FUZZ_LINK_CXX=ON
cmake --build "$build" -j"$(nproc)"

for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    target=${name#fuzz_}
    cp "$bin" "$OUT/$name"
    case $target in
    vhd_*) cat "$src/fuzz/dict/vhd.dict" >"$OUT/$name.dict" ;;
    vhdx_*) cat "$src/fuzz/dict/vhdx.dict" >"$OUT/$name.dict" ;;
    *) cat "$src/fuzz/dict/vhd.dict" "$src/fuzz/dict/vhdx.dict" >"$OUT/$name.dict" ;;
    esac
    for dir in "$src/corpus/seeds/$target" "$src/corpus/regress/$target"; do
        if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
            (cd "$dir" && zip -q -j -r "$OUT/${name}_seed_corpus.zip" .)
        fi
    done
done

#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script for z3fold-harden. It honours the
# contract ($CC $CXX $CFLAGS $CXXFLAGS $LIB_FUZZING_ENGINE $SANITIZER
# $FUZZING_ENGINE $SRC $OUT $WORK): instrumentation comes from $CXXFLAGS,
# the engine from $LIB_FUZZING_ENGINE, and nothing here adds -Werror. The
# fuzz target links only header-only libraries (fmt in header-only mode) and
# our own code, so it builds against libc++.
set -euo pipefail  # also when run as `bash build.sh`
src="${Z3FH_SRC:-$SRC/z3fold-harden}"
build="$WORK/z3fh-build-$SANITIZER-$FUZZING_ENGINE"
fmt_args=()
# AFL++ reads only its own map: the interleaving feedback goes there too.
afl_args=()
[ "$FUZZING_ENGINE" = afl ] && afl_args=(-DZ3FH_AFL_FEEDBACK=ON)
# The OSS-Fuzz image has no fmt package new enough; the Dockerfile clones it.
[ -d "$SRC/fmt/include" ] && fmt_args=(-DZ3FH_FMT_INCLUDE_DIR="$SRC/fmt/include")

cmake -S "$src" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_CXX_FLAGS="$CXXFLAGS" \
  -DCMAKE_ASM_COMPILER="$CC" \
  -DCMAKE_ASM_FLAGS="$CFLAGS" \
  -DZ3FH_FUZZING_ENGINE="$LIB_FUZZING_ENGINE" \
  -DZ3FH_FMT_HEADER_ONLY=ON "${fmt_args[@]}" "${afl_args[@]}" \
  -DZ3FH_TESTS=OFF -DZ3FH_BENCH=OFF -DZ3FH_TOOLS=OFF -DZ3FH_WERROR=OFF
cmake --build "$build" --target z3fold_fuzz

fuzzer=z3fold_fuzz
cp "$build/fuzz/$fuzzer" "$OUT/$fuzzer"
rm -f "$OUT/${fuzzer}_seed_corpus.zip"
(cd "$src/corpus" && zip -q -j "$OUT/${fuzzer}_seed_corpus.zip" seed-*.z3fp)
cp "$src/corpus/z3fold.dict" "$OUT/$fuzzer.dict"
cat > "$OUT/$fuzzer.options" <<OPTIONS
[libfuzzer]
# Programs are small: 9-byte header, 3 bytes an op, at most 96 ops.
max_len = 1024
dict = $fuzzer.dict

[afl]
dict = $fuzzer.dict
OPTIONS

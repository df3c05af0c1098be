#!/usr/bin/env bash
# Builds the libFuzzer targets with clang under ASan + UBSan and runs each for a bounded time with its seed corpus.
# Usage: scripts/fuzz.sh [seconds per target, default 30]. The seed is fixed (ECE_FUZZ_SEED, default 1) so a CI run
# is reproducible; set another seed, or a longer time, to explore further. Crashes are written to build-fuzz/crashes/<target>/;
# keep each one as a regression input in tests/fuzz/corpus/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
BUILD_DIR=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DECE_FUZZ=ON -DECE_SANITIZE=ON -DECE_BUILD_TESTS=OFF -DECE_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target $(ls tests/fuzz/*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
status=0
for source in tests/fuzz/fuzz_*.cpp; do
  target=$(basename "$source" .cpp)
  corpus_name=${target#fuzz_}
  work=$(mktemp -d)
  cp -r tests/fuzz/corpus/"$corpus_name"/. "$work"/ 2>/dev/null || true
  # Fixture files named in tests/fuzz/corpus/<name>.fixtures join the seed corpus.
  if [ -f tests/fuzz/corpus/"$corpus_name".fixtures ]; then
    while read -r fixture; do
      [ -n "$fixture" ] && cp ../shared/fixtures/$fixture "$work"/ 2>/dev/null || true
    done < tests/fuzz/corpus/"$corpus_name".fixtures
  fi
  mkdir -p "$BUILD_DIR/crashes/$target"
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s ($(ls "$work" | wc -l) seeds)"
  if ! "$BUILD_DIR/tests/fuzz/$target" -seed="${ECE_FUZZ_SEED:-1}" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=4096 \
       -artifact_prefix="$BUILD_DIR/crashes/$target/" -print_final_stats=1 "$work" 2>"$BUILD_DIR/$target.log"; then
    echo "fuzz: $target FAILED; see $BUILD_DIR/$target.log and $BUILD_DIR/crashes/$target/"
    tail -30 "$BUILD_DIR/$target.log"
    status=1
  else
    grep -E '^stat::number_of_executed_units' "$BUILD_DIR/$target.log" | sed "s/^/fuzz: $target /"
  fi
  rm -rf "$work"
done
exit $status

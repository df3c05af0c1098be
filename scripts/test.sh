#!/usr/bin/env bash
# Builds ece and runs every test (CTest), as README.md tells and .ci/run does.
# Set ECE_SANITIZE=1 to build and test under AddressSanitizer + UndefinedBehaviorSanitizer (in build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ECE_SANITIZE:-0}" = 1 ]; then
  export ECE_BUILD_DIR=${ECE_BUILD_DIR:-build-asan}
  scripts/build.sh -DECE_SANITIZE=ON -DECE_BUILD_BENCH=OFF
else
  scripts/build.sh
fi
BUILD_DIR=${ECE_BUILD_DIR:-build}
# The libFuzzer targets (tests/fuzz) under ASan + UBSan, a bounded time each; ECE_FUZZ_SECONDS=0 skips them.
if [ "${ECE_FUZZ_SECONDS:-10}" != 0 ] && command -v clang++ >/dev/null; then
  scripts/fuzz.sh "${ECE_FUZZ_SECONDS:-10}"
fi
# CTest last: its closing line is the verdict CI reads.
ctest --test-dir "$BUILD_DIR" --output-on-failure --parallel "$(nproc)" --timeout 300

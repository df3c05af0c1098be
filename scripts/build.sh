#!/usr/bin/env bash
# Configures and builds ece into build/ (or $ECE_BUILD_DIR). Extra arguments go to cmake's configure step,
# e.g. scripts/build.sh -DECE_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ECE_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"

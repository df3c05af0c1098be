#!/usr/bin/env bash
# Reproduces bench/stage/README.md: generates the demo data at SF 0.1 and SF 1 and compares ece-stage with
# psql \copy and server-side COPY on the embedded server. Needs ~12 GB free under $ECE_BENCH_DIR (default /tmp).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${ECE_BUILD_DIR:-build}
OUT=${ECE_BENCH_DIR:-/tmp}/ece-bench-data
cmake --build "$BUILD" --target ece-demo-data bench_stage_load bench_stage_scan >/dev/null
for sf in ${ECE_BENCH_SCALES:-0.1 1}; do
  "$BUILD"/cmd/ece-demo-data/ece-demo-data --scale "$sf" --tables patients,diagnoses --out "$OUT/sf$sf"
  echo "## SF $sf"
  "$BUILD"/bench/stage/bench_stage_scan "$OUT/sf$sf/patients.csv" "$OUT/sf$sf/diagnoses.csv"
  "$BUILD"/bench/stage/bench_stage_load "$OUT/sf$sf" patients diagnoses
done

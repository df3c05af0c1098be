#!/usr/bin/env bash
# Reproduces bench/stage/README.md: generates the demo data at SF 0.1 and SF 1 and compares ece-stage with
# psql \copy and server-side COPY on the embedded server. Needs ~12 GB free under $ECE_BENCH_DIR (default /tmp).
# Rounds and variants as in the README (override with ECE_BENCH_ROUNDS / ECE_BENCH_CONNECTIONS); SF 1 diagnoses
# takes about 15 minutes per round on a busy 2-core machine, so it runs once with 1 and 2 connections.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${ECE_BUILD_DIR:-build}
OUT=${ECE_BENCH_DIR:-/tmp}/ece-bench-data
cmake --build "$BUILD" --target ece-demo-data bench_stage_load bench_stage_scan >/dev/null
load() {  # SF TABLE DEFAULT_ROUNDS DEFAULT_CONNECTIONS
  ECE_BENCH_ROUNDS=${ECE_BENCH_ROUNDS:-$3} ECE_BENCH_CONNECTIONS=${ECE_BENCH_CONNECTIONS:-$4} \
    "$BUILD"/bench/stage/bench_stage_load "$OUT/sf$1" "$2"
}
for sf in ${ECE_BENCH_SCALES:-0.1 1}; do
  "$BUILD"/cmd/ece-demo-data/ece-demo-data --scale "$sf" --tables patients,diagnoses --out "$OUT/sf$sf"
  echo "## SF $sf ($(uptime))"
  "$BUILD"/bench/stage/bench_stage_scan "$OUT/sf$sf/patients.csv" "$OUT/sf$sf/diagnoses.csv"
  if [ "$sf" = 1 ]; then
    load "$sf" patients 5 1,2,3,1csv,2bin
    load "$sf" diagnoses 1 1,2
  else
    load "$sf" patients 9 1,2,3,1csv,2bin
    load "$sf" diagnoses 3 1,2,3,2csv
  fi
  echo "## done ($(uptime))"
done

#!/usr/bin/env bash
# Measures ece-dbt's load + diff + selection (state:modified+) and peak memory, one fresh process per input:
# the real manifests (each against itself), the diff-pair, the synthetic projects real dbt selected on
# (checked against dbt's list), and generated projects of 20k, 22k (two 100.6 MB manifests) and 50k models.
#   bench/dbt/run.sh [WORK_DIR]      (build first: cmake --build build --target bench_dbt_plan)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${ECE_BUILD_DIR:-build}/bench/dbt/bench_dbt_plan
WORK=${1:-/tmp/ece-bench-dbt}
FIX=../shared/fixtures
mkdir -p "$WORK"

plain() {  # fixture -> uncompressed path in WORK
    local src=$1 dst=$WORK/$2
    if [[ $src == *.xz ]]; then [[ -f $dst ]] || xz -dc "$src" > "$dst"; else dst=$src; fi
    echo "$dst"
}

run() {  # label prod branch [expected]
    local label=$1; shift
    local line; line=$("$BIN" "$1" "$2" state:modified+ ${3:-})
    echo "| $label | $(sed -E 's/ /\n/g' <<<"$line" | awk -F= '
        {v[$1]=$2}
        END {printf "%.1f | %d | %.3f | %.3f | %.3f | %.3f | %.3f / %.3f | %.3f | %d | %.1f | %.2f | %s",
             (v["prod_mb"] > v["branch_mb"] ? v["prod_mb"] : v["branch_mb"]), v["nodes"], v["load_both_s"],
             v["diff_select_s"], v["total_s"], v["cpu_s"], v["prod_load_cpu_s"], v["branch_load_cpu_s"],
             v["diff_select_cpu_s"], v["selected"], v["peak_rss_mb"], v["peak_over_larger_input"], v["matches_dbt"]}') |"
}

echo "| input | MB (larger) | nodes | load both s | diff+select s | total wall s | CPU s | load CPU s prod / branch | diff CPU s | selected | peak RSS MB | peak / input | = dbt |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for f in "$FIX"/real/dbt/manifests/*.json "$FIX"/real/dbt/manifests/*.json.xz; do
    m=$(plain "$f" "$(basename "${f%.xz}")")
    run "$(basename "${f%.xz}") (vs itself)" "$m" "$m"
done
D=$FIX/real/dbt/manifests/diff-pair
run "tuva diff-pair 02-19 -> 02-21" "$(plain $D/tuva-2024-02-19-v8.manifest.json.xz dp19.json)" \
    "$(plain $D/tuva-2024-02-21-v8.manifest.json.xz dp21.json)"
for n in N2000 N10000; do
    S=$FIX/dbt/synthetic/$n
    run "synthetic $n (dbt: see timing.txt)" "$(plain $S/prod.manifest.json.xz $n.prod.json)" \
        "$(plain $S/branch.manifest.json.xz $n.branch.json)" "$S/expected.json"
done
for models in 20000 22000 50000; do
    G=$WORK/gen$models
    [[ -f $G/branch.manifest.json ]] || /usr/bin/python3 bench/dbt/gen_manifest.py --models $models --out "$G"
    run "generated $models models" "$G/prod.manifest.json" "$G/branch.manifest.json"
done

#!/usr/bin/env bash
# What ece's preview adds to what dbt itself spends, with real dbt and no database (bench/dbt/README.md):
#   slim CI  a fresh checkout, `dbt ls --select state:modified+ --state PROD` (the parse and selection of a team's
#            `dbt build --select state:modified+ --defer --state PROD`; the nodes dbt then runs are the same in both
#            chains, so the database part is left out)
#   ece      a fresh checkout, `ece-dbt plan --project-dir` (ece's one dbt parse, with the profile and variables dbt
#            build gets, then the plan), then dbt again on the planned nodes with that same profile and variables,
#            as `ece-dbt build` starts `dbt build` (its parse must be a partial-parse no-op)
# Usage: bench/dbt/preview_overhead.sh [RUNS] [WORK_DIR]   (build first: cmake --build build --target ece-dbt)
set -euo pipefail
cd "$(dirname "$0")/../.."
ECE_DBT=$PWD/${ECE_BUILD_DIR:-build}/cmd/ece-dbt/ece-dbt
DBT=${DBT:-$PWD/../shared/tools/dbt/bin/dbt}
RUNS=${1:-3}
WORK=${2:-/tmp/ece-bench-preview}
FIX=$PWD/../shared/fixtures
rm -rf "$WORK" && mkdir -p "$WORK/profiles" "$WORK/ece-home"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_VERSION_CHECK=false

# Production: the example project as it is, parsed for target prod.
cat > "$WORK/profiles/profiles.yml" <<EOF
ece_demo:
  target: prod
  outputs:
    prod: {type: postgres, host: 127.0.0.1, port: 1, user: u, password: p, dbname: d, schema: analytics, threads: 4}
    ci: {type: postgres, host: 127.0.0.1, port: 1, user: u, password: p, dbname: d, schema: pr_1, threads: 4}
EOF
# The profile ece-dbt plan writes when it has no environment to ask (placeholder target ece_plan, production's
# database): dbt reuses a parse only when the connection values (host, user, database, schema ...) are the same.
cat > "$WORK/ece-home/profiles.yml" <<'EOF'
ece:
  target: ece
  outputs:
    ece:
      type: postgres
      host: "localhost"
      port: 5432
      user: "ece"
      password: "{{ env_var('DBT_ENV_SECRET_ECE_PASSWORD') }}"
      dbname: "d"
      schema: "ece_plan"
      threads: 4
      connect_timeout: 10
EOF
checkout() {  # fresh copy of the example project with the body_change scenario applied
    rm -rf "$1" && cp -r "$FIX/dbt/ece_demo" "$1" && chmod -R u+w "$1"
    sed -n '/```diff/,/```/p' "$FIX/dbt/scenarios/body_change/change.md" | sed '1d;$d' | patch -s -p1 -d "$1"
}
cp -r "$FIX/dbt/ece_demo" "$WORK/prod" && chmod -R u+w "$WORK/prod"
"$DBT" parse --project-dir "$WORK/prod" --profiles-dir "$WORK/profiles" --target prod --quiet
mkdir -p "$WORK/state" && cp "$WORK/prod/target/manifest.json" "$WORK/state/"

seconds() { local start=$1; echo "$(date +%s.%N) - $start" | bc; }
echo "| run | slim CI s | ece plan (dbt parse + plan) s | dbt after ece s | ece chain s | ece adds s |"
echo "|---|---|---|---|---|---|"
for run in $(seq "$RUNS"); do
    checkout "$WORK/slim"
    start=$(date +%s.%N)
    "$DBT" ls --project-dir "$WORK/slim" --profiles-dir "$WORK/profiles" --target ci --quiet \
        --select state:modified+ --state "$WORK/state" > "$WORK/slim.txt"
    slim=$(seconds "$start")

    checkout "$WORK/ece"
    start=$(date +%s.%N)
    "$ECE_DBT" plan --project-dir "$WORK/ece" --dbt "$DBT" --state "$WORK/state" --format json \
        --out "$WORK/plan.json" 2> "$WORK/plan.log"
    plan=$(seconds "$start")
    mapfile -t selected < <(/usr/bin/python3 -c '
import json, sys
plan = json.load(open(sys.argv[1]))
manifest = json.load(open(sys.argv[2]))
for n in plan["selected"]:
    if n["resource_type"] in ("model", "seed", "snapshot", "test", "unit_test"):
        print(".".join(manifest["nodes"].get(n["unique_id"], manifest.get("unit_tests", {}).get(n["unique_id"], {})).get("fqn", [])))
' "$WORK/plan.json" "$WORK/ece/target/manifest.json")
    rm -f "$WORK/ece/logs/dbt.log"  # ece's own parse logged there; what matters is the next dbt's
    start=$(date +%s.%N)
    env -i PATH="$PATH" HOME="$WORK/ece-home" DBT_PROFILES_DIR="$WORK/ece-home" ECE_RAW_SCHEMA=ece_plan_raw \
        DBT_ENV_SECRET_ECE_PASSWORD= DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_VERSION_CHECK=false \
        "$DBT" ls --project-dir "$WORK/ece" --profile ece --target ece --quiet --select "${selected[@]}" \
        > "$WORK/ece.txt"
    after=$(seconds "$start")
    grep -q "no changes found, skipping parsing" "$WORK/ece/logs/dbt.log" || echo "warning: dbt re-parsed after ece" >&2
    echo "| $run | $slim | $plan | $after | $(echo "$plan + $after" | bc) | $(echo "$plan + $after - $slim" | bc) |"
done

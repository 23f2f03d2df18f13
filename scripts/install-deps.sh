#!/usr/bin/env bash
# install-deps.sh [build|demo|test] -- installs what one purpose needs on a
# Debian 12 machine, and nothing that is already there. Safe to run again.
#
#   build  scripts/deps/build.apt: what compiling mida needs (no Python
#          environment);
#   demo   build, plus scripts/deps/demo.apt and examples/requirements.txt
#          (into .venv) when the demo has them;
#   test   build, plus every other scripts/deps/*.apt (one file per area:
#          tests, brokers, observers, ...) and .venv from
#          tests/requirements*.txt (the test tools, about 1.8 GB).
#
# Debian packages: one name a line, # comments. The venv is rebuilt only
# when its requirement files change; the system's Python is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose=${1:-test}

case $purpose in
build) apt_files=(scripts/deps/build.apt); reqs=() ;;
demo)
  apt_files=(scripts/deps/build.apt)
  [ -f scripts/deps/demo.apt ] && apt_files+=(scripts/deps/demo.apt)
  reqs=()
  [ -f examples/requirements.txt ] && reqs=(examples/requirements.txt)
  ;;
test)
  apt_files=(scripts/deps/*.apt)
  reqs=(tests/requirements*.txt)
  ;;
*) echo "usage: install-deps.sh [build|demo|test]" >&2; exit 2 ;;
esac

mapfile -t packages < <(cat "${apt_files[@]}" | sed 's/#.*//' |
  tr -s ' \t' '\n' | grep -v '^$' | sort -u)

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

[ ${#reqs[@]} -eq 0 ] && exit 0

# The virtualenv of the demo or of the tests.
stamp=.venv/.requirements.stamp
want=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ ! -x .venv/bin/python ] || [ "$have" != "$want" ]; then
  # A venv made for the tests holds what the demo needs too.
  if [ "$purpose" = demo ] && [ -x .venv/bin/python ] && [ -n "$have" ] &&
     [ "$have" = "$(cat tests/requirements*.txt | sha256sum | cut -d' ' -f1)" ]; then
    exit 0
  fi
  echo "install-deps: preparing .venv from ${reqs[*]}"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  for req in "${reqs[@]}"; do
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  done
  echo "$want" >"$stamp"
fi

#!/usr/bin/env bash
# install-deps.sh [build|demo|test] -- installs what one purpose needs on a
# Debian 12 machine, and nothing that is already there. Safe to run again.
#
#   build  scripts/deps/build.apt: what compiling mida needs (the C
#          toolchain and libraries; Node.js and web/'s npm packages, which
#          bundle the dashboard of `mida serve`), and no Python
#          environment;
#   demo   build, plus demo.apt and observers.apt, and .venv from
#          examples/requirements.txt (the demo's Dask, PyTorch, MLflow,
#          TensorBoard);
#   test   build, plus every scripts/deps/*.apt (one file per area: tests,
#          brokers, observers, serve, ...) and .venv from
#          examples/requirements.txt and tests/requirements*.txt, and
#          .venv-mlflow2 from tests/observers/mlflow2-requirements.txt
#          (MLflow 2.x for test_mlflow2_observer.py, which cannot share
#          .venv with MLflow 3), built while .venv is.
#
# Debian packages: one name a line, # comments. Python packages go into
# .venv, so that the system's Python is never touched; the venv is updated
# only when its requirement files change.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-test}
case $what in
build)
  apt_lists=(scripts/deps/build.apt)
  requirements=() ;;
demo)
  apt_lists=(scripts/deps/build.apt scripts/deps/demo.apt
             scripts/deps/observers.apt)
  requirements=(examples/requirements.txt) ;;
test)
  apt_lists=(scripts/deps/*.apt)
  requirements=(examples/requirements.txt tests/requirements*.txt) ;;
*)
  echo "usage: install-deps.sh [build|demo|test]" >&2
  exit 2 ;;
esac

mapfile -t packages < <(cat "${apt_lists[@]}" | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)

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

# npm: Debian's nodejs comes without it (NodeSource's has it inside).
if ! command -v npm >/dev/null; then
  echo "install-deps: installing npm"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends npm >/dev/null
fi

# The dashboard's packages (web/package-lock.json), for the build and the
# browser tests.
if [ ! -f web/node_modules/.package-lock.json ] ||
    [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  echo "install-deps: installing web/ packages (npm ci)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

[ ${#requirements[@]} -gt 0 ] || exit 0

# MLflow 2.x's environment (tests/observers/mlflow2_env.py says where and
# when it is up to date), built while .venv is: two pip processes keep both
# cores busy. Its stamp is a copy of the requirement file it was built from.
mlflow2_pid=
mlflow2_req=tests/observers/mlflow2-requirements.txt
if [ "$what" = test ] && { [ ! -x .venv-mlflow2/bin/python ] ||
    ! cmp -s "$mlflow2_req" .venv-mlflow2/.requirements; }; then
  echo "install-deps: preparing .venv-mlflow2 from $mlflow2_req"
  (python3 -m venv .venv-mlflow2 &&
   .venv-mlflow2/bin/python -m pip install -q --disable-pip-version-check \
     -r "$mlflow2_req" &&
   cp "$mlflow2_req" .venv-mlflow2/.requirements) &
  mlflow2_pid=$!
fi

# The virtualenv: one stamp per kind, so that the demo's set-up does not
# count as the tests'.
stamp=.venv/.requirements-$what.stamp
want=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-deps: preparing .venv from ${requirements[*]}"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  for req in "${requirements[@]}"; do
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  done
  echo "$want" >"$stamp"
fi
if [ -n "$mlflow2_pid" ] && ! wait "$mlflow2_pid"; then
  echo "install-deps: could not prepare .venv-mlflow2" >&2
  exit 1
fi

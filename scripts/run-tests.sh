#!/usr/bin/env bash
# run-tests.sh BUILD -- runs the whole suite and prints one summary line.
#
# 1. the C tests (unit and integration) of the normal build;
# 2. the Python tests (pytest, in .venv) against that build;
# 3. the C tests again under AddressSanitizer + UndefinedBehaviorSanitizer;
# 4. the C tests again under ThreadSanitizer (both builds compile in the
#    background during step 2);
# 5. a short libFuzzer run of each fuzz target, when clang can build them
#    (they too compile in the background during step 2).
# Each test case writes a JUnit XML file; scripts/test_summary.py counts them
# all and prints "N passed, N failed". The exit status is 0 only if nothing
# failed.
set -u
cd "$(dirname "$0")/.."
build=${1:-build}
results=$PWD/test-results
rm -rf "$results"
mkdir -p "$results"

export MIDA_TEST_RESULTS=$results

run_c_suite() { # flavour build-dir
  local flavour=$1 dir=$2
  echo "== C tests ($flavour)"
  rm -rf "$dir/test-xml"
  mkdir -p "$dir/test-xml"
  meson test -C "$dir" --print-errorlogs --no-rebuild -q \
    --num-processes 2 >"$results/meson-$flavour.log" 2>&1
  tail -n 12 "$results/meson-$flavour.log" | sed 's/^/   /'
  for f in "$dir"/test-xml/*.xml; do
    [ -e "$f" ] && cp "$f" "$results/$flavour-$(basename "$f")"
  done
  cp "$dir/meson-logs/testlog.json" "$results/testlog-$flavour.json" 2>/dev/null
}

# Configures and compiles build-SAN for one sanitizer (asan: Address +
# UndefinedBehavior, tsan: Thread); the outcome goes to
# $results/sanitizer-SAN.status ("built", "cannot configure", "build failed"),
# the compilers' output to $results/ninja-SAN.log.
build_sanitized() { # asan|tsan
  local san=$1 dir=build-$1 opts
  opts="-Db_sanitize=address,undefined -Db_lundef=false"
  [ "$san" = tsan ] && opts="-Db_sanitize=thread -Db_lundef=false"
  if [ ! -f "$dir/build.ninja" ]; then
    # shellcheck disable=SC2086
    if ! meson setup "$dir" --buildtype=debugoptimized -Dwerror=true $opts \
        >"$results/ninja-$san.log" 2>&1; then
      echo "cannot configure" >"$results/sanitizer-$san.status"
      return
    fi
  fi
  if ninja -C "$dir" >"$results/ninja-$san.log" 2>&1; then
    echo "built" >"$results/sanitizer-$san.status"
  else
    echo "build failed" >"$results/sanitizer-$san.status"
  fi
}

run_c_suite plain "$build"

# Both sanitizer builds, then the fuzz targets, compile while the Python
# tests run, at the lowest priority: the Python phase leaves the CPUs idle
# much of its time (each pytest worker waits on the programs, servers and
# brokers it starts), and the sanitizer builds took ~80 s of the suite's
# wall time when they ran alone after it, the fuzz targets' ~35 s more.
# nice 19 gives the tests the CPU whenever they want it.
# The subshell lowers its own priority before it starts anything, so that
# every compiler inherits it.
(renice -n 19 -p "$BASHPID" >/dev/null 2>&1
 build_sanitized asan
 build_sanitized tsan
 if command -v clang >/dev/null; then
   scripts/run-fuzz.sh --build-only >"$results/fuzz-build.log" 2>&1
 fi) </dev/null &
background_builds=$!

echo "== Python tests"
pydirs=()
for d in tests/*/; do
  ls "$d"test_*.py >/dev/null 2>&1 && pydirs+=("${d%/}")
done
# Two pytest workers (pytest-xdist), each given whole files (--dist
# loadfile: a module's fixtures and its tests' order stay as they were):
# one pytest took ~19 min, two take ~11.5 on this 2-CPU VM. The tests are
# apart already: brokers of their own on free ports, a fresh PostgreSQL
# database each, their own temporary directories. MIDA_TEST_JOBS=1 runs
# them in one process as before.
jobs=${MIDA_TEST_JOBS:-2}
parallel=()
[ "$jobs" -gt 1 ] && parallel=(-n "$jobs" --dist loadfile)
MIDA_BUILD=$PWD/$build MIDA_BIN=$PWD/$build/src/cli/mida \
  .venv/bin/python -m pytest -q "${parallel[@]}" "${pydirs[@]}" \
  --junitxml="$results/pytest.xml" -p no:cacheprovider \
  >"$results/pytest.log" 2>&1
tail -n 5 "$results/pytest.log" | sed 's/^/   /'

wait "$background_builds"
for san in asan tsan; do
  dir=build-$san
  status=$(cat "$results/sanitizer-$san.status" 2>/dev/null)
  if [ "$status" = "cannot configure" ]; then
    echo "cannot configure $dir"
    tail -n 30 "$results/ninja-$san.log"
    continue
  fi
  # A sanitizer build that does not compile is a failure of the suite
  # (test_summary.py counts each line of build-failures), not a silence.
  if [ "$status" != built ]; then
    echo "build $dir failed"
    tail -n 30 "$results/ninja-$san.log"
    echo "$dir" >>"$results/build-failures"
    continue
  fi
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  MIDA_TEST_SCALE=sanitizer run_c_suite $san $dir
done

if command -v clang >/dev/null; then
  scripts/run-fuzz.sh --prebuilt 20 >"$results/fuzz.log" 2>&1
  tail -n 4 "$results/fuzz.log" | sed 's/^/   /'
fi

exec python3 scripts/test_summary.py "$results"

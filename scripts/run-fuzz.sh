#!/usr/bin/env bash
# run-fuzz.sh [--build-only | --prebuilt] [SECONDS] -- builds each libFuzzer
# target in fuzz/ with clang (ASan + UBSan) and runs it for SECONDS (default
# 60) on a corpus kept in build-fuzz/corpus. Writes a JUnit XML result per
# target into $MIDA_TEST_RESULTS when that is set, so that the suite counts
# them.
#   --build-only  builds every target, one after the other, and runs none
#                 (run-tests.sh does this at nice 19 while the Python tests
#                 run); each outcome goes to build-fuzz/TARGET.build
#                 ("built" or "build failed").
#   --prebuilt    runs what --build-only built, and reports what it could
#                 not build as failed; builds only a target it left no
#                 outcome for.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=all
case ${1:-} in
--build-only | --prebuilt) mode=${1#--}; shift ;;
esac
secs=${1:-60}
out=build-fuzz
mkdir -p "$out"
# Every core source but the unit tests and those that need the build's
# generated mida_config.h: the targets link the whole floor, so that a new
# core file needs no change here.
core=$(grep -L "mida_config.h" $(ls src/core/*.c | grep -v "_test\.c$"))
declare -A extra=(
  [json_fuzz]=""
  [record_fuzz]=""
  [journal_fuzz]="src/capture/journal.c src/capture/spool_dir.c src/capture/spool_pool.c"
  [tfevents_fuzz]="src/observe/tfrecord.c src/observe/tbproto.c src/observe/tb_items.c"
  [mlflow_files_fuzz]="src/observe/yaml.c src/observe/mlflow_line.c"
  [proc_fuzz]="src/telemetry/proc.c"
  [wire_fuzz]="src/sink/wire.c"
  [serve_fuzz]="src/serve/request.c src/serve/response.c src/serve/params.c
                src/sink/predicate.c src/sink/key.c"
  [program_fuzz]=""
  [guard_fuzz]="src/sink/guard.c"
  [argv_fuzz]=""
)
# Builds one target into $out/$target; the outcome goes to
# $out/$target.build, the compiler's output to $out/$target.build.log.
build_one() {
  local target=$1
  rm -f "$out/$target.build"
  # shellcheck disable=SC2086
  if clang -std=c11 -g -O1 -D_GNU_SOURCE -Iinclude -Isrc \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
      "fuzz/$target.c" $core ${extra[$target]} -lpthread -o "$out/$target" \
      2>"$out/$target.build.log"; then
    echo built >"$out/$target.build"
  else
    echo "build failed" >"$out/$target.build"
  fi
}

# Builds (unless --prebuilt built it) and runs one target; its summary
# lines go to $out/$target.summary and a failure leaves $out/$target.failed.
fuzz_one() {
  local target=$1 bin=$out/$1 result failed=0
  rm -f "$out/$target.failed"
  {
    [ -f "fuzz/$target.c" ] || return 0
    if [ "$mode" != prebuilt ] || [ ! -f "$out/$target.build" ]; then
      build_one "$target"
    fi
    if [ "$(cat "$out/$target.build")" != built ]; then
      echo "$target: build failed"; cat "$out/$target.build.log"; failed=1
      result="<failure message=\"build failed\"/>"
    else
      mkdir -p "$out/corpus/$target"
      if "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
          "$out/corpus/$target" >"$out/$target.log" 2>&1; then
        echo "$target: $(grep -E '^#[0-9]+.*DONE' "$out/$target.log" | tail -n1)"
        result=""
      else
        echo "$target: CRASH"; tail -n 30 "$out/$target.log"; failed=1
        result="<failure message=\"crash, see $out/$target.log\"/>"
      fi
    fi
    if [ -n "${MIDA_TEST_RESULTS:-}" ]; then
      printf '<testsuite name="fuzz"><testcase classname="fuzz" name="%s">%s</testcase></testsuite>\n' \
        "$target" "$result" >"$MIDA_TEST_RESULTS/fuzz-$target.xml"
    fi
  } >"$out/$target.summary" 2>&1
  [ $failed = 0 ] || : >"$out/$target.failed"
}

targets=(json_fuzz record_fuzz journal_fuzz tfevents_fuzz proc_fuzz wire_fuzz mlflow_files_fuzz serve_fuzz program_fuzz guard_fuzz argv_fuzz)
if [ "$mode" = build-only ]; then
  # No outcome of an earlier run may stand for one of this run's builds.
  rm -f "$out"/*.build
  for target in "${targets[@]}"; do
    [ -f "fuzz/$target.c" ] && build_one "$target"
  done
  exit 0
fi
# Two targets at a time, one a core (each libFuzzer run is one thread):
# ten targets of 20 s and their builds took ~5 min one after the other.
jobs_max=${MIDA_FUZZ_JOBS:-2}
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
    wait -n
  done
  fuzz_one "$target" &
done
wait
status=0
for target in "${targets[@]}"; do
  [ -f "$out/$target.summary" ] && cat "$out/$target.summary"
  [ -f "$out/$target.failed" ] && status=1
done
exit $status

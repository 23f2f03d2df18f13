#!/bin/sh
# bench_sink_dask.sh -- instructions that the SQLite store executes for the
# records of a Dask task (bench_sink_dask.c), counted by callgrind: the
# inclusive cost of measure_scheduler and measure_worker, divided by the
# tasks. Counted, not timed: a shared machine's load moves wall time, not
# instructions.
#
# usage: [MIDA_BENCH_ORDER=worker_first|one_process|redelivered]
#        bench/bench_sink_dask.sh [BUILD [TASKS [BATCH]]]
#        (default build-release, 1200, 300; see bench_sink_dask.c); -h or
#        --help says so, and a build without the bench, a count that is
#        not a whole number from 1 to 100000000, an order that is none of
#        those or MIDA_BENCH_DEPS past 0..8 is refused with exit status 2
#        before valgrind runs (it took "--help" for its build directory).
set -eu
usage="usage: bench_sink_dask.sh [BUILD [TASKS [BATCH]]]"
for arg in "$@"; do
  case $arg in
  -h | --help)
    printf '%s\n' "$usage" "  BUILD  a build directory (default build-release)" \
      "  TASKS  the tasks counted (default 1200)" \
      "  BATCH  the tasks a batch carries (default 300)" \
      "environment: MIDA_BENCH_ORDER=worker_first, one_process or" \
      "  redelivered; MIDA_BENCH_DEPS=0..8 (bench_sink_dask.c)"
    exit 0
    ;;
  esac
done
# A usage error: why, the usage, exit status 2 -- before valgrind runs.
refuse() {
  printf 'bench_sink_dask.sh: %s\n%s\n' "$1" "$usage" >&2
  exit 2
}
[ $# -le 3 ] || refuse "'$4' is one argument too many"
build=${1:-build-release}
tasks=${2:-1200}
batch=${3:-300}
[ -x "$build/bench/bench_sink_dask" ] ||
  refuse "'$build' is not a build directory (no bench/bench_sink_dask in it)"
# A count is a whole number from 1 to 100000000, as bench_sink_dask takes.
for count in "$tasks" "$batch"; do
  case $count in
  '' | *[!0-9]*) refuse "'$count' is not a count (1 to 100000000)" ;;
  esac
  [ ${#count} -le 9 ] && [ "$count" -ge 1 ] && [ "$count" -le 100000000 ] ||
    refuse "'$count' is not a count (1 to 100000000)"
done
case ${MIDA_BENCH_ORDER:-} in
'' | worker_first | one_process | redelivered) ;;
*) refuse "'$MIDA_BENCH_ORDER' is no MIDA_BENCH_ORDER (worker_first, one_process, redelivered)" ;;
esac
case ${MIDA_BENCH_DEPS:-0} in
[0-8]) ;;
*) refuse "'$MIDA_BENCH_DEPS' is no MIDA_BENCH_DEPS (0 to 8)" ;;
esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
  "$build/bench/bench_sink_dask" "$tasks" "$batch" "$out/store.db" \
  >"$out/stdout" 2>"$out/stderr" || { cat "$out/stderr" >&2; exit 1; }
callgrind_annotate --inclusive=yes "$out/cg.out" 2>/dev/null |
  awk -v tasks="$tasks" -v batch="$batch" -v order="${MIDA_BENCH_ORDER:-}" \
    -v deps="${MIDA_BENCH_DEPS:-0}" '
    /measure_scheduler/ { gsub(",", "", $1); s = $1 }
    /measure_worker/ { gsub(",", "", $1); w = $1 }
    END {
      printf "scheduler  %d tasks, batches of %d: %.0f instructions a task\n",
             tasks, batch, s / tasks
      printf "worker     %d tasks, batches of %d: %.0f instructions a task\n",
             tasks, batch, w / tasks
      printf "{\"bench\":\"sink_dask_ir\",\"tasks\":%d,\"batch\":%d," \
             "\"order\":\"%s\",\"deps\":%d," \
             "\"scheduler_ir_per_task\":%.0f,\"worker_ir_per_task\":%.0f}\n",
             tasks, batch, order, deps, s / tasks, w / tasks
    }'

#!/bin/sh
# bench_sink_dask.sh -- instructions that the SQLite store executes for the
# records of a Dask task (bench_sink_dask.c), counted by callgrind: the
# inclusive cost of measure_scheduler and measure_worker, divided by the
# tasks. Counted, not timed: a shared machine's load moves wall time, not
# instructions.
#
# usage: [MIDA_BENCH_ORDER=worker_first] bench/bench_sink_dask.sh [BUILD_DIR]
#        [TASKS] [BATCH]
#        (default build-release, 1200, 300; see bench_sink_dask.c)
set -eu
build=${1:-build-release}
tasks=${2:-1200}
batch=${3:-300}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
  "$build/bench/bench_sink_dask" "$tasks" "$batch" "$out/store.db" \
  >"$out/stdout" 2>"$out/stderr" || { cat "$out/stderr" >&2; exit 1; }
callgrind_annotate --inclusive=yes "$out/cg.out" 2>/dev/null |
  awk -v tasks="$tasks" -v batch="$batch" '
    /measure_scheduler/ { gsub(",", "", $1); s = $1 }
    /measure_worker/ { gsub(",", "", $1); w = $1 }
    END {
      printf "scheduler  %d tasks, batches of %d: %.0f instructions a task\n",
             tasks, batch, s / tasks
      printf "worker     %d tasks, batches of %d: %.0f instructions a task\n",
             tasks, batch, w / tasks
      printf "{\"bench\":\"sink_dask_ir\",\"tasks\":%d,\"batch\":%d," \
             "\"scheduler_ir_per_task\":%.0f,\"worker_ir_per_task\":%.0f}\n",
             tasks, batch, s / tasks, w / tasks
    }'

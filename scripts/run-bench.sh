#!/usr/bin/env bash
# run-bench.sh BUILD -- runs every benchmark of bench/ and collects their
# JSON lines in bench-out/results.jsonl. Figures, not pass/fail.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
mkdir -p bench-out
out=bench-out/results.jsonl
: >"$out"
for b in bench_capture bench_sink_apply bench_ingest bench_query bench_rss \
    bench_telemetry bench_observe_tfevents; do
  echo "== $b"
  "$build/bench/$b" | tee "bench-out/$b.log"
  tail -n 1 "bench-out/$b.log" >>"$out"
done
# Cost as the work grows (issue 17): steering queries on a key with and
# without its index, and ingest, at BENCH_SIZES tasks in the store (default
# 1M, 5M, 10M; smaller ones for a quick run, e.g. BENCH_SIZES=100000,300000),
# on SQLite and, when it runs, PostgreSQL (a fresh database, dropped after);
# capture cost with 1, 2, 4 threads; bytes on disk per task. Plotted below.
export BENCH_SIZES=${BENCH_SIZES:-1000000,5000000,10000000}
# The baselines without an index read the whole table: at 10M tasks on a
# loaded VM past the query guard's default 30 s, which would stop them.
keys_timeout=${MIDA_QUERY_TIMEOUT_MS:-600000}
echo "== bench_key_index sqlite (sizes $BENCH_SIZES)"
MIDA_QUERY_TIMEOUT_MS=$keys_timeout "$build/bench/bench_key_index" sqlite |
  tee bench-out/bench_key_index_sqlite.log
tail -n 1 bench-out/bench_key_index_sqlite.log >>"$out"
pg=${MIDA_BENCH_PG:-postgresql://postgres@127.0.0.1:5432}
if command -v psql >/dev/null && psql "$pg/postgres" -AtqXc "SELECT 1" \
    >/dev/null 2>&1; then
  db=mida_bench_keys_$$
  psql "$pg/postgres" -qXc "CREATE DATABASE $db"
  echo "== bench_key_index postgresql (sizes $BENCH_SIZES)"
  MIDA_QUERY_TIMEOUT_MS=$keys_timeout "$build/bench/bench_key_index" "$pg/$db" |
    tee bench-out/bench_key_index_postgresql.log
  tail -n 1 bench-out/bench_key_index_postgresql.log >>"$out"
  psql "$pg/postgres" -qXc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
fi
# Flowcept 1.0.3 beside these curves, when its venv exists
# (bench/flowcept_broker/setup.sh makes it): its ingest through Redis into
# its LMDB store and a steering query at FLOWCEPT_SIZES (it stores a few
# hundred tasks/s here), then mida's SQLite at the same sizes.
if [ -x bench-out/flowcept-broker-venv/bin/python ] &&
    command -v redis-server >/dev/null; then
  sizes=${FLOWCEPT_SIZES:-10000,30000,100000}
  echo "== flowcept_growth (sizes $sizes)"
  bench-out/flowcept-broker-venv/bin/python \
    bench/flowcept_growth/bench_flowcept_growth.py "$sizes" |
    tee bench-out/flowcept_growth.log
  tail -n 1 bench-out/flowcept_growth.log >>"$out"
  echo "== bench_key_index sqlite (Flowcept's sizes $sizes)"
  BENCH_SIZES=$sizes BENCH_CHUNK=10000 BENCH_INDEX_TASKS=0 \
    "$build/bench/bench_key_index" sqlite |
    tee bench-out/bench_key_index_sqlite_small.log
  tail -n 1 bench-out/bench_key_index_sqlite_small.log >>"$out"
fi
# The WAL and the journal while tasks stream in and a reader queries
# without a pause (BENCH_WAL_SECONDS, default 60, at 20,000 tasks/s).
if [ -x "$build/tests/mida_produce" ]; then
  echo "== bench_wal_bound"
  bench/bench_wal_bound.sh "$build/tests/mida_produce" "$build/src/cli/mida" \
    "${BENCH_WAL_SECONDS:-60}" | tee bench-out/bench_wal_bound.log
  tail -n 1 bench-out/bench_wal_bound.log >>"$out"
fi
echo "== bench_scaling"
"$build/bench/bench_scaling" | tee bench-out/bench_scaling.log
tail -n 1 bench-out/bench_scaling.log >>"$out"
if .venv/bin/python -c 'import matplotlib' 2>/dev/null; then
  .venv/bin/python bench/plot_growth.py "$out" bench-out
fi
# Exports stream: their peak memory at 100,000 and 1,000,000 tasks.
for n in 100000 1000000; do
  echo "== bench_export $n"
  "$build/bench/bench_export" "$build/src/cli/mida" "$n" | tee bench-out/bench_export.log
  tail -n 1 bench-out/bench_export.log >>"$out"
done
# Flowcept 1.0.3's per-task telemetry, beside bench_telemetry's figures,
# when its own venv exists (bench/flowcept_telemetry/setup.sh makes it).
if [ -x bench-out/flowcept-venv/bin/python ]; then
  echo "== flowcept_telemetry"
  bench-out/flowcept-venv/bin/python bench/flowcept_telemetry/bench_flowcept.py \
    | tee bench-out/flowcept_telemetry.log
  tail -n 1 bench-out/flowcept_telemetry.log >>"$out"
fi
# The Python binding (issue 3): @mida.task and Dask, beside Flowcept 1.0.3
# (bench/flowcept_dask/ makes its venv and runs the Python benchmarks).
if [ -d "$build/python/mida" ]; then
  bench/flowcept_dask/run.sh "$build" bench-out
  # What the Dask worker plugin's TaskMeter (per-task telemetry on the
  # executing thread) adds per task call, in process.
  echo "== dask_meter"
  PYTHONPATH="$PWD/$build/python" .venv/bin/python bench/bench_dask_meter.py \
    | tee bench-out/dask_meter.log
  tail -n 1 bench-out/dask_meter.log >>"$out"
  # The instructions mida adds to a Dask run and its hooks, counted by
  # callgrind (deterministic where CPU seconds are not); skipped with a
  # message without valgrind.
  for mode in --empty --hooks; do
    echo "== dask_ir $mode"
    .venv/bin/python bench/bench_dask_ir.py --build "$build" $mode |
      tee bench-out/dask_ir.log
    tail -n 1 bench-out/dask_ir.log | grep '^{' >>"$out"
  done
fi
# The SQLite store's instructions for a Dask task's records, scheduler and
# worker, in the orders and shapes the store meets (bench_sink_dask.c).
if command -v valgrind >/dev/null && [ -x "$build/bench/bench_sink_dask" ]; then
  for shape in "" "MIDA_BENCH_ORDER=worker_first" \
    "MIDA_BENCH_ORDER=one_process" "MIDA_BENCH_DEPS=2"; do
    echo "== sink_dask_ir $shape"
    env $shape bench/bench_sink_dask.sh "$build" | tee bench-out/sink_dask_ir.log
    tail -n 1 bench-out/sink_dask_ir.log >>"$out"
  done
fi
# What `mida run` costs around a command that does nothing, and the
# preload library a process, in instructions (bench_run_fixed.sh).
if command -v valgrind >/dev/null; then
  echo "== run_fixed_ir"
  bench/bench_run_fixed.sh "$build" | tee bench-out/run_fixed_ir.log
  tail -n 1 bench-out/run_fixed_ir.log >>"$out"
fi
# The MLflow and TensorBoard observers (issue 4): latency from MLflow's
# commit / TensorBoard's flush to queryable, with the test venv; and
# fidelity beside Flowcept 1.0.3's adapters, with their own venv
# (bench/flowcept_observers/setup.sh makes it; needs Redis).
if .venv/bin/python -c 'import mlflow, torch' 2>/dev/null; then
  echo "== observe_latency"
  .venv/bin/python bench/bench_observe_latency.py "$build/src/cli/mida" \
    | tee bench-out/observe_latency.log
  tail -n 1 bench-out/observe_latency.log >>"$out"
  # What a logged model whose metrics grow while it is watched costs the
  # observer (its record holds all of its rows).
  echo "== observe_model_metrics"
  .venv/bin/python bench/bench_observe_model_metrics.py "$build/src/cli/mida" \
    | tee bench-out/observe_model_metrics.log
  tail -n 1 bench-out/observe_model_metrics.log >>"$out"
  # Capture fidelity: real workloads against the tools' own APIs.
  echo "== fidelity"
  .venv/bin/python bench/bench_fidelity.py "$build/src/cli/mida" \
    | tee bench-out/fidelity.log
  tail -n 1 bench-out/fidelity.log >>"$out"
  if [ -x bench-out/flowcept-obs-venv/bin/python ]; then
    echo "== flowcept_observers"
    .venv/bin/python bench/flowcept_observers/bench_flowcept_observers.py \
      "$build/src/cli/mida" bench-out/flowcept-obs-venv/bin/python \
      | tee bench-out/flowcept_observers.log
    tail -n 1 bench-out/flowcept_observers.log >>"$out"
  fi
fi
# Multi-node (issue 5): producers -> Redis / NATS -> mida ingest ->
# PostgreSQL, throughput with 1 and 2 consumers and latency to queryable;
# and Flowcept 1.0.3 with Redis on the same workload when its venv exists
# (bench/flowcept_broker/setup.sh makes it).
if [ -x "$build/tests/mida_produce" ] && command -v psql >/dev/null; then
  echo "== broker"
  python3 bench/bench_broker.py "$build" | tee bench-out/broker.log
  tail -n 1 bench-out/broker.log >>"$out"
  if [ -x bench-out/flowcept-broker-venv/bin/python ]; then
    echo "== flowcept_broker"
    bench-out/flowcept-broker-venv/bin/python \
      bench/flowcept_broker/bench_flowcept_broker.py \
      | tee bench-out/flowcept_broker.log
    tail -n 1 bench-out/flowcept_broker.log >>"$out"
  fi
fi
# mida serve (issue 13): API latency with wrk, task end -> event, first
# load of the overview in Chromium, on 1,000,000 tasks and a 10M-point
# series (bench/serve_store.py makes the store once).
if [ -x "$build/src/cli/mida" ] && command -v wrk >/dev/null &&
    "$build/src/cli/mida" serve --help >/dev/null 2>&1; then
  echo "== serve"
  .venv/bin/python bench/bench_serve.py "$build" | tee bench-out/serve.log
  tail -n 1 bench-out/serve.log >>"$out"
fi
# `mida run`'s file and process capture (issue 14): make -j2, tar, cp and
# Python file I/O, plain, under mida run and under strace; and the cost of
# one intercepted open+close and 4 KiB read.
if [ -f "$build/src/preload/libmida_preload.so" ]; then
  echo "== preload"
  python3 bench/bench_preload.py "$build" 3 | tee bench-out/preload.log
  tail -n 1 bench-out/preload.log >>"$out"
  # The same file workloads split into mida run's start, the command and
  # its end, which the whole runs above do not resolve.
  echo "== run_phases"
  python3 bench/bench_run_phases.py "$build" 15 | tee bench-out/run_phases.log
  tail -n 1 bench-out/run_phases.log >>"$out"
fi
# The same `mida run -- tar c` as the store it writes to grows (issue 17):
# time, CPU and bytes written after 0, 10, 30, 60 earlier runs.
if [ -f "$build/src/preload/libmida_preload.so" ]; then
  echo "== store_growth"
  python3 bench/bench_store_growth.py "$build" | tee bench-out/store_growth.log
  tail -n 1 bench-out/store_growth.log >>"$out"
fi
echo "== all figures: $out"
cat "$out"

#!/usr/bin/env bash
# run.sh BUILD OUTDIR -- the Python binding's benchmarks (issue 3), side by
# side with Flowcept 1.0.3, appending one JSON line per figure set to
# OUTDIR/results.jsonl:
#
#   bench_py_task.py             @mida.task on a no-op (test .venv, BUILD's
#                                package), positional and keyword calls,
#                                with and without per-task telemetry
#                                (MIDA_TELEMETRY_TASK; it runs both)
#   bench_py_task.py --flowcept  @flowcept_task on the same no-op
#   bench_py_dask.py             100,000 small Dask tasks, 2 worker
#                                processes: none / mida / flowcept on
#                                dask 2024.10.0 (Flowcept's venv), and
#                                none / mida on the current dask (.venv)
#   bench_dask_workloads.py      eight real Dask workloads, none / mida in
#                                alternated pairs (BENCH_DASK_PAIRS, 3)
#
# The Flowcept venv is made by setup.sh (bench-out/flowcept-dask-venv).
# BENCH_PY_TASKS and BENCH_PY_REPEAT shrink the Dask runs.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-release}
outdir=${2:-bench-out}
out=$outdir/results.jsonl
mkdir -p "$outdir"
pkg=$PWD/$build/python
tasks=${BENCH_PY_TASKS:-100000}
repeat=${BENCH_PY_REPEAT:-1}
fcvenv=bench-out/flowcept-dask-venv

run() { # name command...
  local name=$1
  shift
  echo "== $name"
  "$@" 2>"$outdir/$name.err" | tee "$outdir/$name.log"
  tail -n 1 "$outdir/$name.log" | grep '^{' >>"$out" ||
    { echo "$name failed:"; tail -n 20 "$outdir/$name.err"; }
}

tmp=$(mktemp -d)
(cd "$tmp" && PYTHONPATH=$pkg \
  "$OLDPWD/.venv/bin/python" "$OLDPWD/bench/bench_py_task.py") \
  >"$outdir/bench_py_task.log" 2>&1
cat "$outdir/bench_py_task.log"
tail -n 1 "$outdir/bench_py_task.log" | grep '^{' >>"$out"
if bench/flowcept_dask/setup.sh "$fcvenv" >"$outdir/flowcept-setup.log" 2>&1
then
  (cd "$tmp" && "$OLDPWD/$fcvenv/bin/python" \
    "$OLDPWD/bench/bench_py_task.py" --flowcept) \
    >"$outdir/bench_py_task_flowcept.log" 2>&1
  cat "$outdir/bench_py_task_flowcept.log"
  tail -n 1 "$outdir/bench_py_task_flowcept.log" | grep '^{' >>"$out"
  run bench_py_dask_2024 "$fcvenv/bin/python" bench/bench_py_dask.py \
    --tasks "$tasks" --repeat "$repeat" --variants none,mida,flowcept \
    --mida-path "$pkg" --label "dask<=2024.10.0 (Flowcept's pin)"
else
  echo "flowcept venv could not be made: see $outdir/flowcept-setup.log"
fi
run bench_py_dask_current .venv/bin/python bench/bench_py_dask.py \
  --tasks "$tasks" --repeat "$repeat" --variants none,mida \
  --mida-path "$pkg" --label "current dask"
run bench_dask_workloads .venv/bin/python bench/bench_dask_workloads.py \
  --repeat "${BENCH_DASK_PAIRS:-3}" --mida-path "$pkg"
rm -rf "$tmp"

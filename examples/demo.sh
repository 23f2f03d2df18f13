#!/usr/bin/env bash
# demo.sh BUILD [OUT] -- the MIDA paper's use case, observed with no change
# to the code that runs (`make demo`; docs/demo.md says what it shows).
#
# In one campaign, on the embedded SQLite store OUT/mida.db:
#   1. a Dask workflow (LocalCluster, 2 worker processes) prepares a small
#      materials data set in several preprocessing variants
#      (examples/materials/prepare.py), under `mida run`;
#   2. a PyTorch training sweep (examples/materials/train.py), one
#      `mida run` per hyperparameter setting, logging to MLflow (SQLite
#      tracking store) and TensorBoard; a steering question is asked of
#      the store while it trains;
#   3. a plain shell step post-processes the best model's predictions;
#   4. the mida command answers the cross-workflow questions.
# The scripts import neither mida nor anything of it.
#
# Environment: DEMO_VARIANTS (name:cutoff:bins:method,...), DEMO_SETTINGS
# (variant:lr:hidden ...), DEMO_EPOCHS, DEMO_SHARDS, DEMO_STRUCTURES set a
# smaller or larger scenario (tests/demo runs a short one); PYTHON the
# interpreter (default: .venv/bin/python).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$(cd "${1:-build}" && pwd)
out=${2:-$root/demo-out}
mida="$build/src/cli/mida"
python=${PYTHON:-$root/.venv/bin/python}
variants=${DEMO_VARIANTS:-r4-zscore:4.0:12:zscore,r6-zscore:6.0:16:zscore,r6-minmax:6.0:16:minmax}
settings=${DEMO_SETTINGS:-r4-zscore:0.01:32 r6-zscore:0.01:32 r6-minmax:0.01:32 r6-zscore:0.003:64}
epochs=${DEMO_EPOCHS:-25}
shards=${DEMO_SHARDS:-4}
structures=${DEMO_STRUCTURES:-150}
campaign=materials-demo

rm -rf "$out"
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
export MIDA_STORE="sqlite://$out/mida.db"
export MIDA_CAMPAIGN=$campaign
# The commands find the venv's python first, and mida's Python package
# (its Dask plugin) in the build tree.
export PATH="$(dirname "$python"):$PATH"
export PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONWARNINGS=ignore
cd "$out"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
# Runs a command quietly into a log; on failure shows the log's end.
quiet() {
  local log=$1
  shift
  if ! "$@" >"$out/logs/$log.log" 2>&1; then
    echo "demo: failed: $* (log: $out/logs/$log.log)" >&2
    tail -n 20 "$out/logs/$log.log" >&2
    exit 1
  fi
}
q() { "$mida" query "$@"; }
# The first column of the first row of a query.
value() { "$mida" query --csv "$1" | sed -n '2{s/\r$//;s/,.*//;p}'; }
started=$(date +%s)

bold "1. Dask: synthetic structures -> descriptors -> normalised shards ($variants)"
step "mida run -- python prepare.py shards --variants ..."
quiet prepare "$mida" run -- python "$here/materials/prepare.py" shards \
  --variants "$variants" --shards "$shards" --structures "$structures"
echo "wrote $(find shards -name '*.npz' | wc -l) shard files"

bold "2. PyTorch training sweep, logged to MLflow and TensorBoard"
step "mida run --tensorboard runs -- python train.py shards/VARIANT --lr LR --hidden H   (one per setting)"
(
  # MLflow's tracking store: mida run observes it while each command runs.
  export MLFLOW_TRACKING_URI="sqlite:///$out/mlflow.db"
  for s in $settings; do
    IFS=: read -r variant lr hidden <<<"$s"
    quiet "train-$variant-$lr-$hidden" "$mida" run --tensorboard runs -- \
      python "$here/materials/train.py" "shards/$variant" --lr "$lr" \
      --hidden "$hidden" --epochs "$epochs" --logdir runs --out models
    echo "trained $variant lr=$lr hidden=$hidden"
  done
) &
sweep=$!

# Steering: ask the store while the sweep runs, once a run has a few epochs;
# the answer shown is one that a running run was part of (a run can end,
# and the next not yet begin, between the check and the question).
mlflow_runs="SELECT t.id, t.activity, t.status, t.used FROM task t
  JOIN workflow w ON w.id = t.workflow_id WHERE w.source = 'mlflow'"
sql="SELECT r.activity AS run, r.status, r.used->>'variant' AS variant,
       count(m.step) AS epochs, round(min(m.value), 4) AS best_val_loss
  FROM ($mlflow_runs) r JOIN metric m ON m.task_id = r.id
  WHERE m.key = 'val_loss' GROUP BY r.id ORDER BY best_val_loss"
answer="" asked=""
for _ in $(seq 600); do
  n=$(value "SELECT count(*) FROM ($mlflow_runs) r JOIN metric m
        ON m.task_id = r.id AND m.key = 'val_loss'
        WHERE r.status = 'RUNNING' GROUP BY r.id HAVING count(*) >= 3" \
      2>/dev/null)
  if [ -n "$n" ]; then
    answer=$(q "$sql" 2>/dev/null)
    asked=$(($(date +%s) - started))
    case $answer in *RUNNING*) break ;; esac
  fi
  kill -0 "$sweep" 2>/dev/null || break
  sleep 0.2
done
bold "Steering, while training runs: the best validation loss so far, per run and preprocessing variant"
step "mida query \"$(echo "$sql" | tr -s ' \n' ' ')\""
case $answer in
*RUNNING*)
  printf '%s\n' "$answer"
  echo "(asked at $asked s, while training still runs)" ;;
*) q "$sql" ;; # the sweep ended first: what it left
esac
wait "$sweep"

best=$(value "SELECT r.id FROM ($mlflow_runs) r JOIN metric m
  ON m.task_id = r.id AND m.key = 'val_loss' WHERE r.status = 'FINISHED'
  GROUP BY r.id ORDER BY min(m.value) LIMIT 1")
best_name=$(value "SELECT activity FROM task WHERE id = '$best'")

bold "3. A plain shell step over the best model's predictions"
step "mida run -- sh postprocess.sh models/$best_name.predictions.csv report"
quiet postprocess "$mida" run -- sh "$here/materials/postprocess.sh" \
  "models/$best_name.predictions.csv" report
sed 's/^/  /' report/summary.txt

bold "4. What mida integrated"
step "mida workflows --campaign $campaign"
"$mida" workflows --campaign "$campaign"

step "the best run by validation loss, and its parameters"
q "SELECT t.activity AS run, t.id, round(min(m.value), 4) AS best_val_loss,
     t.used->>'lr' AS lr, t.used->>'hidden' AS hidden,
     t.used->>'variant' AS variant, t.used->>'epochs' AS epochs
   FROM task t JOIN metric m ON m.task_id = t.id AND m.key = 'val_loss'
   WHERE t.id = '$best' GROUP BY t.id"

step "mida lineage $best --up    # the shard files and the Dask tasks that fed it"
"$mida" lineage "$best" --up

step "the preprocessing parameters of the Dask tasks upstream of it"
q "WITH RECURSIVE
   shard(data_id, uri) AS (
     SELECT d.id, d.uri FROM task_data u JOIN data d ON d.id = u.data_id
     WHERE u.task_id = '$best' AND u.role = 'used' AND d.kind = 'file'),
   writer(id) AS (
     SELECT g.task_id FROM shard s JOIN task_data g
       ON g.data_id = s.data_id AND g.role = 'generated'
     UNION  -- where files were not recorded: the task whose result is the path
     SELECT t.id FROM shard s JOIN task t
       ON 'file://' || (t.generated->>'return') = s.uri),
   up(id) AS (SELECT id FROM writer
     UNION SELECT d.upstream_id FROM task_dep d JOIN up ON d.task_id = up.id)
   SELECT t.activity, count(*) AS tasks, t.used->>'cutoff' AS cutoff,
     t.used->>'n_bins' AS n_bins, t.used->>'method' AS method,
     t.used->>'n_atoms' AS n_atoms, w.source
   FROM up JOIN task t ON t.id = up.id JOIN workflow w ON w.id = t.workflow_id
   WHERE w.source = 'dask'
   GROUP BY t.activity, cutoff, n_bins, method, n_atoms ORDER BY t.activity"

step "the CPU time and peak memory that produced it (its mida run command)"
q "SELECT p.activity AS command, round((p.ended - p.started) / 1e9, 1) AS wall_s,
     round((p.telemetry->>'cpu_process_ns') / 1e9, 1) AS cpu_s,
     round((p.telemetry->>'maxrss_kb') / 1024.0, 1) AS peak_rss_mib,
     p.used->>'argv' AS argv
   FROM task t JOIN task p ON p.id = t.parent_id WHERE t.id = '$best'"

cand="file://$out/report/candidates.csv"
step "mida lineage $cand --up --depth 4"
"$mida" lineage "$cand" --up --depth 4 ||
  echo "  (no files of plain commands recorded: this mida run has no preload library)"

step "mida export rocrate --campaign $campaign crate    # Workflow Run RO-Crate"
"$mida" export rocrate --campaign "$campaign" crate 2>"$out/logs/export.log"
echo "wrote $out/crate/ro-crate-metadata.json"

bold "Done in $(($(date +%s) - started)) s. Try:"
echo "  $mida --store $MIDA_STORE show $best"
echo "  $mida --store $MIDA_STORE diff $best <another run id>"
# The dashboard is printed, not started: make demo leaves no server
# behind (none holding a port when it is run again); the store is all it
# needs, whenever the user wants it.
if "$mida" serve --help >/dev/null 2>&1; then
  echo "The dashboard (workflows, lineage, metrics, telemetry; live while"
  echo "workflows run):"
  echo "  $mida --store $MIDA_STORE serve    # then open http://127.0.0.1:8765/"
fi

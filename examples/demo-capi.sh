#!/usr/bin/env bash
# demo-capi.sh BUILD -- the C API example (`make demo-capi`): runs
# examples/demo.c, two linked workflows written against libmida, on a fresh
# embedded SQLite store, and shows what mida captured with the mida command.
# (`make demo` is the main demo: examples/demo.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mida="$PWD/$build/src/cli/mida"
out="$PWD/demo-capi-out"
rm -rf "$out"
mkdir -p "$out"
export MIDA_STORE="sqlite://$out/mida.db"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "demo (two workflows of one campaign, C API only)"
"$build/examples/demo" "$out" 200
# shellcheck disable=SC1091
. "$out/ids.env"

step mida workflows
"$mida" workflows

step "mida tasks --status error --limit 3"
"$mida" tasks --status error --limit 3

step "mida lineage $SIM_TASK --down   # from a simulation, across workflows"
"$mida" lineage "$SIM_TASK" --down

step "mida lineage $ANALYSIS_TASK --up --depth 2 | head -n 7"
"$mida" lineage "$ANALYSIS_TASK" --up --depth 2 | head -n 7
echo "  ..."

step "steering: which parameters gave the warmest members, among finished ones?"
sql="SELECT used->>'member' AS member, used->>'dt' AS dt,
       used->>'forcing' AS forcing,
       round(generated->>'final_temperature', 3) AS final_temp
  FROM task WHERE activity = 'simulate' AND status = 'FINISHED'
  ORDER BY generated->>'final_temperature' DESC LIMIT 5"
echo "$sql"
"$mida" query "$sql"

step "steering: why did tasks fail?"
"$mida" query "SELECT error, count(*) AS tasks, min(used->>'dt') AS min_dt,
  min(used->>'forcing') AS min_forcing FROM task WHERE status = 'ERROR'
  GROUP BY error"

echo
echo "store: $out/mida.db  (try: $mida --store $MIDA_STORE show $REPORT_TASK)"

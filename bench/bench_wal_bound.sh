#!/usr/bin/env bash
# bench_wal_bound.sh PRODUCER MIDA [SECONDS] [RATE] -- the size of an SQLite
# store's WAL while tasks stream in and a `mida query` loop runs without a
# pause (issue 10 item 8; docs/reliability.md), and the producer's journal
# (the bytes in its spool directory) beside it (issue 17 item 5:
# bench/plot_growth.py draws both over time). PRODUCER is a mida_produce
# binary (tests/multinode/produce.c) of the build whose writer is measured,
# MIDA a mida binary whose `query` is the reader. Samples the WAL once a
# second for SECONDS (default 180) with RATE tasks a second (default
# 20000); prints the samples, then one JSON line: the largest and the last
# WAL size, the largest journal, the tasks stored, the queries run, and
# the samples. A figure, not a test.
set -uo pipefail
producer=${1:?usage: bench_wal_bound.sh PRODUCER MIDA [SECONDS] [RATE]}
mida=${2:?usage: bench_wal_bound.sh PRODUCER MIDA [SECONDS] [RATE]}
secs=${3:-180}
rate=${4:-20000}
dir=$(mktemp -d /tmp/mida-wal-bench-XXXXXX)
# The store goes at exit unless BENCH_KEEP=1.
trap 'kill $prod $reader 2>/dev/null; [ "${BENCH_KEEP:-}" = 1 ] || rm -rf "$dir"' EXIT
db=$dir/m.db
export MIDA_STORE=sqlite://$db MIDA_SPOOL=$dir/spool MIDA_SAMPLE_HZ=0
MIDA_PRODUCE_RATE=$rate "$producer" $((rate * (secs + 30))) wal \
  >/dev/null 2>&1 &
prod=$!
while [ ! -e "$db" ]; do sleep 0.05; done
sleep 0.5 # the schema
( n=0; while :; do
    "$mida" query "SELECT count(*), max(ended) FROM task" >/dev/null 2>&1
    n=$((n + 1)); echo $n >"$dir/queries"
  done ) &
reader=$!
max=0
jmax=0
walv=""
jrnv=""
for ((t = 1; t <= secs; t++)); do
  sleep 1
  size=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
  [ "$size" -gt "$max" ] && max=$size
  jsize=$(du -sb "$dir/spool" 2>/dev/null | cut -f1)
  jsize=${jsize:-0}
  [ "$jsize" -gt "$jmax" ] && jmax=$jsize
  walv="$walv${walv:+,}$size"
  jrnv="$jrnv${jrnv:+,}$jsize"
  echo "t=${t}s wal=$size journal=$jsize"
done
kill $reader 2>/dev/null
wait $reader 2>/dev/null
tasks=$(sqlite3 "file:$db?mode=ro" "SELECT count(*) FROM task" 2>/dev/null ||
  echo "?")
printf '{"bench":"wal_bound","seconds":%d,"rate":%d,"wal_max_bytes":%d,' \
  "$secs" "$rate" "$max"
printf '"wal_last_bytes":%d,"journal_max_bytes":%d,"tasks":"%s",' \
  "$size" "$jmax" "$tasks"
printf '"queries":%s,"load":"%s","wal_bytes":[%s],"journal_bytes":[%s]}\n' \
  "$(cat "$dir/queries" 2>/dev/null || echo 0)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$walv" "$jrnv"

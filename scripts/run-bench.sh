#!/usr/bin/env bash
# run-bench.sh BUILD -- runs every benchmark of bench/ and collects their
# JSON lines in bench-out/results.jsonl. Figures, not pass/fail.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
mkdir -p bench-out
out=bench-out/results.jsonl
: >"$out"
for b in bench_capture bench_sink_apply bench_ingest bench_query bench_rss; do
  echo "== $b"
  "$build/bench/$b" | tee "bench-out/$b.log"
  tail -n 1 "bench-out/$b.log" >>"$out"
done
echo "== all figures: $out"
cat "$out"

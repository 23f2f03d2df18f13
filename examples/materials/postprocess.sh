#!/bin/sh
# postprocess.sh -- the demo's plain command-line step: a shell and awk
# post-processing of a model's validation predictions (no Python, no mida).
#
#   sh postprocess.sh PREDICTIONS.csv OUT_DIR
#
# Reads index,energy,predicted lines; writes OUT_DIR/summary.txt (count,
# mean absolute error, root mean square error, largest error) and
# OUT_DIR/candidates.csv (the five structures predicted most stable, i.e.
# with the lowest predicted energy). Under `mida run` its processes and
# the files they read and write are recorded by the preload library.
set -eu
predictions=$1
out=$2
mkdir -p "$out"
awk -F, 'NR > 1 {
    e = $3 - $2; n++; abs += (e < 0 ? -e : e); sq += e * e
    if ((e < 0 ? -e : e) > worst) worst = (e < 0 ? -e : e)
  }
  END {
    if (n == 0) { print "no predictions" > "/dev/stderr"; exit 1 }
    printf "structures %d\nmae %.6f\nrmse %.6f\nmax_abs_error %.6f\n",
           n, abs / n, sqrt(sq / n), worst
  }' "$predictions" >"$out/summary.txt"
{
  echo "index,energy,predicted"
  tail -n +2 "$predictions" | sort -t, -k3,3g | head -n 5
} >"$out/candidates.csv"
cat "$out/summary.txt"

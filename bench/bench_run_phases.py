"""bench_run_phases.py -- where `mida run`'s time goes around a command:
its start (until the command runs), the command itself, and its end
(from the command's last instant until `mida run` returns), for the file
workloads of bench_preload.py (issue 14).

bench_preload.py times each run whole; on this project's 2-core VM its
three rounds do not resolve a change of a few milliseconds (`tar c` of
0.06 s ranged over +32..+171 % in one run), while a change of `mida
run`'s start or end moves only that phase. Here each workload runs as

    sh -c 'date +%s%N >START; CMD; s=$?; date +%s%N >END; exit $s'

plain and under `mida run` (and under BENCH_RUN_BEFORE=OTHER_BUILD's,
"before"), in alternated, shuffled rounds on a fresh file system
(fresh_fs.py), and prints for each configuration the medians and ranges
of: start = the first stamp less the launch, command = between the
stamps, end = the return less the last stamp; and the same less plain's
(the wrapper's own sh and date cost both alike). The detached `mida
recover` of each run is awaited outside the timing, as in
bench_preload.py.

    python3 bench/bench_run_phases.py [BUILD [ROUNDS]]

BENCH_RUN_ONLY=TEXT runs the workloads whose name contains TEXT (default:
every file workload but make). Prints a table and a final JSON line."""

import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import time

import bench_args
import bench_preload as bp

WRAPPER = ('date +%s%N >"$0.start"; "$@"; s=$?; date +%s%N >"$0.end"; '
           'exit $s')


def run_once(mida, cmd, base, env):
    """(start, command, end) of one run in seconds: cmd under mida's `mida
    run` (plain when mida is None), wrapped in WRAPPER."""
    stamp = base / "stamp"
    wrapped = ["sh", "-c", WRAPPER, str(stamp), *cmd]
    if mida is not None:
        wrapped = [mida, "--store", str(base / "run.db"), "run", "--",
                   *wrapped]
    launched = time.time_ns()
    r = subprocess.run(wrapped, env=env, cwd=base, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    returned = time.time_ns()
    if r.returncode != 0:
        sys.exit(f"{wrapped[:6]} failed: {r.stderr.decode()[-2000:]}")
    first = int((base / "stamp.start").read_text())
    last = int((base / "stamp.end").read_text())
    if mida is not None:
        bp.wait_detached(base / "run.db.spool")
    return ((first - launched) / 1e9, (last - first) / 1e9,
            (returned - last) / 1e9)


def time_phases(confs, cmd, setup, base, rounds, shuffle, env):
    """The phases of each configuration's runs: {conf: [(s, c, e), ...]}."""
    runs = {c: [] for c in confs}
    for _ in range(rounds):
        order = list(confs)
        shuffle.shuffle(order)
        for conf in order:
            setup()
            for p in base.glob("run.db*"):
                bp.set_aside(p)
            bp.settle(base)
            runs[conf].append(run_once(confs[conf], cmd, base, env))
    return runs


def main():
    usage = "[BUILD [ROUNDS]]"
    build = bench_args.build_dir(__doc__, usage)
    rounds = bench_args.count(usage, 2, 15)
    bench_args.no_more(usage, 2)
    confs = {"plain": None, "mida run": str(build / "src" / "cli" / "mida")}
    before = os.environ.get("BENCH_RUN_BEFORE")
    if before:
        confs["before"] = str(pathlib.Path(before).resolve() / "src" /
                              "cli" / "mida")
    only = os.environ.get("BENCH_RUN_ONLY", "").lower()
    every = [w[0] for w in bp.workloads(build, pathlib.Path("."))
             if not w[0].startswith("make") and w[0] != bp.SHORT_PROCESSES]
    chosen = [n for n in every if only in n.lower()]
    if not chosen:
        sys.exit("BENCH_RUN_ONLY=%r names no workload; they are: %s"
                 % (only, "; ".join(every)))
    env = bp.plain_env()
    shuffle = random.Random(os.environ.get("BENCH_RUN_SEED", "1"))
    summary = {}
    for name in chosen:
        with bp.prepared(build, name, "mida-bench-phases-") as (
                base, cmd, setup, what):
            if name == chosen[0]:
                print(f"{rounds} rounds, each workload on {what}", flush=True)
            runs = time_phases(confs, cmd, setup, base, rounds, shuffle, env)
        summary[name] = {}
        plain = [statistics.median(x[i] for x in runs["plain"])
                 for i in range(3)]
        for conf, v in runs.items():
            med = [statistics.median(x[i] for x in v) for i in range(3)]
            lo = [min(x[i] for x in v) for i in range(3)]
            hi = [max(x[i] for x in v) for i in range(3)]
            cells = []
            for i, phase in enumerate(("start", "command", "end")):
                cell = (f"{phase} {1e3 * med[i]:7.2f} ms "
                        f"[{1e3 * lo[i]:.1f}..{1e3 * hi[i]:.1f}]")
                if conf != "plain":
                    cell += f" ({1e3 * (med[i] - plain[i]):+.2f})"
                cells.append(cell)
            print(f"{name:32s} {conf:9s} " + "  ".join(cells), flush=True)
            summary[name][conf] = {
                f"{p}_ms": round(1e3 * med[i], 2)
                for i, p in enumerate(("start", "command", "end"))}
    print(json.dumps({"bench": "run_phases", "rounds": rounds,
                      "workloads": summary}))


if __name__ == "__main__":
    main()

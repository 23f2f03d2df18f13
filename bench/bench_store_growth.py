"""What one `mida run -- tar c` of 10,000 small files costs as the SQLite
store it writes to grows (issue 17: a cost that grows with the store where
it should not is a defect).

Every run of the same tar over the same unchanged tree links the same
10,000 file versions (data ids "inode:dev:ino:mtime:size") to a new task,
so each new link lands beside the earlier runs' links to that file in
every index keyed by the data id, rather than at the end of one.

The bench builds the tree (100 directories of 100 files, as
bench_preload.py's), then runs `mida run --store sqlite://STORE -- tar cf
OUT -C BASE tree` RUNS times into one store (default 63), each after a
plain `tar cf` of the same tree, and gives, at each of the points AT
(default 0, 10, 30, 60 earlier runs, each the median of the WINDOW runs
from there, default 3): the wall time of `mida run` and of the plain tar
before it, the CPU time (user + system) of `mida run` and its children,
the bytes it wrote to disk (getrusage's ru_oublock less the plain tar's:
the WAL, the checkpoint's copy into the database, the spool) and the
store's size. A fresh store's run is timed beside each point too
("new"), so a busy moment of the shared machine shows in both.

    python3 bench/bench_store_growth.py BUILD [RUNS]

Where strace is installed, one more run at each point, before the timed
ones, goes under `strace -f --seccomp-bpf -e trace=pread64,pwrite64`
(not timed; the earlier runs printed count these too): the WAL frames
it wrote (the WAL's pwrite bytes over 4,120, a frame's header and page),
the pages the checkpoints wrote into the database, and the pages read
back from the database and the WAL.

BENCH_GROWTH_AT=0,10,30,60 and BENCH_GROWTH_WINDOW=3 change the points;
BENCH_KEEP=1 keeps the scratch directory (its store then serves later
experiments). Prints a table and a final JSON line."""

import json
import os
import pathlib
import re
import resource
import atexit
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import bench_args

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from bench_preload import make_tree  # noqa: E402


def scratch_dir(**kw):
    """A temporary directory, removed at exit unless BENCH_KEEP=1."""
    d = tempfile.mkdtemp(**kw)
    if os.environ.get("BENCH_KEEP") != "1":
        atexit.register(shutil.rmtree, d, True)
    return d


def timed(cmd, env):
    """(wall s, CPU s, bytes written) of cmd and the children it waited
    for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{cmd[:4]} failed: {r.stderr.decode()[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime +
           after.ru_stime - before.ru_stime)
    written = 512 * (after.ru_oublock - before.ru_oublock)
    return dt, cpu, written


def traced_io(cmd, env, store):
    """The WAL frames written, the database pages written and the pages
    read (database, WAL) by cmd, from strace; None without strace."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    log = store.parent / "strace.txt"
    r = subprocess.run([strace, "-f", "--seccomp-bpf", "-y", "-o", str(log),
                        "-e", "trace=pread64,pwrite64", *cmd], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:  # an strace without --seccomp-bpf, say
        print(f"traced run failed: {r.stderr.decode()[-500:]}",
              file=sys.stderr)
        log.unlink(missing_ok=True)
        return None
    wal, db = str(store) + "-wal", str(store)
    io = {"wal_frames": 0, "db_pages_written": 0, "db_pages_read": 0,
          "wal_pages_read": 0}
    for line in log.read_text().splitlines():
        m = re.search(r"(pread64|pwrite64)\(\d+<([^>]*)>.*\) = (\d+)$",
                      line)
        if m is None:
            continue
        call, name, n = m.group(1), m.group(2), int(m.group(3))
        if name == wal and call == "pwrite64":
            io["wal_frames"] += n
        elif name == wal:
            io["wal_pages_read"] += n
        elif name == db and call == "pwrite64":
            io["db_pages_written"] += n
        elif name == db:
            io["db_pages_read"] += n
    log.unlink()
    io["wal_frames"] //= 4096 + 24
    for k in ("db_pages_written", "db_pages_read", "wal_pages_read"):
        io[k] //= 4096
    return io


def remove_store(path):
    for p in path.parent.glob(path.name + "*"):
        if p.is_dir():
            for q in p.iterdir():
                q.unlink()
            p.rmdir()
        else:
            p.unlink()


def main():
    usage = "[BUILD [RUNS]]"
    build = bench_args.build_dir(__doc__, usage)
    runs = bench_args.count(usage, 2, 63)
    bench_args.no_more(usage, 2)
    at = [int(x) for x in
          os.environ.get("BENCH_GROWTH_AT", "0,10,30,60").split(",")]
    window = int(os.environ.get("BENCH_GROWTH_WINDOW", "3"))
    if max(at) + window > runs:
        sys.exit(f"RUNS ({runs}) must reach the last point ({max(at)}) "
                 f"plus the window ({window})")
    mida = str(build / "src" / "cli" / "mida")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MIDA_") and k != "LD_PRELOAD"}
    base = pathlib.Path(scratch_dir(prefix="mida-bench-growth-"))
    make_tree(base / "tree")
    out = base / "out.tar"
    tar = ["tar", "cf", str(out), "-C", str(base), "tree"]
    store = base / "grown.db"
    fresh = base / "new.db"
    rows = []
    traced = {}
    for i in range(runs):
        if i in at:
            out.unlink(missing_ok=True)
            traced[i] = traced_io([mida, "run", "--store",
                                   f"sqlite://{store}", "--", *tar], env,
                                  store)
        out.unlink(missing_ok=True)
        plain = timed(tar, env)
        out.unlink(missing_ok=True)
        grown = timed([mida, "run", "--store", f"sqlite://{store}", "--",
                       *tar], env)
        row = {"earlier": i, "plain": plain, "grown": grown,
               "store_bytes": store.stat().st_size}
        if any(a <= i < a + window for a in at):
            remove_store(fresh)
            out.unlink(missing_ok=True)
            row["new"] = timed([mida, "run", "--store", f"sqlite://{fresh}",
                                "--", *tar], env)
        rows.append(row)
    remove_store(fresh)
    points = []
    print(f"{'earlier runs':>12} {'plain':>8} {'mida run':>9} {'new store':>9}"
          f" {'CPU':>7} {'written':>10} {'store':>9} {'WAL fr':>7}"
          f" {'db wr':>7} {'db rd':>7} {'WAL rd':>7}")
    for a in at:
        w = rows[a:a + window]

        def med(f):
            return statistics.median(f(r) for r in w)
        p = {"earlier": a + sum(1 for t in traced if t <= a),
             "plain_s": med(lambda r: r["plain"][0]),
             "mida_run_s": med(lambda r: r["grown"][0]),
             "new_store_s": med(lambda r: r["new"][0]),
             "mida_run_cpu_s": med(lambda r: r["grown"][1]),
             "written_mb": med(lambda r: (r["grown"][2] - r["plain"][2])
                               / 1e6),
             "new_store_written_mb": med(lambda r: (r["new"][2] -
                                                     r["plain"][2]) / 1e6),
             "store_mb": w[-1]["store_bytes"] / 1e6}
        if traced.get(a):
            p.update(traced[a])
        points.append(p)
        io = traced.get(a) or {}
        pages = " ".join(f"{io.get(k, '-'):>7}" for k in (
            "wal_frames", "db_pages_written", "db_pages_read",
            "wal_pages_read"))
        print(f"{p['earlier']:12d} {p['plain_s']:7.3f}s"
              f" {p['mida_run_s']:8.3f}s {p['new_store_s']:8.3f}s"
              f" {p['mida_run_cpu_s']:6.3f}s {p['written_mb']:8.1f}MB"
              f" {p['store_mb']:7.1f}MB {pages}", flush=True)
    print(json.dumps({"bench": "store_growth", "files": 10000,
                      "runs": runs, "window": window,
                      "load": os.getloadavg()[0], "points": points}))


if __name__ == "__main__":
    main()

"""What `mida run`'s file and process capture (libmida_preload.so) costs
(issue 14), against the plain run and against strace, on these workloads:

- make -j2 of this project (the ~40 sources of its core, capture, sink,
  telemetry and api layers, -O2 -g, into libmida.a, through a generated
  Makefile);
- tar create, and tar extract, of 10,000 small files in 100 directories;
- cp -r of that tree;
- a Python script that reads each of those 10,000 files and writes a copy;
- and, outside the budget's geometric mean, a shell that starts 1,000
  short processes (/bin/true): what each process costs.

Each workload runs plain, under `mida run` (the library in LD_PRELOAD, a
fresh SQLite store, everything committed before `mida run` exits; the
copy-back into one synced file that it leaves to a detached `mida
recover` is awaited outside the timing, as a query awaits it), under
`mida run --detach-ship` (what is left to ship when the command ends is
shipped by a detached `mida recover` after `mida run` has returned, whose
end is awaited outside the timing, as a reader of the store awaits it),
under
the library alone (LD_PRELOAD with a spool, nothing shipped: the
library's own share), under `strace -f -e trace=%file,%process -o
/dev/null`, and plain again while another process keeps a second CPU busy
("busy core": what any work running beside the command, as `mida run`'s
shipper does, costs it on this machine; a VM's CPUs may share a core). The
configurations alternate within each round, in an order shuffled afresh
each round (seed BENCH_PRELOAD_SEED, default 1, printed), so that neither
a busy moment of a shared machine nor the one before it (a file system
still writing back the last run's files) falls on one configuration more
than another (and what a run wrote is moved aside, not removed, until the
end: see set_aside); figures are medians of ROUNDS rounds with their
range (three times as many for a workload under half a second, strace
only in the first ROUNDS), and the ratios are taken within each round.
Each workload runs on a file system made for it just before (a fresh ext4
on a loop device, as root; fresh_fs.py), so that what ran on the machine
before, a million inodes freed by an earlier experiment say, does not
slow its files down (the first line printed says which), and the file
system is synced before each run.
Beside the
wall time, the CPU time (user + system) of each command and the children
it waited for is given: on a loaded machine it is the steadier figure (the
detached recover of `--detach-ship` is not counted there). Then
bench_preload_calls gives the cost of one open+close and one 4 KiB read.

    python3 bench/bench_preload.py BUILD [ROUNDS]

With BENCH_PRELOAD_BEFORE=OTHER_BUILD, that build's `mida run` is timed
too ("before"), and its library alone ("library before"), for a comparison
within the same run. BENCH_PRELOAD_ONLY=TEXT runs only the workloads whose
name contains TEXT, in any case (say "tar create"); one that names none is
an error that lists them.

Prints a table and a final JSON line."""

import contextlib
import fcntl
import json
import os
import pathlib
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time

import bench_args
import fresh_fs


ROOT = pathlib.Path(__file__).resolve().parents[1]


def load():
    return os.getloadavg()[0]


# Where set_aside() moves spent outputs (made in main), and how many so far.
SPENT = {"dir": None, "count": 0}


def set_aside(path):
    """Moves what a run left at path out of the way, into a directory
    removed only when the bench ends. On ext4 without a journal (this
    project's VM) a new inode is searched for past every inode freed in
    the last minute: removing a run's 10,000 files before the next run
    made that run create its files 10-30 times slower (0.4 s in a first
    round, 12 s in the next), whatever was being timed."""
    path = pathlib.Path(path)
    if not path.exists() and not path.is_symlink():
        return
    SPENT["count"] += 1
    path.rename(SPENT["dir"] / f"{SPENT['count']}-{path.name}")


def settle(path):
    """Writes back what the runs before left dirty on path's file system
    (syncfs), so that no run pays for the writeback of the one before: on
    a fresh file system the wall ranges of single rounds still spanned
    -30 % to +180 % without it (2026-12-03)."""
    subprocess.run(["sync", "-f", str(path)], check=False)


def make_tree(root, files=10000, dirs=100):
    for d in range(dirs):
        sub = root / f"d{d:03d}"
        sub.mkdir(parents=True)
        for f in range(files // dirs):
            n = 100 + (d * 37 + f * 11) % 900
            (sub / f"f{f:03d}.txt").write_bytes(
                (f"{d}/{f} " * (n // 8 + 1)).encode()[:n])


def project_makefile(build, work):
    """A Makefile that builds libmida.a from this project's sources with
    make: the core, capture, sink, telemetry and api layers."""
    srcs = []
    for d in ("core", "capture", "sink", "telemetry", "api"):
        srcs += sorted(str(p) for p in (ROOT / "src" / d).glob("*.c")
                       if not p.name.endswith("_test.c"))
    cflags = " ".join(subprocess.run(
        ["pkg-config", "--cflags", "sqlite3", "libpq", "hiredis", "libnats",
         "libmosquitto"], capture_output=True, text=True).stdout.split())
    objs = [f"o/{pathlib.Path(s).parent.name}_{pathlib.Path(s).stem}.o"
            for s in srcs]
    rules = []
    for s, o in zip(srcs, objs):
        rules.append(f"{o}: {s}\n\t$(CC) $(CFLAGS) -c {s} -o {o}\n")
    text = (f"CFLAGS = -O2 -g -std=c11 -D_GNU_SOURCE -fPIC "
            f"-I{ROOT}/include -I{ROOT}/src -I{build} {cflags} -pthread\n"
            f"libmida.a: {' '.join(objs)}\n\tar rcs $@ $^\n"
            + "".join(rules))
    (work / "Makefile").write_text(text)


def make_inputs(build, base):
    """The workloads' inputs, made in base: the tree of 10,000 files, its
    tarball, the Makefile and the Python script."""
    tree = base / "tree"
    make_tree(tree)
    proj = base / "proj"
    proj.mkdir()
    project_makefile(build, proj)
    py = base / "rw.py"
    py.write_text(
        "import os, sys\n"
        "src, dst = sys.argv[1], sys.argv[2]\n"
        "for d in sorted(os.listdir(src)):\n"
        "    os.makedirs(os.path.join(dst, d))\n"
        "    for f in sorted(os.listdir(os.path.join(src, d))):\n"
        "        with open(os.path.join(src, d, f), 'rb') as i:\n"
        "            data = i.read()\n"
        "        with open(os.path.join(dst, d, f), 'wb') as o:\n"
        "            o.write(data)\n")
    subprocess.run(["tar", "-cf", str(base / "tree.tar"), "-C", str(base),
                    "tree"], check=True)


def workloads(build, base):
    """(name, command, setup before each run) of each workload, on the
    inputs make_inputs made in base (nothing is made here)."""
    tree = base / "tree"
    proj = base / "proj"
    py = base / "rw.py"
    tarball = base / "tree.tar"
    return [
        # name, command, setup before each run (in base)
        ("make -j2 (this project, -O2)",
         ["make", "-s", "-j2", "-C", str(proj), "libmida.a"],
         lambda: (set_aside(proj / "o"),
                  (proj / "o").mkdir(), (proj / "libmida.a").unlink(
                      missing_ok=True))),
        ("tar create, 10,000 files",
         ["tar", "-cf", str(base / "out.tar"), "-C", str(base), "tree"],
         lambda: set_aside(base / "out.tar")),
        ("tar extract, 10,000 files",
         ["tar", "-xf", str(tarball), "-C", str(base / "x")],
         lambda: (set_aside(base / "x"), (base / "x").mkdir())),
        ("cp -r, 10,000 files",
         ["cp", "-r", str(tree), str(base / "copy")],
         lambda: set_aside(base / "copy")),
        ("python read+write, 10,000 files",
         [sys.executable, str(py), str(tree), str(base / "pyout")],
         lambda: set_aside(base / "pyout")),
        (SHORT_PROCESSES,
         ["sh", "-c", "i=0; while [ $i -lt 1000 ]; do /bin/true;"
          " i=$((i+1)); done"],
         lambda: None),
    ]


@contextlib.contextmanager
def prepared(build, name, prefix):
    """A file system made for workload `name` (fresh_fs.py) with the
    workloads' inputs in it, and set_aside() moving spent outputs within
    it: yields (base, command, setup before each run, what the file
    system is)."""
    with fresh_fs.mounted(prefix) as (fs, what):
        base = pathlib.Path(fs)
        SPENT["dir"] = base / "spent"
        SPENT["dir"].mkdir()
        make_inputs(build, base)
        cmd, setup = next((c, s) for n, c, s in workloads(build, base)
                          if n == name)
        yield base, cmd, setup, what


def plain_env():
    """This process's environment without mida's variables and
    LD_PRELOAD, for the commands timed."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("MIDA_") and k != "LD_PRELOAD"}


# What each process costs (the library's start and exit, its journal
# segment, the collector's shipping of its records): a shell starting
# 1,000 short programs. Not one of issue 14's workloads, so not in the
# geometric mean of its budget.
SHORT_PROCESSES = "sh, 1,000 short processes"


CPU_SPENT = []  # CPU seconds (user + system) of each timed() command

# A workload whose first plain run took less than SHORT_S seconds (`tar c`,
# ~0.13 s) gets SHORT_ROUNDS times the rounds, strace only in the first
# ones (it takes ~20 s there): one slow plain run of three moved its
# median ratio by tens of percent (-70 % to +75 % in one run).
SHORT_S = 0.5
SHORT_ROUNDS = 3


def timed(cmd, env, cwd):
    """Wall seconds of cmd; its CPU seconds (it and the children it waited
    for) go to CPU_SPENT: a figure a loaded machine disturbs less."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SPENT.append(after.ru_utime - before.ru_utime +
                     after.ru_stime - before.ru_stime)
    if r.returncode != 0:
        sys.exit(f"{cmd[:4]} failed: {r.stderr.decode()[-2000:]}")
    return dt


def busy_core():
    """A process that keeps one CPU busy until it is killed, or None on a
    machine with a single CPU."""
    if (os.cpu_count() or 1) < 2:
        return None
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.05)  # running before the command starts
    return spinner


def wait_detached(spool):
    """Waits for the `mida recover` that `mida run` left behind to end (it
    is not a child of ours; it holds the spool's shipping lock shared until
    it ends, src/capture/ship_lock.h): the next run removes the store."""
    try:
        fd = os.open(spool / "shipping.lock", os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def time_workload(cmd, setup, base, tools, rounds, shuffle, loads):
    """Runs cmd in each configuration, ROUNDS rounds (more for a short
    workload), in base; returns the wall and the CPU seconds of each
    configuration's runs. tools: the programs and environment each
    configuration runs with (main)."""
    mida, before, lib, before_lib, strace, env = (
        tools["mida"], tools["before"], tools["lib"], tools["before_lib"],
        tools["strace"], tools["env"])
    times = {"plain": [], "mida run": [], "store there": [], "detach-ship": [],
             "library": [], "strace": [], "busy core": []}
    if before:
        times["before"] = []
        times["library before"] = []
    cpus = {conf: [] for conf in times}
    wrounds = rounds
    r = 0
    while r < wrounds:
        order = list(times)
        shuffle.shuffle(order)
        if r >= rounds:  # an extra round of a short workload
            order.remove("strace")
        for conf in order:
            setup()
            store = base / "run.db"
            for p in base.glob("run.db*"):
                set_aside(p)
            spool = base / "lib.spool"
            set_aside(spool)
            settle(base)
            loads.append(load())
            if conf == "plain":
                t = timed(cmd, env, base)
            elif conf == "mida run":
                t = timed([mida, "--store", str(store), "run", "--",
                           *cmd], env, base)
                # Its store's copy-back, left to a detached recover
                # (src/cli/run_after.h), out of the timing but not in
                # the next configuration's.
                wait_detached(base / "run.db.spool")
            elif conf == "store there":
                # The store a first run made, out of the timing.
                subprocess.run([mida, "--store", str(store), "run", "--",
                                "true"], env=env, cwd=base, check=True,
                               stdout=subprocess.DEVNULL)
                wait_detached(base / "run.db.spool")
                settle(base)
                t = timed([mida, "--store", str(store), "run", "--",
                           *cmd], env, base)
                wait_detached(base / "run.db.spool")
            elif conf == "before":
                t = timed([before, "--store", str(store), "run",
                           "--", *cmd], env, base)
                wait_detached(base / "run.db.spool")
            elif conf == "detach-ship":
                t = timed([mida, "--store", str(store), "run",
                           "--detach-ship", "--", *cmd], env, base)
                wait_detached(base / "run.db.spool")
            elif conf in ("library", "library before"):
                t = timed(cmd, dict(
                    env, MIDA_PRELOAD_SPOOL=str(spool),
                    LD_PRELOAD=lib if conf == "library"
                    else before_lib), base)
            elif conf == "busy core":
                spinner = busy_core()
                if spinner is None:
                    continue
                try:
                    t = timed(cmd, env, base)
                finally:
                    spinner.kill()
                    spinner.wait()
            elif strace:
                t = timed([strace, "-f", "-e",
                           "trace=%file,%process", "-o",
                           "/dev/null", *cmd], env, base)
            else:
                continue
            times[conf].append(t)
            cpus[conf].append(CPU_SPENT[-1])
        r += 1
        if r == 1 and times["plain"][0] < SHORT_S:
            wrounds = rounds * SHORT_ROUNDS
    return times, cpus


def time_calls(build, base, tools, rounds):
    """The cost of one open+close and one 4 KiB read (bench_preload_calls),
    plain, under the library, and once under `mida run`; prints a row each
    and returns the figures."""
    mida, before, lib, before_lib, env = (
        tools["mida"], tools["before"], tools["lib"], tools["before_lib"],
        tools["env"])
    calls = build / "bench" / "bench_preload_calls"
    micro = {}
    confs = ["plain", "library"] + (["library before"] if before else [])
    per = {c: [] for c in confs}
    for r in range(rounds):
        for conf in confs:
            work = base / f"calls-{r}-{conf.replace(' ', '')}"
            work.mkdir()
            spool = base / "calls.spool"
            shutil.rmtree(spool, ignore_errors=True)
            e = env if conf == "plain" else dict(
                env, MIDA_PRELOAD_SPOOL=str(spool),
                LD_PRELOAD=lib if conf == "library" else before_lib)
            out = subprocess.run([str(calls), str(work), "20000"], env=e,
                                 capture_output=True, text=True,
                                 check=True).stdout
            per[conf].append(json.loads(out.strip().splitlines()[-1]))
    work = base / "calls-midarun"
    work.mkdir()
    out = subprocess.run([mida, "--store", str(base / "calls.db"), "run",
                          "--", str(calls), str(work), "20000"], env=env,
                         capture_output=True, text=True,
                         check=True).stdout
    wait_detached(base / "calls.db.spool")  # before the unmount
    micro["mida run"] = json.loads(out.strip().splitlines()[-1])
    for conf in confs:
        micro[conf] = {k: statistics.median(x[k]["median"]
                                            for x in per[conf])
                       for k in ("open_close_ns", "read4k_ns")}
    for k in ("open_close_ns", "read4k_ns"):
        p = micro["plain"][k]
        row = [f"{k:14s} plain {p:8.0f} ns"]
        for conf in confs[1:]:
            # Differences within each round, then their median.
            d = [x[k]["median"] - y[k]["median"]
                 for x, y in zip(per[conf], per["plain"])]
            row.append(f"{conf} +{statistics.median(d):.0f} ns"
                       f" [{min(d):+.0f}..{max(d):+.0f}]")
            micro[conf][k + "_added"] = round(statistics.median(d), 1)
        m = micro["mida run"][k]["median"]
        row.append(f"under mida run {m:8.0f} ns (one run)")
        print("  ".join(row), flush=True)
    return micro


def main():
    usage = "[BUILD [ROUNDS]]"
    build = bench_args.build_dir(__doc__, usage)
    rounds = bench_args.count(usage, 2, 3)
    bench_args.no_more(usage, 2)
    mida = str(build / "src" / "cli" / "mida")
    # BENCH_PRELOAD_BEFORE=OTHER_BUILD: that build's `mida run` too, as
    # "before" (a same-run comparison with an earlier version).
    before = os.environ.get("BENCH_PRELOAD_BEFORE")
    before_lib = None
    if before:
        before_lib = str(pathlib.Path(before).resolve() / "src" / "preload" /
                         "libmida_preload.so")
        before = str(pathlib.Path(before).resolve() / "src" / "cli" / "mida")
    only = os.environ.get("BENCH_PRELOAD_ONLY", "").lower()
    lib = str(build / "src" / "preload" / "libmida_preload.so")
    strace = shutil.which("strace")
    env = plain_env()
    seed = os.environ.get("BENCH_PRELOAD_SEED", "1")
    shuffle = random.Random(seed)
    print(f"configurations in a shuffled order each round (seed {seed})",
          flush=True)
    tools = {"mida": mida, "before": before, "lib": lib,
             "before_lib": before_lib, "strace": strace, "env": env}
    results = {}
    cpu_results = {}
    loads = []
    # The names only: workloads() makes nothing in the directory it is given.
    every = [w[0] for w in workloads(build, pathlib.Path("."))]
    chosen = [n for n in every if only in n.lower()]
    if not chosen:
        sys.exit("BENCH_PRELOAD_ONLY=%r names no workload; they are: %s"
                 % (only, "; ".join(every)))
    for name in chosen:
        # Each workload on a file system made for it (fresh_fs.py).
        with prepared(build, name, "mida-bench-preload-") as (
                base, cmd, setup, what):
            if name == chosen[0]:
                print(f"each workload on {what}", flush=True)
            times, cpus = time_workload(cmd, setup, base, tools, rounds,
                                        shuffle, loads)
        results[name] = times
        cpu_results[name] = cpus
        plain = times["plain"]
        row = [f"{name:34s}", f"plain {statistics.median(plain):6.2f}s"]
        for conf in ("mida run", "store there", "detach-ship", "library",
                     "strace", "busy core", "before", "library before"):
            if times.get(conf):  # strace's rounds are the first ones
                ratios = [t / p for t, p in zip(times[conf], plain)]
                row.append(f"{conf} {100 * (statistics.median(ratios) - 1):+6.1f}%"
                           f" [{100 * (min(ratios) - 1):+.1f}..{100 * (max(ratios) - 1):+.1f}]")
        print("  ".join(row), flush=True)
        cplain = cpus["plain"]
        row = [f"{'  CPU (user+sys)':34s}",
               f"plain {statistics.median(cplain):6.2f}s"]
        for conf in ("mida run", "store there", "detach-ship", "library",
                     "strace", "busy core", "before", "library before"):
            if cpus.get(conf):
                ratios = [t / max(p, 1e-3) for t, p in zip(cpus[conf],
                                                           cplain)]
                row.append(f"{conf} {100 * (statistics.median(ratios) - 1):+6.1f}%")
        print("  ".join(row), flush=True)
    with fresh_fs.mounted("mida-bench-calls-") as (fs, what):
        micro = time_calls(build, pathlib.Path(fs), tools, rounds)
    summary = {}
    overheads = []
    there = []
    detached = []
    for name, t in results.items():
        entry = {}
        for conf, v in t.items():
            if not v:
                continue
            entry[conf] = {"median_s": round(statistics.median(v), 3),
                           "min_s": round(min(v), 3),
                           "max_s": round(max(v), 3)}
            if conf != "plain":
                ratios = [a / b for a, b in zip(v, t["plain"])]
                entry[conf]["overhead_pct"] = round(
                    100 * (statistics.median(ratios) - 1), 1)
            c = cpu_results[name][conf]
            entry[conf]["cpu_median_s"] = round(statistics.median(c), 3)
            if conf != "plain":
                ratios = [a / max(b, 1e-3)
                          for a, b in zip(c, cpu_results[name]["plain"])]
                entry[conf]["cpu_overhead_pct"] = round(
                    100 * (statistics.median(ratios) - 1), 1)
        if name != SHORT_PROCESSES:
            overheads.append(entry["mida run"]["overhead_pct"])
            there.append(entry["store there"]["overhead_pct"])
            detached.append(entry["detach-ship"]["overhead_pct"])
        summary[name] = entry

    def geomean(pcts):
        if not pcts:  # BENCH_PRELOAD_ONLY chose none of the budget's
            return float("nan")
        g = 1.0
        for o in pcts:
            g *= 1 + o / 100
        return 100 * (g ** (1 / len(pcts)) - 1)
    gm = geomean(overheads)
    gm_there = geomean(there)
    gm_detached = geomean(detached)
    if overheads:
        print(f"geometric mean overhead of mida run: {gm:+.1f}% "
              f"(budget 5%, none above 15%); into a store that is there "
              f"{gm_there:+.1f}%; with --detach-ship "
              f"{gm_detached:+.1f}%; load {statistics.median(loads):.1f}")
    else:
        print("geometric mean overhead of mida run: none (no workload of "
              "the budget's was run); load "
              f"{statistics.median(loads):.1f}")
    print(json.dumps({"bench": "preload", "rounds": rounds,
                      "workloads": summary,
                      "geomean_overhead_pct": None if gm != gm
                      else round(gm, 1),
                      "geomean_store_there_pct": None
                      if gm_there != gm_there else round(gm_there, 1),
                      "geomean_detach_ship_pct": None
                      if gm_detached != gm_detached
                      else round(gm_detached, 1),
                      "calls": micro, "load_median": round(
                          statistics.median(loads), 2)}))


if __name__ == "__main__":
    main()

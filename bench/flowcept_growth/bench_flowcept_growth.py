"""bench_flowcept_growth.py -- Flowcept 1.0.3's ingest rate and a
steering query's latency as its store grows, beside mida's
bench_key_index (the "Cost as the work grows" figures of
docs/performance.md).

Flowcept's own pipeline, as in bench/flowcept_broker: a producer process
runs a @flowcept_task function inside Flowcept(...), which publishes task
messages to its MQ (a private redis-server on a free port); its consumer
(Flowcept(start_persistence=True), the DocumentInserter) inserts them into
its document database. MongoDB is not available here, so that is its
embedded LMDB backend. Each task is train_step(lr, batch) -> {"loss",
"accuracy"}, lr uniform in [0, 1), the same keys as bench_key_index.

At each size of SIZES (default 10000,30000,100000 tasks) it reports:

  ingest   tasks/s of the chunk that brought the store to the size: its
           tasks over the time from the producer's first task until the
           consumer had stored them all (counted in LMDB; one measure, so
           its min and max are the median);
  top10    the 10 tasks of largest used.lr across all workflows;
  range    the tasks with 0.5 <= used.lr < 0.501, newest first, a page
           of 100;

each query as a steering client asks Flowcept 1.0.3 (its LMDB DAO's
task_query, then sorted and cut in Python: that DAO applies neither sort
nor limit, and its filter reads top-level fields only, so used.lr cannot
be filtered in the store), 3 runs, median with min and max.

usage: bench_flowcept_growth.py [SIZES]   (in Flowcept's venv, made by
bench/flowcept_broker/setup.sh; prints the figures, then one JSON line that
bench/plot_growth.py draws beside mida's)"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from flowcept_lmdb import (count_tasks, free_port, settings,  # noqa: E402
                          start_consumer, start_redis, stop_consumer)

QUERY_RUNS = 3

PRODUCER = r'''
import random, sys, time
from flowcept import Flowcept, flowcept_task

@flowcept_task
def train_step(lr, batch):
    return {"loss": random.random(), "accuracy": random.random()}

n, label, started = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with Flowcept(workflow_name=label, start_persistence=False):
    with open(started, "w") as f:
        f.write(repr(time.time()))
    for i in range(n):
        train_step(random.random(), 16 << random.randrange(4))
'''

QUERY = r'''
import json, sys, time
from flowcept.commons.daos.docdb_dao.lmdb_dao import LMDBDAO

def lr(t):
    v = (t.get("used") or {}).get("lr")
    return v if isinstance(v, (int, float)) else None

def top10(dao):
    docs = dao.task_query(filter={"activity_id": "train_step"})
    have = [t for t in docs if lr(t) is not None]
    return sorted(have, key=lr, reverse=True)[:10]

def range_newest(dao):
    docs = dao.task_query(filter={"activity_id": "train_step"})
    hit = [t for t in docs if lr(t) is not None and 0.5 <= lr(t) < 0.501]
    hit.sort(key=lambda t: t.get("started_at") or 0, reverse=True)
    return hit[:100]

dao = LMDBDAO()
out = {}
for name, q in (("top10", top10), ("range", range_newest)):
    times = []
    for _ in range(int(sys.argv[1])):
        t0 = time.perf_counter()
        rows = q(dao)
        times.append((time.perf_counter() - t0) * 1e3)
    out[name] = {"times_ms": times, "rows": len(rows)}
print(json.dumps(out))
'''


def stat(v):
    v = sorted(v)
    return {"median": round(v[len(v) // 2], 3), "min": round(v[0], 3),
            "max": round(v[-1], 3)}


def grow(tmp, env, have, size):
    """Runs one producer of size - have tasks; returns tasks/s until all
    are stored, or None when the consumer stalls."""
    started = os.path.join(tmp, f"started-{size}")
    prod = subprocess.Popen([sys.executable, "-c", PRODUCER,
                             str(size - have), f"growth-{size}", started],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last, still = -1, 0
    while True:
        time.sleep(0.2)
        n = count_tasks(tmp)
        if n >= size:
            break
        if prod.poll() is not None:
            still = still + 1 if n == last else 0
            if still > 150:  # 30 s without progress after the producer
                return None
        last = n
    t1 = time.time()
    prod.wait()
    with open(started) as f:
        t0 = float(f.read())
    return (size - have) / (t1 - t0)


def main():
    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1
                              else "10000,30000,100000").split(",")]
    tmp = tempfile.mkdtemp(prefix="flowcept-growth-")
    port = free_port()
    redis = start_redis(port, tmp)
    env = dict(os.environ, FLOWCEPT_SETTINGS_PATH=settings(tmp, port))
    consumer = None
    rows = []
    try:
        consumer = start_consumer(env, tmp)
        have = 0
        for size in sizes:
            rate = grow(tmp, env, have, size)
            if rate is None:
                print(f"flowcept: the consumer stalled before {size} tasks")
                break
            have = count_tasks(tmp)
            q = subprocess.run([sys.executable, "-c", QUERY,
                                str(QUERY_RUNS)], env=env, check=True,
                               capture_output=True, text=True)
            qs = json.loads(q.stdout.strip().splitlines()[-1])
            row = {"tasks": have,
                   "ingest_tasks_per_s": {"median": round(rate),
                                          "min": round(rate),
                                          "max": round(rate)},
                   "top10_ms_no_index": stat(qs["top10"]["times_ms"]),
                   "range_ms_no_index": stat(qs["range"]["times_ms"])}
            rows.append(row)
            print(f"flowcept at {have} tasks: ingest {round(rate)} tasks/s; "
                  f"top10 {row['top10_ms_no_index']['median']} ms, range "
                  f"{row['range_ms_no_index']['median']} ms "
                  f"(median of {QUERY_RUNS}), "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        if consumer is not None:
            stop_consumer(consumer, tmp)
        redis.terminate()
        redis.wait()
        subprocess.run(["rm", "-rf", tmp])
    print(json.dumps({"bench": "flowcept_growth", "store": "flowcept-lmdb",
                      "sizes": rows}))


if __name__ == "__main__":
    main()

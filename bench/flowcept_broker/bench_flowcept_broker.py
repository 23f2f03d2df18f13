"""bench_flowcept_broker.py -- Flowcept 1.0.3 with Redis on mida's
multi-node workload, beside bench/bench_broker.py.

Flowcept's own pipeline, set up as its sample settings recommend for
online persistence: producers publish task messages to its MQ (Redis), its
consumer (the DocumentInserter started by Flowcept(start_persistence=True))
inserts them into its document database while the workflows run. MongoDB,
its first choice, is not available here, so the document database is its
embedded LMDB backend (settings databases.lmdb), as in the other Flowcept
comparisons of bench/.

Workload: 4 producer processes x TASKS tasks (@flowcept_task on a function
returning {"ok": True, "i": i}), one consumer. Measured: tasks/s from the
producers' start until the consumer has stored them all (or gave up), and
the records lost when the broker (a private redis-server) is restarted for
2 s midway, producers running at a fixed rate.

usage: bench_flowcept_broker.py [TASKS]   (in Flowcept's venv; prints the
figures, then one JSON line)"""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from flowcept_lmdb import (count_tasks, free_port, settings,  # noqa: E402
                          start_consumer, start_redis, stop_consumer)

HERE = os.path.dirname(os.path.abspath(__file__))
PRODUCERS = 4

PRODUCER = r'''
import os, sys, time
from flowcept import Flowcept, flowcept_task

@flowcept_task
def work(i):
    return {"ok": True, "i": i}

n, label, rate = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
t0 = time.time()
with Flowcept(workflow_name=label, start_persistence=False):
    for i in range(n):
        if rate and i % 100 == 0:
            due = t0 + i / rate
            if due > time.time():
                time.sleep(due - time.time())
        work(i)
'''


def run(tasks, restart=False, rate=0):
    tmp = tempfile.mkdtemp(prefix="flowcept-bench-")
    port = free_port()

    r = start_redis(port, tmp)
    env = dict(os.environ, FLOWCEPT_SETTINGS_PATH=settings(tmp, port))
    consumer = start_consumer(env, tmp, stderr=subprocess.DEVNULL)
    t0 = time.time()
    prods = [subprocess.Popen([sys.executable, "-c", PRODUCER, str(tasks),
                               f"p{i}", str(rate)], env=env,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
             for i in range(PRODUCERS)]
    if restart:
        time.sleep(1.5)
        r.terminate()
        r.wait()
        time.sleep(2)
        r = start_redis(port, tmp)
    hung = 0
    for p in prods:
        try:
            p.wait(timeout=max(1, 180 - (time.time() - t0)))
        except subprocess.TimeoutExpired:  # stuck after the restart
            p.kill()
            p.wait()
            hung += 1
    t_prod = time.time() - t0
    # Let the consumer store what reached it, then stop it (its stop
    # flushes its buffer).
    want = PRODUCERS * tasks
    last, still = -1, 0
    while still < 20:
        time.sleep(0.5)
        try:
            n = count_tasks(tmp)
        except Exception:
            n = 0
        if n >= want:
            break
        still = still + 1 if n == last else 0
        last = n
    t1 = time.time()
    stop_consumer(consumer, tmp)
    r.terminate()
    r.wait()
    n = count_tasks(tmp)
    subprocess.run(["rm", "-rf", tmp])
    return {"tasks": n, "lost": want - n, "seconds": round(t1 - t0, 2),
            "producers_s": round(t_prod, 2), "producers_hung": hung,
            "tasks_per_s": round(n / (t1 - t0))}


def main():
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    a = run(tasks)
    print(f"flowcept redis+lmdb: {a['tasks']} of {PRODUCERS * tasks} tasks "
          f"stored in {a['seconds']} s = {a['tasks_per_s']} tasks/s "
          f"(producers done in {a['producers_s']} s)")
    b = run(tasks, restart=True, rate=10_000)
    print(f"flowcept, redis restarted 1.5 s in for 2 s: {b['tasks']} of "
          f"{PRODUCERS * tasks} stored, {b['lost']} lost; "
          f"{b['producers_hung']} producer(s) hung and were killed")
    print(json.dumps({"bench": "flowcept_broker", "tasks_per_s":
                      a["tasks_per_s"], "stored": a["tasks"],
                      "lost_without_restart": a["lost"],
                      "lost_on_broker_restart": b["lost"],
                      "producers_hung_on_restart": b["producers_hung"],
                      "of": PRODUCERS * tasks}))


if __name__ == "__main__":
    main()

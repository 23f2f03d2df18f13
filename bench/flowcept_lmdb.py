"""flowcept_lmdb.py -- what the Flowcept benchmarks beside mida's share
(bench/flowcept_broker, bench/flowcept_growth): a private redis-server on
a free port for Flowcept's MQ, Flowcept 1.0.3's settings for online
persistence into its embedded LMDB document database (MongoDB, its first
choice, is not available here), and the count of the tasks it stored.
Imported by those scripts from their own venv (flowcept, lmdb, pyyaml)."""

import os
import socket
import subprocess
import sys
import time

import yaml

# Flowcept's consumer (the DocumentInserter that Flowcept(start_persistence
# =True) starts), run as `python -c CONSUMER READY STOP` (start_consumer):
# it makes READY once it listens and stops once STOP exists.
CONSUMER = r'''
import os, sys, time
from flowcept import Flowcept
fc = Flowcept(start_persistence=True, save_workflow=False,
              check_safe_stops=False)
fc.start()
open(sys.argv[1], "w").close()
while not os.path.exists(sys.argv[2]):
    time.sleep(0.1)
fc.stop()
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_redis(port, tmp):
    """A redis-server on 127.0.0.1:port that keeps nothing on disk."""
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind",
                          "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", tmp], stdout=subprocess.DEVNULL)
    wait_port(port)
    return p


def settings(tmp, port):
    """Writes Flowcept's settings file in tmp and returns its path: its
    sample settings with the Redis MQ and KV at port, the LMDB database in
    tmp/lmdb, online flushes, no logs, no telemetry."""
    import flowcept
    sample = os.path.join(os.path.dirname(flowcept.__file__), "..",
                          "resources", "sample_settings.yaml")
    with open(sample) as f:
        cfg = yaml.safe_load(f)
    cfg["project"]["db_flush_mode"] = "online"
    cfg["project"]["debug"] = False
    cfg["mq"].update(type="redis", host="127.0.0.1", port=port,
                     enabled=True)
    cfg["kv_db"].update(host="127.0.0.1", port=port, enabled=True)
    cfg["databases"]["mongodb"]["enabled"] = False
    cfg["databases"]["lmdb"].update(enabled=True,
                                    path=os.path.join(tmp, "lmdb"))
    cfg["log"]["log_file_level"] = "disable"
    cfg["log"]["log_stream_level"] = "disable"
    cfg["telemetry_capture"] = {k: False for k in cfg["telemetry_capture"]}
    cfg["telemetry_capture"]["gpu"] = None
    path = os.path.join(tmp, "settings.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def count_tasks(tmp):
    """The tasks in Flowcept's LMDB database in tmp (0 before it exists)."""
    import lmdb
    try:
        env = lmdb.open(os.path.join(tmp, "lmdb"), readonly=True,
                        lock=False, max_dbs=5)
    except lmdb.Error:
        return 0
    try:
        db = env.open_db(b"tasks", create=False)
        with env.begin(db=db) as txn:
            return txn.stat(db)["entries"]
    except lmdb.Error:
        return 0
    finally:
        env.close()


def start_consumer(env, tmp, stderr=None):
    """Starts Flowcept's consumer with env (its settings) and waits until
    it listens; raises RuntimeError if it ends first. stop_consumer(p,
    tmp) stops it."""
    ready, stop = os.path.join(tmp, "ready"), os.path.join(tmp, "stop")
    p = subprocess.Popen([sys.executable, "-c", CONSUMER, ready, stop],
                         env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    while not os.path.exists(ready):
        if p.poll() is not None:
            raise RuntimeError("Flowcept's consumer did not start")
        time.sleep(0.05)
    return p


def stop_consumer(p, tmp):
    """Asks the consumer that start_consumer started to stop (it flushes
    what it holds), and kills it after 60 s."""
    open(os.path.join(tmp, "stop"), "w").close()
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()

"""bench_broker.py BUILD -- end to end through a broker into PostgreSQL.

Throughput: 4 producer processes x 50,000 tasks (begin + end each, as the
tests) -> broker -> K `mida ingest` consumers -> PostgreSQL, from the start
of the producers until the last task is queryable complete; for Redis
Streams with 1 and 2 consumers, NATS JetStream with 1 and 2, and MQTT
(Mosquitto, QoS 1, shared subscription) with 1 and 2. MIDA_BENCH_BROKERS
(e.g. "mqtt") limits the throughput runs to those brokers.

Latency from task end to queryable: one producer at 5,000 tasks/s for 4 s
through Redis and one consumer; a poller asks PostgreSQL every few
milliseconds how many tasks are complete, and a task's latency is the first
poll that saw it minus its `ended` time (one producer and one consumer keep
the order of arrival that of the ends). Median and p99, in milliseconds;
the polling interval (~2-5 ms) is part of the figure.

The end of a throughput run: through Redis, once the producers have ended
and the consumer group has every entry delivered and acknowledged (XINFO
GROUPS; ingest acknowledges after the commit), then one count confirms
it; through NATS and MQTT, once every producer's workflow is FINISHED (a
look at the few rows of table workflow every 50 ms; a producer ends its
workflow after its tasks, so only the last rounds are still on their way
then), a count(*) every 50 ms until it is complete, at nice 19.

CPU: microseconds of CPU per task of each part, read from /proc at the end
of a throughput run: the consumers, their PostgreSQL backends, the
poller's backend, the broker and the producers. On a machine of few
cores the sum bounds the rate: cores * 1e6 / (sum of the parts) tasks/s.

Private redis-server, nats-server and mosquitto on free ports; a fresh database per
run, dropped afterwards. Prints the figures, then one JSON line. Not a
pass/fail test."""

import json
import os
import pwd
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import bench_args

PG = os.environ.get("MIDA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
PRODUCERS, TASKS = 4, 50_000


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


def cpu_s(pid):
    """CPU seconds (user + system) a live process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def reap(procs, usage):
    """Collects the resource usage of the processes of procs that ended
    (into usage, by pid); returns how many have ended."""
    for p in procs:
        if p.pid not in usage:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                p.returncode = status
                usage[pid] = ru
    return len(usage)


def psql(url, sql):
    return subprocess.run(["psql", url, "-AtqX", "-c", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


class Poller:
    """A long-lived psql reading one query at a time from stdin."""

    def __init__(self, url):
        self.p = subprocess.Popen(["psql", url, "-AtqX"], text=True,
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, bufsize=1)

    def count(self):
        return self._number("SELECT count(*) FROM task WHERE status ="
                            " 'FINISHED'")

    def workflows_finished(self):
        return self._number("SELECT count(*) FROM workflow WHERE status ="
                            " 'FINISHED'")

    def _number(self, sql):
        self.p.stdin.write(sql + ";\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        return int(line) if line.isdigit() else 0

    @property
    def backend_pid(self):
        self.p.stdin.write("SELECT pg_backend_pid();\n")
        self.p.stdin.flush()
        return int(self.p.stdout.readline().strip())

    def close(self):
        self.p.stdin.close()
        self.p.wait()


class RedisGroups:
    """Asks Redis (XINFO GROUPS) whether every entry of a stream was
    delivered to its consumer group and acknowledged: `mida ingest`
    acknowledges a message only after the store committed it, so once the
    producers have ended this means everything is queryable, at the cost of
    one small command instead of a count(*) of the task table."""

    def __init__(self, port, stream):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")
        self.stream = stream.encode()

    def _reply(self):
        line = self.file.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        if kind == b"$":
            if int(rest) < 0:
                return None
            data = self.file.read(int(rest) + 2)[:-2]
            return data.decode()
        if kind == b":":
            return int(rest)
        if kind == b"-":
            raise RuntimeError(rest.decode())
        return rest.decode()

    def all_acknowledged(self):
        self.sock.sendall(b"*3\r\n$5\r\nXINFO\r\n$6\r\nGROUPS\r\n$%d\r\n%s"
                          b"\r\n" % (len(self.stream), self.stream))
        groups = self._reply()
        if not groups:
            return False
        for g in groups:
            info = dict(zip(g[0::2], g[1::2]))
            if info.get("pending") != 0 or info.get("lag") != 0:
                return False
        return True

    def close(self):
        self.sock.close()


def broker(kind, tmp):
    port = free_port()
    if kind == "redis":
        p = subprocess.Popen(["redis-server", "--port", str(port), "--bind",
                              "127.0.0.1", "--save", "", "--appendonly",
                              "no", "--dir", tmp],
                             stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/bench"
    elif kind == "mqtt":
        # As the tests: no cap on a consumer's queue (the default of 1000
        # drops QoS 1 messages for a slow consumer), no persistence.
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\n"
                    f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                    "allow_anonymous true\nmax_queued_messages 0\n"
                    "persistence false\n")
        p = subprocess.Popen(["mosquitto", "-c", conf],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        url = f"mqtt://127.0.0.1:{port}/mida/bench"
    else:
        p = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p",
                              str(port), "-js", "-sd", tmp],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        url = f"nats://127.0.0.1:{port}/bench"
    wait_port(port)
    return p, url


def run(build, kind, consumers, producers=PRODUCERS, tasks=TASKS, rate=0,
        latency=False):
    mida = os.path.join(build, "src", "cli", "mida")
    produce = os.path.join(build, "tests", "mida_produce")
    db = f"mida_bench_{uuid.uuid4().hex[:8]}"
    psql(PG + "/postgres", f"CREATE DATABASE {db}")
    url = f"{PG}/{db}"
    tmp = tempfile.mkdtemp(prefix="mida-bench-")
    bp, burl = broker(kind, tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    procs = []
    try:
        # The schema first, so that the poller can start at once.
        subprocess.run([produce, "0", "schema"], check=True,
                       capture_output=True,
                       env={**env, "MIDA_STORE": url,
                            "MIDA_SPOOL": tmp + "/s0"})
        psql(url, "DELETE FROM workflow")
        for i in range(consumers):
            procs.append(subprocess.Popen(
                [mida, "ingest", "--from", burl, "--to", url, "--name",
                 f"c{i}", "--quiet"], env=env))
        time.sleep(0.5)
        poll = Poller(url)
        # The poller's count(*) scans the whole task table every 50 ms: in
        # throughput runs at the lowest priority, so that it does not take
        # the CPU of the consumers and their backends on a small machine
        # (its own CPU is reported apart).
        poll_pid = poll.backend_pid
        if not latency:
            os.setpriority(os.PRIO_PROCESS, poll_pid, 19)
        want = producers * tasks
        penv = {**env, "MIDA_STORE": burl, "MIDA_SPOOL": tmp + "/spool"}
        if rate:
            penv["MIDA_PRODUCE_RATE"] = str(rate)
        t0 = time.time()
        prods = [subprocess.Popen([produce, str(tasks), f"p{i}"], env=penv,
                                  stdout=subprocess.DEVNULL)
                 for i in range(producers)]
        prod_ru = {}
        samples = []
        n = 0
        # Redis throughput runs: the end is seen in the consumer group; the
        # store is counted once everything was acknowledged.
        groups = (RedisGroups(int(burl.split(":")[2].split("/")[0]),
                              burl.rsplit("/", 1)[1])
                  if kind == "redis" and not latency else None)
        # NATS and MQTT: the store is counted only once every workflow
        # ended, which a count of a table of a few rows tells.
        ended = latency
        while n < want and time.time() - t0 < 300:
            if groups is None and not ended:
                ended = poll.workflows_finished() == producers
            if (groups is None and ended) or (
                    groups is not None and reap(prods, prod_ru) == len(prods)
                    and groups.all_acknowledged()):
                n = poll.count()
                samples.append((time.time(), n))
            if not latency:
                time.sleep(0.05)
        if groups is not None:
            groups.close()
        t1 = time.time()
        # CPU seconds by part, read before anything ends: the consumers,
        # their PostgreSQL backends, the poller's backend, the broker.
        backends = psql(PG + "/postgres",
                        "SELECT pid, application_name FROM pg_stat_activity"
                        f" WHERE datname = '{db}'").split()
        cpu = {"consumers": sum(cpu_s(p.pid) for p in procs),
               "consumer_backends": sum(
                   cpu_s(int(b.split("|")[0])) for b in backends
                   if int(b.split("|")[0]) != poll_pid),
               "poller_backend": cpu_s(poll_pid),
               "broker": cpu_s(bp.pid)}
        while reap(prods, prod_ru) < len(prods):
            time.sleep(0.05)
        cpu["producers"] = sum(ru.ru_utime + ru.ru_stime
                               for ru in prod_ru.values())
        poll.close()
        result = {"tasks": n, "seconds": round(t1 - t0, 3),
                  "tasks_per_s": round(n / (t1 - t0)),
                  "cpu_us_per_task": {k: round(v * 1e6 / max(n, 1), 1)
                                      for k, v in cpu.items()}}
        if latency:
            ended = [int(x) for x in psql(
                url, "SELECT ended FROM task ORDER BY ended").split()]
            lat = []
            k = 0
            for i, e in enumerate(ended):
                while k < len(samples) and samples[k][1] <= i:
                    k += 1
                if k < len(samples):
                    lat.append(samples[k][0] * 1000 - e / 1e6)
            lat.sort()
            result["latency_ms_median"] = round(statistics.median(lat), 1)
            result["latency_ms_p99"] = round(lat[int(0.99 * len(lat))], 1)
            result["polls"] = len(samples)
        return result
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        bp.terminate()
        bp.wait()
        psql(PG + "/postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        if os.environ.get("BENCH_KEEP") != "1":
            subprocess.run(["rm", "-rf", tmp])


def main():
    usage = "[BUILD]"
    build = str(bench_args.build_dir(__doc__, usage))
    bench_args.no_more(usage, 1)
    out = {}
    only = os.environ.get("MIDA_BENCH_BROKERS", "redis,nats,mqtt").split(",")
    for kind, k in (("redis", 1), ("redis", 2), ("nats", 1), ("nats", 2),
                    ("mqtt", 1), ("mqtt", 2)):
        if kind not in only:
            continue
        r = run(build, kind, k)
        out[f"{kind}_{k}c_tasks_per_s"] = r["tasks_per_s"]
        print(f"{kind:5} {k} consumer(s): {r['tasks']} tasks in "
              f"{r['seconds']} s = {r['tasks_per_s']} tasks/s "
              "(4 producers x 50,000, producer start -> queryable)")
        print("      CPU us per task: " + ", ".join(
            f"{part} {us}" for part, us in r["cpu_us_per_task"].items())
            + f"; load {open('/proc/loadavg').read().split()[0]}")
        out[f"{kind}_{k}c_cpu_us_per_task"] = r["cpu_us_per_task"]
    if "redis" not in only:
        print(json.dumps({"bench": "broker", **out}))
        return
    r = run(build, "redis", 1, producers=1, tasks=20_000, rate=5_000,
            latency=True)
    print(f"latency task end -> queryable (redis, 1 consumer, 5,000 tasks/s):"
          f" median {r['latency_ms_median']} ms, p99 {r['latency_ms_p99']}"
          f" ms over {r['tasks']} tasks ({r['polls']} polls)")
    out["latency_ms_median"] = r["latency_ms_median"]
    out["latency_ms_p99"] = r["latency_ms_p99"]
    print(json.dumps({"bench": "broker", **out}))


if __name__ == "__main__":
    main()

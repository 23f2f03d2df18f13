"""bench_flowcept.py -- Flowcept 1.0.3's per-task telemetry capture, timed.

Flowcept's @flowcept_task decorator (flowcept/instrumentation/
flowcept_task.py) calls TelemetryCapture.capture() when a task starts
(telemetry_at_start) and when it ends (telemetry_at_end), and turns both
into dicts (Telemetry.to_dict()) when it sends the task on. This script
times exactly that -- capture() at start, capture() at end, to_dict() of
both -- per task, directly, without the rest of Flowcept's pipeline (which
needs a message queue and MongoDB), so the figure is Flowcept's telemetry
cost alone, comparable with mida's per-task telemetry (bench_telemetry).

Configurations (Flowcept's settings.yaml "telemetry_capture" switches):
  full     cpu, per_cpu, process_info, mem, disk, network (no GPU here);
  process  process_info only (psutil.Process: memory, CPU times, fds,
           connections, open files, I/O, threads, context switches).

Run with the venv made by setup.sh:
  bench-out/flowcept-venv/bin/python bench/flowcept_telemetry/bench_flowcept.py [TASKS]
Prints the figures and a final JSON line.
"""

import json
import os
import statistics
import sys
import tempfile
import time

CONFIGS = {
    "full": {"gpu": None, "cpu": True, "per_cpu": True, "process_info": True,
             "mem": True, "disk": True, "network": True,
             "machine_info": False},
    "process": {"gpu": None, "cpu": False, "per_cpu": False,
                "process_info": True, "mem": False, "disk": False,
                "network": False, "machine_info": False},
}


def percentile(sorted_v, q):
    return sorted_v[min(len(sorted_v) - 1, int(q * len(sorted_v)))]


def main():
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    # Flowcept reads its settings at import: give it a file of ours, with
    # logging off and no services.
    settings = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    settings.write(json.dumps({
        "log": {"log_file_level": "disable", "log_stream_level": "disable"},
        "telemetry_capture": CONFIGS["full"],
        "mq": {"enabled": False}, "kv_db": {"enabled": False},
        "databases": {"mongodb": {"enabled": False},
                      "lmdb": {"enabled": False}},
    }))
    settings.close()
    os.environ["FLOWCEPT_SETTINGS_PATH"] = settings.name
    import flowcept
    from flowcept.flowceptor.telemetry_capture import TelemetryCapture

    out = {"bench": "flowcept_telemetry", "flowcept": flowcept.__version__,
           "tasks": tasks}
    for name, conf in CONFIGS.items():
        cap = TelemetryCapture(conf=conf)
        for _ in range(50):  # warm up (psutil caches, first cpu_percent)
            cap.capture().to_dict()
        lat = []
        for _ in range(tasks):
            t0 = time.perf_counter_ns()
            start = cap.capture()
            end = cap.capture()
            start.to_dict()
            end.to_dict()
            lat.append(time.perf_counter_ns() - t0)
        lat.sort()
        med, p99 = statistics.median(lat), percentile(lat, 0.99)
        print(f"flowcept {flowcept.__version__} {name:8s} per task "
              f"(capture at start + end, to_dict): median {med / 1000:.1f} us,"
              f" p99 {p99 / 1000:.1f} us ({tasks} tasks)")
        out[f"{name}_median_ns"] = int(med)
        out[f"{name}_p99_ns"] = int(p99)
    os.unlink(settings.name)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

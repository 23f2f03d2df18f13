"""Writes tasks into MIDA_STORE one by one, as a running workflow would: task
i has the activity "live-<i>", and once its end is recorded this prints
"<i> <time in ns>". The live tests (test_events.py) and the benchmark
(bench/bench_serve.py) wait for each in the event stream. Nothing here
flushes: the shipper moves records at its own pace, as in a real run. Run
with the build's python/ on PYTHONPATH."""

import sys
import time

import mida


def main():
    n = int(sys.argv[1])
    pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    with mida.workflow("live-test"):
        for i in range(n):
            def body(i=i):
                mida.metric("loss", 1.0 / (i + 1), step=i)
                return {"i": i}
            mida.task(name=f"live-{i}")(body)()
            print(i, time.time_ns(), flush=True)
            time.sleep(pause)


if __name__ == "__main__":
    main()

"""The store of the dashboard's view checks (test_browser_views.py,
browser_views.mjs), written with the mida Python module as a training
script would write it, no hand-made rows:

- workflow "baseline" of campaign "other-study", a task and one whose
  activity and argument are hundreds of characters without a space;
- workflow "sweep" of campaign "paper": "prepare" generates two shard files in sibling
  folders (shards/a/shard-0.npz, shards/b/shard-0.npz: URIs alike but for
  their ends); two "train" runs use them, with lr 0.1 and 0.01 and ten
  points of "loss" each over 0.4 s, so that host telemetry (sampled at
  MIDA_SAMPLE_HZ, GPUs through the fake NVML of MIDA_NVML_LIBRARY) covers
  them. All the tasks begin within a few seconds: their UUIDv7 ids share
  their first 8 hex digits.
- with "step" as argv[2]: workflow "stepper", one task "watched" that logs
  one point of "loss" for each line read on stdin and prints "<i>" once it
  is flushed; it ends at end of input.

- with "grow" as argv[2]: workflow "growing" of campaign "live-a",
  GROW_FIRST tasks "step-<i>" (no dependencies: one column of the graph,
  taller than its box; argv[3] tasks if given), then, for each line read on stdin, one more task
  ("step") or a
  workflow "other" of a new campaign "live-b" ("campaign"); it prints the
  number of tasks written once they are flushed, and ends at end of input.

- with "gaps" as argv[2]: what the views must not cut or misread: 250
  workflows "many-<i>" (more than a page of the overview); workflow
  "gaps" with a task of no activity (begun by id, SUBMITTED), a task
  "nulls" given a=None, b="" (null and an empty string) and returning
  {"acc": None}, and two "tagged" given tag "a,b" and "c" (a comma in a
  value); workflow "crowd" with "long", which runs 4 s (at MIDA_SAMPLE_HZ=1000,
  more than the 5,000 samples a task page reads), and 1,100 tasks within
  it, a second into sampling (more than a page of the telemetry view's
  task spans).

Prints the ids as JSON on its last line ({"train": [...], "prepare": ...}
or {"watched": ...}; "grow": {"workflow": ...} first).

usage: views_workload.py DIR [step|grow [N]|gaps]
"""
import json
import os
import sys
import time

import mida


def sweep(root):
    ids = {"train": []}
    with mida.workflow("baseline", campaign="other-study"):
        mida.task(name="baseline")(lambda: 1)()

        # A name and a value with no place to break them (a generated
        # activity, a hash, a long path): the pages must wrap them.
        @mida.task(name="baseline_" + "x" * 300)
        def long(path):
            ids["long"] = mida.current_task()
        long("/data/" + "y" * 400)
    with mida.workflow("sweep", campaign="paper"):
        @mida.task(name="prepare")
        def prepare():
            ids["prepare"] = mida.current_task()
            paths = []
            for variant in ("a", "b"):
                d = os.path.join(root, "shards", variant)
                os.makedirs(d, exist_ok=True)
                p = os.path.join(d, "shard-0.npz")
                with open(p, "w") as f:
                    f.write(variant)
                mida.data("file://" + p, role="generated", kind="file")
                paths.append(p)
            return {"shards": paths}

        @mida.task(name="train")
        def train(lr, shard):
            ids["train"].append(mida.current_task())
            mida.data("file://" + shard, role="used", kind="file")
            for step in range(10):
                time.sleep(0.04)
                mida.metric("loss", lr * 100 / (step + 3), step=step)
            return {"final_loss": lr * 10}

        shards = prepare()["shards"]
        train(0.1, shards[0])
        train(0.01, shards[1])
    return ids


def stepper():
    with mida.workflow("stepper"):
        @mida.task(name="watched")
        def watched():
            print(json.dumps({"watched": mida.current_task()}), flush=True)
            i = 0
            for _ in sys.stdin:
                mida.metric("loss", 1.0 / (i + 1), step=i)
                mida.flush()
                print(i, flush=True)
                i += 1
        watched()


GROW_FIRST = 24


def grower(first):
    n = 0

    def step():
        nonlocal n
        mida.task(name=f"step-{n}")(lambda: n)()
        n += 1

    with mida.workflow("growing", campaign="live-a") as wf:
        for _ in range(first):
            step()
        mida.flush()
        print(json.dumps({"workflow": wf.id}), flush=True)
        for line in sys.stdin:
            if line.strip() == "campaign":
                with mida.workflow("other", campaign="live-b"):
                    mida.task(name="other")(lambda: 1)()
            else:
                step()
            mida.flush()
            print(n, flush=True)


def gaps():
    for i in range(250):
        with mida.workflow(f"many-{i:03d}"):
            pass
    ids = {}
    with mida.workflow("gaps") as wf:
        ids["gaps"] = wf.id
        ids["bare"] = mida._mida.new_id()
        mida._mida.task_begin(ids["bare"], None, wf.id, None,
                              mida._mida.SUBMITTED)

        @mida.task(name="nulls")
        def nulls(a, b):
            ids["nulls"] = mida.current_task()
            return {"acc": None}
        nulls(None, "")
        for tag in ("a,b", "c"):
            mida.task(name="tagged")(lambda tag: 1)(tag)
    with mida.workflow("crowd"):
        @mida.task(name="long")
        def long():
            ids["long"] = mida.current_task()
            time.sleep(1)  # the sampler's first samples: the tasks after
            for i in range(1100):
                mida.task(name=f"crowd-{i}")(lambda: i)()
            time.sleep(3)
        long()
    return ids


def main():
    if len(sys.argv) > 2 and sys.argv[2] == "gaps":
        ids = gaps()
        mida.flush()
        print(json.dumps(ids))
        return
    if len(sys.argv) > 2 and sys.argv[2] == "step":
        stepper()
        return
    if len(sys.argv) > 2 and sys.argv[2] == "grow":
        grower(int(sys.argv[3]) if len(sys.argv) > 3 else GROW_FIRST)
        return
    ids = sweep(sys.argv[1])
    mida.flush()
    print(json.dumps(ids))


if __name__ == "__main__":
    main()

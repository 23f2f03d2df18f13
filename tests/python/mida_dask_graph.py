"""A plain Dask script with no mida in it, run by test_mida_dask.py.

Builds a graph of exactly 1,000 keys with a known structure -- 500 `inc`
(map), 400 `mix` each taking two scattered `inc` outputs (shuffle-like
fan-in), 99 `part` sums over the `mix` outputs by residue (fan-in), one
`total` (reduce) -- plus one task that raises and one that depends on it;
submits the graph as one computation, and writes the
graph it meant (keys, dependencies, arguments, results) as JSON for the
test to compare with the store.

usage: mida_dask_graph.py OUT.json WHERE
       WHERE: processes | threads | file:SCHEDULER.json | ADDRESS
"""
import json
import sys

from dask import delayed
from dask.distributed import Client, LocalCluster, wait


def inc(x):
    return x + 1


def mix(x, y):
    return x * 3 + y


def part(*vals):
    return sum(vals)


def total(*vals):
    return sum(vals)


def fails(x):
    raise ZeroDivisionError("planned failure for x=%d" % x)


def build(client):
    exp = {"keys": {}, "deps": {}}
    A, B, C = [], [], []
    for i in range(500):
        k = "inc-%d" % i
        A.append(delayed(inc)(i, dask_key_name=k))
        exp["keys"][k] = {"used": {"x": i}, "result": i + 1}
        exp["deps"][k] = []
    for i in range(400):
        j = (i * 7 + 3) % 500
        k = "mix-%d" % i
        B.append(delayed(mix)(A[i], A[j], dask_key_name=k))
        exp["keys"][k] = {"used": {"x": {"ref": "inc-%d" % i},
                                   "y": {"ref": "inc-%d" % j}},
                          "result": (i + 1) * 3 + (j + 1)}
        exp["deps"][k] = sorted({"inc-%d" % i, "inc-%d" % j})
    for g in range(99):
        members = [b for b in range(400) if b % 99 == g]
        k = "part-%d" % g
        C.append(delayed(part)(*[B[b] for b in members], dask_key_name=k))
        exp["keys"][k] = {"result": sum(exp["keys"]["mix-%d" % b]["result"]
                                        for b in members)}
        exp["deps"][k] = sorted("mix-%d" % b for b in members)
    used = {i for i in range(400)} | {(i * 7 + 3) % 500 for i in range(400)}
    leaves = [A[i] for i in range(500) if i not in used]  # outputs too
    futures = client.compute([delayed(total)(*C, dask_key_name="total")] +
                             leaves)
    wait(futures)
    t = futures[0]
    exp["keys"]["total"] = {"result": sum(exp["keys"]["part-%d" % g]["result"]
                                          for g in range(99))}
    exp["deps"]["total"] = sorted("part-%d" % g for g in range(99))
    got = t.result()
    assert got == exp["keys"]["total"]["result"], got
    bad = client.submit(fails, 5, key="fails-1")
    after = client.submit(inc, bad, key="after-1")  # errs through bad
    wait([bad, after])
    assert bad.status == "error" and after.status == "error"
    exp["error_key"] = "fails-1"
    exp["error_dependent"] = "after-1"
    return exp


def main():
    out, where = sys.argv[1], sys.argv[2]
    if where in ("processes", "threads"):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1,
                               processes=(where == "processes"),
                               dashboard_address=None)
        client = Client(cluster)
    elif where.startswith("file:"):
        cluster = None
        client = Client(scheduler_file=where[5:])
    else:
        cluster = None
        client = Client(where)
    try:
        exp = build(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    with open(out, "w") as f:
        json.dump(exp, f)


if __name__ == "__main__":
    main()

"""A long metric series downsampled from the store's blocks (src/sink/
rollup.h, schema version 7) is the series computed from its points: the
same buckets, each with the same first and last x, least and greatest
value and number of points, on SQLite and PostgreSQL, on steps and on
time, whole and within a range that cuts buckets -- for a series with
steps out of order, repeated and negative, points without a step, NaN,
two values at one step and time, and records delivered twice."""

import json
import math
import random
import sqlite3
import struct
import subprocess
import uuid

import pytest

import mida_wire as wire
from multinode_support import fleet_of, fresh_pg_db, redis_servers

TASK = "0190a4c2-0000-7000-8000-0000000000b1"
T0 = 1_700_000_000 * 10**9
F_KEY, F_STEP, F_TS, F_VALUE, KIND_F64 = 28, 29, 30, 31, 3
REC_METRIC = 6
# The finest blocks (src/sink/rollup.h): buckets narrower than these are
# read from the points.
FINEST = {"step": 6, "time": 26}


def metric_record(key, ts, value, step=None):
    p = (bytes([wire.F_TASK, wire.KIND_ID]) + uuid.UUID(TASK).bytes
         + wire._str(F_KEY, key))
    if step is not None:
        p += wire._i64(F_STEP, step)
    p += wire._i64(F_TS, ts) + bytes([F_VALUE, KIND_F64])
    return p + struct.pack("<d", value)


def make_points():
    """(step or None, ts, value) of the series, as sent (repeats
    included)."""
    rnd = random.Random(13)
    pts = []
    for i in range(6000):
        step = None if i % 89 == 0 else rnd.randrange(-5000, 30000)
        ts = T0 + rnd.randrange(0, 4 * 10**9)
        value = math.nan if i % 101 == 0 else rnd.randrange(-400, 400) / 8
        pts.append((step, ts, value))
        if i % 150 == 0:  # a second value at the same step and time
            pts.append((step, ts, value + 0.5))
    return pts


def stored(pts):
    """The points as the store keeps them: one per (ts, step, value)."""
    seen = {}
    for step, ts, value in pts:
        key = (ts, step, "nan" if value != value else value)
        seen[key] = (step, ts, value)
    return list(seen.values())


def expected(points, axis, nbuckets, lo_req=None, hi_req=None):
    """bucket_width and buckets of docs/serve.md from the points."""
    xs = [(p[0] if axis == "step" else p[1], p[2]) for p in points
          if axis == "time" or p[0] is not None]
    lo = min(x for x, _ in xs)
    hi = max(x for x, _ in xs)
    if lo_req is not None:
        lo = max(lo, lo_req)
    if hi_req is not None:
        hi = min(hi, hi_req)
    b = 0
    while (hi >> b) - (lo >> b) + 1 > nbuckets:
        b += 1
    groups = {}
    for x, v in xs:
        if lo <= x <= hi:
            groups.setdefault(x >> b, []).append((x, v))
    out = []
    for k in sorted(groups):
        g = groups[k]
        vals = [v for _, v in g if v == v]
        out.append({"x0": min(x for x, _ in g), "x1": max(x for x, _ in g),
                    "lo": min(vals) if vals else None,
                    "hi": max(vals) if vals else None, "n": len(g)})
    return 1 << b, out


REQUESTS = [  # (x, points, from, to)
    ("step", 200, None, None),
    ("time", 200, None, None),
    ("step", 2000, None, None),
    ("time", 2000, None, None),
    ("step", 60, -1234, 17777),
    ("time", 60, T0 + 123_456_789, T0 + 3 * 10**9 + 7),
    ("step", 100, 5, None),
    ("time", 100, None, T0 + 2 * 10**9 + 12345),
    # One bucket cut at both ends, within and across the finest blocks.
    ("step", 2, 1000, 1500),
    ("time", 2, T0 + 10**9 + 1, T0 + 15 * 10**8 - 3),
    ("step", 4, 4000, 4200),
]


@pytest.fixture(scope="module")
def ingested(mida_bin, produce_bin, tmp_path_factory):
    """The series, sent through a broker (some messages twice) and applied
    by `mida ingest` into an SQLite store and a PostgreSQL one: made once
    for the module (~5 s each time), as its tests only read the stores."""
    tmp = tmp_path_factory.mktemp("rollup")
    with redis_servers(tmp) as redis_factory, fresh_pg_db() as pg_db, \
            fleet_of(mida_bin, produce_bin, tmp) as fleet:
        redis = redis_factory()
        pts = make_points()
        recs = [(REC_METRIC, metric_record("loss", ts, v, step))
                for step, ts, v in pts]
        msgs = [wire.message(recs[i:i + 250], seq=i + 1)
                for i in range(0, len(recs), 250)]
        msgs += msgs[3:7]  # delivered again
        lite = str(tmp / "series.db")
        for name, store in (("lite", "sqlite://" + lite), ("pg", pg_db)):
            for m in msgs:
                subprocess.run(["redis-cli", "-p", str(redis.port), "-x",
                                "XADD", name, "*", "d"], input=m,
                               check=True, capture_output=True)
            c = fleet.ingest(f"{redis.url_base}/{name}", store, name,
                             "--batch", "3", "--idle-exit", "2")
            c.wait(timeout=120)
            assert c.returncode == 0, c.log_path.read_text()
        yield lite, pg_db, stored(pts)


@pytest.fixture
def stores(ingested, tmp_path):
    """(SQLite store, PostgreSQL store, points) of ingested; the SQLite
    store a copy of the test's own, which it may change."""
    lite, pg_db, points = ingested
    copy = str(tmp_path / "series.db")
    src, dst = sqlite3.connect(lite), sqlite3.connect(copy)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return copy, pg_db, points


def series(server, x, points, lo, hi):
    target = f"/api/metrics?task={TASK}&key=loss&x={x}&points={points}"
    if lo is not None:
        target += f"&from={lo}"
    if hi is not None:
        target += f"&to={hi}"
    st, body = server.get_json(target)
    assert st == 200, body
    return body["series"][0]


def test_buckets_from_blocks_are_those_of_the_points(stores, serve):
    lite, pg, points = stores
    servers = [serve(lite), serve(pg)]
    from_blocks = 0
    for x, n, lo, hi in REQUESTS:
        width, buckets = expected(points, x, n // 2, lo, hi)
        rollup = width >= 1 << FINEST[x]
        from_blocks += rollup
        answers = [series(s, x, n, lo, hi) for s in servers]
        for a in answers:
            assert a["downsampled"] is True, a
            assert a["rollup"] is rollup, (x, n, lo, hi)
            assert a["bucket_width"] == width, (x, n, lo, hi)
            assert a["buckets"] == buckets, (x, n, lo, hi)
            assert 0 < len(buckets) <= n // 2
        assert json.dumps(answers[0]) == json.dumps(answers[1])
    assert from_blocks >= 8  # and a request or two read from the points


def test_the_answer_is_read_from_the_blocks(stores, serve):
    """Proof that the blocks, not the points, answer: blocks changed by
    hand change the answer (and a fresh server keeps nothing)."""
    lite, _, points = stores
    db = sqlite3.connect(lite)
    db.execute("UPDATE metric_block SET hi = hi + 1000")
    db.commit()
    db.close()
    a = series(serve(lite), "step", 200, None, None)
    _, buckets = expected(points, "step", 100)
    assert [b["hi"] for b in a["buckets"]] == [
        b["hi"] + 1000 if b["hi"] is not None else None for b in buckets]


def test_short_range_is_sent_whole(stores, serve):
    """A range with few points is sent whole, on steps read between the
    times the blocks give."""
    lite, pg, points = stores
    want = sorted((p for p in points if p[0] is not None
                   and 100 <= p[0] <= 300), key=lambda p: (p[0], p[1]))
    for store in (lite, pg):
        a = series(serve(store), "step", 2000, 100, 300)
        assert a["downsampled"] is False
        got = [(p["step"], p["ts"]) for p in a["points"]]
        assert got == [(p[0], p[1]) for p in want]


EXTREME_STEPS = ([-(2**63 - 1), -(2**62), -1] + list(range(3000))
                 + [2**40, 2**62, 2**63 - 1])


def test_a_series_whose_steps_span_the_int64_range(serve, tmp_path):
    """Steps from -(2**63 - 1) to 2**63 - 1 (the API takes any step but
    INT64_MIN): the x range's width overflowed int64 where the bucket
    width is chosen, which came out 1, and the answer held points/2 + 1
    one-point buckets and left out every other point of the series. The
    buckets are those of docs/serve.md, and every point is in one."""
    import os
    import pathlib
    import sys
    store = tmp_path / "wide.db"
    build = pathlib.Path(os.environ.get(
        "MIDA_BUILD", pathlib.Path(__file__).resolve().parents[2] / "build"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env.update(MIDA_STORE="sqlite://" + str(store), MIDA_SAMPLE_HZ="0",
               PYTHONPATH=str(build / "python"))
    script = ("import mida\n"
              f"steps = {EXTREME_STEPS!r}\n"
              "for i, s in enumerate(steps):\n"
              f"    mida.metric('loss', float(i % 17), step=s, task={TASK!r})"
              "\n")
    r = subprocess.run([sys.executable, "-c", script], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    points = [(s, 0, float(i % 17)) for i, s in enumerate(EXTREME_STEPS)]
    s = serve(str(store))
    for n, lo, hi in [(4, None, None), (200, None, None), (2000, None, None),
                      (64, -(2**63 - 1), 2**63 - 1), (64, -5, None)]:
        width, buckets = expected(points, "step", n // 2, lo, hi)
        a = series(s, "step", n, lo, hi)
        assert a["downsampled"] is True, a
        assert a["bucket_width"] == width, (n, lo, hi, a["bucket_width"])
        assert a["buckets"] == buckets, (n, lo, hi)
        assert sum(b["n"] for b in a["buckets"]) == sum(
            1 for p in points if (lo is None or p[0] >= lo)
            and (hi is None or p[0] <= hi))

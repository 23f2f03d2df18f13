"""A function decorated with @mida.task pickles as the function itself
would: by reference when its module and qualified name lead to it (pickle,
multiprocessing, concurrent.futures), by value where a function of its
module is sent by value (cloudpickle of __main__, as Dask does), and Dask
can tokenize it. Decorating must not change what a program can do."""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import cloudpickle
import pytest

import midapy_util
import midapy_tasks
import mida


def run_main(tmp_path, code, timeout=240, **env):
    """Runs code as __main__ of a child observing into a fresh store;
    returns (stdout, store)."""
    store = tmp_path / "p.db"
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent(code))
    r = subprocess.run([sys.executable, str(script)],
                       env=midapy_util.child_env(store, **env),
                       cwd=str(tmp_path), capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout, store


def activities(store):
    rows = midapy_util.store_rows(
        store, "SELECT activity, status, count(*) AS n FROM task "
        "GROUP BY 1, 2 ORDER BY 1, 2")
    return {(r["activity"], r["status"]): r["n"] for r in rows}


def test_a_module_level_task_pickles_by_reference():
    for dumps in (pickle.dumps, cloudpickle.dumps):
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            b = dumps(midapy_tasks.square, protocol=proto)
            assert b"midapy_tasks" in b and b"__mida_func__" not in b
            assert pickle.loads(b) is midapy_tasks.square
        b = dumps(midapy_tasks.Shapes.area)
        assert pickle.loads(b) is midapy_tasks.Shapes.__dict__["area"]
    t = midapy_tasks.square
    assert (t.__module__, t.__qualname__, t.__name__, t.__doc__) == (
        "midapy_tasks", "square", "square", "The square of x.")
    assert t.__wrapped__(3) == 9


def test_a_task_pickles_by_value_where_its_function_would():
    def local(x):
        return x - 1

    t = mida.task(local)
    # pickle cannot reach a local function, decorated or not ...
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(local)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(t)
    # ... cloudpickle sends both by value.
    u = pickle.loads(cloudpickle.dumps(t))
    assert type(u) is mida._mida.TaskFunc and u is not t
    assert u(5) == 4 and u.activity == t.activity
    assert u.__qualname__ == t.__qualname__ and u.__name__ == "local"
    # A task made without rebinding the name: the function pickles by
    # reference, the task by value around it.
    g = mida.task(midapy_tasks.plus_one_squared)
    h = pickle.loads(pickle.dumps(g))
    assert h.__wrapped__ is midapy_tasks.plus_one_squared and h(2) == 5


MAIN_PICKLE = """
import json, pickle, subprocess, sys
import cloudpickle, mida

@mida.task
def sq(x):
    "doc of sq"
    return x * x

def outer(x):  # a plain function of __main__ using a decorated global
    return sq(x) + 1

if __name__ == "__main__":
    same = pickle.loads(pickle.dumps(sq))
    assert same(3) == 9 and same.__qualname__ == "sq", same
    assert same.__doc__ == "doc of sq"
    # cloudpickle sends both by value: a process without this script
    # (a Dask worker) loads and runs them, and records the task.
    blobs = [cloudpickle.dumps(sq).hex(), cloudpickle.dumps(outer).hex()]
    load = ("import pickle, sys, mida; "
            "f, g = (pickle.loads(bytes.fromhex(a)) for a in sys.argv[1:]); "
            "print(f(4), g(5), f.activity, f.__name__)")
    r = subprocess.run([sys.executable, "-c", load] + blobs,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    print(r.stdout.strip())
    mida.flush(30)
"""


def test_a_task_of_main_pickles_by_pickle_and_by_value_by_cloudpickle(
        tmp_path):
    out, store = run_main(tmp_path, MAIN_PICKLE)
    assert out.split() == ["16", "26", "sq", "sq"]
    assert activities(store) == {("sq", "FINISHED"): 3}


MAIN_POOLS = """
import concurrent.futures as cf, multiprocessing as mp, sys
import mida, midapy_tasks

@mida.task
def cube(x):
    return x ** 3

if __name__ == "__main__":
    for method in sys.argv[1:] or ("fork", "spawn", "forkserver"):
        ctx = mp.get_context(method)
        with ctx.Pool(2) as pool:
            assert pool.map(cube, range(4)) == [0, 1, 8, 27]
            assert pool.map(midapy_tasks.square, range(4)) == [0, 1, 4, 9]
        with cf.ProcessPoolExecutor(2, mp_context=ctx) as ex:
            assert list(ex.map(cube, range(3))) == [0, 1, 8]
        print(method, "ok")
    mida.flush(30)
"""


def test_multiprocessing_pools_take_decorated_functions(tmp_path):
    out, store = run_main(tmp_path, MAIN_POOLS)
    assert out.split() == ["fork", "ok", "spawn", "ok", "forkserver", "ok"]
    assert activities(store) == {("cube", "FINISHED"): 3 * 7,
                                 ("square", "FINISHED"): 3 * 4}


def test_dask_tokenizes_a_task_deterministically():
    tokenize = pytest.importorskip("dask.base").tokenize
    a = tokenize(midapy_tasks.square)
    assert a == tokenize(midapy_tasks.square)
    assert a != tokenize(midapy_tasks.Shapes.area)
    assert tokenize(midapy_tasks.plus_one_squared)  # refers to a task
    code = ("import midapy_util, midapy_tasks; from dask.base import "
            "tokenize; print(tokenize(midapy_tasks.square))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, cwd=str(midapy_util.HERE),
                       env=midapy_util.child_env(midapy_util.HERE / "no.db",
                                                 MIDA_DISABLE=1))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == a


MAIN_DASK = """
import mida, midapy_tasks
from dask.base import tokenize
from distributed import Client, LocalCluster

@mida.task
def sq(x):
    return x * x

def outer(x):
    return sq(x) + 1

if __name__ == "__main__":
    assert tokenize(sq) == tokenize(sq)
    assert tokenize(outer) == tokenize(outer)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cl, Client(cl) as c:
        print(c.submit(sq, 3).result())
        print(c.gather(c.map(midapy_tasks.square, range(3))))
        print(c.gather(c.map(outer, range(3))))
    mida.flush(30)
"""


def test_dask_runs_decorated_functions_of_main_and_of_a_module(tmp_path):
    pytest.importorskip("distributed")
    out, store = run_main(tmp_path, MAIN_DASK)
    assert out.split("\n")[:3] == ["9", "[0, 1, 4]", "[1, 2, 5]"]
    assert activities(store) == {("sq", "FINISHED"): 4,
                                 ("square", "FINISHED"): 3}

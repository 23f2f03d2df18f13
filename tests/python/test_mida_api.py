"""The Python API of mida: @mida.task on sync and async functions,
generators left alone, nested parents, value capture in C (NumPy summaries,
caps, NaN), bad input that must neither crash nor change a result,
workflows, metrics, data, queries, and fork."""

import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import pytest

import midapy_util  # noqa: F401  (puts the build's package on sys.path)
import mida


@pytest.fixture(scope="module", autouse=True)
def fresh_store():
    """This process's session records into a fresh store: the variables
    are set before the first mida call opens it, and restored after."""
    keys = ("MIDA_STORE", "MIDA_CAMPAIGN", "MIDA_WORKFLOW",
            "MIDA_PARENT_TASK", "MIDA_SPOOL", "MIDA_DISABLE")
    saved = {k: os.environ.pop(k, None) for k in keys}
    d = tempfile.mkdtemp(prefix="mida-pytest-")
    os.environ["MIDA_STORE"] = "sqlite://" + d + "/api.db"
    yield
    mida.flush(30)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def task_row(task_id):
    rows = mida.query("SELECT * FROM task WHERE id = ?", [task_id])
    assert len(rows) == 1, rows
    row = rows[0]
    for col in ("used", "generated", "custom"):
        row[col] = json.loads(row[col]) if row[col] else None
    return row


def last_task_id(recorder):
    """Runs recorder(), which calls one task; returns the id it recorded."""
    seen = {}

    @mida.task
    def probe():
        seen["parent"] = mida.current_task()
        return recorder()

    probe()
    kids = mida.query("SELECT id FROM task WHERE parent_id = ?",
                      [seen["parent"]])
    assert len(kids) == 1, kids
    return kids[0]["id"]


def test_sync_task_binds_arguments_to_names_with_defaults():
    @mida.task
    def f(a, b=2, *rest, c=3, **kw):
        return a + b

    tid = last_task_id(lambda: f(1, 5, 6, 7, c=4, z="q"))
    row = task_row(tid)
    assert row["activity"].endswith("f")
    assert row["status"] == "FINISHED"
    assert row["used"] == {"a": 1, "b": 5, "rest": [6, 7], "c": 4, "z": "q"}
    assert row["generated"] == {"return": 6}
    assert row["started"] <= row["ended"]

    tid = last_task_id(lambda: f(10))
    assert task_row(tid)["used"] == {"a": 10, "b": 2, "c": 3}


def test_keywords_from_source_and_built_at_run_time_bind_alike():
    @mida.task
    def g(alpha, beta=2, *, gamma=3, **kw):
        return alpha

    built = "".join(["be", "ta"])  # equal to "beta", another object
    assert built == "beta" and id(built) != id(g.__wrapped__.__code__.co_varnames[1])
    names = {built: 7, "".join(["gam", "ma"]): 8, 'q"\\': -1}
    tid = last_task_id(lambda: g(1, **names))
    assert task_row(tid)["used"] == {"alpha": 1, "beta": 7, "gamma": 8,
                                     'q"\\': -1}
    tid = last_task_id(lambda: g(alpha=0, gamma=5))
    assert task_row(tid)["used"] == {"alpha": 0, "gamma": 5, "beta": 2}


def test_integers_are_written_exactly():
    @mida.task
    def h(*xs):
        return xs[-1]

    # Around 2**30 and 2**15 too: an int of one internal digit (30 bits,
    # or 15) is read without a call, a larger one with one.
    edges = (2**30 - 1, 2**30, -(2**30 - 1), -(2**30), 2**15, -(2**15))
    xs = (0, -1, 9, 10, -10) + edges + (2**63 - 1, -2**63, 2**64,
                                        -(2**70), True)
    tid = last_task_id(lambda: h(*xs))
    row = task_row(tid)
    assert row["used"] == {"xs": [0, -1, 9, 10, -10, *edges, 2**63 - 1,
                                  -2**63, str(2**64), str(-(2**70)), True]}
    assert row["generated"] == {"return": True}

    class Flag(int):  # a subclass keeps int's layout
        pass

    tid = last_task_id(lambda: h(Flag(7), Flag(-(2**40))))
    assert task_row(tid)["used"] == {"xs": [7, -(2**40)]}
    assert task_row(tid)["generated"] == {"return": -(2**40)}


def test_an_integer_too_large_to_print_is_written_by_its_size():
    # Past the 4,300 digits CPython prints by default, an integer was
    # written as its text when the program had lifted that limit
    # (sys.set_int_max_str_digits(0)): text quadratic in its digits to
    # make, 12 s a call for a million, to keep its first max_str bytes.
    largest = 2 ** 14284 - 1  # 4,300 digits
    assert json.loads(mida.capture(largest)).endswith("(4300 bytes in all)")
    note = "(integer of 66439 bits, too large to print)"
    assert json.loads(mida.capture(10 ** 20000)) == note
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        assert json.loads(mida.capture(10 ** 20000)) == note
        assert json.loads(mida.capture([-(10 ** 20000)])) == [note]
    finally:
        sys.set_int_max_str_digits(old)


def test_ship_interval_default_yields_to_the_environment(tmp_path):
    import subprocess
    import sys
    code = ("import mida, mida._mida as m; m._ship_default(150); "
            "print(mida.session_info()['ship_ms'])")
    from midapy_util import child_env
    env = child_env(tmp_path / "ship.db")
    got = {}
    for ship in (None, "35"):
        if ship is not None:
            env["MIDA_SHIP_MS"] = ship
        r = subprocess.run([sys.executable, "-c", code], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        got[ship] = int(r.stdout.split()[-1])
    assert got == {None: 150, "35": 35}
    assert mida.session_info()["ship_ms"] == 20  # the library's default


def test_dict_result_is_the_generated_mapping():
    @mida.task
    def g():
        return {"loss": 0.5, "n": 3}

    row = task_row(last_task_id(g))
    assert row["generated"] == {"loss": 0.5, "n": 3}


def test_keys_that_read_alike_are_kept_apart():
    # A key that is no str is written as its str(): None and "None", 1 and
    # "1" made two members of one name, of which SQLite reads the first
    # and PostgreSQL keeps the last. The str key keeps its name wherever
    # it comes; the other takes its type's.
    @mida.task
    def g(d):
        return {None: 1, "None": 2, 1: "a", "1": "b", 2.5: "c"}

    row = task_row(last_task_id(lambda: g({"1": "s", 1: "i"})))
    assert row["generated"] == {"None (NoneType)": 1, "None": 2,
                                "1 (int)": "a", "1": "b", "2.5": "c"}
    assert row["used"] == {"d": {"1": "s", "1 (int)": "i"}}


def test_file_names_that_are_not_utf8_are_kept_apart_as_keys():
    # A lone surrogate is written '?': two names from os.listdir that are
    # not UTF-8 made two members "?.csv" of one object, of which SQLite
    # reads the first and PostgreSQL keeps the last.
    a, b = os.fsdecode(b"\xff.csv"), os.fsdecode(b"\xfe.csv")
    v = json.loads(mida.capture({a: 1, b: 2, "\u20ac": 3}))
    assert v == {"?.csv": 1, "?.csv (str)": 2, "\u20ac": 3}, v


def test_exception_is_recorded_and_reraised_untouched():
    err = ValueError("bad value 42")

    @mida.task
    def boom(x):
        raise err

    caught = {}

    def call():
        try:
            boom(7)
        except ValueError as e:
            caught["e"] = e

    row = task_row(last_task_id(call))
    assert caught["e"] is err
    assert caught["e"].__traceback__ is not None
    assert row["status"] == "ERROR"
    assert row["error"].startswith("ValueError: bad value 42")
    assert "Traceback (most recent call last)" in row["error"]
    assert "in boom" in row["error"]
    assert row["used"] == {"x": 7}


@pytest.mark.parametrize("message, recorded", [
    ("cannot read " + os.fsdecode(b"/in/\xff.csv"),
     "cannot read /in/\\udcff.csv"),
    ("bad byte \x00 in header", "bad byte \\x00 in header"),
], ids=["lone-surrogate", "nul"])
def test_an_error_message_python_cannot_encode_is_kept_whole(message,
                                                             recorded):
    # A message with a lone surrogate (a file name from os.listdir that is
    # not UTF-8) made the task's error "unknown error"; one with a NUL was
    # cut there, traceback and all. They are written as repr() writes them.
    err = ValueError(message)

    @mida.task
    def boom():
        raise err

    caught = {}

    def call():
        try:
            boom()
        except ValueError as e:
            caught["e"] = e

    row = task_row(last_task_id(call))
    assert caught["e"] is err and str(err) == message
    assert row["status"] == "ERROR"
    assert row["error"].startswith("ValueError: " + recorded + "\n"), \
        row["error"]
    assert "Traceback (most recent call last)" in row["error"]


def test_async_task_records_around_the_await_with_nested_parent():
    @mida.task
    async def inner(x):
        await asyncio.sleep(0.01)
        return x * 2

    @mida.task
    async def outer(n):
        vals = await asyncio.gather(*[inner(i) for i in range(n)])
        return sum(vals)

    @mida.task
    async def fails():
        await asyncio.sleep(0)
        raise KeyError("k")

    async def failing():
        with pytest.raises(KeyError):
            await fails()

    assert asyncio.iscoroutinefunction(outer)
    tid = last_task_id(lambda: asyncio.run(outer(3)))
    asyncio.run(failing())
    row = task_row(tid)
    assert row["generated"] == {"return": 6}
    assert row["used"] == {"n": 3}
    kids = mida.query("SELECT used, generated, started, ended FROM task "
                      "WHERE parent_id = ? ORDER BY used", [tid])
    assert [json.loads(k["used"]) for k in kids] == [
        {"x": 0}, {"x": 1}, {"x": 2}]
    assert all(k["ended"] - k["started"] >= 10_000_000 for k in kids)
    err = mida.query("SELECT status, error FROM task WHERE activity LIKE "
                     "'%fails' AND status = 'ERROR'")
    assert err and "KeyError" in err[0]["error"]


def test_a_task_s_id_start_and_end_times_agree():
    """A task's id is made from the clock reading that gives its start
    time (one reading at begin), and its end time is read after its
    end snapshot, not before its start."""
    @mida.task(name="id_time_leaf")
    def leaf(i):
        return i

    for i in range(200):
        leaf(i)
    rows = mida.query("SELECT id, started, ended, telemetry FROM task "
                      "WHERE activity = 'id_time_leaf'")
    assert len(rows) == 200
    for r in rows:
        id_ms = int(r["id"].replace("-", "")[:12], 16)
        assert id_ms == r["started"] // 1_000_000
        assert r["ended"] >= r["started"]
        assert json.loads(r["telemetry"])["cpu_thread_ns"] >= 0


def test_generators_are_returned_untouched():
    def gen(n):
        yield from range(n)

    async def agen():
        yield 1

    assert mida.task(gen) is gen
    assert mida.task(agen) is agen
    assert list(mida.task(gen)(3)) == [0, 1, 2]


def test_nested_tasks_get_their_parent():
    @mida.task
    def leaf(i):
        return i

    @mida.task
    def mid():
        return [leaf(i) for i in range(2)]

    tid = last_task_id(mid)
    kids = mida.query("SELECT activity FROM task WHERE parent_id = ?", [tid])
    assert len(kids) == 2 and all(k["activity"].endswith("leaf")
                                  for k in kids)
    assert mida.current_task() is None


def test_methods_bind_self():
    class Model:
        def __init__(self):
            self.k = 3

        @mida.task
        def predict(self, x):
            return self.k * x

    m = Model()
    tid = last_task_id(lambda: m.predict(2))
    row = task_row(tid)
    assert row["generated"] == {"return": 6}
    assert row["used"]["x"] == 2
    assert row["used"]["self"]["type"].endswith("Model")
    # "module.qualname": the class's module from its dict, its qualname.
    assert row["used"]["self"]["type"] == \
        f"{Model.__module__}.{Model.__qualname__}"


def test_static_and_class_methods_given_whole_bind_as_they_did():
    # @mida.task above @staticmethod bound the instance as a first
    # argument (C().scale(2): TypeError, a call that works without mida);
    # above @classmethod it raised TypeError when the class was made.
    class Model:
        @mida.task
        @staticmethod
        def scale(x):
            return 2 * x

        @mida.task(name="build")
        @classmethod
        def make(cls, k):
            return (cls.__name__, k)

    assert Model.scale(1) == 2
    tid = last_task_id(lambda: Model().scale(3))
    row = task_row(tid)
    assert row["used"] == {"x": 3} and row["generated"] == {"return": 6}
    assert row["activity"].endswith("Model.scale")
    tid = last_task_id(lambda: Model().make(4))
    row = task_row(tid)
    assert row["activity"] == "build" and row["used"]["k"] == 4
    assert row["generated"] == {"return": ["Model", 4]}


def test_numpy_array_is_summarized_not_copied():
    arr = np.zeros((1000, 500), dtype=np.float32)
    got = {}

    @mida.task
    def use(a):
        got["a"] = a
        return a.sum()

    tid = last_task_id(lambda: use(arr))
    assert got["a"] is arr
    row = task_row(tid)
    assert row["used"]["a"] == {"type": "numpy.ndarray", "dtype": "float32",
                                "shape": [1000, 500], "bytes": 2_000_000}
    assert row["generated"] == {"return": 0.0}  # a NumPy scalar: its value
    rows = mida.query("SELECT length(used) AS n FROM task WHERE id = ?",
                      [tid])
    assert rows[0]["n"] < 200


def test_pandas_frame_is_summarized():
    df = pd.DataFrame({"a": range(100), "b": [1.5] * 100})
    cap = json.loads(mida.capture(df))
    assert cap["type"] == "pandas.DataFrame" or \
        cap["type"].startswith("pandas.")
    assert cap["shape"] == [100, 2] and cap["bytes"] > 1000


@pytest.mark.parametrize("make", [
    lambda: pd.DataFrame({"i": range(500), "f": [0.5] * 500,
                          "s": ["x%d" % i for i in range(500)]}),
    lambda: pd.DataFrame({"c": pd.Categorical(["a", "b"] * 250),
                          "n": pd.array(range(500), dtype="Int64")}),
    lambda: pd.DataFrame({"t": pd.date_range("2020", periods=50, tz="UTC")}),
    lambda: pd.DataFrame({"v": range(6)}, index=pd.MultiIndex.from_product(
        [[1, 2, 3], ["a", "b"]])),
    lambda: pd.DataFrame({"v": range(3)}, index=["x", "y", "z"]),
    lambda: pd.DataFrame(),
], ids=["mixed", "extension", "tz", "multiindex", "str-index", "empty"])
def test_a_frame_s_bytes_are_what_memory_usage_sums(make):
    """Read from the frame's blocks (memory_usage() builds a Series: ~200
    us a frame, paid for each frame a Dask task takes or returns), the
    same count."""
    df = make()
    cap = json.loads(mida.capture(df))
    assert cap["bytes"] == int(df.memory_usage().sum()), cap


def test_a_frame_s_columns_are_not_taken_for_its_dtype_or_bytes():
    """A DataFrame has no dtype nor nbytes: its columns of those names
    were taken for them (its __getattr__ answers with a column)."""
    df = pd.DataFrame({"dtype": [1, 2, 3], "nbytes": [4, 5, 6]})
    cap = json.loads(mida.capture(df))
    assert "dtype" not in cap, cap
    assert cap["bytes"] == int(df.memory_usage().sum()), cap


class _Usage:
    def __init__(self, n):
        self.n = n

    def sum(self):
        return self.n


class FrameLike:
    """A frame without pandas' blocks: memory_usage() says its bytes."""
    __module__ = "pandas.elsewhere"
    shape = (4, 2)

    def memory_usage(self):
        return _Usage(1234)


class _Attrs:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class FrameWithBlocks:
    """Laid out as pandas' frames are: bytes from the blocks and the
    index, memory_usage() never asked."""
    __module__ = "pandas.elsewhere"
    shape = (3, 2)
    _mgr = _Attrs(blocks=(_Attrs(values=_Attrs(nbytes=100)),
                          _Attrs(values=_Attrs(nbytes=20))))
    index = _Attrs(memory_usage=lambda: 4)

    def memory_usage(self):
        raise AssertionError("memory_usage asked")


def test_a_frame_s_bytes_come_from_its_blocks():
    cap = json.loads(mida.capture(FrameWithBlocks()))
    assert cap["bytes"] == 124, cap


def test_a_frame_without_blocks_asks_memory_usage():
    cap = json.loads(mida.capture(FrameLike()))
    assert cap["shape"] == [4, 2] and cap["bytes"] == 1234, cap


def test_nan_and_infinity_become_strings():
    assert json.loads(mida.capture([math.nan, math.inf, -math.inf, 1.5])) \
        == ["NaN", "Infinity", "-Infinity", 1.5]
    assert json.loads(mida.capture(2 ** 100)) == str(2 ** 100)


class Unprintable:
    def __repr__(self):
        raise RuntimeError("repr fails")


def test_bad_input_never_crashes_nor_changes_the_result():
    huge = "x" * (10 * 1024 * 1024)
    rec = [1, 2]
    rec.append(rec)
    d = {}
    d["self"] = d
    odd = Unprintable()

    @mida.task
    def take(a, b, c, d, e, f):
        return (len(a), b is rec, c is odd, e, f)

    def call():
        return take(huge, rec, odd, d, {1: "int key", (2, 3): "tuple key"},
                    b"\x00\xff" * 10)

    out = {}
    tid = last_task_id(lambda: out.setdefault("r", call()))
    assert out["r"] == (10 * 1024 * 1024, True, True,
                        {1: "int key", (2, 3): "tuple key"},
                        b"\x00\xff" * 10)
    used = task_row(tid)["used"]
    assert len(used["a"]) < 1200 and used["a"].endswith(
        "(10485760 bytes in all)")
    assert used["b"][:2] == [1, 2]  # the cycle ends in a summary
    assert used["c"]["repr_error"] == "RuntimeError"
    assert used["e"] == {"1": "int key", "(2, 3)": "tuple key"}
    assert used["f"] == {"type": "bytes", "len": 20}


@pytest.mark.parametrize("char", ["\u00e9", "\u20ac", "\U0001F600", "\ud800"],
                         ids=["latin-1", "bmp", "astral", "lone-surrogate"])
def test_a_long_non_ascii_str_is_cut_without_a_copy_kept_on_it(char):
    """Only the part within the cap is encoded: encoding all of it made
    CPython keep a UTF-8 copy on the program's str for its lifetime (a
    million-character str of "e acute" grew from 1.0 to 3.0 MB)."""
    s = "a" + char * 1_000_000
    size = sys.getsizeof(s)
    cap = mida.configure()["max_str"]
    text = json.loads(mida.capture(s))
    assert sys.getsizeof(s) == size
    head, _, tail = text.rpartition("...")
    assert tail == "(1000001 characters in all)", tail
    assert head.startswith("a") and len(head.encode("utf-8", "replace")) <= cap
    assert len(head.encode("utf-8", "replace")) > cap - 4


def test_a_ctrl_c_while_a_capture_runs_a_repr_reaches_the_program():
    """SIGINT while a value's __repr__ ran inside a capture: the
    KeyboardInterrupt raised in the __repr__ was cleared with its other
    errors, and the user's Ctrl-C was lost. It is given back as the signal
    once the value is written."""
    import signal

    class SlowRepr:
        def __repr__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(200_000):  # the handler runs at a check here
                pass
            return "never reached"

    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        outcome = "not interrupted"
        try:
            mida.capture(SlowRepr())
            for _ in range(200_000):
                pass
        except KeyboardInterrupt:
            outcome = "interrupted"
    finally:
        signal.signal(signal.SIGINT, old)
    assert outcome == "interrupted"


def test_a_large_dict_is_written_as_its_first_items():
    # Only the max_items written are looked at, for their names too: a
    # dict of 5,000,000 str keys took ~48 ms a capture when whether its
    # keys could read alike was asked of all of them, ~0.05 ms since
    # (measured by hand, 2026-12-07; a timing is no pass/fail test here).
    big = {str(i): i for i in range(200_000)}
    big[10**6] = "an int key past the cut"
    cap = mida.configure()["max_items"]
    v = json.loads(mida.capture(big))
    assert len(v) == cap + 1 and v["..."] == "(200001 items in all)"
    assert list(v)[:3] == ["0", "1", "2"]


class CountingSet(set):
    taken = 0

    def __iter__(self):
        for x in set.__iter__(self):
            CountingSet.taken += 1
            yield x


def test_a_set_s_first_items_are_taken_not_all_of_it():
    """A set was copied whole into a list before its first max_items were
    written (~50 us for 10,000 items)."""
    big = CountingSet(range(10_000))
    cap = mida.configure()["max_items"]
    v = json.loads(mida.capture(big))
    assert CountingSet.taken <= cap, CountingSet.taken
    assert len(v) == cap + 1 and v[-1] == "...(10000 items in all)"


def test_a_deque_is_written_as_an_array_of_its_first_items():
    """A deque fell to its repr, made whole before the cut (~570 us for
    10,000 items)."""
    import collections
    cap = mida.configure()["max_items"]
    v = json.loads(mida.capture(collections.deque(range(10_000))))
    assert v[:3] == [0, 1, 2] and len(v) == cap + 1, v
    assert v[-1] == "...(10000 items in all)"
    assert json.loads(mida.capture(collections.deque([1, "a"]))) == [1, "a"]


def test_dict_views_and_arrays_are_written_as_their_first_items():
    # They fell to their repr, which writes all of them before the cut:
    # 0.4-2.6 s a capture for 5,000,000 items.
    import array
    cap = mida.configure()["max_items"]
    d = {i: -i for i in range(100_000)}
    more = "...(100000 items in all)"
    assert json.loads(mida.capture(d.keys())) == list(range(cap)) + [more]
    assert json.loads(mida.capture(d.values())) == \
        [-i for i in range(cap)] + [more]
    assert json.loads(mida.capture(d.items())) == \
        [[i, -i] for i in range(cap)] + [more]
    a = array.array("d", range(100_000))
    assert json.loads(mida.capture(a)) == \
        [float(i) for i in range(cap)] + [more]
    assert json.loads(mida.capture({"k": 1}.items())) == [["k", 1]]


class ReprIsNotCalled(AssertionError):
    pass


def no_repr(self):
    raise ReprIsNotCalled(type(self).__name__)


def test_a_userlist_argument_is_written_as_its_first_items_not_its_repr():
    # A collections.UserList (any Sequence that is no list) fell to its
    # repr, made whole before the cut: 0.64-0.81 s and 85 MiB a call of a
    # task that took one of 10,000,000 ints (measured by hand, 2026-12-07).
    import collections

    class ListNoRepr(collections.UserList):
        __repr__ = no_repr

    cap = mida.configure()["max_items"]

    @mida.task
    def g(rows):
        return len(rows)

    row = task_row(last_task_id(lambda: g(ListNoRepr(range(100_000)))))
    assert row["used"] == {"rows": list(range(cap)) +
                           ["...(100000 items in all)"]}, row["used"]
    assert row["generated"] == {"return": 100_000}


def test_a_userdict_argument_is_written_as_its_first_items_not_its_repr():
    import collections

    class DictNoRepr(collections.UserDict):
        __repr__ = no_repr

    cap = mida.configure()["max_items"]

    @mida.task
    def g(table):
        return len(table)

    row = task_row(last_task_id(
        lambda: g(DictNoRepr({str(i): i for i in range(100_000)}))))
    table = row["used"]["table"]
    assert len(table) == cap + 1, table
    assert list(table)[:3] == ["0", "1", "2"] and table["2"] == 2
    assert table["..."] == "(100000 items in all)"


def test_mappings_sequences_and_their_views_are_bounded_without_repr():
    # Each of these wrote all of itself in its repr before the cut.
    import collections
    import types
    cap = mida.configure()["max_items"]
    more = "...(100000 items in all)"
    big = {i: -i for i in range(100_000)}
    # A ChainMap as its maps, as its repr shows them: its own len() and
    # iter() would build the union of their keys.
    chain = collections.ChainMap({"a": 1}, {"b": 2, "a": 3})
    assert json.loads(mida.capture(chain)) == [{"a": 1}, {"b": 2, "a": 3}]
    [v] = json.loads(mida.capture(collections.ChainMap(big)))
    assert len(v) == cap + 1 and v["5"] == -5, v
    # The environment by its size: its names and values may be secrets.
    assert json.loads(mida.capture(os.environ)) == \
        {"type": "os._Environ", "len": len(os.environ)}
    v = json.loads(mida.capture(types.MappingProxyType(big)))
    assert len(v) == cap + 1 and v["5"] == -5, v
    user = collections.UserDict(big)
    assert json.loads(mida.capture(user.keys())) == list(range(cap)) + [more]
    assert json.loads(mida.capture(user.items())) == \
        [[i, -i] for i in range(cap)] + [more]
    # Any other Sequence or Mapping with a repr of its own: its items.
    import collections.abc

    class Rows(collections.abc.Sequence):
        __repr__ = no_repr

        def __len__(self):
            return 10**9

        def __getitem__(self, i):
            if not 0 <= i < len(self):
                raise IndexError(i)
            return i

    class Table(collections.abc.Mapping):
        __repr__ = no_repr
        __len__ = Rows.__len__
        __getitem__ = Rows.__getitem__

        def __iter__(self):
            return iter(range(len(self)))

    assert json.loads(mida.capture(Rows())) == \
        list(range(cap)) + ["...(1000000000 items in all)"]
    v = json.loads(mida.capture(Table()))
    assert len(v) == cap + 1 and v["7"] == 7, v
    assert v["..."] == "(1000000000 items in all)"
    # A UserString is a str: written as one, cut as one.
    s = json.loads(mida.capture(collections.UserString("ab" * 100_000)))
    assert s.startswith("abab") and s.endswith("(200000 bytes in all)"), s


def test_a_collection_with_object_s_repr_keeps_it_and_is_not_read():
    # object's repr is short and reads no item: no item of a lazy data set
    # is loaded to record it.
    import collections.abc

    class CountedRows(collections.abc.Sequence):
        reads = 0

        def __len__(self):
            return 10**9

        def __getitem__(self, i):
            CountedRows.reads += 1
            if not 0 <= i < len(self):
                raise IndexError(i)
            return i

    v = json.loads(mida.capture(CountedRows()))
    assert v["type"].endswith("CountedRows") and "object at" in v["repr"]
    assert CountedRows.reads == 0
    assert json.loads(mida.capture(range(10**9))) == \
        {"type": "range", "repr": "range(0, 1000000000)"}


def test_a_mapping_that_fails_while_read_is_summarized_by_its_size():
    import collections.abc

    class Broken(collections.abc.Mapping):
        def __len__(self):
            return 2

        def __iter__(self):
            return iter([1, 3])

        def __getitem__(self, key):
            raise KeyError(key)

        __repr__ = no_repr

    v = json.loads(mida.capture(Broken()))
    assert set(v) == {"type", "len"} and v["len"] == 2, v
    assert v["type"].endswith(".Broken"), v


def test_a_key_named_like_the_cut_marker_keeps_its_value():
    # A cut dict ends with a "..." member; a key "..." of the dict made a
    # second member of that name, one of which hid the other (SQLite reads
    # the first, PostgreSQL and json.loads keep the last).
    cap = mida.configure()["max_items"]
    d = {"...": "mine"}
    d.update({str(i): i for i in range(100)})
    text = mida.capture(d)
    v = json.loads(text)
    assert text.count('"...":') == 1, text
    assert v["..."] == "mine" and v["... (mida)"] == "(101 items in all)"
    assert len(v) == cap + 1

    class Dots:
        def __str__(self):
            return "..."

    d = {Dots(): "kept", "... (mida)": "mine too"}
    d.update({i: i for i in range(100)})
    text = mida.capture(d)
    v = json.loads(text)
    assert v["..."] == "kept" and v["... (mida)"] == "mine too"
    assert v["... (mida 2)"] == "(102 items in all)", text
    # A result dict is cut alike.
    @mida.task
    def g():
        return {"...": 0, **{str(i): i for i in range(40)}}

    row = task_row(last_task_id(g))
    assert row["generated"]["..."] == 0
    assert row["generated"]["... (mida)"] == "(41 items in all)"


def test_user_exception_in_repr_of_result_does_not_escape():
    @mida.task
    def give():
        return Unprintable()

    out = give()
    assert isinstance(out, Unprintable)


def test_caps_are_configurable():
    old = mida.configure()
    try:
        mida.configure(max_items=3, max_str=5)
        v = json.loads(mida.capture({"s": "abcdefgh", "l": list(range(10))}))
        assert v["s"].startswith("abcde") and "8 bytes in all" in v["s"]
        assert v["l"][:3] == [0, 1, 2] and len(v["l"]) == 4
    finally:
        mida.configure(**old)
    assert mida.configure() == old


def test_workflow_metric_and_data():
    @mida.task
    def train(lr):
        for step in range(3):
            mida.metric("loss", 1.0 / (step + 1), step=step)
        mida.data("file:///tmp/model.bin", "generated", kind="model",
                  size=10)
        return "ok"

    with mida.workflow("exp", campaign="camp-py", seed=7) as wf:
        train(0.1)
    row = mida.query("SELECT * FROM workflow WHERE id = ?", [wf.id])[0]
    assert row["name"] == "exp" and row["status"] == "FINISHED"
    assert json.loads(row["metadata"]) == {"seed": 7}
    t = mida.query("SELECT id FROM task WHERE workflow_id = ?", [wf.id])
    assert len(t) == 1
    pts = mida.query("SELECT step, value FROM metric WHERE task_id = ? "
                     "ORDER BY step", [t[0]["id"]])
    assert pts == [{"step": 0, "value": 1.0}, {"step": 1, "value": 0.5},
                   {"step": 2, "value": 1.0 / 3}]
    link = mida.query("SELECT role FROM task_data WHERE task_id = ?",
                      [t[0]["id"]])
    assert link == [{"role": "generated"}]
    with pytest.raises(mida.Error):
        mida.metric("loss", 1.0)  # no current task


def test_data_takes_a_path_and_says_what_metadata_must_be():
    # mida.data(pathlib.Path(...)) raised "argument 1 must be str, not
    # PosixPath"; metadata as JSON text raised "a dict was expected",
    # naming neither the argument nor what it was given.
    import pathlib

    @mida.task(name="data_path_task")
    def step(p):
        mida.data(p, "generated", kind="file", metadata={"rows": 2})
        with pytest.raises(TypeError,
                           match="metadata must be a dict .*, not str"):
            mida.data(p, metadata='{"rows": 2}')
        return "ok"

    step(pathlib.Path("/tmp/mida-test-data/out.csv"))
    rows = mida.query(
        "SELECT d.uri, d.metadata, td.role FROM task t "
        "JOIN task_data td ON td.task_id = t.id "
        "JOIN data d ON d.id = td.data_id WHERE t.activity = ?",
        ["data_path_task"])
    assert rows == [{"uri": "/tmp/mida-test-data/out.csv",
                     "metadata": '{"rows":2}', "role": "generated"}]


def test_data_takes_a_file_name_that_is_not_utf8():
    # A file whose name is not UTF-8 (os.listdir gives it with lone
    # surrogates, os.fsdecode) raised UnicodeEncodeError out of mida.data,
    # and a bytes path TypeError: the program's loop over its files died.
    # The name is recorded as its bytes, as `mida run` records it.
    import pathlib

    @mida.task(name="data_bytes_name_task")
    def step():
        mida.data(pathlib.Path(os.fsdecode(b"/tmp/mida-caf\xe9.csv")),
                  "generated")
        mida.data(b"/tmp/mida-b\xff.csv", "used")
        with pytest.raises(ValueError, match="NUL"):
            mida.data("/tmp/a\x00b")
        return "ok"

    assert step() == "ok"
    rows = mida.query(
        "SELECT hex(d.uri) AS uri FROM task t "
        "JOIN task_data td ON td.task_id = t.id "
        "JOIN data d ON d.id = td.data_id WHERE t.activity = ? ORDER BY 1",
        ["data_bytes_name_task"])
    assert rows == [{"uri": b"/tmp/mida-b\xff.csv".hex().upper()},
                    {"uri": b"/tmp/mida-caf\xe9.csv".hex().upper()}]


class StrRaises:
    def __str__(self):
        raise RuntimeError("no str")

    __repr__ = __str__


class NumberRaises:
    def __index__(self):
        raise RuntimeError("no index")

    __float__ = __index__


def _qualname_not_utf8():
    def f():
        return 1
    f.__qualname__ = "f\udcff"
    return mida.task(f)


SURROGATE = os.fsdecode(b"caf\xe9")  # a lone surrogate, "caf\udce9"
ANY_ID = "01a24c84-8caf-7549-8c54-15df05f67c83"

# Each bad argument of the public API, the ValueError or TypeError it is
# and what its message says: until 2026-12-06 they were bare
# UnicodeEncodeError, OverflowError, TypeError and ValueError (no
# mida.Error) naming no argument, and a NUL in a task's name or a query
# parameter cut the text short, bytes bound as "b'...'": both silently.
BAD_ARGUMENTS = [
    ("metric key not UTF-8", lambda: mida.metric(SURROGATE, 1.0),
     ValueError, "key is not UTF-8 text"),
    ("metric key None", lambda: mida.metric(None, 1.0),
     TypeError, "key must be a str, not NoneType"),
    ("metric key NUL", lambda: mida.metric("a\0b", 1.0),
     ValueError, "key holds a NUL"),
    ("metric key empty", lambda: mida.metric("", 1.0, task=ANY_ID),
     ValueError, "needs a task and a key"),
    ("metric value str", lambda: mida.metric("k", "1"),
     TypeError, "value must be a real number, not str"),
    ("metric value 2**2000", lambda: mida.metric("k", 2**2000),
     ValueError, "value is too large for a float"),
    ("metric step 2**70", lambda: mida.metric("k", 1.0, step=2**70),
     ValueError, "step must fit in 64 bits"),
    ("metric step float", lambda: mida.metric("k", 1.0, step=1.5),
     TypeError, "step must be an integer, not float"),
    ("metric value __float__ raises",
     lambda: mida.metric("k", NumberRaises()),
     TypeError, "value must be a real number, not NumberRaises"),
    ("metric step __index__ raises",
     lambda: mida.metric("k", 1.0, step=NumberRaises()),
     TypeError, "step must be an integer, not NumberRaises"),
    ("metric task int", lambda: mida.metric("k", 1.0, task=5),
     TypeError, "a mida id is a str"),
    ("metric task not an id", lambda: mida.metric("k", 1.0, task="zz"),
     ValueError, "not a mida id"),
    ("data uri None", lambda: mida.data(None),
     TypeError, "uri must be a str or a path"),
    ("data role", lambda: mida.data("u", "read"),
     ValueError, "role must be 'used' or 'generated'"),
    ("data role None", lambda: mida.data("u", None),
     TypeError, "role must be a str"),
    ("data kind not UTF-8", lambda: mida.data("u", kind=SURROGATE),
     ValueError, "kind is not UTF-8 text"),
    ("data digest int", lambda: mida.data("u", digest=5),
     TypeError, r"digest must be a str \(or None\), not int"),
    ("data name NUL", lambda: mida.data("u", name="a\0b"),
     ValueError, "name holds a NUL"),
    ("data size 2**70", lambda: mida.data("u", size=2**70),
     ValueError, "size must fit in 64 bits"),
    ("data size float", lambda: mida.data("u", size=1.5),
     TypeError, "size must be an integer"),
    ("data metadata list", lambda: mida.data("u", metadata=[1]),
     TypeError, "metadata must be a dict"),
    ("workflow name not UTF-8", lambda: mida.workflow(SURROGATE).__enter__(),
     ValueError, "the workflow's name is not UTF-8 text"),
    ("workflow campaign int",
     lambda: mida.workflow("w", campaign=7).__enter__(),
     TypeError, "campaign must be a str"),
    ("task name not UTF-8", lambda: mida.task(name=SURROGATE)(len),
     ValueError, "name is not UTF-8 text"),
    ("task name NUL", lambda: mida.task(name="a\0b")(len),
     ValueError, "name holds a NUL"),
    ("task name int", lambda: mida.task(name=5)(len),
     TypeError, "name must be a str, not int"),
    ("task __qualname__ not UTF-8", _qualname_not_utf8,
     ValueError, "__qualname__ is not UTF-8 text"),
    ("task not callable", lambda: mida.task(5),
     TypeError, "needs a callable, not int"),
    ("query sql None", lambda: mida.query(None),
     TypeError, "sql must be a str, not NoneType"),
    ("query sql not UTF-8", lambda: mida.query("SELECT '%s'" % SURROGATE),
     ValueError, "sql is not UTF-8 text"),
    ("query param not UTF-8", lambda: mida.query("SELECT ?1", [SURROGATE]),
     ValueError, r"params\[0\] is not UTF-8 text"),
    ("query param NUL", lambda: mida.query("SELECT ?1", ["x", "a\0b"]),
     ValueError, r"params\[1\] holds a NUL"),
    ("query param bytes", lambda: mida.query("SELECT ?1", [b"x"]),
     TypeError, r"params\[0\] is bytes"),
    ("query param str raises", lambda: mida.query("SELECT ?1", [StrRaises()]),
     TypeError, r"params\[0\]: str\(\) of a StrRaises raised"),
    ("query params int", lambda: mida.query("SELECT 1", 5),
     TypeError, "params must be a list or tuple"),
    ("query max_rows str", lambda: mida.query("SELECT 1", (), "5"),
     TypeError, "max_rows must be an integer"),
    ("query max_rows 2**70", lambda: mida.query("SELECT 1", (), 2**70),
     ValueError, "max_rows must fit in 64 bits"),
    ("flush timeout str", lambda: mida.flush("1"),
     TypeError, "timeout must be a real number"),
    ("flush timeout 2**2000", lambda: mida.flush(2**2000),
     ValueError, "timeout is too large"),
    ("configure None", lambda: mida.configure(max_str=None),
     TypeError, "max_str must be an integer, not NoneType"),
    ("configure 2**70", lambda: mida.configure(max_items=2**70),
     ValueError, "max_items must fit in 64 bits"),
    ("configure -1", lambda: mida.configure(max_repr=-1),
     ValueError, "max_repr must be >= 0"),
]


@pytest.mark.parametrize("call, kind, message",
                         [case[1:] for case in BAD_ARGUMENTS],
                         ids=[case[0] for case in BAD_ARGUMENTS])
def test_a_bad_argument_is_a_mida_error_and_python_s_own_kind(call, kind,
                                                               message):
    caps = mida.configure()
    with pytest.raises(mida.Error, match=message) as err:
        call()
    assert isinstance(err.value, kind)
    expected = (mida.ArgumentError if kind is ValueError
                else mida.ArgumentTypeError)
    assert type(err.value) is expected
    assert mida.configure() == caps  # a bad cap changed none of them


def test_the_argument_errors_keep_python_s_conventions():
    assert issubclass(mida.ArgumentError, (mida.Error, ValueError))
    assert issubclass(mida.ArgumentError, ValueError)
    assert issubclass(mida.ArgumentTypeError, mida.Error)
    assert issubclass(mida.ArgumentTypeError, TypeError)
    assert mida.ArgumentError.__module__ == "mida"
    # The encoder's own error is kept as the cause.
    with pytest.raises(ValueError) as err:
        mida.metric(SURROGATE, 1.0)
    assert isinstance(err.value.__cause__, UnicodeEncodeError)
    with pytest.raises(TypeError) as err:
        mida.query("SELECT ?1", [StrRaises()])
    assert str(err.value.__cause__) == "no str"


RECORD_TOO_BIG = """
import os, warnings, mida
warnings.simplefilter("ignore")
@mida.task
def step():
    mida.metric("k" * (17 << 20), 1.0)  # more than the journal takes
    return 1
step()
if os.fork() == 0:  # the parent's count is not the child's
    os._exit(0 if mida.stats()["capture_errors"] == 0 else 3)
assert os.wait()[1] == 0
print(mida.stats()["capture_errors"])
"""


def test_a_record_the_binding_could_not_make_is_counted_in_the_store(
        tmp_path):
    # capture_errors was only in the process's mida.stats(), gone with it:
    # `mida stats` on the store showed nothing of the records left out.
    store = tmp_path / "s.db"
    r = subprocess.run([sys.executable, "-c", RECORD_TOO_BIG],
                       env=midapy_util.child_env(store), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "1\n", r.stdout + r.stderr
    st = subprocess.run([midapy_util.MIDA_BIN, "stats", "--json"],
                        env=midapy_util.child_env(store),
                        capture_output=True, text=True, timeout=60)
    assert st.returncode == 0, st.stderr
    assert json.loads(st.stdout)["counters"] == {"python.capture_errors": 1}


def test_sys_exit_ends_a_task_and_its_workflow_as_its_code_reads():
    # sys.exit(0) in a task or a `with mida.workflow` block (argparse's
    # --help, a script's `sys.exit(main())`) was CANCELLED, as Ctrl-C is;
    # sys.exit(1) too. They read as `mida run` reads an exit status now.
    @mida.task(name="exit_code_task")
    def step(code):
        sys.exit(code)

    async def exits_async(code):
        sys.exit(code)

    astep = mida.task(name="exit_code_task_async")(exits_async)
    got = {}
    for code in (None, 0, False, 1, "usage: bad"):
        with pytest.raises(SystemExit):
            with mida.workflow("exit-%r" % (code,)) as wf:
                step(code)
        got[repr(code)] = wf.id
        with pytest.raises(SystemExit):
            asyncio.run(astep(code))
    with pytest.raises(KeyboardInterrupt):
        with mida.workflow("exit-ctrl-c") as wf:
            raise KeyboardInterrupt
    got["ctrl-c"] = wf.id
    want = {"None": "FINISHED", "0": "FINISHED", "False": "FINISHED",
            "1": "ERROR", "'usage: bad'": "ERROR", "ctrl-c": "CANCELLED"}
    for code, wid in got.items():
        wf_row = mida.query("SELECT status FROM workflow WHERE id = ?",
                            [wid])
        assert wf_row == [{"status": want[code]}], code
        if code == "ctrl-c":
            continue
        t = mida.query("SELECT status, error FROM task WHERE workflow_id = ?",
                       [wid])
        assert [r["status"] for r in t] == [want[code]], code
        assert (t[0]["error"] is None) == (want[code] == "FINISHED"), code
    rows = mida.query("SELECT status, used FROM task WHERE activity = ?",
                      ["exit_code_task_async"])
    assert sorted((r["used"], r["status"]) for r in rows) == sorted(
        [('{"code":null}', "FINISHED"), ('{"code":0}', "FINISHED"),
         ('{"code":false}', "FINISHED"), ('{"code":1}', "ERROR"),
         ('{"code":"usage: bad"}', "ERROR")])


def test_a_workflow_s_campaign_is_its_tasks_campaign():
    # task.campaign_id (which `/api/tasks?campaign=` filters on) was the
    # session's (MIDA_CAMPAIGN, none here): NULL for the tasks of a
    # workflow begun with a campaign of its own, in its block or not.
    @mida.task
    def step(x):
        return x

    with mida.workflow("camp-exp", campaign="camp-tasks") as wf:
        step(1)
        with mida.workflow("camp-inner") as inner:  # the session's
            step(2)
        step(3)
    step(4)  # after the blocks: the session's workflow and campaign
    camp = mida.query("SELECT campaign_id FROM workflow WHERE id = ?",
                      [wf.id])[0]["campaign_id"]
    assert camp is not None
    rows = mida.query("SELECT workflow_id, campaign_id, generated FROM task"
                      " WHERE activity LIKE '%step'")
    by_x = {json.loads(r["generated"])["return"]: r for r in rows}
    assert [by_x[x]["campaign_id"] for x in (1, 2, 3, 4)] == [
        camp, None, camp, None]
    assert by_x[2]["workflow_id"] == inner.id


def test_a_metric_s_infinities_are_read_back_as_floats():
    # SQLite writes an infinite REAL as the text Inf or -Inf (PostgreSQL:
    # Infinity, -Infinity, NaN); they came back as str, so that a frame's
    # value column of a diverged loss was of objects, and max() raised.
    @mida.task
    def diverges():
        for step, v in enumerate((1.0, math.inf, -math.inf)):
            mida.metric("diverging", v, step=step)

    diverges()
    pts = mida.query("SELECT value FROM metric WHERE key = 'diverging'"
                     " ORDER BY step")
    assert pts == [{"value": 1.0}, {"value": math.inf},
                   {"value": -math.inf}]
    assert all(type(p["value"]) is float for p in pts)
    df = mida.query_df("SELECT value FROM metric WHERE key = 'diverging'")
    assert df["value"].dtype == np.float64
    row = mida.query("SELECT 'Infinity' AS a, '-Infinity' AS b, 'NaN' AS c,"
                     " 'Inf ' AS d, 'inf' AS e")[0]
    assert row["a"] == math.inf and row["b"] == -math.inf
    assert math.isnan(row["c"]) and row["d"] == "Inf " and row["e"] == "inf"


def test_query_df_returns_a_dataframe():
    @mida.task
    def one():  # a row to read, whichever tests ran before
        return 1

    one()
    df = mida.query_df("SELECT id, status FROM task")
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["id",
                                                                "status"]
    with pytest.raises(mida.Error):
        mida.query("DELETE FROM task")


def test_query_df_of_no_rows_has_the_querys_columns():
    # An empty result: a frame of the query's columns, not one of none
    # (df["status"] raised KeyError: the names came with the first row).
    df = mida.query_df("SELECT id, status AS state FROM task WHERE 0 = 1")
    assert list(df.columns) == ["id", "state"] and len(df) == 0
    assert mida._mida.query("SELECT 1 AS a, 2 AS b WHERE 0 = 1", (), 10,
                            True) == (["a", "b"], [])
    assert mida._mida.query("SELECT 1 AS a", (), 10, True) == (["a"],
                                                             [{"a": 1}])


def test_a_column_name_given_twice_keeps_both_columns():
    # A join's two `id` columns were one key of the rows' dicts, holding
    # the second's values: query_df("SELECT * FROM task t JOIN workflow w
    # ...") showed each task the id and status of its workflow. The second
    # is name_2 now, as `mida query --json` names it.
    with mida.workflow("dup-names") as wf:
        @mida.task(name="dup_names_step")
        def dup_names_step():
            return {"ok": 1}

        dup_names_step()
    sql = ("SELECT t.id, t.activity, w.id, w.name FROM task t "
           "JOIN workflow w ON w.id = t.workflow_id "
           "WHERE t.activity = 'dup_names_step'")
    rows = mida.query(sql)
    assert len(rows) == 1
    assert rows[0]["id_2"] == wf.id and rows[0]["id"] != wf.id
    assert rows[0]["activity"] == "dup_names_step"
    df = mida.query_df(sql)
    assert list(df.columns) == ["id", "activity", "id_2", "name"]
    assert df["id"][0] == rows[0]["id"] and df["id_2"][0] == wf.id
    # The first name no column has, as the CLI's rule gives it.
    assert mida.query("SELECT 1 AS a, 2 AS a, 3 AS a_2") == [
        {"a": 1, "a_3": 2, "a_2": 3}]
    assert list(mida.query_df("SELECT 1 AS a, 2 AS a").columns) == [
        "a", "a_2"]


def test_flush_takes_its_timeout_as_docs_python_md_writes_it():
    # mida.flush(timeout=-1), as documented: the keyword raised TypeError
    # ("flush() takes no keyword arguments"); NaN was cast to an int.
    @mida.task
    def step():
        return {"ok": 1}

    step()
    assert mida.flush(timeout=30) is True
    assert mida.flush(30) is True
    assert mida.flush(timeout=1e300) is True  # past an int of ms: no limit
    with pytest.raises(ValueError, match="seconds"):
        mida.flush(timeout=float("nan"))
    with pytest.raises(TypeError):
        mida.flush(wait=3)


def test_query_keeps_at_most_max_rows():
    # The rows are kept in memory: an endless result stops at max_rows
    # with an error (on main it grew until the 30 s time limit: 4.8 GB).
    endless = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1"
               " FROM c) SELECT n FROM c")
    with pytest.raises(mida.Error, match="more than 1000 rows"):
        mida.query(endless, max_rows=1000)
    with pytest.raises(mida.Error, match="max_rows"):
        mida.query_df(endless, max_rows=10)
    few = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1"
           " FROM c WHERE n < 1000) SELECT n FROM c")
    assert len(mida.query(few, max_rows=1000)) == 1000
    assert len(mida.query(few, max_rows=None)) == 1000
    assert len(mida.query(few)) == 1000
    with pytest.raises(ValueError):
        mida.query(few, max_rows=0)


# A statement that never ends: counts an endless recursive sequence.
ENDLESS_QUERY = ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1"
                 " FROM c) SELECT count(*) AS n FROM c")

INTERRUPTED_CHILD = """
import json, mida, os, signal, sys, threading, time
with mida.workflow("store"):
    pass
mida.flush(10)
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
t0 = time.monotonic()
try:
    mida.query(sys.argv[1])
    print(json.dumps({"raised": None}))
except BaseException as e:
    print(json.dumps({"raised": type(e).__name__,
                      "after": time.monotonic() - t0}))
"""


def interrupt_a_query(env):
    """Runs an endless query in a child Python that SIGINTs itself after
    0.5 s; what it raised. Without a way to stop, the child would run
    until the subprocess limit kills it."""
    r = subprocess.run([sys.executable, "-c", INTERRUPTED_CHILD,
                        ENDLESS_QUERY], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_ctrl_c_interrupts_a_long_query(tmp_path):
    env = midapy_util.child_env(tmp_path / "q.db", MIDA_QUERY_TIMEOUT_MS="0",
                                MIDA_SAMPLE_HZ="0")
    got = interrupt_a_query(env)
    assert got["raised"] == "KeyboardInterrupt", got
    assert got["after"] < 30, got  # the query itself never ends


def test_child_after_fork_records_in_its_own_session():
    @mida.task
    def in_child(x):
        return x + 1

    in_child(0)  # the parent's session is open before the fork
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            in_child(41)
            mida.flush(10)
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    rows = mida.query("SELECT pid FROM task WHERE used = '{\"x\":41}'")
    assert [r["pid"] for r in rows] == [pid]


def test_a_fork_childs_records_are_shipped_by_its_parents_flush():
    """A child that ends with os._exit (as a multiprocessing worker does)
    ships nothing itself; its parent's next flush ships its journal, so
    that mida.query sees its tasks (they waited for the next process
    that opened the store)."""
    @mida.task
    def exited_child(x):
        return x

    exited_child(0)
    pid = os.fork()
    if pid == 0:
        exited_child(4242)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert mida.flush(30)
    rows = mida.query("SELECT pid FROM task WHERE used = '{\"x\":4242}'")
    assert [r["pid"] for r in rows] == [pid]


CAMPAIGN_OF_A_BLOCK = r"""
import mida
with mida.workflow("pipeline", campaign="qa-camp"):
    @mida.task
    def step(x):
        return x
    step(1)
print(mida.query("SELECT id FROM task WHERE activity = 'step'")[0]["id"])
"""


def test_mida_show_names_the_campaign_of_a_tasks_workflow(tmp_path):
    """A task of a `with mida.workflow(..., campaign=...)` block carries
    no campaign of its own (the session has none); `mida show` of it said
    `campaign -` while the workflow's said qa-camp. It names the
    workflow's campaign now."""
    store = tmp_path / "c.db"
    env = midapy_util.child_env(store, MIDA_SAMPLE_HZ="0")
    r = subprocess.run([sys.executable, "-c", CAMPAIGN_OF_A_BLOCK], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    task = r.stdout.split()[-1]
    shown = subprocess.run([midapy_util.MIDA_BIN, "--store", str(store),
                            "show", task], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    line = [ln for ln in shown.stdout.splitlines()
            if ln.startswith("campaign")][0]
    assert line.endswith("(qa-camp)"), shown.stdout


FAILING_TASK = r"""
import mida
@mida.task
def broken(x):
    raise ValueError("bad value %d" % x)
try:
    broken(3)
except ValueError:
    pass
print(mida.query("SELECT id FROM task WHERE activity = 'broken'")[0]["id"])
"""


def test_mida_show_prints_a_traceback_one_line_a_line(tmp_path):
    store = tmp_path / "e.db"
    env = midapy_util.child_env(store, MIDA_SAMPLE_HZ="0")
    r = subprocess.run([sys.executable, "-c", FAILING_TASK], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    shown = subprocess.run([midapy_util.MIDA_BIN, "--store", str(store),
                            "show", r.stdout.split()[-1]],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    error = shown.stdout.split("\nerror\n")[1].split("\nused\n")[0]
    lines = error.splitlines()
    assert lines[0] == "  ValueError: bad value 3", lines
    assert "  Traceback (most recent call last):" in lines, lines
    assert "\\n" not in error


QUERY_ON_A_DOWN_STORE = r"""
import json, time, warnings
import mida
warnings.simplefilter("ignore")

@mida.task
def f(x):
    return x

f(1)
took = []
for _ in range(2):
    t = time.monotonic()
    try:
        mida.query("SELECT 1")
        took.append(None)
    except mida.Error:
        took.append(time.monotonic() - t)
print(json.dumps(took))
"""


def test_a_query_on_a_store_that_is_down_fails_within_seconds(tmp_path):
    """mida.query flushes this process's records first; a store that
    refuses connections used to hold each query for the flush's whole
    10 s (a steering loop, 10 s a question) before the query's own
    error. Now the flush gives up after its first second once the
    store has failed an attempt in it."""
    import socket
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = midapy_util.child_env(tmp_path / "unused.db",
                                MIDA_SPOOL=str(tmp_path / "spool"),
                                MIDA_SAMPLE_HZ="0")
    env["MIDA_STORE"] = f"postgresql://127.0.0.1:{port}/mida"
    r = subprocess.run([sys.executable, "-c", QUERY_ON_A_DOWN_STORE],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    took = json.loads(r.stdout.strip().splitlines()[-1])
    assert all(t is not None and t < 5 for t in took), took


TASK_THAT_RECORDS_WITH_CAPTURE_OFF = r"""
import asyncio, json, warnings
import mida

warnings.simplefilter("ignore")  # the one RuntimeWarning of a bad store
seen = {}

@mida.task
def inner():
    return 2

@mida.task
def train(lr):
    mida.metric("loss", 0.5, step=0)
    mida.data("file:///out/model.pt", "generated")
    seen["task"] = mida.current_task()
    return {"acc": inner() + lr}

@mida.task
async def evaluate():
    mida.metric("acc", 0.9)
    return mida.current_task()

with mida.workflow("w"):
    out = train(0.25)
    seen["async"] = asyncio.run(evaluate())
try:
    mida.metric("loss", 0.5)
    outside = "recorded"
except mida.Error:
    outside = "raised"
print(json.dumps({"out": out, "task": seen["task"], "async": seen["async"],
                  "outside": outside,
                  "capture_errors": mida.stats()["capture_errors"],
                  "flushed": mida.flush(5)}))
"""


@pytest.mark.parametrize("why", ["MIDA_DISABLE=1", "a store URL mida "
                                 "does not know"])
def test_a_task_s_metrics_and_data_go_on_when_nothing_is_recorded(
        tmp_path, why):
    """With capture off (MIDA_DISABLE=1) or a store that cannot be opened,
    a @mida.task (async too) ran its function with no current task, so
    the mida.metric and mida.data inside raised 'no current task' into the
    program: recording must never raise into it. The call now runs as a
    task whose id nothing records; outside any task mida.metric still
    raises, as that is a wrong call."""
    env = midapy_util.child_env(tmp_path / "s.db",
                                MIDA_SPOOL=str(tmp_path / "spool"))
    if why == "MIDA_DISABLE=1":
        env["MIDA_DISABLE"] = "1"
    else:
        env["MIDA_STORE"] = "bogus://nowhere"
    r = subprocess.run([sys.executable, "-c",
                        TASK_THAT_RECORDS_WITH_CAPTURE_OFF], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["out"] == {"acc": 2.25}
    assert got["task"] is not None and got["async"] is not None
    assert got["outside"] == "raised"
    assert not (tmp_path / "s.db").exists()
    if why == "MIDA_DISABLE=1":  # nothing to record: nothing lost
        assert got["capture_errors"] == 0 and got["flushed"] is True
    else:
        # python.md: the records the binding could not make are counted,
        # and flush says False. A @mida.task, mida.metric and mida.data
        # without a session counted none: flush said True.
        assert got["capture_errors"] >= 6 and got["flushed"] is False


FORK_WHILE_THE_STORE_IS_LOCKED = r"""
import json, os, sqlite3, sys, time
import mida

@mida.task
def work(i):
    return {"i": i}

work(0)
mida.flush(30)
locker = sqlite3.connect(sys.argv[1], isolation_level=None)
locker.execute("BEGIN IMMEDIATE")  # another program's write lock
for i in range(1, 100):
    work(i)
time.sleep(0.5)  # the shipper now waits for the lock, inside SQLite
start = time.monotonic()
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
took = time.monotonic() - start
locker.execute("ROLLBACK")
locker.close()
print(json.dumps({"fork_s": took, "flushed": mida.flush(60)}))
"""


def test_fork_does_not_wait_for_a_store_another_program_locked(tmp_path):
    """The program's fork() goes on while mida's shipper waits for another
    program's write lock on the store: a busy wait holds no process-wide
    lock (src/sink/sink.c, fork safety). It waited for the shipper to give
    up, 30 s, before; 20 s is the limit here, the lock being held until
    the fork returns."""
    store = tmp_path / "locked.db"
    env = midapy_util.child_env(store, MIDA_SAMPLE_HZ="0")
    r = subprocess.run([sys.executable, "-c", FORK_WHILE_THE_STORE_IS_LOCKED,
                        str(store)], env=env, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["fork_s"] < 20, got
    assert got["flushed"] is True, got
    rows = midapy_util.store_rows(store, "SELECT count(*) AS n FROM task")
    assert rows == [{"n": 100}]


CHILD_OUTLIVES_ITS_PARENT = r"""
import os, sys, time
import mida

@mida.task
def work(i):
    return i

work(-1)
mida.flush(30)  # the parent's connection to the store is open
parent, ready = os.getpid(), sys.argv[1] + ".ready"
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)  # the parent's pipes are not
    os.dup2(null, 1)                         # held open by the child
    os.dup2(null, 2)
    open(sys.argv[1] + ".pid", "w").write(str(os.getpid()))
    work(0)
    mida.flush(30)  # and the child's
    open(ready, "w").close()
    while os.getppid() == parent:  # the parent ends, its session closed
        time.sleep(0.01)
    for i in range(1, 200):
        work(i)
        if i % 10 == 0:
            mida.flush(30)
    ok = mida.flush(60)
    open(sys.argv[1], "w").write("flushed" if ok else "not flushed")
    os._exit(0)
while not os.path.exists(ready):
    time.sleep(0.01)
"""


def test_a_fork_child_that_outlives_its_parent_keeps_every_record(tmp_path):
    """A child of fork() inherits SQLite's record of its parent's locks
    (not the locks): before src/sink/sqlite_fork.h, its own connection
    took no lock of its own, the parent's exit found itself the store's
    last user and removed the WAL, and the child's later commits went into
    the removed file: lost, and the child's flushes hung (a first run kept
    61 of its 301 tasks)."""
    store = tmp_path / "fork.db"
    done = tmp_path / "done"
    env = midapy_util.child_env(store, MIDA_SAMPLE_HZ="0")
    r = subprocess.run([sys.executable, "-c", CHILD_OUTLIVES_ITS_PARENT,
                        str(done)], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    try:
        for _ in range(600):  # the child ends after its parent
            if done.exists() and done.read_text():
                break
            time.sleep(0.05)
        assert done.exists() and done.read_text() == "flushed"
    finally:
        child = int((tmp_path / "done.pid").read_text())
        try:
            os.kill(child, 9)  # one that hung
        except ProcessLookupError:
            pass
    rows = midapy_util.store_rows(store, "SELECT count(*) AS n FROM task")
    assert rows == [{"n": 201}]


def test_decorated_function_keeps_its_identity():
    def documented(a):
        """Doc."""
        return a

    t = mida.task(documented)
    assert t.__wrapped__ is documented
    assert t.__name__ == "documented" and t.__doc__ == "Doc."
    assert mida.task(t) is t  # decorating twice records once
    assert mida.task(name="custom")(documented).activity == "custom"


def test_caps_beyond_what_the_journal_takes_still_record_the_task():
    old = mida.configure()
    deep = [[[[[[[[1]]]]]]]]
    try:
        with pytest.raises(ValueError):
            mida.configure(max_depth=1000)
        mida.configure(max_str=64 * 1024 * 1024, max_bytes=1 << 30,
                       max_depth=32)

        @mida.task
        def big(s, d):
            return s

        huge = "y" * (40 * 1024 * 1024)  # more than a journal segment
        out = {}
        tid = last_task_id(lambda: out.setdefault("r", big(huge, deep)))
        assert out["r"] is huge
        row = task_row(tid)
        assert row["status"] == "FINISHED"
        assert row["used"] == {"_mida": "arguments too large to record"}
        assert row["generated"] == {"_mida": "result too large to record"}
    finally:
        mida.configure(**old)


def test_torch_tensor_is_summarized():
    torch = pytest.importorskip("torch")
    cap = json.loads(mida.capture(torch.zeros((3, 4), dtype=torch.float32)))
    assert cap == {"type": "torch.Tensor", "dtype": "torch.float32",
                   "shape": [3, 4], "bytes": 48}
    assert json.loads(mida.capture(torch.tensor(2.5))) == 2.5  # 0-d: value


def test_numpy_time_scalars_are_recorded_as_their_value():
    """docs/python.md: NumPy scalars are recorded as their value. A
    datetime64 or timedelta64 (a time range given to an analysis) was an
    array summary, {"type", "dtype", "shape": [], "bytes"}, its value
    lost; it is its text now, as NumPy prints it."""
    np = pytest.importorskip("numpy")
    cap = lambda v: json.loads(mida.capture(v))  # noqa: E731
    assert cap(np.datetime64("2026-01-02")) == "2026-01-02"
    assert cap(np.datetime64("2026-01-02T03:04:05.5")) == \
        "2026-01-02T03:04:05.500"
    assert cap(np.timedelta64(5, "s")) == "5 seconds"
    assert cap(np.array(np.datetime64("2026-01-02"))) == "2026-01-02"
    assert cap(np.datetime64("NaT")) == "NaT"
    # An array of them is still a summary, and other scalars their value.
    assert cap(np.array([np.datetime64("2026-01-02")]))["shape"] == [1]
    assert cap(np.float32(1.5)) == 1.5 and cap(np.int64(3)) == 3


# ---- the Dask worker's TaskMeter, in process ---------------------------

class TaskRef:
    """Named as Dask's reference to another key (dask._task_spec)."""
    def __init__(self, key):
        self.key = key


class List:
    """Named as Dask's nested graph node, with its dependencies."""
    def __init__(self, *keys):
        self.dependencies = frozenset(keys)


def test_taskmeter_records_arguments_references_and_result():
    from mida import _mida

    def combine(a, b, c, scale=1):
        return (a + b + sum(c)) * scale

    tid = _mida.new_id()
    # The run spec: a is a reference to key "x-1", c a nested node over two
    # keys, b a literal; scale a keyword literal.
    meter = _mida.TaskMeter(combine, tid,
                            args=(TaskRef("x-1"), 2, List("y-2", "y-1")),
                            kwargs={"scale": 3}, worker="tcp://w:1")
    assert meter(10, 2, [1, 1], scale=3) == 42  # actual values pass through
    mida.flush(30)
    row = task_row(tid)
    assert row["used"] == {"a": {"ref": "x-1"}, "b": 2,
                           "c": {"graph": "List", "refs": ["y-1", "y-2"]},
                           "scale": 3}
    assert row["generated"] == {"return": 42}
    assert row["worker"] == "tcp://w:1" and row["pid"] == os.getpid()


def test_taskmeter_old_tuple_specs_and_errors():
    from mida import _mida

    def half(v, name="n"):
        return 1 / v

    tid = _mida.new_id()
    # Older Dask: references are the dependency keys themselves.
    meter = _mida.TaskMeter(half, tid, args=("dep-key", "plain"),
                            deps={"dep-key"})
    with pytest.raises(ZeroDivisionError) as err:
        meter(0, "plain")
    assert "division" in str(err.value)  # the user's exception, untouched
    mida.flush(30)
    row = task_row(tid)
    assert row["used"] == {"v": {"ref": "dep-key"}, "name": "plain"}
    assert row["generated"] is None

    tid2 = _mida.new_id()
    m2 = _mida.TaskMeter(max, tid2, args=(3, 4), names=("first", "second"))
    assert m2(3, 4, 5) == 5
    mida.flush(30)
    assert task_row(tid2)["used"] == {"first": 3, "second": 4, "arg2": 5}
    with pytest.raises(TypeError):
        _mida.TaskMeter(max, tid2, args=[1])  # args must be a tuple


def workflows_of(activity):
    """{tag: set of workflow names (None: no workflow)} of the tasks of an
    activity, and the workflows' statuses by name."""
    rows = mida.query(
        "SELECT json_extract(t.used, '$.tag') AS tag, w.name AS wf, "
        "w.status AS status FROM task t LEFT JOIN workflow w "
        "ON w.id = t.workflow_id WHERE t.activity = ?", [activity])
    tags, status = {}, {}
    for r in rows:
        tags.setdefault(r["tag"], set()).add(r["wf"])
        if r["wf"] is not None:
            status[r["wf"]] = r["status"]
    return tags, status


def test_workflow_blocks_in_threads_keep_their_own_tasks():
    import threading

    @mida.task(name="wf_threads_leaf")
    def leaf(tag):
        time.sleep(0.0005)
        return tag

    go = threading.Barrier(3)

    def worker(name):
        go.wait()
        with mida.workflow(name):
            for _ in range(40):
                leaf(name)

    ts = [threading.Thread(target=worker, args=("wfT-" + n,))
          for n in "ABC"]
    [t.start() for t in ts]
    [t.join() for t in ts]
    leaf("after")
    tags, status = workflows_of("wf_threads_leaf")
    # On main, tasks went to whichever block had begun last.
    assert tags == {"wfT-A": {"wfT-A"}, "wfT-B": {"wfT-B"},
                    "wfT-C": {"wfT-C"}, "after": {None}}
    assert set(status.values()) == {"FINISHED"}
    assert mida.session_info()["workflow"] is None


def test_workflow_blocks_that_end_out_of_order_leave_none_current():
    import threading

    @mida.task(name="wf_order_leaf")
    def leaf(tag):
        return tag

    a_in, b_in, a_out = (threading.Event() for _ in range(3))

    def first():
        with mida.workflow("wfO-A"):
            a_in.set()
            b_in.wait()
            leaf("A")
        a_out.set()

    def second():
        a_in.wait()
        with mida.workflow("wfO-B"):
            b_in.set()
            a_out.wait()
            leaf("B")

    ts = [threading.Thread(target=first), threading.Thread(target=second)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    # On main, A's end restored "none", B's end then restored A (ended):
    # the process's tasks went to an ended workflow from then on.
    leaf("after")
    assert mida.session_info()["workflow"] is None
    tags, status = workflows_of("wf_order_leaf")
    assert tags == {"A": {"wfO-A"}, "B": {"wfO-B"}, "after": {None}}
    assert status == {"wfO-A": "FINISHED", "wfO-B": "FINISHED"}


def test_workflow_blocks_in_asyncio_tasks_keep_their_own_tasks():
    @mida.task(name="wf_async_leaf")
    def leaf(tag):
        return tag

    async def job(name):
        with mida.workflow(name):
            for _ in range(3):
                leaf(name)
                await asyncio.sleep(0.005)

    async def main():
        await asyncio.gather(job("wfX"), job("wfY"))
        leaf("after")

    asyncio.run(main())
    tags, status = workflows_of("wf_async_leaf")
    assert tags == {"wfX": {"wfX"}, "wfY": {"wfY"}, "after": {None}}
    assert status == {"wfX": "FINISHED", "wfY": "FINISHED"}


def test_a_thread_started_in_the_only_open_block_follows_it():
    import concurrent.futures as cf
    import threading

    @mida.task(name="wf_follow_leaf")
    def leaf(tag):
        return tag

    async def to_thread():
        await asyncio.to_thread(leaf, "to_thread")

    with mida.workflow("wfF-outer") as outer:
        t = threading.Thread(target=leaf, args=("thread",))
        t.start()
        t.join()
        with cf.ThreadPoolExecutor(1) as ex:
            ex.submit(leaf, "pool").result()
        asyncio.run(to_thread())
        with mida.workflow("wfF-inner") as inner:
            leaf("inner")
            t = threading.Thread(target=leaf, args=("inner-thread",))
            t.start()
            t.join()
        leaf("outer-again")
    tags, _ = workflows_of("wf_follow_leaf")
    assert tags == {"thread": {"wfF-outer"}, "pool": {"wfF-outer"},
                    "to_thread": {"wfF-outer"}, "inner": {"wfF-inner"},
                    "inner-thread": {"wfF-inner"},
                    "outer-again": {"wfF-outer"}}
    parent = mida.query("SELECT parent_id FROM workflow WHERE id = ?",
                        [inner.id])
    assert parent == [{"parent_id": outer.id}]


# The checks of mida.query's parameters, run on each store.
QUERY_PARAMS = """
import mida, pytest
assert mida.query("SELECT ?1 AS v", ["f"]) == [{"v": "f"}]
assert mida.query("SELECT ?1 AS a, ?2 AS b", ("x", "y")) == [
    {"a": "x", "b": "y"}]
assert mida.query("SELECT ?1 IS NULL AS n", [None])[0]["n"] in (1, "t")
assert mida.query("SELECT 1 AS a", []) == [{"a": 1}]
# A dict bound its keys, a str its characters: both refused.
with pytest.raises(TypeError, match="named parameters"):
    mida.query("SELECT ?1 AS v", {"a": "f"})
for wrong in ("f", b"f", bytearray(b"f")):
    with pytest.raises(TypeError, match="list or tuple"):
        mida.query("SELECT ?1 AS v", wrong)
# A parameter without a value was NULL, a value without one ignored.
# (PostgreSQL's text: "the query uses ?2, and 1 parameters were given".)
with pytest.raises(mida.Error, match=r"(takes 2|uses \\?2, and) .*1 "):
    mida.query("SELECT ?1 AS a, ?2 AS b", ["x"])
with pytest.raises(mida.Error, match="takes 1 parameters, 2 given"):
    mida.query("SELECT ?1 AS a", ["x", "y"])
with pytest.raises(mida.Error, match="takes 0 parameters, 1 given"):
    mida.query("SELECT 1 AS a", ["x"])
# An int or a float is bound as a number: it equals the number a JSON
# document holds on SQLite too (bound as its str, it matched nothing
# there: SQLite's 0.01 and '0.01' differ), and a str stays a text.
@mida.task
def fit(lr, n, tag):
    return 1
fit(0.01, 5, "5")
w = "SELECT count(*) AS c FROM task WHERE activity = 'fit' AND "
assert mida.query(w + "json_extract(used, '$.lr') = ?1", [0.01]) == [
    {"c": 1}]
assert mida.query(w + "json_extract(used, '$.n') > ?1", [4]) == [{"c": 1}]
assert mida.query(w + "json_extract(used, '$.n') = ?1", (5,)) == [{"c": 1}]
assert mida.query(w + "used->>'tag' = ?1", ["5"]) == [{"c": 1}]
# NumPy's numbers too: NumPy 2's float64 was bound as its repr, the text
# 'np.float64(0.01)', and an int64 as its text, matching nothing.
import numpy as np
assert mida.query(w + "json_extract(used, '$.lr') = ?1",
                  [np.float64(0.01)]) == [{"c": 1}]
assert mida.query(w + "json_extract(used, '$.n') = ?1",
                  [np.int64(5)]) == [{"c": 1}]
print("ok")
"""


def test_real_numbers_that_are_no_float_are_bound_as_numbers():
    # A Decimal, a Fraction, a NumPy float32 were bound as their str(), a
    # text, which equals no number the store holds.
    import decimal
    import fractions
    row = mida.query("SELECT ?1 = 0.5 AS a, ?2 = 0.5 AS b, ?3 = 0.25 AS c",
                     [decimal.Decimal("0.5"), fractions.Fraction(1, 2),
                      np.float32(0.25)])[0]
    assert row == {"a": 1, "b": 1, "c": 1}
    # A value float() refuses is said, not bound as some text.
    with pytest.raises(mida.ArgumentError, match=r"params\[0\]"):
        mida.query("SELECT ?1 AS v", [decimal.Decimal("sNaN")])


def test_query_params_are_as_many_values_in_a_list_or_tuple(tmp_path):
    r = subprocess.run([sys.executable, "-c", QUERY_PARAMS],
                       env=midapy_util.child_env(tmp_path / "q.db"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stdout + r.stderr
    # SQLite's own ? and :name placeholders, in order.
    assert mida.query("SELECT ? AS a, :b AS b", ["x", "y"]) == [
        {"a": "x", "b": "y"}]
    with pytest.raises(mida.Error, match="takes 2 parameters, 1 given"):
        mida.query("SELECT ? AS a, :b AS b", ["x"])


def test_query_params_on_postgresql(tmp_path):
    admin = os.environ.get("MIDA_TEST_PG",
                           "postgresql://postgres@127.0.0.1:5432")
    conf = midapy_util.BUILD / "mida_config.h"
    psql = ["psql", admin + "/postgres", "-AtqX", "-v", "ON_ERROR_STOP=1",
            "-c"]
    try:
        ok = ("#define MIDA_HAVE_LIBPQ 1" in conf.read_text() and
              subprocess.run(psql + ["SELECT 1"], capture_output=True,
                             timeout=30).returncode == 0)
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        pytest.skip("PostgreSQL on 127.0.0.1:5432 or libpq is missing")
    name = "mida_pyq_%d_%d" % (os.getpid(), time.monotonic_ns() % 10**9)
    subprocess.run(psql + ["CREATE DATABASE " + name], check=True,
                   capture_output=True, timeout=60)
    try:
        env = midapy_util.child_env(tmp_path / "unused.db",
                                    MIDA_SPOOL=tmp_path / "spool")
        env["MIDA_STORE"] = admin + "/" + name
        r = subprocess.run([sys.executable, "-c", QUERY_PARAMS], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout == "ok\n", r.stdout + r.stderr
    finally:
        subprocess.run(psql + ["DROP DATABASE IF EXISTS %s WITH (FORCE)"
                               % name], capture_output=True, timeout=60)


def test_a_taskmeter_s_task_and_workflow_are_current_during_the_call():
    import pickle

    import cloudpickle
    from mida import _mida

    @mida.task(name="meter_nested")
    def nested(x):
        return x

    seen = {}

    def body(x):
        seen["current"] = mida.current_task()
        mida.metric("meter_metric", 1.5, step=x)
        return nested(x)

    tid, wf = _mida.new_id(), _mida.new_id()
    meter = _mida.TaskMeter(body, tid, worker="tcp://w:1", workflow=wf)
    again = pickle.loads(cloudpickle.dumps(meter))  # a process pool's
    assert again.task == tid and again(8) == 8
    assert meter(7) == 7 and seen["current"] == tid
    assert mida.current_task() is None  # reset after the call
    kids = mida.query("SELECT parent_id, workflow_id FROM task "
                      "WHERE activity = 'meter_nested'")
    assert kids == [{"parent_id": tid, "workflow_id": wf}] * 2
    assert mida.query("SELECT task_id, step FROM metric WHERE key = "
                      "'meter_metric' ORDER BY step") == [
        {"task_id": tid, "step": 7}, {"task_id": tid, "step": 8}]
    # Without a workflow: the nested task's is the session's (none here).
    _mida.TaskMeter(body, _mida.new_id())(9)
    assert mida.query("SELECT workflow_id FROM task WHERE activity = "
                      "'meter_nested' AND json_extract(used, '$.x') = 9") \
        == [{"workflow_id": None}]

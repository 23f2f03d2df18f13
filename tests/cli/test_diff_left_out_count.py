"""`mida diff` says how many facts it left out past its bound (20,000 a
side) with the noun agreeing: one fact over reads "(1 fact of A and 0 of
B left out: over 20000)", not "1 facts"."""

import json

from test_show_diff_repeats import mida, python

MAX_FACTS = 20000  # diff.c


def task_with_params(store, n):
    """Records one task of n parameters; its id."""
    return python(store, "import mida\n"
                         "@mida.task\n"
                         "def f(**kw):\n"
                         "    return 0\n"
                         "with mida.workflow('w'):\n"
                         f"    f(**{{f'k{{i}}': i for i in range({n})}})\n"
                         "print(mida.query('SELECT id FROM task"
                         " ORDER BY started DESC LIMIT 1')[0]['id'])\n").strip()


def test_diff_says_one_fact_left_out(mida_bin, tmp_path):
    store = tmp_path / "s.db"
    small = task_with_params(store, 3)
    rows = json.loads(mida(mida_bin, store, "diff", small, small,
                           "--json"))["rows"]
    others = len(rows) - 3  # the facts that are not parameters
    big = task_with_params(store, MAX_FACTS + 1 - others)
    d = json.loads(mida(mida_bin, store, "diff", big, small, "--json"))
    assert d["a"]["facts_left_out"] == 1, d["a"]
    text = mida(mida_bin, store, "diff", big, small)
    assert f"(1 fact of A and 0 of B left out: over {MAX_FACTS})\n" in text, \
        text[-300:]

"""activity= glob patterns follow SQLite's GLOB on both stores.

The SQLite store's glob() is SQLite's own; the PostgreSQL store's is
mida.glob (src/sink/pg_glob.h), which rewrote '*' and '?' inside a set
too, so that [*] matched '.' and read [^a] as "'^' or 'a'". Each case is
asked of both stores, through /api/tasks and `mida tasks`, and the answer
is what Python's sqlite3 says `activity GLOB pattern` is."""

import json
import sqlite3
import subprocess
import urllib.parse

from serve_support import copy_sqlite_to_postgres, fx, psql

# Activities with the characters that a set, a regular expression or a
# LIKE pattern reads specially, and a few beyond ASCII.
ACTIVITIES = [".", "*", "?", "a", "b", "c", "-", "]", "[", "^", "\\", "!",
              "ab", "a*b", "a.b", "axb", "x]", "é", "A", "z", "a\nb", "$",
              "(a)", "a+", "{a}", "a|b", "xyz", "a-c", "ñ", "日本"]
# Closed patterns (an unclosed '[' is a 400 of the API: below).
PATTERNS = ["[*]", "[?]", "[.]", "[*?]", "a[*]b", "[^a]", "[^*]", "[]]",
            "[]a]", "[^]]", "[a-c]", "[c-a]", "[a-]", "[-a]", "[!a]", "[\\]",
            "[[]", "[a-c-e]", "*", "?", "a*", "*b", "a?b", "\\*", ".", "^",
            "$", "a|b", "(a)", "a+", "[é]", "[^é]", "[[:alpha:]]", "[z-a]",
            "[^z-a]", "x]", "]", "[^-]", "{a}", "[a-c]*", "*[*]*", "[à-ÿ]",
            "日*", "[]-a]", "[a\\-z]", "??", "*?*"]
UNCLOSED = ["[", "a[", "[^", "[^]", "[]", "*[a"]
# Control characters, which the API refuses in a parameter.
CONTROL = ["*\n*", "[\n]"]


def glob_store(path):
    """The CLI fixture store plus a task g<i> per ACTIVITIES[i]."""
    fx.make_store(path)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO workflow (id, name, status)"
               " VALUES ('wf-glob', 'glob', 'FINISHED')")
    db.executemany("INSERT INTO task (id, workflow_id, activity, status)"
                   " VALUES (?, ?, ?, 'FINISHED')",
                   [(f"g{i}", "wf-glob", a) for i, a in
                    enumerate(ACTIVITIES)])
    db.commit()
    db.close()


def expected(pattern):
    db = sqlite3.connect(":memory:")
    return sorted(f"g{i}" for i, a in enumerate(ACTIVITIES)
                  if db.execute("SELECT ? GLOB ?", (a, pattern)).fetchone()[0])


def api_ids(srv, pattern):
    st, body = srv.get_json("/api/tasks?workflow=wf-glob&limit=1000&activity="
                            + urllib.parse.quote(pattern, safe=""))
    assert st == 200, (pattern, body)
    return sorted(t["id"] for t in body["items"])


def cli_ids(mida_bin, store, pattern):
    r = subprocess.run([mida_bin, "--store", store, "tasks", "--workflow",
                        "wf-glob", "--activity", pattern, "--limit", "1000",
                        "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (pattern, r.stderr)
    return sorted(t["id"] for t in json.loads(r.stdout or "[]"))


def test_glob_follows_sqlite_rules_on_both_stores(tmp_path, pg_db, produce_bin,
                                                  fleet, serve, mida_bin):
    lite = str(tmp_path / "glob.db")
    glob_store(lite)
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(lite, pg_db, produce_bin, env)
    servers = {"sqlite": serve(lite), "postgresql": serve(pg_db)}
    wrong = []
    for pattern in PATTERNS:
        want = expected(pattern)
        for name, srv in servers.items():
            got = api_ids(srv, pattern)
            if got != want:
                wrong.append((name, pattern, got, want))
    assert not wrong, wrong
    # `mida tasks --activity`: the same glob(); an unclosed '[' matches
    # nothing, as in SQLite (the API refuses it, and control characters).
    for pattern in ["[*]", "[^a]", "[]]", "a[*]b"] + UNCLOSED + CONTROL:
        want = expected(pattern)
        for store in [lite, pg_db]:
            assert cli_ids(mida_bin, store, pattern) == want, (store, pattern)


def test_a_writer_replaces_an_older_glob(tmp_path, pg_db, produce_bin, fleet):
    """A store of this schema version made with the older mida.glob gets
    the new one from the next writer that opens it."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    r = subprocess.run([produce_bin, "0", "schema"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    psql(pg_db, "CREATE OR REPLACE FUNCTION mida.glob(pattern text, s text)"
         " RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT s ~ ('^' ||"
         " replace(replace(pattern, '*', '.*'), '?', '.') || '$') $$;"
         " COMMENT ON FUNCTION mida.glob(text, text) IS NULL")
    assert psql(pg_db, "SELECT mida.glob('[*]', '.')") == "t"
    r = subprocess.run([produce_bin, "0", "again"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert psql(pg_db, "SELECT mida.glob('[*]', '.'), mida.glob('[*]', '*')"
                ) == "f|t"

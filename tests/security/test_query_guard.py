"""The query guard (src/sink/guard.h; docs/security.md, "Queries: the
guard"; issue 11, items 1 and 2): every query path -- `mida query`, Python's
mida.query() and the HTTP API's /api/sql (tests/serve/test_api.py) -- is
read-only, bounded and least-privileged whatever role the store URL logs in
as.

PostgreSQL: the real server on 127.0.0.1:5432 as the superuser postgres
(trust authentication): each escape of the issue -- a shell through COPY TO
PROGRAM, files written by COPY TO, the server's files read, other sessions
killed, the role switched back -- is refused with a clear message and has no
effect, while SELECTs still answer. Queries stop at their time limit and
their temporary-space bound, and SIGINT cancels the server's statement.
SQLite: fts3_tokenizer and load_extension are refused; the time limit and
the temporary-space bound end a runaway query with a clear message."""

import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
MIDA = pathlib.Path(os.environ.get("MIDA_BIN", BUILD / "src" / "cli" / "mida"))
if not MIDA.is_absolute():
    MIDA = ROOT / MIDA
PG_ADMIN = os.environ.get("MIDA_TEST_PG", "postgresql://postgres@127.0.0.1:5432")

TASKS = 20


def env_for(store, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_STORE"] = store
    env["PYTHONPATH"] = str(BUILD / "python")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def mida(store, *args, timeout=120, **extra):
    return subprocess.run([str(MIDA), *args], env=env_for(store, **extra),
                          capture_output=True, text=True, timeout=timeout)


def psql(url, sql):
    r = subprocess.run(["psql", url, "-AtqX", "-v", "ON_ERROR_STOP=1", "-c",
                        sql], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql {sql!r}: {r.stderr}")
    return r.stdout.strip()


def pg_available():
    conf = BUILD / "mida_config.h"
    if not conf.exists() or "#define MIDA_HAVE_LIBPQ 1" not in conf.read_text():
        return False
    try:
        psql(PG_ADMIN + "/postgres", "SELECT 1")
        return True
    except (RuntimeError, FileNotFoundError):
        return False


def make_db():
    name = f"mida_guard_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    psql(PG_ADMIN + "/postgres", f"CREATE DATABASE {name}")
    return name


def drop_db(name):
    psql(PG_ADMIN + "/postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def fill(store, tmp):
    """TASKS tasks written through mida's own producer."""
    r = subprocess.run([str(BUILD / "tests" / "mida_produce"), str(TASKS),
                        "guard"], env=env_for(store, MIDA_SPOOL=tmp / "spool"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    """A PostgreSQL store with TASKS tasks, as the superuser's URL."""
    if not pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 or the libpq module is "
                    "missing (scripts/services.sh starts it)")
    name = make_db()
    url = f"{PG_ADMIN}/{name}"
    fill(url, tmp_path_factory.mktemp("pg"))
    yield url
    drop_db(name)


def refused(r):
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    return r.stderr


# ---- PostgreSQL as a superuser -------------------------------------------


def test_pg_still_answers_selects(pg):
    r = mida(pg, "query", "SELECT count(*) AS n, current_user AS who "
             "FROM task", "--json")
    assert r.returncode == 0, r.stderr
    assert '"n": 20' in r.stdout and '"who": "mida_reader"' in r.stdout
    # mida's helper functions, views and the verbs' own SQL work as well.
    r = mida(pg, "query", "SELECT count(*) AS n FROM task_v t, "
             "mida.json_each(t.used) e")
    assert r.returncode == 0, r.stderr
    r = mida(pg, "tasks", "--json")
    assert r.returncode == 0 and r.stdout.count('"id"') == TASKS, r.stderr


def test_pg_every_table_of_mida_is_readable_through_the_guard(pg):
    """mida_reader reads each table and view that mida made in the store
    (the guard's list in src/sink/pg_guard.c), and nothing else."""
    tables = psql(pg, "SELECT string_agg(quote_ident(n.nspname) || '.' ||"
                  " quote_ident(c.relname), ' ') FROM pg_class c JOIN"
                  " pg_namespace n ON n.oid = c.relnamespace WHERE"
                  " c.relkind IN ('r', 'v', 'm', 'p') AND n.nspname IN"
                  " ('public', 'mida')").split()
    assert "public.task" in tables and "mida.mida_change_horizon" in tables
    for t in tables:
        r = mida(pg, "query", f"SELECT count(*) FROM {t}")
        assert r.returncode == 0, (t, r.stderr)
    psql(pg, "CREATE TABLE IF NOT EXISTS public.not_mida(secret text)")
    err = refused(mida(pg, "query", "SELECT * FROM not_mida"))
    assert "mida_reader" in err and "permission denied" in err, err


def test_pg_copy_to_program_runs_no_shell(pg, tmp_path):
    # The server runs as another account: make the mark where it may write.
    mark = pathlib.Path("/tmp") / f"mida-guard-{uuid.uuid4().hex}"
    err = refused(mida(pg, "query",
                       f"COPY (SELECT 1) TO PROGRAM 'touch {mark}'"))
    assert "not COPY" in err, err
    time.sleep(0.5)
    assert not mark.exists()


def test_pg_copy_to_file_writes_nothing(pg):
    mark = pathlib.Path("/tmp") / f"mida-guard-{uuid.uuid4().hex}"
    err = refused(mida(pg, "query", f"COPY (SELECT 1) TO '{mark}'"))
    assert "query guard refuses" in err and "not COPY" in err, err
    assert not mark.exists()


@pytest.mark.parametrize("sql, says", [
    ("SELECT pg_read_file('/etc/passwd')", "server's files"),
    ("SELECT pg_read_binary_file('/etc/passwd')", "server's files"),
    ("SELECT * FROM pg_ls_dir('/')", "directories"),
    ("SELECT * FROM pg_catalog.\"pg_ls_dir\" ('/')", "directories"),
    ("SELECT lo_import('/etc/passwd')", "server's files"),
    ("SELECT lo_export(1, '/tmp/x')", "server's files"),
    ("SELECT set_config('role', 'postgres', true)", "role"),
    ("SELECT set_config('statement_timeout', '0', false)", "settings"),
    ("SELECT pg_advisory_lock(1)", "locks"),
    # Each took a transaction id inside the guard's READ ONLY transaction.
    ("SELECT txid_current()", "transaction id"),
    ("SELECT pg_current_xact_id()", "transaction id"),
    ("SELECT query_to_xml('SELECT pg_read_file(''/etc/passwd'')', true, "
     "false, '')", "SQL text"),
    ("SELECT U&\"\\0070g_read_file\"('/etc/passwd')", "Unicode"),
])
def test_pg_refuses_functions_that_reach_outside(pg, sql, says):
    err = refused(mida(pg, "query", sql))
    assert "query guard refuses" in err and says in err, err


def test_pg_terminate_backend_kills_no_session(pg):
    victim = subprocess.Popen(["psql", pg, "-AtqX", "-c",
                               "SELECT pg_sleep(60)"])
    try:
        deadline = time.time() + 30
        pid = ""
        while not pid and time.time() < deadline:
            pid = psql(pg, "SELECT pid FROM pg_stat_activity WHERE query ="
                       " 'SELECT pg_sleep(60)' AND datname ="
                       " current_database() LIMIT 1")
            time.sleep(0.1)
        assert pid
        err = refused(mida(pg, "query", f"SELECT pg_terminate_backend({pid})"))
        assert "other sessions" in err, err
        assert victim.poll() is None
        assert psql(pg, f"SELECT count(*) FROM pg_stat_activity WHERE pid ="
                    f" {pid}") == "1"
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.parametrize("sql", [
    "RESET ROLE",
    "SET ROLE postgres",
    "SELECT 1; RESET ROLE",
    "SELECT 1; SELECT pg_read_file('/etc/passwd')",
    "SET SESSION AUTHORIZATION postgres",
    "DELETE FROM task",
    "CREATE TABLE x(i int)",
])
def test_pg_refuses_statements_that_are_no_query(pg, sql):
    err = refused(mida(pg, "query", sql))
    assert "query guard refuses" in err or "one statement" in err, err
    assert psql(pg, "SELECT count(*) FROM task") == str(TASKS)


def test_pg_role_cannot_be_switched_back_by_code_in_the_store(pg):
    """The privileges themselves hold where the names are not seen: a
    function in the store that switches the role back, or reads files, is
    stopped by the server (the guard's SECURITY DEFINER functions)."""
    psql(pg, "CREATE OR REPLACE FUNCTION public.sneaky_role() RETURNS text"
         " LANGUAGE sql AS $$ SELECT set_config('role', 'postgres', true);"
         " SELECT current_user::text $$")
    psql(pg, "CREATE OR REPLACE FUNCTION public.sneaky_read() RETURNS text"
         " LANGUAGE sql AS $$ SELECT pg_read_file('/etc/hostname') $$")
    psql(pg, "CREATE OR REPLACE FUNCTION public.sneaky_kill() RETURNS bool"
         " LANGUAGE sql AS $$ SELECT pg_terminate_backend(pg_backend_pid())"
         " $$")
    err = refused(mida(pg, "query", "SELECT sneaky_role()"))
    assert "mida_reader" in err and "security-definer" in err, err
    err = refused(mida(pg, "query", "SELECT sneaky_read()"))
    assert "mida_reader" in err and "pg_read_file" in err, err
    err = refused(mida(pg, "query", "SELECT sneaky_kill()"))
    assert "mida_reader" in err, err


@pytest.fixture
def fresh_pg():
    """The superuser's URL of a new, empty database, dropped afterwards."""
    if not pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 or the libpq module is "
                    "missing")
    name = make_db()
    yield f"{PG_ADMIN}/{name}"
    drop_db(name)


def plant(url, *signatures):
    """Functions of those signatures ("unnest(text[]) RETURNS SETOF text")
    in public, each raising 'a planted function ran'."""
    for fn in signatures:
        psql(url, f"CREATE FUNCTION public.{fn} LANGUAGE plpgsql AS $$"
             " BEGIN RAISE EXCEPTION 'a planted function ran'; END $$")


def test_pg_guard_calls_no_function_planted_in_public(fresh_pg, tmp_path):
    """The guard's own SQL runs as the role the URL logs in as, a superuser
    here, at every connection (its check) and at its setup. It called
    unnest(), format(), to_regclass() ... unqualified: a function in public
    that matches better than pg_catalog's polymorphic one (unnest(text[])
    against unnest(anyarray), CVE-2018-1058's shape), planted by anyone who
    may create in public (every user, before PostgreSQL 15), ran as the
    superuser. Every call is pg_catalog's now."""
    fill(fresh_pg, tmp_path)
    plant(fresh_pg, "unnest(text[]) RETURNS SETOF text",
          "format(text, integer, refcursor) RETURNS text")
    psql(fresh_pg, "DROP FUNCTION IF EXISTS mida.mida_guard_fetch(refcursor,"
         " integer) CASCADE")  # the guard is set up again, too
    r = mida(fresh_pg, "query", "SELECT count(*) AS n FROM task")
    assert r.returncode == 0, r.stderr
    assert "planted" not in r.stderr, r.stderr
    assert r.stdout.split()[-1] == str(TASKS), r.stdout


# A task written in two batches, so that the second meets the stored row
# and the merge's rules (the status rank) run.
TWO_BATCHES = """
import mida
from mida import _mida
t = _mida.new_id()
_mida.task_begin(t, activity="merged")
assert _mida.flush(5), "the first batch was not written"
_mida.task_update(t, status=3)
assert _mida.flush(5), "the second batch was not written"
print(mida.query("SELECT status FROM task")[0]["status"])
"""


def test_pg_writer_calls_no_function_planted_in_public(fresh_pg, tmp_path):
    """The writer's merge, as the role the URL logs in as (a superuser
    here), called mida_status_rank() unqualified, on a search_path with
    public before mida, and that function called array_position()
    unqualified: a function of either name planted in public ran in their
    place on every batch that met a stored row (CVE-2018-1058's shape).
    The writer calls mida.mida_status_rank, which calls pg_catalog's."""
    plant(fresh_pg, "mida_status_rank(text) RETURNS int",
          "array_position(text[], text) RETURNS int")
    r = subprocess.run([sys.executable, "-c", TWO_BATCHES],
                       env=env_for(fresh_pg, MIDA_SPOOL=tmp_path / "spool"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["FINISHED"], r.stdout


def test_pg_python_query_is_guarded(pg):
    code = ("import mida, json, sys\n"
            "print(json.dumps(mida.query('SELECT count(*) AS n FROM task')))\n"
            "try:\n"
            "    mida.query(\"COPY (SELECT 1) TO PROGRAM 'true'\")\n"
            "except Exception as e:\n"
            "    print('refused:', e)\n"
            "try:\n"
            "    mida.query(\"SELECT pg_read_file('/etc/passwd')\")\n"
            "except Exception as e:\n"
            "    print('refused:', e)\n")
    r = subprocess.run([sys.executable, "-c", code], env=env_for(pg),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == '[{"n": 20}]', r.stdout
    assert "refused:" in lines[1] and "COPY" in lines[1], r.stdout
    assert "refused:" in lines[2] and "pg_read_file" in lines[2], r.stdout


def test_pg_parameter_cannot_carry_a_refused_call_out_of_its_quotes(pg):
    # E'\'' is one string to the server; a scanner that missed its
    # backslash would take ' ?1 ' for a parameter outside any string. A
    # parameter's value never becomes SQL text anyway: the call it carries
    # is not made, and the statement's strings come back as written.
    code = ("import mida, json\n"
            "sql = \"SELECT E'\\\\'' AS a, ' ?1 ' AS b, ?1 AS c\"\n"
            "print(json.dumps(mida.query('SELECT ?1 AS v', [\"a'b\"])))\n"
            "print(json.dumps(mida.query(sql, ["
            "\"'||pg_try_advisory_lock(42)::text||'\"])))\n")
    r = subprocess.run([sys.executable, "-c", code], env=env_for(pg),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == '[{"v": "a\'b"}]', r.stdout
    assert json.loads(lines[1]) == [{
        "a": "'", "b": " ?1 ",
        "c": "'||pg_try_advisory_lock(42)::text||'"}], r.stdout
    assert psql(pg, "SELECT count(*) FROM pg_locks WHERE locktype ="
                " 'advisory' AND objid = 42") == "0"


HOSTILE_VALUES = ["a'b", "''", "back\\slash\\", "E'\\''", "$$", "$f$ x $f$",
                  "'); SELECT pg_sleep(9); --", "?1 ?2 $1 $2", "%s %L %I",
                  "{\"a\",NULL}", "caf\u00e9 \u202e \U0001d11e \u200f",
                  "", None]


def test_pg_hostile_parameter_values_round_trip_exactly(pg):
    """Quotes, backslashes, dollar quotes, format() and array syntax in a
    value come back exactly as given, each as one value."""
    sql = "SELECT " + ", ".join(f"?{i + 1} AS v{i + 1}"
                                for i in range(len(HOSTILE_VALUES)))
    code = ("import mida, json, sys\n"
            "vals = json.loads(sys.argv[1])\n"
            "print(json.dumps(mida.query(sys.argv[2], vals)))\n")
    r = subprocess.run([sys.executable, "-c", code,
                        json.dumps(HOSTILE_VALUES), sql], env=env_for(pg),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert [row[f"v{i + 1}"] for i in range(len(HOSTILE_VALUES))] == \
        HOSTILE_VALUES
    # A value is compared as a value, in a typed place too.
    code = ("import mida, json\n"
            "print(json.dumps(mida.query('SELECT count(*) AS n FROM task"
            " WHERE activity = ?1', [\"x' OR '1'='1\"])))\n"
            "print(json.dumps(mida.query('SELECT ?1 + 1 AS n,"
            " (SELECT count(*) FROM generate_series(1, ?2)) AS m,"
            " ?3 IS NULL AS z', ['41', '3', None])))\n")
    r = subprocess.run([sys.executable, "-c", code], env=env_for(pg),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == '[{"n": 0}]', r.stdout
    assert json.loads(lines[1]) == [{"n": 42, "m": 3, "z": "t"}], r.stdout


OLDER_MIDA_GUARD_OK = (
    "SELECT (SELECT obj_description(p.oid, 'pg_proc') LIKE 'mida query guard"
    " 1: %' FROM pg_proc p WHERE p.proname = 'mida_guard_fetch') AND (SELECT"
    " count(*) FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner WHERE"
    " p.proname IN ('mida_guard_open', 'mida_guard_fetch') AND p.prosecdef"
    " AND r.rolname = 'mida_reader') = 2")


def test_pg_guard_of_an_older_mida_is_completed_in_place(pg):
    """A store whose guard an older mida set up (no
    mida_guard_open_params, or the interim mida_guard_open(text, text[]))
    gets the current functions on a superuser's next query, in place,
    without a schema change; and what an older mida checks still holds, so
    that both can query the same store."""
    assert mida(pg, "query", "SELECT 1 AS one").returncode == 0
    assert psql(pg, OLDER_MIDA_GUARD_OK) == "t"
    psql(pg, "DROP FUNCTION mida.mida_guard_open_params(text, text[]);"
         " CREATE FUNCTION mida.mida_guard_open(q text, p text[]) RETURNS"
         " refcursor LANGUAGE plpgsql SECURITY DEFINER AS $f$ DECLARE c"
         " refcursor := 'mida_guard'; BEGIN OPEN c NO SCROLL FOR EXECUTE q"
         " USING p; RETURN c; END $f$; ALTER FUNCTION"
         " mida.mida_guard_open(text, text[]) OWNER TO mida_reader;"
         " COMMENT ON FUNCTION mida.mida_guard_fetch(refcursor, integer) IS"
         " 'mida query guard 2: task'")
    code = ("import mida, json\n"
            "print(json.dumps(mida.query('SELECT ?1 AS v', [\"$$'\\\\\"])))\n")
    r = subprocess.run([sys.executable, "-c", code], env=env_for(pg),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"v": "$$'\\"}], r.stdout
    assert psql(pg, "SELECT string_agg(s, ' ' ORDER BY s) FROM (SELECT"
                " p.oid::regprocedure::text AS s FROM pg_proc p WHERE"
                " p.proname LIKE 'mida_guard_open%') x") == \
        "mida.mida_guard_open(text) mida.mida_guard_open_params(text,text[])"
    assert psql(pg, OLDER_MIDA_GUARD_OK) == "t"


def test_pg_query_stops_at_its_time_limit(pg):
    t0 = time.monotonic()
    r = mida(pg, "query", "SELECT pg_sleep(60)", MIDA_QUERY_TIMEOUT_MS=1000)
    took = time.monotonic() - t0
    err = refused(r)
    assert "time limit of 1000 ms" in err, err
    assert took < 30, took
    # Nothing of it goes on running on the server.
    assert psql(pg, "SELECT count(*) FROM pg_stat_activity WHERE state ="
                " 'active' AND application_name = 'mida' AND datname ="
                " current_database()") == "0"


def test_pg_query_stops_at_its_temp_space_bound(pg):
    r = mida(pg, "query", "SELECT count(*) FROM (SELECT a.k FROM"
             " generate_series(1, 3000) a(k), generate_series(1, 3000) b(k)"
             " ORDER BY a.k + b.k DESC) x", MIDA_QUERY_TEMP_MB=8)
    err = refused(r)
    assert "temporary space" in err and "8 MiB" in err, err


@pytest.mark.parametrize("temp_mb", [0, 64])
def test_pg_wide_rows_are_fetched_in_small_batches(pg, temp_mb):
    """Rows of 1 MB: a fetch of 1,000 rows (all 200 here) was one batch of
    200 MB, held whole by the client (`mida query` peaked at it; with 1,000
    rows of 100 MB, at 100 GB) and materialised by the server in temporary
    files, so a result that streams fine failed a temporary-space bound of
    64 MiB. A fetch is about 8 MiB now: the query answers, in a few tens of
    MiB, with or without the bound."""
    r = subprocess.run([sys.executable, "-c", PEAK, str(MIDA), "query",
                        "--csv", "SELECT repeat('x', 1000000) AS x"
                        " FROM generate_series(1, 200)"],
                       env=env_for(pg, MIDA_QUERY_TEMP_MB=temp_mb),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    code, err, peak_kib = json.loads(r.stdout)
    assert code == 0, err
    assert peak_kib < 64 * 1024, peak_kib


def test_pg_sigint_cancels_the_servers_statement(pg):
    app = f"guard_sigint_{uuid.uuid4().hex[:8]}"
    url = f"{pg}?application_name={app}"
    active = ("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
              f" AND application_name = '{app}'")
    p = subprocess.Popen([str(MIDA), "query", "SELECT pg_sleep(1000)"],
                         env=env_for(url), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while psql(pg, active) != "1" and time.time() < deadline:
            time.sleep(0.1)
        assert psql(pg, active) == "1"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 1 and "cancelled" in err, err
        deadline = time.time() + 10
        while psql(pg, active) != "0" and time.time() < deadline:
            time.sleep(0.1)
        assert psql(pg, active) == "0"
    finally:
        p.kill()
        p.wait()


def test_pg_ctrl_c_interrupts_a_python_query_and_cancels_it(pg):
    """mida.query() runs without the GIL and asks for Python's signals
    while it waits: Ctrl-C raises KeyboardInterrupt, and the server's
    statement is cancelled, not left running."""
    app = f"guard_pyint_{uuid.uuid4().hex[:8]}"
    active = ("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
              f" AND application_name = '{app}'")
    code = ("import json, mida, os, signal, sys, threading, time\n"
            "threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))"
            ".start()\n"
            "t0 = time.monotonic()\n"
            "try:\n"
            "    mida.query('WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL"
            " SELECT n + 1 FROM c) SELECT count(*) AS n FROM c')\n"
            "    print(json.dumps({'raised': None}))\n"
            "except BaseException as e:\n"
            "    print(json.dumps({'raised': type(e).__name__,"
            " 'after': time.monotonic() - t0}))\n")
    env = env_for(f"{pg}?application_name={app}", MIDA_QUERY_TIMEOUT_MS="0")
    # Without a way to stop, the query would run past the limit here.
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["raised"] == "KeyboardInterrupt", got
    # Left alone, the statement runs until its bound on temporary space
    # ends it, tens of seconds later, with another error.
    assert got["after"] < 30, got
    assert psql(pg, active) == "0"


def test_pg_role_that_cannot_arrange_the_guard_is_refused_clearly(tmp_path):
    """A role that is no superuser reads only once a superuser has set the
    guard up and made it a member of mida_reader; until then it is told
    what to do."""
    if not pg_available():
        pytest.skip("PostgreSQL or the libpq module is missing")
    name = make_db()
    role = f"mida_guard_user_{uuid.uuid4().hex[:8]}"
    try:
        admin = f"{PG_ADMIN}/{name}"
        fill(admin, tmp_path)
        psql(admin, f"CREATE ROLE {role} LOGIN; GRANT SELECT ON ALL TABLES"
             f" IN SCHEMA public TO {role}")
        user_url = admin.replace("postgres@", f"{role}@", 1)
        err = refused(mida(user_url, "query", "SELECT count(*) FROM task"))
        assert "not set up" in err and "superuser" in err, err
        assert mida(admin, "query", "SELECT 1").returncode == 0
        err = refused(mida(user_url, "query", "SELECT count(*) FROM task"))
        assert f"GRANT mida_reader TO {role}" in err, err
        psql(admin, f"GRANT mida_reader TO {role}")
        r = mida(user_url, "query", "SELECT count(*) AS n FROM task")
        assert r.returncode == 0 and "20" in r.stdout, r.stderr
    finally:
        drop_db(name)
        psql(PG_ADMIN + "/postgres", f"DROP ROLE IF EXISTS {role}")


# ---- SQLite ----------------------------------------------------------------


@pytest.fixture
def lite(tmp_path):
    path = tmp_path / "g.db"
    fill(f"sqlite://{path}", tmp_path)
    return f"sqlite://{path}"


@pytest.mark.parametrize("sql", [
    "SELECT fts3_tokenizer('simple')",
    "SELECT fts3_tokenizer('simple', x'0000000000000000')",
    "SELECT load_extension('/tmp/x.so')",
])
def test_sqlite_refuses_library_functions(lite, sql):
    err = refused(mida(lite, "query", sql))
    assert "query guard refuses" in err, err


def test_sqlite_views_of_a_crafted_store_call_no_library_function(lite):
    """A store made by someone else may hide such calls in a view (the
    statement's text names only the view). The reader's connection does
    not trust the schema (SQLITE_DBCONFIG_TRUSTED_SCHEMA off, whatever the
    library was built with) and refuses them; mida's own views work."""
    db = sqlite3.connect(lite[len("sqlite://"):])
    db.execute("CREATE VIEW pointer AS SELECT fts3_tokenizer('simple') AS p")
    db.execute("CREATE VIEW ext AS SELECT load_extension('/tmp/x.so') AS p")
    db.commit()
    db.close()
    for view in ("pointer", "ext"):
        err = refused(mida(lite, "query", f"SELECT * FROM {view}"))
        assert "unsafe use of" in err or "query guard refuses" in err, err
    r = mida(lite, "query", "SELECT count(*) AS n FROM task_v")
    assert r.returncode == 0, r.stderr


def test_sqlite_query_stops_at_its_time_limit(lite):
    t0 = time.monotonic()
    r = mida(lite, "query", "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL"
             " SELECT i + 1 FROM c) SELECT count(*) FROM c",
             MIDA_QUERY_TIMEOUT_MS=500)
    err = refused(r)
    assert "time limit of 500 ms" in err, err
    assert time.monotonic() - t0 < 30


def test_sqlite_query_stops_at_its_temp_space_bound(lite, tmp_path):
    """The issue's sort over a cross join (731 MB of temporary files in
    15 s) ends at the bound, with a clear message, long before."""
    db = sqlite3.connect(lite[len("sqlite://"):])
    db.execute("CREATE TABLE IF NOT EXISTS big(x TEXT)")
    db.executemany("INSERT INTO big VALUES(?)",
                   [(os.urandom(50).hex(),) for _ in range(3000)])
    db.commit()
    db.close()
    t0 = time.monotonic()
    r = mida(lite, "query", "SELECT a.x || b.x AS y FROM big a, big b"
             " ORDER BY y", MIDA_QUERY_TEMP_MB=32,
             MIDA_QUERY_TIMEOUT_MS=300000, SQLITE_TMPDIR=tmp_path,
             timeout=300)
    err = refused(r)
    assert "temporary space" in err and "32 MiB" in err, err
    assert time.monotonic() - t0 < 300


def test_sqlite_value_size_is_bounded(lite):
    # 300 MB in one value: refused before it is made.
    err = refused(mida(lite, "query", "SELECT length(randomblob(300000000))"))
    assert "too big" in err, err


# Runs `mida query SQL` with its output thrown away; prints its exit
# status, its stderr and its peak memory (KiB) as JSON.
PEAK = """
import json, resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, text=True, timeout=300)
print(json.dumps([r.returncode, r.stderr,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))
"""


def test_sqlite_query_memory_is_bounded(lite):
    """A row of values each under the value bound (here three of 200 MB)
    took `mida query` -- and so /api/sql, `mida serve` -- to as much memory
    as they add up to, GBs with more columns or a large group_concat: a
    process that only reads bounds SQLite's memory at MIDA_QUERY_MEM_MB,
    and the statement fails saying so, at about the bound."""
    cols = ", ".join(f"printf('%.*c', 200000000, 'x') AS c{i}"
                     for i in range(3))
    r = subprocess.run([sys.executable, "-c", PEAK, str(MIDA), "query",
                        "SELECT " + cols],
                       env=env_for(lite, MIDA_QUERY_MEM_MB=300),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    code, err, peak_kib = json.loads(r.stdout)
    assert code == 1, err
    assert "more memory than its bound of 300 MiB (MIDA_QUERY_MEM_MB)" in \
        err, err
    assert peak_kib < 450 * 1024, peak_kib


def cpu_ticks(pid):
    """User and system CPU time of a process, in clock ticks."""
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def test_sqlite_sigint_cancels_the_query(lite):
    p = subprocess.Popen([str(MIDA), "query", "WITH RECURSIVE c(i) AS"
                          " (SELECT 1 UNION ALL SELECT i + 1 FROM c)"
                          " SELECT count(*) FROM c"], env=env_for(lite),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        # Signal it once it is in the query: when it has burnt 0.3 s of
        # CPU, which starting takes nowhere near, even on a loaded machine.
        deadline = time.time() + 60
        while cpu_ticks(p.pid) < 30 and time.time() < deadline:
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 1 and "cancelled" in err, err
    finally:
        p.kill()
        p.wait()


def test_sqlite_still_answers_selects(lite):
    r = mida(lite, "query", "SELECT count(*) AS n FROM task")
    assert r.returncode == 0 and "20" in r.stdout, r.stderr


# ---- every path says the same -----------------------------------------------


def refusals(store, sql):
    """What `mida query`, Python's mida.query() and /api/sql say of a
    statement the guard refuses: (CLI stderr, Python's message, HTTP's)."""
    cli = refused(mida(store, "query", sql))
    code = ("import mida, sys\n"
            "try:\n"
            "    mida.query(sys.argv[1])\n"
            "except mida.Error as e:\n"
            "    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code, sql], env=env_for(store),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    sys.path.insert(0, str(ROOT / "tests" / "serve"))
    from serve_support import Server, built_with
    if not built_with("MICROHTTPD"):
        pytest.skip("mida was built without libmicrohttpd")
    import urllib.parse
    s = Server(str(MIDA), store, env=env_for(store))
    try:
        st, body = s.get_json("/api/sql?q=" + urllib.parse.quote(sql))
    finally:
        s.stop()
    assert st == 400, body
    return cli, r.stdout.rstrip("\n"), body["error"]["message"]


@pytest.mark.parametrize("which,sql,reason", [
    ("lite", "DELETE FROM task", "it would write (DELETE FROM task)"),
    ("lite", "SELECT load_extension('/tmp/x.so')",
     "load_extension() loads code into the reading process"),
    ("pg", "DELETE FROM task",
     "only SELECT, WITH, VALUES and TABLE statements run, not DELETE"),
    ("pg", "SELECT pg_read_file('/etc/passwd')",
     "pg_read_file() reads the database server's files"),
    ("pg", "COPY (SELECT 1) TO PROGRAM 'true'",
     "only SELECT, WITH, VALUES and TABLE statements run, not COPY"),
])
def test_every_query_path_names_a_refusal_in_the_same_words(request, which,
                                                             sql, reason):
    """Python's mida.query("DELETE FROM task") said "refused: a query may
    only read mida's tables: mida query is read-only: this statement would
    write (...)", `mida query` "mida: query is read-only: this statement
    would write (...)" and /api/sql "mida query is read-only: ...": three
    prefixes, one of them naming the CLI. Each path now gives the guard's
    one message, after the path's own prefix ("mida: " for the CLI)."""
    store = request.getfixturevalue(which)
    cli, py, http = refusals(store, sql)
    said = "the query guard refuses this statement: " + reason
    assert (cli, py, http) == ("mida: " + said + "\n", said, said)

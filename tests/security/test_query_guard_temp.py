"""The query guard's bound on temporary space (MIDA_QUERY_TEMP_MB) for a
role that is no superuser (src/sink/pg_guard.c; docs/security.md, "is
bounded").

temp_file_limit may be set by a superuser only, so until 2026-12 the guard
bounded a query's temporary files only when the store URL's role was one: a
reader logged in as any other role sorted as much as the server's disk held.
Now a superuser's setup of the guard makes mida.mida_bound_temp(kb), a
SECURITY DEFINER function of its own that only lowers temp_file_limit for
the transaction, and the guard calls it (as mida_reader) for every other
role. Checked against the real server on 127.0.0.1:5432: the bound stops a
non-superuser's `mida query` and Python mida.query(); the function never
raises the limit, and mida_reader cannot raise it afterwards; a store whose
guard lacks the function still answers, and says that temporary files are
unbounded, once. `mida serve`'s /api/sql goes through the same guard."""

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from test_query_guard import (BUILD, MIDA, PG_ADMIN, env_for, mida,
                              pg_available, psql)

# A sort of a million integers: MiBs of temporary files with the role's
# work_mem at 64 kB, past a bound of 1 MiB.
SPILLING_SORT = ("SELECT count(*) AS n FROM (SELECT g FROM"
                 " generate_series(1, 1000000) g ORDER BY g DESC) x")


def python(url, code, **extra):
    """The output of Python code run with the store url."""
    r = subprocess.run([sys.executable, "-c", code],
                       env=env_for(url, **extra), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def reader(tmp_path):
    """(admin URL, reader URL, role) of a new store whose guard a
    superuser set up, the role being a LOGIN role that is no superuser, a
    member of mida_reader, with work_mem at 64 kB so that sorts spill."""
    if not pg_available():
        pytest.skip("PostgreSQL on 127.0.0.1:5432 or the libpq module is "
                    "missing (scripts/services.sh starts it)")
    name = f"mida_temp_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    role = f"mida_temp_user_{uuid.uuid4().hex[:8]}"
    psql(PG_ADMIN + "/postgres", f"CREATE DATABASE {name}")
    admin = f"{PG_ADMIN}/{name}"
    try:
        r = subprocess.run([str(BUILD / "tests" / "mida_produce"), "5",
                            "temp"], env=env_for(admin, MIDA_SPOOL=tmp_path),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        r = mida(admin, "query", "SELECT 1 AS one")  # sets the guard up
        assert r.returncode == 0, r.stderr
        psql(admin, f"CREATE ROLE {role} LOGIN; GRANT mida_reader TO {role};"
             f" ALTER ROLE {role} SET work_mem = '64kB'")
        yield admin, admin.replace("postgres@", f"{role}@", 1), role
    finally:
        psql(PG_ADMIN + "/postgres", f"DROP DATABASE IF EXISTS {name} WITH"
             " (FORCE)")
        psql(PG_ADMIN + "/postgres", f"DROP ROLE IF EXISTS {role}")


def test_non_superuser_query_stops_at_its_temp_space_bound(reader):
    _, url, _ = reader
    assert psql(url, "SELECT rolsuper FROM pg_roles WHERE rolname ="
                " current_user") == "f"
    r = mida(url, "query", SPILLING_SORT, MIDA_QUERY_TEMP_MB=1)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "temporary space" in r.stderr and "1 MiB" in r.stderr, r.stderr
    # Unbounded (0), the same statement answers: it was the bound.
    r = mida(url, "query", SPILLING_SORT, MIDA_QUERY_TEMP_MB=0)
    assert r.returncode == 0 and "1000000" in r.stdout, r.stderr
    assert "not bounded" not in r.stderr, r.stderr


def test_non_superuser_python_query_is_bounded_by_the_same_guard(reader):
    _, url, _ = reader
    code = ("import mida\n"
            "try:\n"
            f"    mida.query({SPILLING_SORT!r})\n"
            "    print('answered')\n"
            "except mida.Error as e:\n"
            "    print('refused:', e)\n")
    out = python(url, code, MIDA_QUERY_TEMP_MB=1)
    assert out.startswith("refused:"), out
    assert "temporary space" in out and "1 MiB" in out, out


# As the guard calls it: as mida_reader, in a read-only transaction.
BOUND_THEN = ("BEGIN READ ONLY; SET LOCAL ROLE mida_reader;"
              " SELECT mida.mida_bound_temp({kb}); {then}; ROLLBACK")


def test_bound_function_only_lowers_the_limit(reader):
    admin, url, role = reader
    # Lowered, it stays lowered for the rest of the transaction, after the
    # function has returned and as mida_reader.
    assert psql(url, BOUND_THEN.format(
        kb=1024, then="SHOW temp_file_limit")).splitlines()[-1] == "1MB"
    # A second call, a negative value and NULL raise nothing.
    for kb in ("1048576", "-1", "NULL"):
        out = psql(url, BOUND_THEN.format(
            kb=1024, then=f"SELECT mida.mida_bound_temp({kb});"
            " SHOW temp_file_limit"))
        assert out.splitlines()[-1] == "1MB", (kb, out)
    # Nor may mida_reader raise it itself.
    for raise_it in ("SET LOCAL temp_file_limit = -1",
                     "SELECT set_config('temp_file_limit', '-1', true)",
                     "RESET temp_file_limit"):
        with pytest.raises(RuntimeError, match="permission denied"):
            psql(url, BOUND_THEN.format(kb=1024, then=raise_it))
    # The server's own limit (here the role's) is never raised: a bound
    # of 256 MiB leaves 2 MB in force, and the sort is stopped at it.
    psql(admin, f"ALTER ROLE {role} SET temp_file_limit = '2MB'")
    assert psql(url, BOUND_THEN.format(
        kb=262144, then="SHOW temp_file_limit")).splitlines()[-1] == "2MB"
    r = mida(url, "query", SPILLING_SORT, MIDA_QUERY_TEMP_MB=256)
    assert r.returncode == 1 and "temporary space" in r.stderr, r.stderr


def test_only_mida_reader_may_call_the_bound_function(reader):
    admin, url, role = reader
    assert psql(admin, "SELECT p.prosecdef AND o.rolsuper AND"
                " p.proconfig = '{\"search_path=pg_catalog, pg_temp\"}' FROM pg_proc p"
                " JOIN pg_roles o ON o.oid = p.proowner WHERE p.proname ="
                " 'mida_bound_temp'") == "t"
    psql(admin, f"REVOKE mida_reader FROM {role}")
    with pytest.raises(RuntimeError, match="permission denied"):
        psql(url, "SELECT mida.mida_bound_temp(1024)")


def test_guard_without_the_function_answers_and_says_unbounded(reader):
    """A store whose guard an older mida set up has no mida_bound_temp:
    a role that is no superuser cannot make it, so its queries run with
    the server's own limit, as before, and the guard says so once per
    process, with what closes it; a superuser's next query makes it."""
    admin, url, _ = reader
    psql(admin, "DROP FUNCTION mida.mida_bound_temp(bigint)")
    r = mida(url, "query", SPILLING_SORT, MIDA_QUERY_TEMP_MB=1)
    assert r.returncode == 0 and "1000000" in r.stdout, r.stderr
    assert r.stderr.count("not bounded") == 1, r.stderr
    assert "superuser" in r.stderr and "MIDA_QUERY_TEMP_MB" in r.stderr, \
        r.stderr
    code = ("import mida, warnings\n"
            "with warnings.catch_warnings(record=True) as said:\n"
            "    warnings.simplefilter('always')\n"
            "    for _ in range(3):\n"
            "        mida.query('SELECT 1 AS one')\n"
            "print(sum('not bounded' in str(w.message) for w in said))\n")
    out = python(url, code, MIDA_QUERY_TEMP_MB=1)
    assert out.strip() == "1", out
    # A superuser's query completes the guard in place; the bound holds.
    assert mida(admin, "query", "SELECT 1 AS one").returncode == 0
    r = mida(url, "query", SPILLING_SORT, MIDA_QUERY_TEMP_MB=1)
    assert r.returncode == 1 and "temporary space" in r.stderr, r.stderr


def built_with(feature):
    return f"#define MIDA_HAVE_{feature} 1" in \
        (BUILD / "mida_config.h").read_text()


def serve_sql(url, statements, **extra):
    """[(status, body)] of GET /api/sql for each statement on one `mida
    serve` of url, and the server's log once it has stopped."""
    p = subprocess.Popen([str(MIDA), "serve", "--listen", "127.0.0.1:0"],
                         env=env_for(url, **extra), stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, text=True)
    log, answers = "", []
    try:
        while (m := re.search(r"http://127\.0\.0\.1:(\d+)/", log)) is None:
            line = p.stderr.readline()
            assert line, log
            log += line
        for sql in statements:
            target = (f"http://127.0.0.1:{m.group(1)}/api/sql?q="
                      + urllib.parse.quote(sql))
            try:
                with urllib.request.urlopen(target, timeout=120) as r:
                    answers.append((r.status, json.loads(r.read())))
            except urllib.error.HTTPError as e:
                answers.append((e.code, json.loads(e.read())))
    finally:
        p.send_signal(signal.SIGTERM)
        log += p.communicate(timeout=30)[1]
    return answers, log


def test_non_superuser_serve_sql_is_bounded_by_the_same_guard(reader):
    if not built_with("MICROHTTPD"):
        pytest.skip("mida was built without libmicrohttpd")
    admin, url, _ = reader
    [(status, body)], _ = serve_sql(url, [SPILLING_SORT], MIDA_QUERY_TEMP_MB=1)
    assert status == 400, body
    assert "temporary space" in body["error"]["message"], body
    # Without the function: answered, and the log says it once.
    psql(admin, "DROP FUNCTION mida.mida_bound_temp(bigint)")
    answers, log = serve_sql(url, [SPILLING_SORT] * 3, MIDA_QUERY_TEMP_MB=1)
    assert [a[0] for a in answers] == [200] * 3, answers
    assert log.count("not bounded") == 1, log

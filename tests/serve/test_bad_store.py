"""A store that cannot be opened, or holds no mida schema: `mida serve`
says so on the command line and exits 1 before it listens; a store that
goes away while the server runs makes the API answer 503 with the kind of
failure (the page shows it, tests/serve/browser.mjs) and the server's log
the store's own message, and the server recovers when the store is
back."""

import sqlite3
import subprocess

from serve_support import psql
from multinode_support import PG_ADMIN


def refuse(mida_bin, store):
    r = subprocess.run([mida_bin, "--store", store, "serve", "--listen",
                        "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stderr


def test_missing_and_foreign_stores_are_refused(mida_bin, tmp_path, serve):
    serve  # noqa: B018 (skips without libmicrohttpd)
    rc, err = refuse(mida_bin, str(tmp_path / "nope.db"))
    assert rc == 1 and "no store at" in err and "nope.db" in err
    other = tmp_path / "other.db"
    db = sqlite3.connect(str(other))
    db.execute("CREATE TABLE t(a)")
    db.commit()
    db.close()
    rc, err = refuse(mida_bin, str(other))
    assert rc == 1 and "holds no mida schema" in err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    rc, err = refuse(mida_bin, str(junk))
    assert rc == 1 and "not a database" in err
    rc, err = refuse(mida_bin, str(tmp_path))
    assert rc == 1 and "directory" in err


def test_postgres_without_schema_and_gone(mida_bin, pg_db, serve, tmp_path,
                                          produce_bin, fleet):
    rc, err = refuse(mida_bin, pg_db)
    assert rc == 1 and "no mida schema" in err
    # A password in the URL is never shown (trust auth ignores it here).
    with_pw = pg_db.replace("postgres@", "postgres:secretpw@")
    assert with_pw != pg_db
    rc, err = refuse(mida_bin, with_pw)
    assert rc == 1 and "no mida schema" in err and "secretpw" not in err
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    r = subprocess.run([produce_bin, "3", "gone"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    s = serve(pg_db)
    assert s.get_json("/api/health")[0] == 200
    name = pg_db.rsplit("/", 1)[1]
    psql(PG_ADMIN + "/postgres", f"DROP DATABASE {name} WITH (FORCE)")
    st, body = s.get_json("/api/health")
    assert st == 503
    said = body["error"]["message"]
    assert "cannot" in said
    st, body = s.get_json("/api/tasks")
    assert st == 503
    # The client learns the kind of failure; the store's address, user and
    # database are the operator's, in the server's log.
    for said in (said, body["error"]["message"]):
        assert name not in said and "127.0.0.1" not in said, said
        assert "postgres" not in said, said
    psql(PG_ADMIN + "/postgres", f"CREATE DATABASE {name}")
    r = subprocess.run([produce_bin, "2", "back"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    st, body = s.get_json("/api/tasks")
    assert st == 200 and len(body["items"]) >= 2
    assert s.alive()
    s.stop()
    log = s.stderr + s.proc.stderr.read()
    assert name in log and "the store cannot be read" in log, log
    assert log.count("the store cannot be read") <= 3, log  # once a reason


def test_sql_errors_name_no_store_and_a_gone_store_is_a_503(
        mida_bin, pg_db, serve, tmp_path, produce_bin, fleet):
    """/api/sql sent every failure as a 400 with the store's message: on
    PostgreSQL a mistyped statement came back as "query failed on store
    postgresql://USER:***@HOST:PORT/DB: syntax error", to any client, and
    a store that had gone away was a 400 with its host and database where
    every other endpoint answers 503 and logs the message. A statement's
    own error is a 400 that names no store; a store that fails is the 503
    of the other endpoints."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    r = subprocess.run([produce_bin, "3", "sql"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    name = pg_db.rsplit("/", 1)[1]
    # Enough connections open that /api/sql gets one the store dropped.
    s = serve(pg_db, "--connections", "3", "--poll-ms", "60000")
    for stmt in ["selec 1", "SELECT * FROM nope", "SELECT 1/0"]:
        st, body = s.get_json("/api/sql?q=" + stmt.replace(" ", "%20"))
        said = body["error"]["message"]
        assert st == 400, body
        assert name not in said and "127.0.0.1" not in said, said
    assert "syntax error" in s.get_json("/api/sql?q=selec%201")[1][
        "error"]["message"]
    # A good statement: the connection it used stays open in the pool.
    assert s.get_json("/api/sql?q=SELECT%201")[0] == 200
    psql(PG_ADMIN + "/postgres", f"DROP DATABASE {name} WITH (FORCE)")
    for _ in range(4):
        st, body = s.get_json("/api/sql?q=SELECT%201")
        said = body["error"]["message"]
        assert st == 503, body
        assert name not in said and "127.0.0.1" not in said, said
    assert s.alive()

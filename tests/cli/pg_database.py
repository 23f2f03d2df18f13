"""A PostgreSQL database of its own for a test that runs mida's verbs on
both stores: made on the local server (127.0.0.1:5432, the tests' admin
role), dropped after; the test is skipped where the build has no
PostgreSQL module or no server runs. copy_store() fills it with the rows
of an SQLite store, through mida's own producer; store_as() gives a test
its SQLite store as it is or copied into such a database."""

import contextlib
import os
import pathlib
import shutil
import sys
import uuid

import pytest

from mida_cli_store import ROOT

sys.path.insert(0, str(ROOT / "tests" / "multinode"))
from multinode_support import (PG_ADMIN, built_with,  # noqa: E402
                               copy_sqlite_to_postgres, port_open, psql)


@contextlib.contextmanager
def pg_database(prefix):
    """Yields the URL of a new, empty database named prefix_<pid>_<hex>."""
    if not built_with("LIBPQ"):
        pytest.skip("this build has no PostgreSQL module")
    if shutil.which("psql") is None or not port_open(5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    psql(PG_ADMIN + "/postgres", f"CREATE DATABASE {name}")
    try:
        yield f"{PG_ADMIN}/{name}"
    finally:
        psql(PG_ADMIN + "/postgres",
             f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def copy_store(lite, pg, spool):
    """Copies the SQLite store at lite into the database pg."""
    build = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env.update(MIDA_STORE=pg, MIDA_SPOOL=str(spool))
    copy_sqlite_to_postgres(lite, pg, str(build / "tests" / "mida_produce"),
                            env)


@contextlib.contextmanager
def store_as(kind, lite, prefix, spool):
    """Yields the SQLite store at lite ("sqlite") or its rows copied into
    a new database named after prefix ("postgresql"), dropped after."""
    if kind == "sqlite":
        yield str(lite)
        return
    with pg_database(prefix) as pg:
        copy_store(lite, pg, spool)
        yield pg

"""Helpers of the `mida serve` tests: a real server on a free loopback port,
raw HTTP requests (http.client, so that odd targets go out as written), and
the fixture store of the CLI tests on SQLite and, copied row by row, on
PostgreSQL.

The server is the built binary (MIDA_BIN); it is asked for port 0 and says
which port it took on stderr. Each is stopped with SIGTERM, by its pid."""

import http.client
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "cli"))
sys.path.insert(0, str(ROOT / "tests" / "multinode"))
import mida_cli_store as fx  # noqa: E402,F401
from multinode_support import (mida_bin, pg_db, produce_bin,  # noqa: E402,F401
                               psql, built_with, fleet,
                               copy_sqlite_to_postgres)


class Server:
    """One `mida serve` process."""

    def __init__(self, binary, store, *args, env=None, expect_fail=False,
                 wrap=()):
        """wrap: a command that runs the server (its argv's start)."""
        self.proc = subprocess.Popen(
            [*wrap, binary, "--store", store, "serve", "--listen",
             "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        self.port = None
        self.stderr = ""
        if expect_fail:
            return
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            self.stderr += line
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if m:
                self.port = int(m.group(1))
                return
            if line == "" and self.proc.poll() is not None:
                break
        raise RuntimeError("mida serve did not start: " + self.stderr)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def request(self, target, method="GET", headers=None, body=None,
                timeout=30):
        """(status, headers dict, body bytes), the target sent as is."""
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        c.putrequest(method, target, skip_host=True,
                     skip_accept_encoding=True)
        hdrs = {"Host": f"127.0.0.1:{self.port}"}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            if v is not None:
                c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        r = c.getresponse()
        data = r.read()
        out = (r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        c.close()
        return out

    def get_json(self, target, headers=None):
        status, _, body = self.request(target, headers=headers)
        return status, json.loads(body)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def read_until(sock, marker, step=4096):
    """Reads sock, step bytes at a time, until what came holds marker;
    fails if the connection ends before."""
    got = b""
    while marker not in got:
        more = sock.recv(step)
        assert more, got
        got += more
    return got


@pytest.fixture
def lite(tmp_path):
    """The CLI tests' fixture store (tests/cli/mida_cli_store.py)."""
    path = tmp_path / "fixture.db"
    fx.make_store(str(path))
    return str(path)


@pytest.fixture
def serve(mida_bin):
    """A factory of servers, all stopped at the end of the test."""
    if not built_with("MICROHTTPD"):
        pytest.skip("mida was built without libmicrohttpd")
    started = []

    def make(store, *args, **kw):
        s = Server(mida_bin, store, *args, **kw)
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


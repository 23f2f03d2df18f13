"""HTTP/1.1 keep-alive in `mida serve`: a client's requests share one
connection, each of them checked as the first (Host, token); a connection
idle for the idle timeout is closed, so kept connections are bounded."""

import http.client
import socket
import time

from serve_support import read_until
from test_security import TOKEN, token_file  # noqa: F401 (a fixture)


def kept_connection(s):
    return http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)


def ask(c, target, **headers):
    c.request("GET", target, headers=headers)
    r = c.getresponse()
    return r.status, r.getheader("Connection"), r.read()


def test_two_requests_on_one_connection_are_both_answered(serve, lite):
    """Every answer went with "Connection: close" (the library closes a
    connection whose answer was queued before the request was read to its
    end), so each request of a page or a script cost a new connection."""
    s = serve(lite)
    c = kept_connection(s)
    st, connection, body = ask(c, "/api/health")
    assert st == 200 and b'"ok"' in body
    assert connection is None or connection.lower() != "close", connection
    first = c.sock
    assert first is not None  # http.client keeps it: not closed
    st, _, body = ask(c, "/api/tasks?limit=1")
    assert st == 200 and b'"items"' in body
    assert c.sock is first  # the same connection answered the second
    c.close()


def test_every_request_on_a_kept_connection_is_checked(serve, lite,
                                                        token_file):  # noqa
    """A connection kept after an authorized request gives the next one
    nothing: the token and the Host header are checked at each request."""
    s = serve(lite, "--token-file", token_file)
    c = kept_connection(s)
    st, _, _ = ask(c, "/api/health", Authorization="Bearer " + TOKEN)
    assert st == 200
    st, _, body = ask(c, "/api/sql?q=SELECT%201")
    assert st == 401, body
    c.close()
    s = serve(lite)
    c = kept_connection(s)
    assert ask(c, "/api/health")[0] == 200
    st, _, body = ask(c, "/api/health", Host="evil.example")
    assert st == 403, body
    c.close()


def test_an_idle_kept_connection_is_closed(serve, lite):
    """A client that keeps its connection and sends nothing more holds it
    for the idle timeout (--idle-timeout), not for ever."""
    s = serve(lite, "--idle-timeout", "2")
    c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    c.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    got = read_until(c, b"}\n")
    assert got.startswith(b"HTTP/1.1 200") and b"close" not in got.lower()
    # Closed by the server at 2 s: the socket's 30 s would raise first
    # if it were kept for the default 60 s, or for ever.
    assert c.recv(4096) == b""
    c.close()


def held_connection(s):
    """A connection that has been served once and is kept open."""
    c = kept_connection(s)
    assert ask(c, "/api/health")[0] == 200
    return c


def refused(s):
    """Whether a new connection is closed by the server unanswered."""
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = sock.recv(4096)
    except ConnectionResetError:
        got = b""
    sock.close()
    return got == b""


def stats_once_a_place_is_free(s):
    """/api/stats, asked again until the server has seen a held connection
    close and serves a new one (its refusals until then are counted too)."""
    st, body = 0, None
    deadline = time.time() + 10
    while st != 200 and time.time() < deadline:
        try:
            st, body = s.get_json("/api/stats")
        except (ConnectionError, http.client.RemoteDisconnected):
            time.sleep(0.1)
    assert st == 200, body
    return body


def test_a_connection_over_the_limit_is_refused_and_counted(serve, lite):
    """libmicrohttpd closed a connection over its limits before any
    callback: a client turned away left no trace. `--max-clients` sets
    the limit in all; a connection over it is closed unserved and counted
    in /api/stats ("server") and in the server's last lines; once a held
    connection closes, a new one is served."""
    s = serve(lite, "--max-clients", "2")
    first, second = held_connection(s), held_connection(s)
    assert refused(s)
    assert refused(s)
    first.close()
    body = stats_once_a_place_is_free(s)
    assert body["server"]["connections_refused"] >= 2, body["server"]
    second.close()
    assert s.stop() == 0
    rest = s.proc.stderr.read()
    assert "connections refused: the server held as many as" in rest, rest


def test_the_65th_connection_from_one_address_is_refused_and_counted(
        serve, lite):
    """One address holds at most 64 connections (a slowloris client would
    hold them all); the 65th is refused, and counted as the limit in all
    is."""
    s = serve(lite)
    held = [held_connection(s) for _ in range(64)]
    assert refused(s)
    held.pop().close()
    body = stats_once_a_place_is_free(s)
    assert body["server"]["connections_refused"] >= 1, body["server"]
    for c in held:
        c.close()


def test_max_clients_is_checked(serve, lite):
    for bad in ("0", "4097", "x"):
        s = serve(lite, "--max-clients", bad, expect_fail=True)
        assert s.proc.wait(timeout=10) == 2
        assert "--max-clients must be 1 to 4096" in s.proc.stderr.read()

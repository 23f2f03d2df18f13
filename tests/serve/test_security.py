"""The security model of `mida serve` (docs/serve.md), against the real
server: who may listen where, the bearer token, the Host check, the
headers, and hostile requests that must get a 4xx and never a crash."""

import http.client
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from serve_support import Server

TOKEN = "s3cret-token-0123456789abcdef"


@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "token"
    p.write_text(TOKEN + "\n")
    p.chmod(0o600)
    return str(p)


def run_serve(mida_bin, store, *args):
    """Runs `mida serve` that must refuse to start: (status, stderr)."""
    r = subprocess.run([mida_bin, "--store", store, "serve", *args],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stderr


def test_non_loopback_without_token_refuses(mida_bin, lite, serve):
    serve  # noqa: B018 (skips when built without libmicrohttpd)
    for listen in ["0.0.0.0:0", ":0", "[::]:0"]:
        rc, err = run_serve(mida_bin, lite, "--listen", listen)
        assert rc == 1, (listen, err)
        assert "without a token" in err
    rc, err = run_serve(mida_bin, lite, "--listen", "nonsense")
    assert rc == 2 and "HOST:PORT" in err


def test_a_port_past_65535_is_refused(mida_bin, lite, serve):
    """getaddrinfo takes the port modulo 65536: --listen 127.0.0.1:99999
    listened on port 34463, said so, and ran."""
    serve  # noqa: B018
    for listen in ["127.0.0.1:99999", "127.0.0.1:65536",
                   "127.0.0.1:000000000000065537"]:
        rc, err = run_serve(mida_bin, lite, "--listen", listen)
        assert rc == 2 and "HOST:PORT" in err, (listen, rc, err)


def test_token_file_must_be_private_and_long(mida_bin, lite, tmp_path,
                                             serve):
    serve  # noqa: B018
    p = tmp_path / "open-token"
    p.write_text(TOKEN)
    p.chmod(0o644)
    rc, err = run_serve(mida_bin, lite, "--token-file", str(p))
    assert rc == 1 and "chmod 600" in err
    p.chmod(0o600)
    p.write_text("short")
    rc, err = run_serve(mida_bin, lite, "--token-file", str(p))
    assert rc == 1 and "at least 16" in err
    rc, err = run_serve(mida_bin, lite, "--token-file",
                        str(tmp_path / "missing"))
    assert rc == 1 and "cannot read the token file" in err


def test_token_guards_the_api(serve, lite, token_file):
    s = serve(lite, "--token-file", token_file)
    assert TOKEN not in s.stderr
    for headers in [{}, {"Authorization": "Bearer wrong-token-0123456789"},
                    {"Authorization": "Bearer " + TOKEN[:-1]},
                    {"Authorization": "Bearer " + TOKEN + "x"},
                    {"Authorization": "Basic " + TOKEN},
                    {"Authorization": TOKEN}]:
        st, h, body = s.request("/api/tasks", headers=headers)
        assert st == 401, headers
        assert h["www-authenticate"].startswith("Bearer")
        assert TOKEN.encode() not in body
    st, _, _ = s.request("/api/tasks",
                         headers={"Authorization": "Bearer " + TOKEN})
    assert st == 200
    st, _, _ = s.request("/api/events?since=0",
                         headers={"Authorization": "Bearer x"})
    assert st == 401
    # The page and its scripts hold no data: they load without the token.
    assert s.request("/")[0] == 200
    assert s.request("/assets/app.js")[0] == 200


def test_token_guards_the_api_however_its_path_is_spelt(serve, lite,
                                                       token_file):
    """The token was asked of a target that began with "/api/" as sent,
    and the router decoded the path after that: /%61pi/tasks is
    /api/tasks, and it answered every endpoint, /api/sql included, to
    anyone. Whatever is not the page or its scripts needs the token, as
    the router reads the path."""
    s = serve(lite, "--token-file", token_file)
    for target in ["/%61pi/tasks", "/%61%70%69/sql?q=SELECT%201",
                   "/ap%69/health", "/%61pi/openapi.json", "/%61pi/nothing",
                   "/api/../api/tasks", "/%61pi/events"]:
        st, h, body = s.request(target)
        assert st == 401, (target, st, body[:200])
        assert h["cache-control"] == "no-store", target
        assert b"items" not in body and b"rows" not in body, target
    st, _, body = s.request("/%61pi/tasks",
                            headers={"Authorization": "Bearer " + TOKEN})
    assert st == 200 and b"items" in body
    for target in ["/", "/assets/app.js", "/%61ssets/app.js"]:
        assert s.request(target)[0] == 200, target


def test_listens_on_all_addresses_with_a_token(serve, lite, token_file,
                                               mida_bin):
    s = Server(mida_bin, lite, "--token-file", token_file)
    s.stop()
    r = subprocess.Popen([mida_bin, "--store", lite, "serve", "--listen",
                          "0.0.0.0:0", "--token-file", token_file],
                         stderr=subprocess.PIPE, text=True)
    line = r.stderr.readline()
    assert "http://0.0.0.0:" in line and "token required" in line
    r.terminate()
    assert r.wait(timeout=15) == 0


OTHER_USER = 65534

# What another local user runs: one GET, its status and body, or the error
# that ended it.
ASK = """
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
try:
    c.request("GET", sys.argv[2], headers=dict(h.split(": ", 1)
                                               for h in sys.argv[3:]))
    r = c.getresponse()
    print(r.status, r.read().decode(errors="replace"))
except OSError as e:
    print("refused", type(e).__name__)
"""


def system_python():
    """A python3 that another user may run (not one below root's home)."""
    for p in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(p):
            return p
    return None


def as_other_user(port, target, *headers):
    python = system_python()
    r = subprocess.run(["setpriv", f"--reuid={OTHER_USER}",
                        f"--regid={OTHER_USER}", "--clear-groups", python,
                        "-c", ASK, str(port), target, *headers],
                       capture_output=True, text=True, timeout=60,
                       cwd="/")
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_another_local_user_cannot_read_the_store_without_the_token(
        serve, lite, token_file):
    """Without --token-file, mida serve answered whoever reached loopback,
    and every local user does: another user read the whole store (whose
    file is 0600, this user's alone) through /api/sql. Now a connection
    whose client socket is another user's is closed unanswered; this
    user's own clients are served as before, and with a token the token
    decides, for remote use through a proxy."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to act as a second user through setpriv")
    if shutil.which("setpriv") is None or system_python() is None:
        pytest.skip("setpriv (util-linux) or /usr/bin/python3 is missing")
    s = serve(lite)
    sql = "/api/sql?q=SELECT%20count(*)%20FROM%20task"
    host = f"Host: 127.0.0.1:{s.port}"
    for target in [sql, "/api/tasks", "/api/health", "/"]:
        out = as_other_user(s.port, target, host)
        assert out.startswith("refused"), (target, out)
    st, _, body = s.request(sql)
    assert st == 200 and b"rows" in body
    with_token = serve(lite, "--token-file", token_file)
    out = as_other_user(with_token.port, sql, f"Host: 127.0.0.1:"
                        f"{with_token.port}", "Authorization: Bearer " + TOKEN)
    assert out.startswith("200 ") and '"rows"' in out, out
    out = as_other_user(with_token.port, sql,
                        f"Host: 127.0.0.1:{with_token.port}")
    assert out.startswith("401 "), out


def test_host_header_must_be_loopback_without_token(serve, lite):
    s = serve(lite)
    assert s.request("/api/health")[0] == 200
    for host in ["localhost", f"localhost:{s.port}", "[::1]:1"]:
        assert s.request("/api/health", headers={"Host": host})[0] == 200
    for host in ["evil.example", "evil.example:80", "127.0.0.1.evil.example",
                 "localhost.evil.example", None]:
        st, _, _ = s.request("/api/health", headers={"Host": host})
        # No Host at all is the HTTP library's 400 (HTTP/1.1 needs one).
        assert st == (400 if host is None else 403), host


def test_a_request_with_two_host_headers_is_a_400(serve, lite):
    """A request with more than one Host is invalid (RFC 9112, 3.2). The
    HTTP library took it and gave the first: "Host: 127.0.0.1" and then
    "Host: evil.example" was a 200, the loopback check passed on the first
    name while a proxy in front may route on the second."""
    s = serve(lite)
    mine = f"127.0.0.1:{s.port}".encode()
    for first, second in [(b"Host: " + mine, b"Host: evil.example"),
                          (b"Host: evil.example", b"Host: " + mine),
                          (b"Host: " + mine, b"host: " + mine)]:
        st = raw(s.port, b"GET /api/health HTTP/1.1\r\n" + first + b"\r\n"
                 + second + b"\r\n\r\n")
        assert st == 400, (first, second, st)
    st = raw(s.port, b"GET /api/health HTTP/1.1\r\nHost: " + mine
             + b"\r\n\r\n")
    assert st == 200


def test_host_may_name_the_loopback_address_listened_on(mida_bin, lite,
                                                        serve):
    """--listen 127.0.0.2:0 was taken and printed http://127.0.0.2:PORT/,
    and then every request that followed that address was a 403: the
    Host check knew 127.0.0.1, localhost and [::1] only. The address
    listened on is a Host too; a name is still refused."""
    serve  # noqa: B018
    p = subprocess.Popen([mida_bin, "--store", lite, "serve", "--listen",
                          "127.0.0.2:0"], stderr=subprocess.PIPE, text=True)
    try:
        line = p.stderr.readline()
        m = re.search(r"http://127\.0\.0\.2:(\d+)/", line)
        assert m, line
        port = int(m.group(1))
        for host, want in [(f"127.0.0.2:{port}", 200), ("127.0.0.2", 200),
                           ("localhost", 200), ("127.0.0.3", 403),
                           ("127.0.0.22", 403), ("evil.example", 403)]:
            c = http.client.HTTPConnection("127.0.0.2", port, timeout=10)
            c.putrequest("GET", "/api/health", skip_host=True)
            c.putheader("Host", host)
            c.endheaders()
            assert c.getresponse().status == want, host
            c.close()
    finally:
        p.terminate()
        p.wait(timeout=15)


def test_api_refuses_requests_that_another_site_made(serve, lite,
                                                     token_file):
    """A page of another site can make the browser send GETs here (an
    <img>, a no-cors fetch): the Host is 127.0.0.1 and no token is asked
    on loopback, so /api/sql ran the page's statement. It could not read
    the answer, but it could time it: a statement that takes a second
    when a condition on the store's rows holds, and nothing otherwise,
    read the store a bit at a time (headless Chromium, a page on
    localhost:OTHER: ~1,000 ms against 4 ms). Browsers say who made a
    request in Sec-Fetch-Site; the API answers the dashboard's own
    requests (same-origin) and the user's (none, an address typed), and
    nothing of another site, even of another port of this host (same-site).
    The page itself may be linked to from anywhere."""
    for s in (serve(lite), serve(lite, "--token-file", token_file)):
        auth = {} if "token" not in s.stderr else {
            "Authorization": "Bearer " + TOKEN}
        for site in ["cross-site", "same-site", "CROSS-SITE", "other"]:
            for target in ["/api/health", "/api/sql?q=SELECT%201",
                           "/api/events", "/%61pi/tasks"]:
                st, _, body = s.request(
                    target, headers={"Sec-Fetch-Site": site, **auth})
                assert st == 403, (site, target, st, body[:200])
                assert b"another site" in body, body[:200]
        for site in ["same-origin", "none", None]:
            st, _, _ = s.request("/api/health",
                                 headers={"Sec-Fetch-Site": site, **auth})
            assert st == 200, site
        for target in ["/", "/assets/app.js"]:
            st, _, _ = s.request(target,
                                 headers={"Sec-Fetch-Site": "cross-site"})
            assert st == 200, target


def test_security_headers(serve, lite):
    s = serve(lite)
    for target in ["/", "/api/tasks", "/api/nothing"]:
        _, h, _ = s.request(target)
        assert "default-src 'none'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert "access-control-allow-origin" not in h
        assert "set-cookie" not in h
    _, h, _ = s.request("/api/tasks", headers={"Origin": "http://evil"})
    assert "access-control-allow-origin" not in h


def raw(port, data, timeout=10):
    """Sends bytes as they are; returns the status line's code or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(data)
        try:
            reply = c.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return None
    if not reply:
        return None
    return int(reply.split(b" ")[1])


def test_hostile_requests_get_4xx_and_never_crash(serve, lite):
    s = serve(lite)
    cases = {
        "/api/../etc/passwd": 400, "/api/tasks/..": 400,
        "/api/%2e%2e/x": 400, "/assets/..%2fmida.db": 400,
        "/api/tasks%00": 400, "/api/tasks?status=%00": 400,
        "/api/tasks?limit=-1": 400, "/api/tasks?limit=99999999999999999999":
        400, "/api/tasks?limit=1e3": 400, "/api/tasks?sort=;drop": 400,
        "/api/tasks?where=used.x%3D1%27%3B": 200,
        "/api/tasks?where=nope": 400, "/api/tasks?workflow=%22": 400,
        "/api/metrics?task=a&key=": 400, "/api/metrics?points=1": 400,
        "/api/tasks?" + "&".join(f"p{i}=1" for i in range(40)): 400,
        "/api/sql?q=": 400, "/api/lineage?id=x&depth=1000": 400,
        "/api/tasks?a%ZZ=1": 400, "/" + "x/" * 40: 400,
        "/api/tasks?x=" + "y" * 17000: 400,
    }
    for target, want in cases.items():
        st, _, body = s.request(target)
        assert st == want, (target, st, body[:200])
    # Too long for the request line: the server's own cap.
    st, _, _ = s.request("/api/tasks?x=" + "y" * 30000)
    assert st in (400, 414, 431)
    # Headers too large for the connection's memory cap.
    st = raw(s.port, b"GET /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nX: "
             + b"a" * 100000 + b"\r\n\r\n")
    assert st is None or 400 <= st < 500
    # Methods that write, and bodies.
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]:
        st, h, _ = s.request("/api/tasks", method=method)
        assert st == 405 and h["allow"] == "GET, HEAD", method
    st, _, _ = s.request("/api/tasks", body=b"x" * 100)
    assert st == 413
    # Garbage on the socket.
    for junk in [b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n",
                 b"GET /api/tasks HTTP/9.9\r\n\r\n",
                 b"GET /api/tasks HTTP/1.1\r\n\r\n",
                 b"GET /api/ta sks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]:
        st = raw(s.port, junk, timeout=3)
        assert st is None or 400 <= st < 600, junk
    # A raw NUL byte ends the target in the HTTP library: nothing after it
    # is read, so it cannot reach further than the part before it.
    st = raw(s.port, b"GET /api/health\x00/../../x HTTP/1.1\r\n"
             b"Host: 127.0.0.1\r\n\r\n", timeout=3)
    assert st in (None, 200, 400)
    assert s.alive()
    assert s.request("/api/health")[0] == 200


def test_one_client_cannot_hold_every_connection(serve, lite, token_file):
    """Slowloris: 300 connections from one address, each sending a line
    of headers now and then and never ending its request, held all 256
    of the server's connections (the idle timeout counts from the last
    byte), and every other client was refused for as long as they went
    on. One address may hold 64 of them; another is still answered."""
    s = serve(lite, "--token-file", token_file)
    held = []
    try:
        for _ in range(300):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            c.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(c)
        time.sleep(0.5)
        for c in held:  # a trickle: each keeps its connection busy
            try:
                c.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass
        other = socket.socket()
        other.settimeout(10)
        other.bind(("127.0.0.2", 0))
        other.connect(("127.0.0.1", s.port))
        other.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Authorization: Bearer " + TOKEN.encode()
                      + b"\r\n\r\n")
        reply = other.recv(4096)
        other.close()
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    finally:
        for c in held:
            c.close()
    assert s.alive()


def test_thousands_of_query_parameters_get_a_400_with_a_reason(serve, lite):
    # 5,000 short parameters fit in the request line's cap, but the HTTP
    # library's own table of them did not fit in the connection's memory:
    # the connection closed with no answer at all.
    s = serve(lite)
    for n in (1000, 3000, 5000):
        target = "/api/tasks?" + "&".join(f"p{i}=1" for i in range(n))
        st, _, body = s.request(target)
        if len(target) <= 24576:
            assert st == 400, (n, st, body[:200])
            assert b"more than 32 query parameters" in body, body[:200]
        else:  # 5,000 of them: past the target's own cap
            assert st == 414, (n, st, body[:200])
            assert b"too long" in body, body[:200]
    st, _, body = s.request("/api/tasks?" + "&" * 20000)
    assert st == 200, body[:200]  # empty pairs are nothing (request.c)
    assert s.alive()
    assert s.request("/api/health")[0] == 200


def test_page_files_are_revalidated_not_downloaded_again(serve, lite):
    """The page and its scripts were sent with "Cache-Control: no-cache"
    and no validator, so a browser could not revalidate them and fetched
    the 125 kB script again at every load. Each embedded file carries an
    ETag (of its bytes); a request that names it gets a 304 without a
    body."""
    s = serve(lite)
    for target, ctype in [("/", "text/html; charset=utf-8"),
                          ("/assets/app.js", "text/javascript; charset=utf-8"),
                          ("/assets/app.css", "text/css; charset=utf-8")]:
        st, h, body = s.request(target)
        assert st == 200 and h["content-type"] == ctype, target
        etag = h.get("etag")
        assert etag and etag.startswith('"') and etag.endswith('"'), h
        st, h2, body2 = s.request(target, headers={"If-None-Match": etag})
        assert (st, body2) == (304, b""), target
        assert h2["etag"] == etag
        assert "default-src 'none'" in h2["content-security-policy"]
        st, _, body3 = s.request(target,
                                 headers={"If-None-Match": '"other"'})
        assert (st, body3) == (200, body), target
    # The store's answers are never kept by the browser.
    _, h, _ = s.request("/api/tasks")
    assert h["cache-control"] == "no-store" and "etag" not in h


def test_every_refusal_of_an_api_path_is_in_the_openapi_document(serve,
                                                                   lite):
    """The 403 of the Host and Sec-Fetch-Site checks and the 413 of a GET
    with a body are answers of every API path: the document said neither
    (nor the router's 500), and a client generated from it met statuses it
    did not know of (until 2026-12-06). So is the 400 of two Host
    headers."""
    s = serve(lite)
    st, _, body = s.request("/api/openapi.json")
    assert st == 200
    doc = __import__("json").loads(body)
    got = {
        s.request("/api/tasks", headers={"Host": "evil.example"})[0],
        s.request("/api/tasks", headers={"Sec-Fetch-Site": "cross-site"})[0],
        s.request("/api/tasks", body=b"x")[0],
        raw(s.port, b"GET /api/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Host: 127.0.0.1\r\n\r\n"),
    }
    assert got == {400, 403, 413}, got
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            documented = set(op["responses"])
            for status in ("400", "403", "413", "500"):
                assert status in documented, (method, path, status)

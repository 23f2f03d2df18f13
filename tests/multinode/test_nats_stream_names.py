"""The JetStream stream of each NATS subject, on the real nats-server: two
subjects that differ only where the stream name used to write '_' (X.y and
X_y: both were the stream MIDA_X_y, so whichever came second could neither
publish -- "No responders" -- nor be read) now have a stream each, and each
`mida ingest` store gets exactly its own producer's tasks; a stream that an
earlier mida made for a subject (MIDA_X_y for X.y) is still used for that
subject, and a subject whose name it holds gets a clear error
(src/sink/nats_stream.h, docs/multinode.md "NATS stream names")."""

import json
import socket
import subprocess
import uuid


def js_api(port, subject, payload=""):
    """One request to JetStream's API over NATS's text protocol (no client
    library in the venv): the reply, as a dict."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        f.readline()  # INFO
        inbox = "_INBOX." + uuid.uuid4().hex
        body = payload.encode()
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n'
                  + f"SUB {inbox} 1\r\n".encode()
                  + f"PUB {subject} {inbox} {len(body)}\r\n".encode()
                  + body + b"\r\n")
        while True:
            line = f.readline()
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG"):
                size = int(line.split()[-1])
                return json.loads(f.read(size + 2)[:size])
            elif line.startswith(b"-ERR") or not line:
                raise RuntimeError(line)


def stream_names(port):
    return js_api(port, "$JS.API.STREAM.NAMES").get("streams") or []


def produce(fleet, url, tasks, label, spool):
    env = fleet.env(MIDA_STORE=url, MIDA_SPOOL=str(spool))
    return subprocess.run([fleet.produce, str(tasks), label, "20000"],
                          env=env, capture_output=True, text=True,
                          timeout=60)


def ingest(fleet, url, store):
    r = subprocess.run([fleet.mida, "ingest", "--from", url, "--to",
                        str(store), "--idle-exit", "2"], env=fleet.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def activities(fleet, store):
    r = subprocess.run([fleet.mida, "--store", str(store), "query",
                        "SELECT activity || ':' || count(*) AS n FROM task "
                        "GROUP BY activity ORDER BY activity"],
                       env=fleet.env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.split() if ":" in w]


def test_nats_subjects_that_shared_a_stream_name(fleet, nats_factory,
                                                 tmp_path):
    nats = nats_factory()
    x = "s" + uuid.uuid4().hex[:8]
    dot, und = f"{nats.url_base}/{x}.y", f"{nats.url_base}/{x}_y"
    r = produce(fleet, dot, 10, "dot", tmp_path / "spool-dot")
    assert r.returncode == 0, r.stderr
    r = produce(fleet, und, 7, "und", tmp_path / "spool-und")
    assert r.returncode == 0, r.stderr
    ingest(fleet, dot, tmp_path / "dot.db")
    ingest(fleet, und, tmp_path / "und.db")
    assert activities(fleet, tmp_path / "dot.db") == ["dot:10"]
    assert activities(fleet, tmp_path / "und.db") == ["und:7"]
    names = stream_names(nats.port)
    assert f"MIDA_{x}_y" in names, names  # a plain subject keeps its name
    assert len(names) == 2, names


def test_nats_stream_made_by_an_earlier_mida(fleet, nats_factory, tmp_path):
    nats = nats_factory()
    x = "s" + uuid.uuid4().hex[:8]
    # The stream as a mida before 2026-12 made it for X.y.
    made = js_api(nats.port, f"$JS.API.STREAM.CREATE.MIDA_{x}_y",
                  json.dumps({"name": f"MIDA_{x}_y", "subjects": [f"{x}.y"],
                              "storage": "file"}))
    assert "error" not in made, made
    dot, und = f"{nats.url_base}/{x}.y", f"{nats.url_base}/{x}_y"
    r = produce(fleet, dot, 5, "dot", tmp_path / "spool-dot")
    assert r.returncode == 0, r.stderr
    info = js_api(nats.port, f"$JS.API.STREAM.INFO.MIDA_{x}_y")
    assert info["state"]["messages"] > 0, info
    assert stream_names(nats.port) == [f"MIDA_{x}_y"]
    ingest(fleet, dot, tmp_path / "dot.db")
    assert activities(fleet, tmp_path / "dot.db") == ["dot:5"]
    # X_y's name is held by X.y's stream: a clear error, nothing misrouted.
    r = produce(fleet, und, 3, "und", tmp_path / "spool-und")
    assert r.returncode == 1
    assert f"the stream MIDA_{x}_y captures {x}.y, not {x}_y" in r.stderr, \
        r.stderr
    r = subprocess.run([fleet.mida, "ingest", "--from", und, "--to",
                        str(tmp_path / "und.db"), "--idle-exit", "2"],
                       env=fleet.env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert f"captures {x}.y, not {x}_y" in r.stderr, r.stderr

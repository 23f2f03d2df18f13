"""TLS to the brokers (rediss://, tls:// for NATS, mqtts://), against real
servers of the test's own that speak only TLS with certificates of a CA
that the test makes with the openssl command: producers write through each
broker and `mida ingest` applies what they wrote to an SQLite store; a
server whose certificate comes from another CA, a server name the
certificate does not carry, a client without a certificate, a plain-text
server where TLS is asked for and TLS options on a plain URL are each
refused with a clear error, while the producer's program goes on (its
records stay in its journal). The least-rights accounts that
docs/multinode.md recommends work over TLS: on Redis (a producer may only
XADD, a consumer only read and acknowledge) each is refused the other's
part; on Mosquitto (write / read ACLs) a consumer's account publishes
nothing that arrives."""

import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

from multinode_support import (free_port, port_open, require_backend,
                               wait_mqtt_subscribed, wait_port)

TASKS = 200


# ---- a private PKI --------------------------------------------------------

def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, f"openssl {args}: {r.stderr}"


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out",
            f"{name}.pem", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_cert(d, ca, name, ext):
    """A key and a certificate signed by ca, with the extensions ext."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(ext + "\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem",
            "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2",
            "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


class Pki:
    def __init__(self, d):
        self.dir = d
        self.ca = d / "ca.pem"
        self.other_ca = d / "other-ca.pem"
        self.server_cert = d / "server.pem"
        self.server_key = d / "server.key"
        self.client_cert = d / "client.pem"
        self.client_key = d / "client.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed "
                    "(scripts/deps/brokers.apt)")
    d = tmp_path_factory.mktemp("pki")
    make_ca(d, "ca")
    make_ca(d, "other-ca")
    make_cert(d, "ca", "server",
              "subjectAltName=DNS:broker.test,IP:127.0.0.1\n"
              "extendedKeyUsage=serverAuth")
    make_cert(d, "ca", "client", "extendedKeyUsage=clientAuth")
    for k in d.glob("*.key"):
        k.chmod(0o600)
    return Pki(d)


# ---- servers that speak TLS only, requiring a client certificate ----------

class Server:
    """A broker process of the test's own: TLS on self.port; plain text on
    self.plain_port where the broker can listen on both."""

    def __init__(self, argv, port, plain_port, log):
        self.port = port
        self.plain_port = plain_port
        self.log = log
        self.proc = subprocess.Popen(argv, stdout=open(log, "w"),
                                     stderr=subprocess.STDOUT)
        if not wait_port(port, timeout=20):
            self.stop()
            text = log.read_text()
            if "tls" in text.lower() and "not" in text.lower() and \
                    "support" in text.lower():
                pytest.skip(f"this {argv[0]} has no TLS: {text[-300:]}")
            pytest.fail(f"{argv[0]} did not start: {text}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_redis(pki, d, extra=()):
    require_backend("HIREDIS", "hiredis")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/deps/brokers.apt)")
    port, plain = free_port(), free_port()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(plain),
            "--tls-port", str(port), "--tls-cert-file", str(pki.server_cert),
            "--tls-key-file", str(pki.server_key), "--tls-ca-cert-file",
            str(pki.ca), "--tls-auth-clients", "yes", "--dir", str(d),
            "--save", "", "--appendonly", "no", *extra]
    return Server(argv, port, plain, d / "redis.log")


def start_nats(pki, d):
    require_backend("NATS", "libnats")
    if shutil.which("nats-server") is None:
        pytest.skip("nats-server is not installed (scripts/deps/brokers.apt)")
    port = free_port()
    conf = d / "nats.conf"
    conf.write_text(f"""
listen: "127.0.0.1:{port}"
jetstream {{ store_dir: "{d}/js" }}
tls {{
  cert_file: "{pki.server_cert}"
  key_file: "{pki.server_key}"
  ca_file: "{pki.ca}"
  verify: true
  timeout: 5
}}
""")
    # NATS serves plain text and TLS on separate servers: the plain one is
    # a second server of its own.
    plain = free_port()
    srv = Server(["nats-server", "-c", str(conf)], port, plain,
                 d / "nats.log")
    srv.plain = Server(["nats-server", "-a", "127.0.0.1", "-p", str(plain),
                        "-js", "-sd", str(d / "plain-js")], plain, plain,
                       d / "nats-plain.log")
    return srv


def start_mosquitto(pki, d, accounts=None):
    require_backend("MOSQUITTO", "libmosquitto")
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (scripts/deps/brokers.apt)")
    import pwd
    port, plain = free_port(), free_port()
    conf = d / "mosquitto.conf"
    auth = ["allow_anonymous true"]
    if accounts is not None:  # ({user: password}, acl file text)
        users, acl = accounts
        pw = d / "passwd"
        pw.write_text("")
        for user, password in users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(pw), user,
                            password], check=True, capture_output=True)
        (d / "acl").write_text(acl)
        auth = ["allow_anonymous false", f"password_file {pw}",
                f"acl_file {d / 'acl'}"]
    conf.write_text("\n".join([
        f"user {pwd.getpwuid(os.getuid()).pw_name}",
        "per_listener_settings false", *auth,
        "persistence false", "max_queued_messages 0",
        f"log_dest file {d}/mosquitto.log", "log_type error",
        "log_type warning", "log_type notice", "log_type information",
        "log_type subscribe",
        f"listener {port} 127.0.0.1",
        f"cafile {pki.ca}", f"certfile {pki.server_cert}",
        f"keyfile {pki.server_key}", "require_certificate true",
        f"listener {plain} 127.0.0.1"]) + "\n")
    return Server(["mosquitto", "-c", str(conf)], port, plain,
                  d / "mosquitto.out")


BROKERS = {
    # name: (start, TLS scheme, plain scheme, path)
    "redis": (start_redis, "rediss", "redis", "tasks"),
    "nats": (start_nats, "tls", "nats", "tasks"),
    "mqtt": (start_mosquitto, "mqtts", "mqtt", "mida/tasks"),
}


@pytest.fixture(params=sorted(BROKERS))
def broker(request, pki, tmp_path):
    start, scheme, plain_scheme, path = BROKERS[request.param]
    d = tmp_path / request.param
    d.mkdir()
    srv = start(pki, d)
    srv.name = request.param
    srv.scheme = scheme
    srv.plain_scheme = plain_scheme
    srv.path = path
    yield srv
    if hasattr(srv, "plain"):
        srv.plain.stop()
    srv.stop()


def wait_subscribed(srv, name, group):
    """MQTT: waits until the consumer name has subscribed (a message
    published before that is dropped); returns whether it did. Redis and
    NATS keep what is published before a consumer reads (a group from the
    stream's start, a durable JetStream consumer)."""
    if srv.name != "mqtt":
        return True
    return wait_mqtt_subscribed(srv.log.parent / "mosquitto.log", [name],
                                srv.path, group)


def tls_url(srv, host="127.0.0.1", port=None, **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return (f"{srv.scheme}://{host}:{port or srv.port}/{srv.path}"
            + (f"?{q}" if q else ""))


def clean_env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    e.update(extra)
    return e


def produce(produce_bin, url, spool, label, flush_ms=120000, **env):
    return subprocess.run([produce_bin, str(TASKS), label, str(flush_ms)],
                          env=clean_env(MIDA_STORE=url, MIDA_SPOOL=str(spool),
                                        **env),
                          capture_output=True, text=True, timeout=180)


def finished(db, label):
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(str(db), timeout=30) as c:
            return c.execute("SELECT count(*) FROM task WHERE status ="
                             " 'FINISHED' AND activity = ?",
                             (label,)).fetchone()[0]
    except sqlite3.OperationalError:  # no schema yet
        return 0


def wait_finished(db, label, want, timeout=120):
    deadline = time.time() + timeout
    n = 0
    while time.time() < deadline:
        n = finished(db, label)
        if n >= want:
            return n
        time.sleep(0.3)
    return n


# ---- the tests --------------------------------------------------------------

def test_records_travel_through_tls_with_a_client_certificate(
        broker, pki, mida_bin, produce_bin, tmp_path):
    """The producer names its TLS files in the URL and verifies the
    server by a name other than the host it connects to (sni=); `mida
    ingest` reads the same stream with the options in MIDA_TLS_*."""
    db = tmp_path / "store.db"
    ingest_env = clean_env(MIDA_TLS_CA=str(pki.ca),
                           MIDA_TLS_CERT=str(pki.client_cert),
                           MIDA_TLS_KEY=str(pki.client_key))
    log = open(tmp_path / "ingest.log", "w")
    ingest = subprocess.Popen(
        [mida_bin, "ingest", "--from", tls_url(broker), "--to",
         f"sqlite://{db}", "--name", "i1", "--group", "g"],
        env=ingest_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_subscribed(broker, "i1", "g"), \
            (tmp_path / "ingest.log").read_text()
        assert ingest.poll() is None, (tmp_path / "ingest.log").read_text()
        url = tls_url(broker, host="localhost", ca=pki.ca,
                      cert=pki.client_cert, key=pki.client_key,
                      sni="broker.test")
        r = produce(produce_bin, url, tmp_path / "spool", "over-tls")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"produced {TASKS} ")
        assert wait_finished(db, "over-tls", TASKS) == TASKS, \
            (tmp_path / "ingest.log").read_text()
    finally:
        ingest.send_signal(signal.SIGINT)
        ingest.wait(timeout=30)
    assert ingest.returncode == 0, (tmp_path / "ingest.log").read_text()


def refused(produce_bin, url, tmp_path, label, flush_ms=1500, **env):
    """Runs a producer whose broker refuses it: the program still does all
    its work (the session opened, every task captured), only the final
    flush fails, saying why; the records stay in the journal."""
    spool = tmp_path / f"spool-{label}"
    r = produce(produce_bin, url, spool, label, flush_ms=flush_ms, **env)
    assert r.stdout.startswith(f"produced {TASKS} "), r.stderr
    assert r.returncode == 1, r.stderr
    assert "cannot open" not in r.stderr, r.stderr
    assert any(spool.iterdir()), "the journal was removed"
    return r.stderr


def test_a_server_of_another_ca_is_refused(broker, pki, produce_bin,
                                            mida_bin, tmp_path):
    url = tls_url(broker, ca=pki.other_ca, cert=pki.client_cert,
                  key=pki.client_key)
    err = refused(produce_bin, url, tmp_path, "other-ca")
    assert "certificate" in err, err
    assert ("was refused" in err or "verify failed" in err
            or "local issuer" in err), err
    # The consumer says the same, at once.
    r = subprocess.run([mida_bin, "ingest", "--from", url, "--to",
                        f"sqlite://{tmp_path}/x.db"], env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "certificate" in r.stderr, r.stderr
    assert ("was refused" in r.stderr or "local issuer" in r.stderr
            or "verify failed" in r.stderr), \
        r.stderr


def test_a_name_the_certificate_does_not_carry_is_refused(
        broker, pki, produce_bin, tmp_path):
    url = tls_url(broker, ca=pki.ca, cert=pki.client_cert,
                  key=pki.client_key, sni="someone-else.test")
    err = refused(produce_bin, url, tmp_path, "wrong-name")
    assert "hostname mismatch" in err or "certificate verify failed" in err, \
        err


def test_a_client_without_a_certificate_is_refused(broker, pki, produce_bin,
                                                    tmp_path):
    err = refused(produce_bin, tls_url(broker, ca=pki.ca), tmp_path,
                  "no-cert")
    assert broker.scheme in err, err
    assert "certificate" in err, err


def test_plain_text_is_refused_when_tls_is_asked(broker, pki, produce_bin,
                                                 tmp_path):
    # TLS asked, the server speaks plain text: no record goes in clear.
    url = tls_url(broker, port=broker.plain_port, ca=pki.ca,
                  cert=pki.client_cert, key=pki.client_key)
    # (A plain Redis waits for the end of a line that TLS never sends: the
    # handshake fails when the connect timeout passes, 3 s.)
    err = refused(produce_bin, url, tmp_path, "plain-server", flush_ms=8000)
    assert "TLS" in err or "ecure" in err, err
    # Plain text asked of a server that speaks only TLS: refused too.
    url = f"{broker.plain_scheme}://127.0.0.1:{broker.port}/{broker.path}"
    refused(produce_bin, url, tmp_path, "plain-client")


def test_tls_options_on_a_plain_url_are_an_error(broker, pki, produce_bin,
                                                  tmp_path):
    url = (f"{broker.plain_scheme}://127.0.0.1:{broker.plain_port}/"
           f"{broker.path}?ca={pki.ca}")
    r = produce(produce_bin, url, tmp_path / "spool", "options")
    assert r.returncode == 1
    assert (f"TLS option 'ca' given for a plain {broker.plain_scheme}:// "
            f"URL") in r.stderr, r.stderr
    # A file that cannot be read is named at once.
    url = tls_url(broker, ca=tmp_path / "missing.pem")
    r = produce(produce_bin, url, tmp_path / "spool", "options")
    assert r.returncode == 1
    assert "cannot read the TLS CA file" in r.stderr, r.stderr
    assert "missing.pem" in r.stderr
    # A parameter no broker URL takes, mistyped ('cafile', which left the
    # CA unread) or another client's ('db'), is an error, never ignored
    # (until 2026-12-05 both were ignored).
    for url in (f"{tls_url(broker)}?cafile={pki.ca}",
                f"{broker.plain_scheme}://127.0.0.1:{broker.plain_port}/"
                f"{broker.path}?db=2"):
        r = produce(produce_bin, url, tmp_path / "spool", "options")
        assert r.returncode == 1
        assert "cannot open: unknown parameter" in r.stderr, r.stderr


# The accounts of docs/multinode.md ("Authenticating producers to a shared
# broker"): a producer may only add to the stream, a consumer only read it.
REDIS_ACCOUNTS = [
    "--user", "default", "off",
    "--user", "node-a", "on", ">pw-a", "resetkeys", "~mida", "resetchannels",
    "-@all", "+ping", "+xadd",
    "--user", "ingest", "on", ">pw-i", "resetkeys", "~mida", "-@all",
    "+ping", "+xgroup|create", "+xreadgroup", "+xautoclaim", "+xack",
    "+xinfo|groups", "+xpending", "+xtrim"]


def test_redis_accounts_with_least_rights_over_tls(pki, mida_bin,
                                                   produce_bin, tmp_path):
    srv = start_redis(pki, tmp_path, REDIS_ACCOUNTS)
    try:
        files = f"ca={pki.ca}&cert={pki.client_cert}&key={pki.client_key}"
        base = f"127.0.0.1:{srv.port}/mida?{files}"
        producer = f"rediss://node-a:pw-a@{base}"
        consumer = f"rediss://ingest:pw-i@{base}"
        db = tmp_path / "store.db"
        log = open(tmp_path / "ingest.log", "w")
        ingest = subprocess.Popen(
            [mida_bin, "ingest", "--from", consumer, "--to",
             f"sqlite://{db}", "--name", "i1", "--group", "g"],
            env=clean_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            r = produce(produce_bin, producer, tmp_path / "spool", "acl")
            assert r.returncode == 0, r.stderr
            assert wait_finished(db, "acl", TASKS) == TASKS, \
                (tmp_path / "ingest.log").read_text()
        finally:
            ingest.send_signal(signal.SIGINT)
            ingest.wait(timeout=30)
        log = (tmp_path / "ingest.log").read_text()
        assert ingest.returncode == 0, log
        # The rights of docs/multinode.md let it trim the stream too.
        assert "cannot delete" not in log, log
        # The consumer's account cannot write, the producer's cannot read.
        err = refused(produce_bin, f"rediss://ingest:pw-i@{base}", tmp_path,
                      "as-consumer")
        assert "NOPERM" in err and "xadd" in err, err
        r = subprocess.run([mida_bin, "ingest", "--from", producer, "--to",
                            f"sqlite://{tmp_path}/y.db"], env=clean_env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1
        assert "NOPERM" in r.stderr, r.stderr
        assert "pw-a" not in r.stderr + err  # no password in a message
    finally:
        srv.stop()


MQTT_ACL = """user node-a
topic write mida/tasks

user ingest
topic read mida/tasks
"""


def test_mqtt_accounts_with_least_rights_over_tls(pki, mida_bin,
                                                  produce_bin, tmp_path):
    """A producer that may only write the topic and a consumer that may
    only read it work over TLS. A producer without write access gets
    nothing through, and is told: producers speak MQTT 5, whose PUBACK
    carries the broker's "not authorized" (docs/multinode.md)."""
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed (mosquitto)")
    srv = start_mosquitto(pki, tmp_path, ({"node-a": "pw-a",
                                           "ingest": "pw-i"}, MQTT_ACL))
    try:
        files = f"ca={pki.ca}&cert={pki.client_cert}&key={pki.client_key}"
        base = f"127.0.0.1:{srv.port}/mida/tasks?{files}"
        db = tmp_path / "store.db"
        log = open(tmp_path / "ingest.log", "w")
        ingest = subprocess.Popen(
            [mida_bin, "ingest", "--from", f"mqtts://ingest:pw-i@{base}",
             "--to", f"sqlite://{db}", "--name", "i1", "--group", "g"],
            env=clean_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            # Subscribed before anything is published (else dropped).
            assert wait_mqtt_subscribed(tmp_path / "mosquitto.log", ["i1"],
                                        "mida/tasks", "g"), \
                (tmp_path / "ingest.log").read_text()
            r = produce(produce_bin, f"mqtts://node-a:pw-a@{base}",
                        tmp_path / "spool", "acl")
            assert r.returncode == 0, r.stderr
            assert wait_finished(db, "acl", TASKS) == TASKS, \
                (tmp_path / "ingest.log").read_text()
            # The consumer's account may not write: the broker refuses its
            # records, and the flush says so, without the password (as a
            # PUBACK's reason code, or, when Mosquitto also drops the
            # connection, as MIDA_EDENIED's message before the lost link's).
            r = produce(produce_bin, f"mqtts://ingest:pw-i@{base}",
                        tmp_path / "spool2", "denied", flush_ms=5000)
            assert r.stdout.startswith(f"produced {TASKS} "), r.stderr
            assert r.returncode != 0, r.stderr
            assert "not authorized" in r.stderr.lower(), r.stderr
            assert "pw-i" not in r.stderr
            time.sleep(3)
            assert finished(db, "denied") == 0
        finally:
            ingest.send_signal(signal.SIGINT)
            ingest.wait(timeout=30)
        assert ingest.returncode == 0, (tmp_path / "ingest.log").read_text()
        # A wrong password is refused at once, without showing it.
        err = refused(produce_bin, f"mqtts://node-a:nope@{base}", tmp_path,
                      "bad-password")
        assert "not authorised" in err or "refused" in err, err
        assert "nope" not in err
    finally:
        srv.stop()

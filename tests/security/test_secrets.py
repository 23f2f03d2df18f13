"""No password in another user's `ps`, in a message, or in the store
(docs/security.md, "Secrets"; issue 11, item 4).

Against the real things: `mida run` with its MLflow and TensorBoard
observers, read through /proc/PID/cmdline while they run; a real
PostgreSQL store whose URL carries a password (trust authentication
ignores it); the Python binding in a child process."""

import json
import os
import pathlib
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "multinode"))
sys.path.insert(0, str(HERE.parent / "python"))

import midapy_util  # noqa: E402
from multinode_support import (free_port, mida_bin, pg_db,  # noqa: E402,F401
                               psql, require_backend)
from test_spool_hijack import fnv1a  # noqa: E402


def with_password(url, pw):
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{pw}@")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MIDA_", "MLFLOW_"))}
    env["MIDA_SAMPLE_HZ"] = "0"
    env.update(extra)
    return env


def descendants(pid):
    """pid and every process below it, from /proc."""
    parents = {}
    for d in pathlib.Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def read_proc(pid, name):
    try:
        return (pathlib.Path("/proc") / str(pid) / name).read_bytes()
    except OSError:
        return b""


def test_observers_get_the_urls_through_the_environment_not_argv(
        tmp_path, pg_db, mida_bin):
    store = with_password(pg_db, "envstorepw")
    tracking = with_password(pg_db, "mlflowpw")
    logdir = tmp_path / "tb"
    logdir.mkdir()
    env = clean_env(MIDA_STORE=store, MLFLOW_TRACKING_URI=tracking)
    p = subprocess.Popen([mida_bin, "run", "--tensorboard", str(logdir),
                          "--", "sleep", "6"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = {}
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        for pid in descendants(p.pid):
            cmd = read_proc(pid, "cmdline")
            if cmd:
                seen[pid] = (cmd, read_proc(pid, "environ"))
        observers = [c for c, _ in seen.values() if b"\0observe\0" in c]
        if len(observers) >= 2:
            break
        time.sleep(0.1)
    p.wait(timeout=120)
    observers = {pid: v for pid, v in seen.items() if b"\0observe\0" in v[0]}
    kinds = sorted(c.split(b"\0")[2] for c, _ in observers.values())
    assert kinds == [b"mlflow", b"tensorboard"], seen
    for pid, (cmd, environ) in seen.items():
        shown = cmd.replace(b"\0", b" ")
        assert b"envstorepw" not in shown and b"mlflowpw" not in shown, shown
    # They have the URLs all the same, where only this user can read them.
    for cmd, environ in observers.values():
        assert b"MIDA_STORE=" + store.encode() + b"\0" in environ
    mlflow_env = [e for c, e in observers.values() if b"mlflow" in c][0]
    assert b"MLFLOW_TRACKING_URI=" + tracking.encode() in mlflow_env


def test_recorded_argv_hides_secret_values(tmp_path, mida_bin):
    store = tmp_path / "r.db"
    r = subprocess.run([mida_bin, "run", "--store", str(store), "--",
                        "env", "API_KEY=abc1", "sh", "-c", "true",
                        "--password", "hunter2", "--token=tk9", "token=zz8"],
                       env=clean_env(), cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(store)
    texts = [m for (m,) in db.execute("SELECT metadata FROM workflow")]
    texts += [u for (u,) in db.execute("SELECT used FROM task")]
    db.close()
    argvs = [json.loads(t)["argv"] for t in texts if t and "argv" in t]
    assert ["env", "API_KEY=***", "sh", "-c", "true", "--password", "***",
            "--token=***", "token=***"] in argvs, argvs
    for t in texts:
        for secret in ("abc1", "hunter2", "tk9", "zz8"):
            assert secret not in (t or "")


def echo_recorded(tmp_path, mida_bin, args):
    """`mida run -- sh -c '/bin/echo "$@"' sh ARGS` into a fresh store:
    the run, the tasks' (activity, used) and the workflows' metadata."""
    store = tmp_path / "r.db"
    r = subprocess.run([mida_bin, "run", "--store", str(store), "--", "sh",
                        "-c", '/bin/echo "$@"', "sh", *args],
                       env=clean_env(), cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(store)
    rows = db.execute("SELECT activity, used FROM task").fetchall()
    texts = [m for (m,) in db.execute("SELECT metadata FROM workflow")]
    db.close()
    return r, rows, texts


def test_recorded_argv_hides_urls_inside_arguments(tmp_path, mida_bin):
    """A URL after an option's '=' or an assignment's, or whose query
    starts with a secret parameter, in the root's argv and in a child's
    (recorded by the preload library)."""
    args = ["--db=postgresql://u:dbpw1@h/db",
            "DATABASE_URL=postgresql://u:dbpw2@h/db",
            "--tracking-uri=https://u:trpw3@mlflow/",
            "https://user:urlpw4@example.com/x?token=tok5&a=1"]
    r, rows, texts = echo_recorded(tmp_path, mida_bin, args)
    assert r.stdout.split() == args  # the command itself saw them whole
    shown = ["--db=postgresql://u:***@h/db",
             "DATABASE_URL=postgresql://u:***@h/db",
             "--tracking-uri=https://u:***@mlflow/",
             "https://user:***@example.com/x?token=***&a=1"]
    argvs = {a: json.loads(u)["argv"] for a, u in rows if u}
    assert argvs["echo"] == ["/bin/echo", *shown], argvs
    assert argvs["sh"][-4:] == shown, argvs
    for t in [u for _, u in rows] + texts:
        for secret in ("dbpw1", "dbpw2", "trpw3", "urlpw4", "tok5"):
            assert secret not in (t or ""), t


def test_recorded_argv_hides_the_values_of_secret_headers(tmp_path,
                                                         mida_bin):
    """A header as curl -H, wget --header= and httpie take it, and
    openssl's pass:, in the root's argv and in a child's (recorded by
    the preload library). They were recorded whole, and a Basic value
    ending in '=' was read as NAME=VALUE: only its padding was masked."""
    args = ["-H", "Authorization: Bearer hdrtok1",
            "--header=X-Api-Key: hdrkey2", "PRIVATE-TOKEN:hdrtok3",
            "Authorization: Basic aGRycHc0OmFi==", "-passin", "pass:hdrpw5",
            "Accept: text/plain", "https://example.org/a"]
    _, rows, texts = echo_recorded(tmp_path, mida_bin, args)
    shown = ["-H", "Authorization: ***", "--header=X-Api-Key: ***",
             "PRIVATE-TOKEN:***", "Authorization: ***", "-passin",
             "pass:***", "Accept: text/plain", "https://example.org/a"]
    argvs = {a: json.loads(u)["argv"] for a, u in rows if u}
    assert argvs["echo"] == ["/bin/echo", *shown], argvs
    assert argvs["sh"][-len(shown):] == shown, argvs
    for t in [u for _, u in rows] + texts:
        for secret in ("hdrtok1", "hdrkey2", "hdrtok3", "aGRycHc0", "hdrpw5"):
            assert secret not in (t or ""), t


def recorded_argvs(tmp_path, mida_bin, tools, store, argv, marker):
    """Runs argv under `mida run` into store, with each of tools a stand-in
    (/bin/echo) on PATH; checks that the commands saw marker, the secrets'
    common stem, and that no text the store kept of them (a task's used,
    a workflow's metadata) holds it; returns the argvs recorded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to("/bin/echo")
    env = clean_env()
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    r = subprocess.run([mida_bin, "run", "--store", str(store), "--",
                        *argv], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert marker in r.stdout  # the commands themselves saw them whole
    db = sqlite3.connect(store)
    texts = [u for (u,) in db.execute("SELECT used FROM task")]
    texts += [m for (m,) in db.execute("SELECT metadata FROM workflow")]
    db.close()
    for t in texts:
        assert marker not in (t or ""), t
    return [json.loads(t)["argv"] for t in texts if t and "argv" in t]


def test_recorded_argv_hides_credentials_and_json_secrets(tmp_path,
                                                          mida_bin):
    """curl's USER:PASSWORD (-u, --user=, -U, -uUSER:PASSWORD) and the
    secret members of a JSON argument, in curl's own argv (a child,
    recorded by the preload library) and inside the shell command that
    ran it: they were recorded whole (their option names hold no secret's
    word). Another program's -u value is kept (docker's uid:gid)."""
    command = ("curl -u alice:credpw1 --user=bob:credpw2 -Uproxy:credpw3 "
               """--config '{"password": "credpw4", "n": 1}' && """
               "docker run -u 1000:1000 img")
    argvs = recorded_argvs(tmp_path, mida_bin, ("curl", "docker"),
                           tmp_path / "r.db", ("sh", "-c", command), "credpw")
    curl = next(a for a in argvs if a[0] == "curl")
    assert curl[1:] == ["-u", "alice:***", "--user=bob:***",
                        "-Uproxy:***", "--config",
                        '{"password":"***","n":1}'], curl
    docker = next(a for a in argvs if a[0] == "docker")
    assert docker[1:] == ["run", "-u", "1000:1000", "img"], docker
    assert "credpw" not in json.dumps(argvs), argvs


def test_recorded_argv_hides_option_clusters_and_tools_passwords(
        tmp_path, mida_bin):
    """curl's -u in a cluster ("-su alice:PW", "-sualice:PW") and its API
    key as a user ("-u KEY:"), mysql's -pPW, sshpass's -p PW, redis-cli's
    -a PW and --oauth2-bearer, in the root's argv (`env curl ...`), in
    each program's own (children, recorded by the preload library) and in
    the shell command that ran them: they were recorded whole."""
    tools = ("curl", "mysql", "sshpass", "redis-cli")
    command = ("curl -su alice:clpw1 -sualice:clpw2 -u sk_clpw3: "
               "--oauth2-bearer clpw4 https://h && mysql -uroot -pclpw5 db "
               "&& sshpass -p clpw6 true && redis-cli -a clpw7 ping")

    def recorded(store, *argv):
        return recorded_argvs(tmp_path, mida_bin, tools, store, argv, "clpw")

    argvs = recorded(tmp_path / "env.db", "env", "curl", "-ksu",
                     "bob:clpw8", "https://h")
    assert ["env", "curl", "-ksu", "bob:***", "https://h"] in argvs, argvs
    assert ["curl", "-ksu", "bob:***", "https://h"] in argvs, argvs
    argvs = recorded(tmp_path / "sh.db", "sh", "-c", command)
    assert ["sh", "-c", "curl -su alice:*** -sualice:*** -u *** "
            "--oauth2-bearer *** https://h && mysql -uroot -p*** db "
            "&& sshpass -p *** true && redis-cli -a *** ping"] in argvs, argvs
    by_program = {a[0]: a for a in argvs}
    assert by_program["curl"][1:] == ["-su", "alice:***", "-sualice:***",
                                      "-u", "***", "--oauth2-bearer", "***",
                                      "https://h"], argvs
    assert by_program["mysql"][1:] == ["-uroot", "-p***", "db"], argvs
    assert by_program["sshpass"][1:] == ["-p", "***", "true"], argvs
    assert by_program["redis-cli"][1:] == ["-a", "***", "ping"], argvs


def test_recorded_argv_hides_passwords_of_logins_ldap_samba_htpasswd(
        tmp_path, mida_bin):
    """curl's -E FILE:PASSWORD, `docker login -p`, ldapsearch's -w,
    smbclient's -U USER%PASSWORD, sqlcmd's -P, openssl's -k, htpasswd's
    password after -b and aws's `configure set` value of a secret key, in
    the shell command that ran them and in each program's own argv: they
    were recorded whole. `docker run -p 80:80` keeps its port."""
    tools = ("curl", "docker", "ldapsearch", "smbclient", "sqlcmd",
             "openssl", "htpasswd", "aws")
    command = ("curl -sE c.pem:lgpw1 https://h && docker login -u bob -p "
               "lgpw2 reg && docker run -p 80:80 img && ldapsearch -x -w "
               "lgpw3 -b dc=x && smbclient //h/s -U bob%lgpw4 && sqlcmd -P "
               "lgpw5 && openssl enc -k lgpw6 -in f && htpasswd -bc f bob "
               "lgpw7 && aws configure set aws_secret_access_key lgpw8")
    argvs = recorded_argvs(tmp_path, mida_bin, tools, tmp_path / "sh.db",
                           ("sh", "-c", command), "lgpw")
    assert ["sh", "-c", command.replace("lgpw1", "***")
            .replace("lgpw2", "***").replace("lgpw3", "***")
            .replace("lgpw4", "***").replace("lgpw5", "***")
            .replace("lgpw6", "***").replace("lgpw7", "***")
            .replace("lgpw8", "***")] in argvs, argvs
    expected = [
        ["curl", "-sE", "c.pem:***", "https://h"],
        ["docker", "login", "-u", "bob", "-p", "***", "reg"],
        ["docker", "run", "-p", "80:80", "img"],
        ["ldapsearch", "-x", "-w", "***", "-b", "dc=x"],
        ["smbclient", "//h/s", "-U", "bob%***"],
        ["sqlcmd", "-P", "***"],
        ["openssl", "enc", "-k", "***", "-in", "f"],
        ["htpasswd", "-bc", "f", "bob", "***"],
        ["aws", "configure", "set", "aws_secret_access_key", "***"],
    ]
    for argv in expected:
        assert argv in argvs, (argv, argvs)


def test_recorded_argv_hides_registry_creds_and_isql_passwords(
        tmp_path, mida_bin):
    """podman's and skopeo's --creds USER:PASSWORD (--creds=, --src-creds,
    --dest-creds) and unixODBC's `isql DSN USER PASSWORD`, in the shell
    command that ran them and in each program's own argv: the passwords
    were recorded whole. gcloud's --credentials-file and --key-file paths,
    kubectl's --kubeconfig and `isql -v DSN` stay as they were."""
    tools = ("podman", "skopeo", "isql", "gcloud", "kubectl")
    command = ("podman pull --creds bob:crpw1 img && podman push "
               "--creds=bob:crpw2 img && skopeo copy --src-creds a:crpw3 "
               "--dest-creds=b:crpw4 docker://a docker://b && isql DSN bob "
               "crpw5 -b && isql -v DSN && gcloud auth "
               "activate-service-account --key-file=k.json && gcloud "
               "--credentials-file c.json x && kubectl --kubeconfig f get")
    argvs = recorded_argvs(tmp_path, mida_bin, tools, tmp_path / "sh.db",
                           ("sh", "-c", command), "crpw")
    shown = command
    for k in range(1, 6):
        shown = shown.replace(f"crpw{k}", "***")
    assert ["sh", "-c", shown] in argvs, argvs
    expected = [
        ["podman", "pull", "--creds", "bob:***", "img"],
        ["podman", "push", "--creds=bob:***", "img"],
        ["skopeo", "copy", "--src-creds", "a:***", "--dest-creds=b:***",
         "docker://a", "docker://b"],
        ["isql", "DSN", "bob", "***", "-b"],
        ["isql", "-v", "DSN"],
        ["gcloud", "auth", "activate-service-account", "--key-file=k.json"],
        ["gcloud", "--credentials-file", "c.json", "x"],
        ["kubectl", "--kubeconfig", "f", "get"],
    ]
    for argv in expected:
        assert argv in argvs, (argv, argvs)


def test_recorded_shell_command_hides_secret_options_and_headers(
        tmp_path, mida_bin):
    """`sh -c 'CMD'` is recorded with CMD as one argument: a secret
    option's value and a secret header's inside it were recorded whole,
    though the same words as arguments of their own were masked."""
    cmd = (': --token shtok1; : "Authorization: Bearer shtok2"; '
           ': --db-password "sh pw3"; : -H X-Api-Key:shtok4; : --max-tokens 5')
    store = tmp_path / "s.db"
    r = subprocess.run([mida_bin, "run", "--store", str(store), "--", "sh",
                        "-c", cmd], env=clean_env(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(store)
    (used,) = db.execute("SELECT used FROM task").fetchone()
    db.close()
    assert json.loads(used)["argv"] == [
        "sh", "-c", ': --token ***; : "Authorization: ***"; '
        ': --db-password "***"; : -H X-Api-Key:***; : --max-tokens 5']


PRODUCER = """
import json, mida
@mida.task
def train(lr, api_key, cfg, hf_token=None):
    return 1
train(0.1, "sk-abc", {"db_password": "x1", "servers": [{"token": "t1"}],
                      "max_tokens": 7}, hf_token="hf_xyz")
assert mida.flush(30)
print(json.dumps(json.loads(mida.query("SELECT used FROM task")[0]["used"])))
"""


@pytest.mark.parametrize("setting", [None, "1", "0"])
def test_used_values_of_secret_names_are_hidden_unless_turned_off(
        tmp_path, setting):
    env = midapy_util.child_env(tmp_path / "u.db", MIDA_SAMPLE_HZ="0")
    if setting is not None:
        env["MIDA_REDACT_USED"] = setting
    r = subprocess.run([sys.executable, "-c", PRODUCER], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    used = json.loads(r.stdout.strip().splitlines()[-1])
    if setting == "0":
        assert used["api_key"] == "sk-abc" and used["hf_token"] == "hf_xyz"
        return
    assert used == {"lr": 0.1, "api_key": "***", "hf_token": "***",
                    "cfg": {"db_password": "***",
                            "servers": [{"token": "***"}],
                            "max_tokens": 7}}


URL_PRODUCER = """
import mida
with mida.workflow("wf", source_url="https://u:metapw31@h/",
                   api_token="tokmeta9"):
    @mida.task
    def load(db, page):
        mida.data("s3://ak:datapw42@bucket/key", "used")
        return "mysql://r:retpw99@h/x"
    @mida.task
    def fail():
        raise RuntimeError("cannot reach redis://:errpw77@h:6379/0")
    load("postgresql://u:hunter2pw@h/db", "https://h/x?token=tok5678&a=1")
    try:
        fail()
    except RuntimeError:
        pass
assert mida.flush(30)
"""

URL_SECRETS = ("metapw31", "datapw42", "retpw99", "errpw77", "hunter2pw",
               "tok5678", "tokmeta9")


@pytest.mark.parametrize("setting", [None, "0"])
def test_urls_inside_values_hide_their_passwords_in_the_store_and_exports(
        tmp_path, mida_bin, setting):
    """A URL's password or token among a task's arguments, its result, its
    error, a data's URI or a workflow's metadata, and a secret-named
    member of the metadata (api_token), reach neither the store file nor
    an export (MIDA_REDACT_USED=0 keeps them, as for `used`)."""
    store = tmp_path / "v.db"
    env = midapy_util.child_env(store, MIDA_SAMPLE_HZ="0")
    if setting is not None:
        env["MIDA_REDACT_USED"] = setting
    r = subprocess.run([sys.executable, "-c", URL_PRODUCER], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(store)
    (used,) = db.execute(
        "SELECT used FROM task WHERE activity = 'load'").fetchone()
    uris = [u for (u,) in db.execute("SELECT uri FROM data")]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("v.db*")
                      if p.is_file())
    exports = []
    for fmt in ("prov", "rocrate", "openlineage"):
        out = tmp_path / f"export-{fmt}"
        e = subprocess.run(
            [mida_bin, "--store", str(store), "export", fmt, "-o", str(out)],
            env=clean_env(), capture_output=True, timeout=120)
        assert e.returncode == 0, e.stderr
        files = [out] if out.is_file() else sorted(out.rglob("*"))
        exports.append(b"".join(f.read_bytes() for f in files
                                if f.is_file()))
    if setting == "0":
        assert "hunter2pw" in used and all(s.encode() in stored
                                           for s in URL_SECRETS)
        return
    assert json.loads(used) == {"db": "postgresql://u:***@h/db",
                                "page": "https://h/x?token=***&a=1"}
    assert uris == ["s3://ak:***@bucket/key"]
    for secret in URL_SECRETS:
        assert secret.encode() not in stored, secret
        for e in exports:
            assert secret.encode() not in e, secret


VERBS = [["tasks"], ["workflows"], ["show", "x"], ["stats"], ["stats",
         "--json"], ["lineage", "x"], ["query", "select 1"], ["telemetry"],
         ["diff", "a", "b"], ["export", "prov"], ["recover"]]


def test_no_password_in_the_messages_of_any_verb(pg_db, mida_bin):
    dead = f"postgresql://postgres:deadpw9@127.0.0.1:{free_port()}/x"
    live = with_password(pg_db, "livepw9")
    subprocess.run([mida_bin, "run", "--", "true"],
                   env=clean_env(MIDA_STORE=live), capture_output=True,
                   timeout=120)
    brokers = [f"redis://:brokerpw9@127.0.0.1:{free_port()}/s",
               f"nats://u:brokerpw9@127.0.0.1:{free_port()}/s",
               f"mqtt://u:brokerpw9@127.0.0.1:{free_port()}/t"]
    for url in [dead, live] + brokers:
        for verb in VERBS:
            r = subprocess.run([mida_bin, "--store", url, *verb],
                               env=clean_env(), capture_output=True,
                               text=True, timeout=120)
            out = r.stdout + r.stderr
            for pw in ("deadpw9", "livepw9", "brokerpw9"):
                assert pw not in out, (url, verb, out)
    # `mida run` against a store that is down, warned and strict.
    for strict in ("0", "1"):
        r = subprocess.run([mida_bin, "run", "--", "true"],
                           env=clean_env(MIDA_STORE=dead, MIDA_STRICT=strict),
                           capture_output=True, text=True, timeout=120)
        assert "postgres:***@" in r.stderr and "deadpw9" not in r.stderr


def test_no_password_in_python_errors_and_warnings(tmp_path):
    dead = f"postgresql://postgres:pypw9@127.0.0.1:{free_port()}/x"
    code = ("import mida, warnings\nwarnings.simplefilter('always')\n"
            "try:\n    mida.query('select 1')\n"
            "except Exception as e:\n    print('ERR', e)\n")
    env = midapy_util.child_env(tmp_path / "unused.db", MIDA_STORE=dead)
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert "ERR" in out and "postgres:***@" in out, out
    assert "pypw9" not in out


def python_on_store(code, store_url, tmp_path):
    """Runs code in a child Python whose mida records into store_url."""
    env = midapy_util.child_env(tmp_path / "unused.db", MIDA_STORE=store_url,
                                MIDA_SPOOL=tmp_path / "sp")
    return subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=120)


def test_session_info_shows_the_store_without_its_password(tmp_path):
    """mida.session_info() is for showing: its "store" is the redacted
    URL, the store's own (mida.query, which needs the password, still
    reads the store)."""
    url = "postgresql://u:secretpw@127.0.0.1:5432/postgres"
    code = ("import json, mida, warnings\nwarnings.simplefilter('ignore')\n"
            "print(json.dumps(mida.session_info()))\n")
    r = python_on_store(code, url, tmp_path)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["open"] is True
    assert info["store"] == "postgresql://u:***@127.0.0.1:5432/postgres"
    assert "secretpw" not in r.stdout + r.stderr


def test_no_password_in_the_dashboard_api_or_stats(tmp_path, pg_db,
                                                   mida_bin):
    """Every GET of the dashboard's API, and `mida stats`, against a live
    store whose URL has a password: none shows it."""
    live = with_password(pg_db, "apipw9")
    code = ("import mida, warnings\nwarnings.simplefilter('ignore')\n"
            "mida.task(lambda: 1, name='step')()\n"
            "assert mida.flush(30)\n"
            "print(mida.query('select count(*) as n from task'))\n")
    r = python_on_store(code, live, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "apipw9" not in r.stdout + r.stderr
    for verb in (["stats"], ["stats", "--json"]):
        r = subprocess.run([mida_bin, "--store", live, *verb],
                           env=clean_env(), capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert "apipw9" not in r.stdout + r.stderr
        assert "postgres:***@" in r.stdout
    srv = subprocess.Popen([mida_bin, "--store", live, "serve", "--listen",
                            "127.0.0.1:0"], env=clean_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        said = ""
        port = None
        while port is None:
            line = srv.stderr.readline()
            assert line, said
            said += line
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            port = int(m.group(1)) if m else None
        spec = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/openapi.json", timeout=30).read())
        paths = [p for p, ops in spec["paths"].items()
                 if "get" in ops and "{" not in p and p != "/api/events"]
        assert "/api/health" in paths and "/api/stats" in paths
        bodies = {}
        for p in paths:
            try:
                body = urllib.request.urlopen(
                    f"http://127.0.0.1:{port}{p}", timeout=30).read()
            except urllib.error.HTTPError as e:  # 4xx for a missing param
                body = e.read()
            assert b"apipw9" not in body, (p, body)
            bodies[p] = body
        assert b'"step"' in bodies["/api/tasks"]  # the live store's
    finally:
        srv.terminate()
        _, err = srv.communicate(timeout=30)
    assert "apipw9" not in said + err


def test_no_password_in_what_libpq_says_of_a_url_it_cannot_read(
        tmp_path, mida_bin):
    """libpq quotes a token of the URL it cannot decode ('invalid
    percent-encoded token: "50%off"'), or the whole URL it cannot parse:
    mida's own part of the message was redacted, libpq's was not."""
    port = free_port()
    urls = {"50%offpw": f"postgresql://postgres:50%offpw@127.0.0.1:{port}/x",
            "se%00cretpw": f"postgresql://postgres:se%00cretpw@127.0.0.1/x",
            "v6secretpw": "postgresql://postgres:v6secretpw@[::1/x",
            "tok%zzpw": f"postgresql://127.0.0.1:{port}/x?password=tok%zzpw"}
    code = ("import mida\ntry:\n    mida.query('select 1')\n"
            "except Exception as e:\n    print('ERR', e)\n")
    for pw, url in urls.items():
        runs = [subprocess.run([mida_bin, "--store", url, *verb],
                               env=clean_env(), capture_output=True,
                               text=True, timeout=120)
                for verb in (["tasks"], ["query", "select 1"])]
        runs.append(subprocess.run(
            [mida_bin, "observe", "mlflow", "--tracking-uri", url, "--once"],
            env=clean_env(), capture_output=True, text=True, timeout=120))
        if pw == "50%offpw":  # Python's query waits 10 s for its flush
            runs.append(subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True,
                env=midapy_util.child_env(tmp_path / "unused.db",
                                          MIDA_STORE=url),
                timeout=120))
        for r in runs:
            out = r.stdout + r.stderr
            assert r.returncode != 0 or "ERR" in out, (url, out)
            parts = {pw} | {p for p in pw.split("%") if len(p) >= 4}
            for part in parts:
                assert part not in out, (url, out)


def test_mida_hides_the_passwords_of_its_own_arguments_from_ps(
        tmp_path, pg_db, mida_bin):
    store = with_password(pg_db, "argvpw7") + "?sslpassword=sp9"
    p = subprocess.Popen([mida_bin, "run", "--store", store, "--", "sleep",
                          "3"], env=clean_env(), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown = b""
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and b"sleep" not in shown:
        time.sleep(0.2)
        shown = read_proc(p.pid, "cmdline")
    assert p.wait(timeout=120) == 0
    assert b"postgres:*******@" in shown and b"sslpassword=***" in shown, shown
    assert b"argvpw7" not in shown and b"sp9" not in shown
    # The store was reached all the same: the copy kept the URL whole.
    assert int(psql(pg_db, "SELECT count(*) FROM workflow")) == 1


def test_the_spool_named_in_ps_is_no_hash_of_the_password(tmp_path,
                                                          mida_bin):
    """A store that is no SQLite file spools into a directory named by a
    hash of its URL, and `mida run --detach-ship` hands that path to the
    detached `mida recover` on its command line, which every user reads.
    The hash was FNV-1a of the whole URL, password included: whoever knew
    the rest of the URL could try passwords against it offline, billions a
    second. Now it is the hash of the URL as shown, password masked. The
    store is a listener that never answers, so that the recover waits on
    it long enough to be read from /proc."""
    require_backend("LIBPQ", "libpq")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = f"postgresql://postgres:hashpw5@127.0.0.1:{port}/x"
        shown = f"postgresql://postgres:***@127.0.0.1:{port}/x"
        env = clean_env(MIDA_STORE=store, TMPDIR=str(tmp_path))
        env.pop("XDG_RUNTIME_DIR", None)
        r = subprocess.run([mida_bin, "run", "--detach-ship", "--", "true"],
                           env=env, cwd=tmp_path, capture_output=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        recover = {}
        deadline = time.time() + 30
        while not recover and time.time() < deadline:
            for d in pathlib.Path("/proc").iterdir():
                cmd = read_proc(d.name, "cmdline") if d.name.isdigit() else b""
                if b"\0recover\0" in cmd and str(tmp_path).encode() in cmd:
                    recover[int(d.name)] = cmd.split(b"\0")
            time.sleep(0.05)
        for pid in recover:
            os.kill(pid, signal.SIGKILL)
    assert len(recover) == 1, recover
    argv = next(iter(recover.values()))
    spool = pathlib.Path(argv[argv.index(b"--spool") + 1].decode())
    assert spool.parent == tmp_path / f"mida-spool-{os.geteuid()}", argv
    assert spool.name != fnv1a(store), argv
    assert spool.name == fnv1a(shown), argv


def test_a_password_holding_an_at_sign_is_hidden_whole(mida_bin):
    """mida reads the userinfo up to the last '@' of the authority (and
    hides all of it), libpq up to the first: the password's tail was its
    host name, which libpq's message printed ('could not translate host
    name "back9@127.0.0.1"'). libpq now gets the '@' percent-encoded."""
    url = f"postgresql://postgres:front9@back9@127.0.0.1:{free_port()}/x"
    for verb in (["tasks"], ["query", "select 1"]):
        r = subprocess.run([mida_bin, "--store", url, *verb],
                           env=clean_env(), capture_output=True, text=True,
                           timeout=120)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "postgres:***@127.0.0.1" in out, out
        assert "front9" not in out and "back9" not in out, out


def test_a_password_holding_a_slash_is_hidden_from_ps(tmp_path, mida_bin):
    """The messages read the userinfo up to the last '@' before the query
    (mida__url_redact); mida's own argv mask stopped it at the first '/',
    so postgresql://u:pa/ss@h/db stayed whole in /proc/PID/cmdline. No
    server is needed: mida run goes on without a store, sleep runs."""
    url = f"postgresql://postgres:sl4/sh9@127.0.0.1:{free_port()}/x"
    path = f"sqlite://{tmp_path}/we:ird@name.db"
    page = "https://example.org/a@b"  # an '@' of the path: no password
    p = subprocess.Popen([mida_bin, "run", "--store", url, "--", "sh", "-c",
                          "sleep 3", path, page], env=clean_env(),
                         cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown = b""
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and b"sleep" not in shown:
        time.sleep(0.2)
        shown = read_proc(p.pid, "cmdline")
    out, err = p.communicate(timeout=120)
    # The records stay in the spool (exit 1): there is no store.
    assert b"postgres:***@127.0.0.1" in err, err
    assert b"postgres:*******@127.0.0.1" in shown, shown
    assert b"sl4" not in shown and b"sh9" not in shown, shown
    assert b"sl4" not in err and b"sh9" not in err, err
    # A path is no URL with a password: shown as it is.
    assert path.encode() in shown and page.encode() in shown, shown


CONNINFO = "host=127.0.0.1 dbname=x user=postgres password=kvpw9"
CONNINFO_VERBS = VERBS + [["run", "--", "true"], ["serve"],
                          ["index", "used.x"],
                          ["observe", "mlflow", "--tracking-uri", "x"],
                          ["ingest", "--from", "redis://127.0.0.1:1/s"]]


def test_a_libpq_conninfo_store_is_refused_unshown_and_makes_no_file(
        tmp_path, mida_bin):
    """A store given as libpq's key=value words has no scheme: mida took
    it for an SQLite file's name, printed it whole ("no store at host=...
    password=kvpw9") and a writer made the file. It is a usage error (2)
    that says to write postgresql://, shows nothing of it, and makes
    nothing, through --store, MIDA_STORE and `mida ingest --to`."""
    runs = [([mida_bin, "--store", CONNINFO, *verb], clean_env())
            for verb in CONNINFO_VERBS]
    runs += [([mida_bin, *verb], clean_env(MIDA_STORE=CONNINFO))
             for verb in (["tasks"], ["run", "--", "true"])]
    runs += [([mida_bin, "tasks", "--store", CONNINFO], clean_env()),
             ([mida_bin, "ingest", "--from", "redis://127.0.0.1:1/s", "--to",
               CONNINFO], clean_env())]
    for argv, env in runs:
        r = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
        out = r.stdout + r.stderr
        assert r.returncode == 2, (argv[1:], out)
        assert "postgresql://USER@HOST" in out and "kvpw9" not in out, out
        assert list(tmp_path.iterdir()) == [], (argv[1:], out)


def test_python_refuses_a_libpq_conninfo_store_unshown(tmp_path):
    code = ("import mida, warnings\nwarnings.simplefilter('always')\n"
            "print(mida.session_info())\n"
            "try:\n    mida.query('select 1')\n"
            "except Exception as e:\n    print('ERR', e)\n")
    work = tmp_path / "work"
    work.mkdir()
    env = midapy_util.child_env(tmp_path / "unused.db", MIDA_STORE=CONNINFO)
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=work,
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    assert "'open': False" in out and "ERR" in out, out
    assert "postgresql://USER@HOST" in out and "kvpw9" not in out, out
    assert list(work.iterdir()) == []


def test_key_value_words_after_a_url_are_hidden_from_messages_and_ps(
        tmp_path, mida_bin):
    """libpq's 'password=...' written after a URL, a space between, was
    shown in messages and left in /proc/PID/cmdline. No server is needed:
    mida run goes on without a store, sleep runs."""
    url = (f"postgresql://postgres@127.0.0.1:{free_port()}/x "
           "password='kv pw9'")
    r = subprocess.run([mida_bin, "--store", url, "tasks"], env=clean_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "password=***" in r.stderr, r.stderr
    assert "pw9" not in r.stdout + r.stderr
    p = subprocess.Popen([mida_bin, "run", "--store", url, "--", "sh", "-c",
                          "sleep 3"], env=clean_env(), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown = b""
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and b"sleep" not in shown:
        time.sleep(0.2)
        shown = read_proc(p.pid, "cmdline")
    out, err = p.communicate(timeout=120)
    assert b"password=********" in shown and b"pw9" not in shown, shown
    assert b"password=***" in err and b"pw9" not in out + err, err

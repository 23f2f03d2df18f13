"""The exports stay valid whatever was recorded: a store made through the
real capture paths (the Python API's @mida.task, mida.data, mida.metric
and mida.workflow, and `mida run` on files named with any byte) holding
quotes, backslashes, control characters, U+2028, lone surrogates, NUL,
repeated keys, NaN, huge integers, deep nesting, URIs that are not valid
URIs, and a LOST task; each export is read back strictly (no NaN
constant, no lone surrogate, UTF-8) and by the standards' validators, and
every URI of the crate is a valid URI that decodes to what was recorded."""

import collections
import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.parse

import pytest

from export_support import (openlineage_validator, prov_round_trip,
                            seed_validator_cache, validate_crate,
                            validate_prov_schema)
from mida_cli_store import ROOT

pytest.importorskip("rocrate_validator")

BUILD = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD

# URIs given to mida.data that are not valid URIs as they are, and one
# that is (its escape kept as it is).
ODD_URIS = ["s3://b/k<x>", "s3://b/k{x}|^`", "s3://b/k\tx", "s3://b/k\nx",
            "s3://b/k\u2028", "file:///\u00ff", "s3://b/%zz", "s3://b/a#b#c",
            "http://h/a b", "s3://b/[i]"]
VALID_URI = "s3://b/ok%41"
# File names that `mida run` records: every byte a path may hold.
ODD_NAMES = [b"ff\xffb", b"ff%FFb", b"new\nline", b"tab\there", b"co:lon",
             b"ha#sh", b"qu?ery", b"per%20c", b"per c", b"ls\xe2\x80\xa8x",
             b"back\\slash", b'q"uote', b"ctl\x01x"]

PRODUCER = r'''
import math, os, mida
weird = ['q"uote', 'back\\slash', 'ctl\x01\x1f\x7f', 'ls\u2028ps\u2029',
         'lone\ud800sur', 'nul\x00byte', 'x' * 100000, '', '.', 'a.b',
         '\U0001F600']
def nest(n):
    d = cur = {}
    for _ in range(n):
        cur["k"] = {}
        cur = cur["k"]
    return d

@mida.task(name='act "ivity" \\ \u2028 \u00e9')
def hostile(*args, **kw):
    for i, key in enumerate(['q"', 'b\\', 'ls\u2028', '.', 'a.b']):
        mida.metric(key, [0.5, math.nan, math.inf, -math.inf][i % 4], step=i)
    for uri in URIS:
        mida.data(uri, "used", kind="file")
    mida.data("out\u2029put", "generated", digest="dig\x01est\u2028",
              size=2**63 - 1)
    return {"": 1, ".": 2, "a.b": {"": None}, 'q"': weird, "n": nest(200),
            "f": [math.nan, math.inf, -math.inf, -0.0], "i": [2**64, 10**5000]}

@mida.task
def failing(x):
    raise ValueError('bad "value" \\ \u2028 \ud800 \x00 end')

with mida.workflow('wf "with" spaces \u00e9\u2028',
                   campaign='camp aign \u00e9 "q" \U0001F600',
                   **{"": 1, "a.b": "c", 'k"': weird[:5]}):
    for w in weird:
        # keys with NUL, keys that capture makes alike (lone surrogates)
        hostile(w, 2**63, -2**200, math.nan, **{
            "n\x00a": 1, "n\x00b": 2, "s\ud800": 1, "s\udfff": 2,
            "@id": "x", "": w, "a.b": w, 'k"\\': nest(100)})
    try:
        failing(1)
    except ValueError:
        pass

@mida.task(name="never ends \u2028")
def forever(x):
    mida.flush(30)
    os._exit(0)

with mida.workflow("lost \u2029"):
    forever("a\u2029b")
'''


def env_for(tmp, store):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_SPOOL"] = str(tmp / "spool")
    env["MIDA_STORE"] = "sqlite://" + str(store)
    env["PYTHONPATH"] = str(BUILD / "python")
    return env


@pytest.fixture(scope="module")
def hostile(mida_bin, tmp_path_factory):
    """The hostile store; its path, its directory, and the odd files'
    directory."""
    tmp = tmp_path_factory.mktemp("hostile")
    store = tmp / "hostile.db"
    env = env_for(tmp, store)
    code = "URIS = %r\n%s" % (ODD_URIS + [VALID_URI], PRODUCER)
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    files = tmp / "files"
    script = ("mkdir -p \"$1\"; cd \"$1\"; shift; for n; do printf x > \"$n\";"
              " cat \"$n\" > /dev/null; done")
    r = subprocess.run([mida_bin, "run", "--workflow-name", 'run "wf" \u00e9',
                        "--", "sh", "-c", script, "sh", os.fsencode(files),
                        *ODD_NAMES], env=env, cwd=tmp, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return str(store), tmp, files


def strict_json(data):
    """data parsed as JSON that any reader takes: UTF-8, no NaN or
    Infinity constant, no lone surrogate in a string or a key."""
    def refuse(name):
        raise AssertionError(f"not JSON: {name}")

    def walk(x):
        if isinstance(x, str):
            x.encode("utf-8")  # raises on a lone surrogate
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(k)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    value = json.loads(data.decode("utf-8"), parse_constant=refuse)
    walk(value)
    return value


# A URI as RFC 3986 writes it: a scheme, then unreserved, reserved and
# sub-delimiter characters, '%' only before two hex digits, one '#' at
# most, '[' and ']' only in the authority.
URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*"
                    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*"
                    r"(?:#(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]"
                    r"|%[0-9A-Fa-f]{2})*)?")
AUTHORITY_RE = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@\[\]]"
                          r"|%[0-9A-Fa-f]{2})*")


def valid_uri(u):
    if not URI_RE.fullmatch(u):
        return False
    authority = u.split("://", 1)[1]
    authority = re.split(r"[/?#]", authority, maxsplit=1)[0]
    return bool(AUTHORITY_RE.fullmatch(authority))


def run_mida(mida_bin, store, tmp, *args):
    env = env_for(tmp, store)
    return subprocess.run([mida_bin, "--store", store, *args],
                          capture_output=True, env=env, cwd=tmp, timeout=300)


def crate_graph(mida_bin, hostile, name):
    store, tmp, _ = hostile
    out = tmp / name
    r = run_mida(mida_bin, store, tmp, "export", "rocrate", "--force",
                 str(out))
    assert r.returncode == 0, r.stderr.decode()
    meta = strict_json((out / "ro-crate-metadata.json").read_bytes())
    return out, meta["@graph"]


def test_every_export_of_a_hostile_store_reads_back_and_validates(
        mida_bin, hostile, tmp_path):
    store, tmp, _ = hostile
    out = tmp_path / "prov.json"
    r = run_mida(mida_bin, store, tmp, "export", "prov", "-o", str(out))
    assert r.returncode == 0, r.stderr.decode()
    doc = strict_json(out.read_bytes())
    validate_prov_schema(doc)
    from_json, from_rdf, _ = prov_round_trip(out)
    assert from_json == from_rdf
    names = {a.get("mida:name") for a in doc["activity"].values()}
    assert 'wf "with" spaces \u00e9\u2028' in names
    assert 'camp aign \u00e9 "q" \U0001F600' in names

    r = run_mida(mida_bin, store, tmp, "export", "openlineage")
    assert r.returncode == 0, r.stderr.decode()
    validate = openlineage_validator()
    events = [strict_json(line) for line in r.stdout.splitlines()]
    for e in events:
        validate(e)
    kinds = collections.Counter((e["job"]["name"], e["eventType"])
                                for e in events)
    assert kinds[("lost \u2029.never ends \u2028", "FAIL")] == 1  # LOST

    cache = tmp_path / "cache"
    seed_validator_cache(cache)
    for name in ("crate", "crate.zip"):
        crate = tmp_path / name
        r = run_mida(mida_bin, store, tmp, "export", "rocrate", str(crate))
        assert r.returncode == 0, r.stderr.decode()
        ok, report = validate_crate(crate, cache)
        assert ok, report


def test_crate_names_data_by_valid_uris_that_decode_to_the_recorded_ones(
        mida_bin, hostile):
    """A data URI that is not a valid URI as it is ('s3://b/k<x>', a tab,
    U+2028, a bare '%', 'file:///\u00ff') was the @id of its File entity
    and its url, as it was: JSON-LD readers take an @id for an IRI. Such a
    File is #data-<its id, encoded> now, and its url the URI with each
    byte that may not stand there percent-encoded: a valid URI that
    decodes to the one recorded. A URI valid as it is stays as it is."""
    _, graph = crate_graph(mida_bin, hostile, "uris")
    by_identifier = {e.get("identifier"): e for e in graph
                     if e.get("@type") == "File"}
    for uri in ODD_URIS:
        entity = by_identifier[uri]
        assert entity["@id"].startswith("#data-"), entity
        assert valid_uri(entity["url"]), entity
        assert urllib.parse.unquote(entity["url"], errors="strict") == uri
    ok = by_identifier[VALID_URI]
    assert ok["@id"] == ok["url"] == VALID_URI
    for e in graph:
        if "url" in e and e["@type"] == "File":
            assert valid_uri(e["url"]), e
        if not e["@id"].startswith("#") and "://" in e["@id"]:
            assert valid_uri(e["@id"]), e["@id"]


def test_crate_urls_of_files_decode_to_their_bytes(mida_bin, hostile):
    """Each file `mida run` saw, whatever bytes its name holds, is a File
    whose url is a valid file URI that decodes to its path's bytes (as it
    was: a guard)."""
    _, graph = crate_graph(mida_bin, hostile, "file-crate")
    _, _, files = hostile
    prefix = "file://" + urllib.parse.quote(os.fsencode(files))
    urls = [e["url"] for e in graph if e.get("@type") == "File"
            and e.get("url", "").startswith(prefix)]
    assert all(valid_uri(u) for u in urls), urls
    paths = {urllib.parse.unquote_to_bytes(u[len("file://"):]) for u in urls}
    assert {os.fsencode(files) + b"/" + n for n in ODD_NAMES} <= paths


def test_crate_keeps_each_parameter_whose_key_holds_nul_or_repeats(
        mida_bin, hostile):
    """A parameter's key with a NUL ("n\\0a", "n\\0b") was cut at it: both
    were #task-T-in-n, named "n"; two keys that capture made alike (lone
    surrogates, each written '?') were two entities of one @id. Each is an
    entity of its own now, named by its whole key."""
    _, graph = crate_graph(mida_bin, hostile, "params")
    ids = collections.Counter(e["@id"] for e in graph)
    assert [i for i, n in ids.items() if n > 1] == []
    task = next(e for e in graph if e["@id"].startswith("#task-")
                and e.get("@type") == "CreateAction"
                and e["name"].startswith('act "ivity"'))
    params = {e["@id"]: e for e in graph}
    named = collections.Counter(params[o["@id"]]["name"]
                                for o in task["object"]
                                if o["@id"].startswith("#task-"))
    assert named["n\x00a"] == named["n\x00b"] == 1, named
    assert named["s?"] == 2, named
    assert len(task["object"]) == len({o["@id"] for o in task["object"]})


def test_openlineage_gives_two_files_two_datasets_whatever_their_names(
        mida_bin, hostile):
    """A file whose name is not UTF-8 (ff\\xffb) kept its escapes
    ("ff%FFb"), the name that a file literally named "ff%FFb" decodes to:
    two files, one dataset. A name that is not UTF-8 is its whole URI now
    ("file:///.../ff%FFb"), and a decoded one (the literal "ff%FFb" and
    "per%20c" included) its path."""
    store, tmp, files = hostile
    r = run_mida(mida_bin, store, tmp, "export", "openlineage")
    assert r.returncode == 0, r.stderr.decode()
    names = collections.defaultdict(set)
    for line in r.stdout.splitlines():
        e = json.loads(line)
        for d in e.get("inputs", []) + e.get("outputs", []):
            if d["namespace"] == "file":
                names[d["name"]].add(d["facets"]["mida"]["id"])
    base = str(files) + "/"
    uri_base = "file://" + urllib.parse.quote(base)
    odd = {n: ids for n, ids in names.items()
           if n.startswith(base) or n.startswith(uri_base)}
    assert len(odd) == len(ODD_NAMES), sorted(odd)
    assert all(len(ids) == 1 for ids in odd.values()), odd
    assert base + "per c" in odd and base + "tab\there" in odd  # decoded
    assert base + "per%20c" in odd and base + "ff%FFb" in odd  # literal
    assert uri_base + "ff%FFb" in odd, sorted(odd)  # not UTF-8


def test_crate_parameters_hold_no_lone_surrogate(mida_bin, hostile,
                                                 tmp_path):
    """A string parameter was copied into the crate as the store holds
    it: "x\\ud800y", an escape JSON's grammar allows (a program's JSON
    through the C API) and no Unicode text holds, which strict readers
    refuse. It is decoded and written again: U+FFFD, as in OpenLineage."""
    import sqlite3
    store, tmp, _ = hostile
    path = tmp_path / "surrogate.db"
    db = sqlite3.connect(path)
    source = sqlite3.connect(store)  # with what its WAL holds
    source.backup(db)
    source.close()
    task = db.execute("SELECT min(id) FROM task").fetchone()[0]
    db.execute("UPDATE task SET used = ? WHERE id = ?",
               ('{"a": "x\\ud800y", "b\\udc00": "\\u0000"}', task))
    db.commit()
    db.close()
    crate = tmp_path / "crate"
    r = run_mida(mida_bin, str(path), tmp, "export", "rocrate", str(crate))
    assert r.returncode == 0, r.stderr.decode()
    graph = strict_json((crate / "ro-crate-metadata.json").read_bytes())
    values = {e["name"]: e["value"] for e in graph["@graph"]
              if e["@id"].startswith(f"#task-{task}-in-")}
    assert values == {"a": "x\ufffdy", "b\ufffd": "\x00"}

"""Helpers of the preload tests (tests/preload/): running a command under
`mida run` with a store of its own, and reading back what the store says,
task by task and file by file, in a form the tests compare exactly.

MIDA_PRELOAD_TEST_ENV (the ASan phase of the suite sets it, see
tests/preload/meson.build) adds variables to every command run: the ASan
runtime first in LD_PRELOAD, its options."""

import json
import os
import pathlib
import shutil
import sqlite3
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_dir():
    b = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
    return b if b.is_absolute() else ROOT / b


def mida_bin():
    return os.environ.get("MIDA_BIN",
                          str(build_dir() / "src" / "cli" / "mida"))


def helper(static=False):
    name = "preload_helper_static" if static else "preload_helper"
    return str(build_dir() / "tests" / "preload" / name)


def library():
    return build_dir() / "src" / "preload" / "libmida_preload.so"


def dask_preload_file():
    """mida's Dask preload file, which `mida run` puts first in the
    command's Dask preload variables (python/dask_preload/)."""
    return build_dir() / "python" / "dask_preload" / "mida_dask_preload.py"


def extra_env():
    """Variables MIDA_PRELOAD_TEST_ENV asks for ("A=1;B=2")."""
    out = {}
    for item in os.environ.get("MIDA_PRELOAD_TEST_ENV", "").split(";"):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k] = v
    return out


def compile_c(directory, name, source, flags=()):
    """Compiles the C source into directory/name (its text kept beside it
    as name.c) with the system's cc and flags; the test is skipped where
    there is no C compiler. Returns the program's path."""
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = pathlib.Path(directory) / (name + ".c")
    src.write_text(source)
    exe = pathlib.Path(directory) / name
    subprocess.run([cc, *flags, "-o", str(exe), str(src)], check=True)
    return str(exe)

def clean_env(**more):
    """The environment of a command: this one without mida's variables."""
    env = {k: v for k, v in os.environ.items()
           if (not k.startswith("MIDA_") or k == "MIDA_PRELOAD_LIB")
           and k != "LD_PRELOAD" and not k.startswith("DASK_")}
    env.update(extra_env())
    env.update(more)
    return env


def library_env(spool, **more):
    """The environment of a command under the library alone: journals in
    spool, nothing shipped (the sanitizer runtimes of
    MIDA_PRELOAD_TEST_ENV first in LD_PRELOAD)."""
    first = extra_env().get("LD_PRELOAD")
    return clean_env(MIDA_PRELOAD_SPOOL=str(spool), LD_PRELOAD=":".join(
        p for p in (first, str(library())) if p), **more)


class Run:
    """One `mida run` into a store of its own in directory d."""

    def __init__(self, d):
        self.dir = pathlib.Path(d)
        self.store = str(self.dir / "run.db")

    def env(self, **more):
        return clean_env(MIDA_STORE=self.store, **more)

    def run(self, *cmd, options=(), timeout=120, cwd=None, env=None,
            **popen):
        # No MLflow observer beside the command: these tests log no runs.
        return subprocess.run([mida_bin(), "run", "--no-mlflow", *options,
                               "--", *cmd],
                              env=self.env() if env is None else env,
                              cwd=cwd or self.dir,
                              capture_output=True, text=True,
                              timeout=timeout, **popen)

    def verb(self, *args, cwd=None):
        """`mida --store <the run's store> ARGS` (a reader's verb), its
        CompletedProcess with text output."""
        return subprocess.run([mida_bin(), "--store", self.store, *args],
                              env=self.env(), capture_output=True,
                              text=True, timeout=60, cwd=cwd or self.dir)

    def db(self):
        return sqlite3.connect(self.store)

    def process_samples(self, task):
        """{pid: [sample dict]} of the process samples that
        `mida telemetry --task TASK` prints (any store)."""
        p = self.verb("telemetry", "--task", task, "--json")
        assert p.returncode == 0, p.stderr
        out = {}
        for row in json.loads(p.stdout):
            if row["scope"] == "process":
                # `--json` nests the sample as an object (a sample that is
                # no object stays its text: cli/telemetry.c).
                sample = row["sample"]
                out.setdefault(row["pid"], []).append(
                    sample if isinstance(sample, dict) else json.loads(sample))
        return out

    def rows(self, sql, *args):
        with self.db() as con:
            return con.execute(sql, args).fetchall()

    def tasks(self):
        """{task id: (activity, parent id, status)} of the run's tasks."""
        return {r[0]: (r[1], r[2], r[3]) for r in self.rows(
            "SELECT id, activity, parent_id, status FROM task")}

    def root(self):
        roots = self.rows("SELECT id FROM task WHERE parent_id IS NULL"
                          " AND workflow_id IN (SELECT id FROM workflow"
                          " WHERE source = 'run')")
        assert len(roots) == 1, roots
        return roots[0][0]

    def links(self, under=None):
        """{(task activity, role, path relative to under or absolute)}."""
        out = set()
        for act, role, uri in self.rows(
                "SELECT t.activity, td.role, d.uri FROM task_data td"
                " JOIN task t ON t.id = td.task_id"
                " JOIN data d ON d.id = td.data_id"):
            path = uri[len("file://"):] if uri.startswith("file://") else uri
            if under is not None:
                base = str(under) + "/"
                if not path.startswith(base):
                    continue
                path = path[len(base):]
            out.add((act, role, path))
        return out

    def link_rows(self):
        """[(task id, role, data id, uri, bytes)] of every link."""
        return self.rows(
            "SELECT td.task_id, td.role, td.data_id, d.uri, td.bytes"
            " FROM task_data td JOIN data d ON d.id = td.data_id")

    def deps(self):
        """{(task activity, upstream activity)} of task_dep."""
        return set(self.rows(
            "SELECT t.activity, u.activity FROM task_dep d"
            " JOIN task t ON t.id = d.task_id"
            " JOIN task u ON u.id = d.upstream_id"))

    def counter(self, name, pid=None):
        """The counter's total over the processes that kept it, or that
        of process pid alone."""
        if pid is None:
            r = self.rows("SELECT sum(value) FROM counter WHERE name = ?",
                          name)
        else:
            r = self.rows("SELECT sum(value) FROM counter WHERE name = ?"
                          " AND pid = ?", name, pid)
        return r[0][0] or 0


def write_then_rename_shipped(tmp_path, store, renamer_first=True):
    """A shell writes w/tmp and `mv tmp final` renames it, under the
    library alone with a spool each; their journals are then shipped into
    store by `mida recover`, the renamer's first or last. Returns w."""
    work = tmp_path / "w"
    work.mkdir()
    writer, renamer = tmp_path / "writer.spool", tmp_path / "renamer.spool"
    for spool, cmd in ((writer, ["/bin/sh", "-c", "echo new > tmp"]),
                       (renamer, ["mv", "tmp", "final"])):
        p = subprocess.run(cmd, env=library_env(spool), cwd=work,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
    for spool in (renamer, writer) if renamer_first else (writer, renamer):
        p = subprocess.run([mida_bin(), "--store", str(store), "recover",
                            "--spool", str(spool)], env=clean_env(),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
    return work

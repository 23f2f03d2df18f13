"""README.md's examples do what README says: the C snippet of "Use it from
C", saved as demo.c, builds with pkg-config from the build tree
(PKG_CONFIG_PATH=build/meson-uninstalled) and runs when linked with an
rpath to the build, recording its task; the Python snippet runs with
PYTHONPATH=build/python and prints the task it recorded.

The C snippet was statements with no main(): saved as demo.c, as README
says, it did not compile ("expected declaration specifiers")."""

import re
import shutil
import sqlite3
import subprocess

import pytest

from build_support import BUILD, MIDA_BIN, ROOT, clean_env

README = (ROOT / "README.md").read_text()


def snippet(heading, language):
    """The first ```language block after the heading line."""
    m = re.search(r"^## " + re.escape(heading) + r".*?```" + language +
                  r"\n(.*?)```", README, re.S | re.M)
    assert m, f"no {language} block under '## {heading}'"
    return m.group(1)


def test_the_c_snippet_builds_from_the_build_tree_and_runs(tmp_path):
    cc = shutil.which("cc")
    pkg_config = shutil.which("pkg-config")
    if cc is None or pkg_config is None:
        pytest.skip("no C compiler or pkg-config")
    (tmp_path / "demo.c").write_text(snippet("Use it from C", "c"))
    env = clean_env(PKG_CONFIG_PATH=BUILD / "meson-uninstalled")
    flags = subprocess.run([pkg_config, "--cflags", "--libs", "mida"],
                           env=env, capture_output=True, text=True)
    assert flags.returncode == 0, flags.stderr
    r = subprocess.run([cc, "-Wall", "-Werror", "demo.c",
                        *flags.stdout.split(), f"-Wl,-rpath,{BUILD}", "-o",
                        "demo"], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["./demo"], cwd=tmp_path, env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(tmp_path / "mida.db")
    rows = db.execute(
        "SELECT t.activity, t.status, t.used, t.generated, w.name, w.status,"
        " d.uri, m.key, m.value FROM task t JOIN workflow w"
        " ON w.id = t.workflow_id JOIN task_data td ON td.task_id = t.id"
        " JOIN data d ON d.id = td.data_id JOIN metric m"
        " ON m.task_id = t.id").fetchall()
    assert rows == [("simulate", "FINISHED", '{"dt":0.5}', '{"t":14.2}',
                     "simulation", "FINISHED", "file:///out/a.nc", "energy",
                     1000.0)]


def test_the_python_snippet_runs_with_the_build_tree_on_its_path(tmp_path):
    (tmp_path / "snippet.py").write_text(
        snippet("Use it from Python", "python"))
    env = clean_env(PYTHONPATH=BUILD / "python")
    r = subprocess.run(["python3", "snippet.py"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "'activity': 'train'" in r.stdout, r.stdout
    assert '"accuracy":0.91' in r.stdout, r.stdout


def test_query_help_names_the_tables_and_views_readme_lists():
    """`mida query --help` names every table and view that README's "The
    schema (tables ...; views ...; mida's own: ...)" lists for users (not
    mida's own): it left out task_run, source_cursor and
    task_telemetry_v, which README names."""
    m = re.search(r"The schema \(tables (.*?)mida's own:", README, re.S)
    assert m, "README no longer says 'The schema (tables ... mida's own:'"
    listed = set(re.findall(r"`([a-z_]+)`", m.group(1)))
    assert {"task", "task_run", "task_telemetry_v"} <= listed, listed
    r = subprocess.run([str(MIDA_BIN), "query", "--help"], env=clean_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    named = set(re.findall(r"[a-z_]+", r.stdout))
    assert listed - named == set(), r.stdout

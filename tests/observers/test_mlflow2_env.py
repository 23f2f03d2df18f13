"""scripts/install-deps.sh test builds the MLflow 2.x environment where
test_mlflow2_observer.py's fixture looks for it, stamped so that the
fixture takes it as it is (mlflow2_env.is_ready) instead of spending a
minute in pip during the suite; and a second run leaves it alone.

install-deps.sh runs in a copy of the parts of the tree it reads, with
stand-ins on PATH for what it would install with: dpkg-query says every
Debian package is there, and python3 makes environments whose python only
writes down its arguments."""

import os
import pathlib
import shutil
import subprocess

import mlflow2_env
from obs_support import ROOT

# python3 -m venv DIR: a DIR/bin/python that appends its arguments to
# DIR/calls, one line a call.
FAKE_PYTHON3 = """#!/bin/sh
[ "$1" = -m ] && [ "$2" = venv ] || exit 3
mkdir -p "$3/bin"
printf '#!/bin/sh\\necho "$*" >>"$(dirname "$0")/../calls"\\n' \\
  >"$3/bin/python"
chmod +x "$3/bin/python"
"""


def fake_tree(tmp_path):
    """The files install-deps.sh test reads, and PATH's stand-ins."""
    tree = tmp_path / "tree"
    for rel in ["scripts/install-deps.sh", mlflow2_env.REQUIREMENTS]:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tree / rel)
    shutil.copytree(ROOT / "scripts" / "deps", tree / "scripts" / "deps")
    (tree / "examples").mkdir()
    (tree / "examples" / "requirements.txt").write_text("demo-package\n")
    (tree / "tests" / "requirements.txt").write_text("test-package\n")
    web = tree / "web" / "node_modules"
    web.mkdir(parents=True)
    (tree / "web" / "package-lock.json").write_text("{}\n")
    (web / ".package-lock.json").write_text("{}\n")
    os.utime(tree / "web" / "package-lock.json", (0, 0))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {"python3": FAKE_PYTHON3,
             "dpkg-query": "#!/bin/sh\nprintf 'install ok installed'\n",
             "npm": "#!/bin/sh\nexit 0\n"}
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    return tree, env


def test_install_deps_builds_the_env_the_fixture_takes(tmp_path):
    tree, env = fake_tree(tmp_path)
    script = str(tree / "scripts" / "install-deps.sh")
    assert not mlflow2_env.is_ready(tree)
    r = subprocess.run([script, "test"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert mlflow2_env.is_ready(tree), r.stdout + r.stderr
    calls = (tree / mlflow2_env.VENV / "calls").read_text()
    assert f"-r {mlflow2_env.REQUIREMENTS}" in calls
    # .venv got its own requirements, not MLflow 2's.
    assert mlflow2_env.REQUIREMENTS not in (tree / ".venv" / "calls"
                                            ).read_text()

    r = subprocess.run([script, "test"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert mlflow2_env.VENV not in r.stdout
    assert (tree / mlflow2_env.VENV / "calls").read_text() == calls


def test_a_changed_requirement_file_makes_it_stale(tmp_path):
    tree, env = fake_tree(tmp_path)
    script = str(tree / "scripts" / "install-deps.sh")
    subprocess.run([script, "test"], env=env, check=True,
                   capture_output=True, timeout=60)
    with open(tree / mlflow2_env.REQUIREMENTS, "a") as f:
        f.write("numpy<3\n")
    assert not mlflow2_env.is_ready(tree)
    r = subprocess.run([script, "test"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert mlflow2_env.is_ready(tree)

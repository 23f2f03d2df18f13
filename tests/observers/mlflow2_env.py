"""Where test_mlflow2_observer.py's MLflow 2.x environment lives (MLflow 2
and 3 cannot share .venv), and when it is up to date. scripts/install-deps.sh
test builds it there, so that the suite spends no minute in pip; the test's
fixture builds it itself where it is missing or stale (a developer who
skipped install-deps). test_mlflow2_env.py checks that the two agree."""

import pathlib
import subprocess

# Both relative to the repository's root, as install-deps.sh names them.
VENV = ".venv-mlflow2"
REQUIREMENTS = "tests/observers/mlflow2-requirements.txt"
# A copy of the requirement file the environment was built from.
STAMP = ".requirements"


def python(root):
    """The environment's interpreter under the repository root."""
    return pathlib.Path(root) / VENV / "bin" / "python"


def is_ready(root):
    """True when the environment was built from today's requirement file."""
    root = pathlib.Path(root)
    stamp = root / VENV / STAMP
    return (python(root).exists() and stamp.exists() and
            stamp.read_text() == (root / REQUIREMENTS).read_text())


def build(root, base_python):
    """Builds the environment with base_python's venv module and pip;
    returns None, or pip's error output when it failed."""
    root = pathlib.Path(root)
    subprocess.run([base_python, "-m", "venv", str(root / VENV)],
                   check=True)
    r = subprocess.run([str(python(root)), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check",
                        "-r", str(root / REQUIREMENTS)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return r.stderr
    (root / VENV / STAMP).write_text((root / REQUIREMENTS).read_text())
    return None

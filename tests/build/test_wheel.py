"""`pip wheel .` builds a wheel that holds the whole of mida: installed
into a fresh virtual environment with nothing else, it gives the Python
package, the `mida` command, libmida with its network modules, and `mida
run` works. The wheel is built once per build tree (meson-python's build
directory is kept in <build>/wheel-build, so a later run only relinks what
changed) with pip's cache; nothing but PyPI is reached, for the build's
own requirements (meson-python, meson)."""

import glob
import os
import subprocess
import sys

import pytest

from build_support import BUILD, ROOT, clean_env

OUT = BUILD / "wheel-test"


@pytest.fixture(scope="module")
def wheel():
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("mida-*.whl"):
        old.unlink()
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
         str(OUT), f"-Cbuild-dir={BUILD / 'wheel-build'}", str(ROOT)],
        capture_output=True, text=True, timeout=900,
        env=clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheels = list(OUT.glob("mida-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """A fresh virtual environment with the wheel installed and nothing
    else (no network: --no-index)."""
    v = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(v)],
                   check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python",
                    str(v / "bin" / "python"), "install", "-q", "--no-index",
                    "--no-deps", str(wheel)], check=True, timeout=300,
                   env=clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1"))
    return v


def in_venv(v, *args, **env):
    e = clean_env(**env)
    e["PATH"] = str(v / "bin") + os.pathsep + e.get("PATH", "")
    e.pop("PYTHONPATH", None)
    return subprocess.run([str(a) for a in args], capture_output=True,
                          text=True, timeout=120, env=e)


def test_the_wheel_holds_everything(venv):
    lib = glob.glob(str(venv / "lib" / "python*" / "site-packages" / "mida"
                        / "_lib"))
    assert lib, "mida/_lib is not in the wheel"
    lib = lib[0]
    names = {os.path.relpath(p, lib) for p in glob.glob(lib + "/**/*",
                                                        recursive=True)}
    assert "bin/mida" in names and "lib/libmida.so" in names, names
    built = {p.name for p in (BUILD / "src/modules").glob("mida_*.so")}
    assert {n.split("/")[-1] for n in names
            if n.startswith("lib/mida-modules/")} == built
    if (BUILD / "src" / "preload").is_dir():
        assert "lib/libmida_preload.so" in names
    assert "share/mida/mida_dask_preload.py" in names, names


def test_the_mida_command_and_the_package_work(venv, tmp_path):
    r = in_venv(venv, "mida", "version")
    assert r.returncode == 0 and r.stdout.startswith("mida "), r.stderr
    store = tmp_path / "s.db"
    code = ("import mida\n"
            "@mida.task\n"
            "def f(x):\n"
            "    return {'y': x + 1}\n"
            "f(1)\n"
            "mida.flush()\n"
            "print(mida.query('SELECT count(*) AS n FROM task')[0]['n'])\n")
    r = in_venv(venv, venv / "bin" / "python", "-c", code,
                MIDA_STORE=f"sqlite://{store}")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    # The extension uses the libmida beside it, not one of the build tree.
    ext = glob.glob(str(venv / "lib/python*/site-packages/mida/_mida*.so"))
    ldd = subprocess.run(["ldd", ext[0]], capture_output=True,
                         text=True).stdout
    assert "mida/_lib/lib/libmida.so" in ldd, ldd
    # A network module loads from the wheel (a broker answers no query:
    # said without connecting, once the module is there).
    if (BUILD / "src/modules/mida_redis.so").exists():
        r = in_venv(venv, "mida", "--store", "redis://127.0.0.1:1/x",
                    "tasks")
        assert r.returncode == 1 and "is a broker" in r.stderr, r.stderr


def test_mida_run_works_from_the_venv(venv, tmp_path):
    store = tmp_path / "run.db"
    out = tmp_path / "out.txt"
    r = in_venv(venv, "mida", "--store", f"sqlite://{store}", "run", "--",
                venv / "bin" / "python", "-c",
                f"open({str(out)!r}, 'w').write('x')")
    assert r.returncode == 0, r.stderr
    ran = r
    r = in_venv(venv, "mida", "--store", f"sqlite://{store}", "query",
                "SELECT count(*) FROM task")
    assert r.returncode == 0 and int(r.stdout.split()[-1]) >= 1, r.stdout
    # Its Dask preload is the wheel's preload file, by its path.
    r = in_venv(venv, "mida", "--store", f"sqlite://{store}", "run",
                "--no-files", "--", "sh", "-c",
                "echo $DASK_DISTRIBUTED__WORKER__PRELOAD")
    assert r.returncode == 0, r.stderr
    preload = glob.glob(str(venv / "lib" / "python*" / "site-packages" /
                            "mida" / "_lib" / "share" / "mida" /
                            "mida_dask_preload.py"))
    assert r.stdout == os.path.realpath(preload[0]) + "\n", r.stdout
    if not (BUILD / "src" / "preload").is_dir():
        return
    # The preload library came from the wheel: the file the command wrote
    # is recorded as generated by it.
    assert "libmida_preload.so not found" not in ran.stderr, ran.stderr
    r = in_venv(venv, "mida", "--store", f"sqlite://{store}", "query",
                "SELECT count(*) FROM task_data td JOIN data d"
                " ON d.id = td.data_id WHERE td.role = 'generated'"
                f" AND d.uri = 'file://{out}'")
    assert r.returncode == 0 and int(r.stdout.split()[-1]) == 1, r.stdout

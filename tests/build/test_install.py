"""`meson install` gives C programs what they need: mida.h, libmida.so, a
mida.pc for pkg-config, the mida command and the network modules. A small
program is built against the installed copy with `pkg-config --cflags
--libs mida` and records into, then queries, a store."""

import shutil
import subprocess

import pytest

from build_support import BUILD, clean_env

PROGRAM = r"""
#include <mida.h>
#include <stdio.h>
#include <stdlib.h>

static int row(void *ctx, int n, const char *const *names,
               const char *const *values) {
  (void)n; (void)names;
  *(long *)ctx = atol(values[0]);
  return 0;
}

int main(int argc, char **argv) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = argv[1];
  cfg.sample_hz = 0;
  mida_session_t *s;
  char err[256];
  if (mida_open(&cfg, &s, err, sizeof err) != MIDA_OK) {
    fprintf(stderr, "open: %s\n", err);
    return 1;
  }
  mida_id_t t;
  mida_task_info_t ti = {.activity = "installed"};
  if (mida_task_begin(s, &ti, &t) != MIDA_OK ||
      mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL) != MIDA_OK ||
      mida_close(s) != MIDA_OK)
    return 1;
  long n = -1;
  if (mida_query(argv[1], "SELECT count(*) FROM task WHERE activity = "
                 "'installed'", NULL, 0, row, &n, err, sizeof err) != MIDA_OK)
    return 1;
  printf("%s %ld\n", mida_version(), n);
  return 0;
}
"""


def test_a_c_program_builds_against_the_installed_copy(tmp_path):
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config is not installed")
    dest = tmp_path / "root"
    subprocess.run(["meson", "install", "-C", str(BUILD), "--no-rebuild",
                    "--quiet", "--destdir", str(dest), "--tags",
                    "runtime,devel"], check=True, capture_output=True,
                   timeout=120)
    pcs = list(dest.rglob("pkgconfig/mida.pc"))
    headers = list(dest.rglob("include/mida.h"))
    libs = [p for p in dest.rglob("libmida.so*") if "preload" not in p.name]
    commands = list(dest.rglob("bin/mida"))
    assert len(pcs) == len(headers) == len(commands) == 1
    assert libs, "libmida.so was not installed"
    built = {p.name for p in (BUILD / "src/modules").glob("mida_*.so")}
    assert {p.name for p in dest.rglob("mida/mida_*.so")} == built
    env = clean_env(PKG_CONFIG_PATH=pcs[0].parent,
                    PKG_CONFIG_SYSROOT_DIR=dest)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "mida"],
                           env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    assert any(f.startswith("-I" + str(dest)) for f in flags), flags
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    prog = tmp_path / "prog"
    subprocess.run(["cc", "-std=c11", str(src), "-o", str(prog), *flags],
                   check=True)
    store = tmp_path / "s.db"
    r = subprocess.run([str(prog), f"sqlite://{store}"], capture_output=True,
                       text=True, timeout=60,
                       env=clean_env(LD_LIBRARY_PATH=libs[0].parent))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == "1"
    # The installed command reads that store.
    r = subprocess.run([str(commands[0]), "--store", f"sqlite://{store}",
                        "tasks"], capture_output=True, text=True, timeout=60,
                       env=clean_env())
    assert r.returncode == 0 and "installed" in r.stdout, r.stderr
    # ... and gives a command its Dask preload file, installed beside it
    # (<prefix>/<datadir>/mida/), by its path.
    preload = list(dest.rglob("mida/mida_dask_preload.py"))
    assert len(preload) == 1
    r = subprocess.run([str(commands[0]), "--store", f"sqlite://{store}",
                        "run", "--no-files", "--", "sh", "-c",
                        "echo $DASK_DISTRIBUTED__WORKER__PRELOAD"],
                       capture_output=True, text=True, timeout=60,
                       env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout == str(preload[0].resolve()) + "\n", r.stdout


def test_a_c_program_builds_against_the_build_tree(tmp_path):
    """Meson's uninstalled pkg-config file
    (build/meson-uninstalled/mida-uninstalled.pc) gave -I<build> and
    -I<source root>, neither of which holds mida.h (include/ does): a
    program built against the build tree with it did not compile."""
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config is not installed")
    env = clean_env(PKG_CONFIG_PATH=BUILD / "meson-uninstalled")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "mida"],
                           env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    prog = tmp_path / "prog"
    subprocess.run(["cc", "-std=c11", str(src), "-o", str(prog), *flags,
                    f"-Wl,-rpath,{BUILD}"], check=True)
    store = tmp_path / "s.db"
    r = subprocess.run([str(prog), f"sqlite://{store}"], capture_output=True,
                       text=True, timeout=60, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == "1"

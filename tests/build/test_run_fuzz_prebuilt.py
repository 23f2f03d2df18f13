"""scripts/run-fuzz.sh in the two halves that run-tests.sh runs apart:
--build-only compiles every fuzz target and runs none (at nice 19, while
the Python tests run); --prebuilt then runs what it built without
compiling it again, counts a target that did not compile as failed, and
compiles a target that --build-only left no outcome for.

run-fuzz.sh runs in a copy of the parts of the tree it reads, with a
stand-in for clang whose "fuzzers" write down that they ran."""

import os
import shutil
import subprocess

from build_support import ROOT

TARGETS = ["json_fuzz", "record_fuzz", "journal_fuzz", "tfevents_fuzz",
           "proc_fuzz", "wire_fuzz", "mlflow_files_fuzz", "serve_fuzz",
           "program_fuzz", "guard_fuzz", "argv_fuzz"]
# clang ... fuzz/T.c ... -o OUT: "clang T" in $LOG; fails for $FAIL_TARGET,
# else OUT is a fuzzer that says "run T" in $LOG and that it is done.
FAKE_CLANG = """#!/bin/sh
out=; src=
while [ $# -gt 0 ]; do
  case $1 in -o) out=$2; shift ;; fuzz/*.c) src=$1 ;; esac
  shift
done
t=$(basename "$src" .c)
echo "clang $t" >>"$LOG"
if [ "$t" = "${FAIL_TARGET:-}" ]; then echo "$t.c: error" >&2; exit 1; fi
printf '#!/bin/sh\\necho "run %s" >>"$LOG"\\necho "#1 DONE"\\n' "$t" >"$out"
chmod +x "$out"
"""


def fuzz_tree(tmp_path):
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "run-fuzz.sh", tree / "scripts")
    (tree / "fuzz").mkdir()
    for t in TARGETS:
        (tree / "fuzz" / f"{t}.c").write_text("")
    (tree / "src" / "core").mkdir(parents=True)
    (tree / "src" / "core" / "core.c").write_text("")
    clang = tmp_path / "bin" / "clang"
    clang.parent.mkdir()
    clang.write_text(FAKE_CLANG)
    clang.chmod(0o755)
    return tree


def run_fuzz(tmp_path, tree, *args, fail="wire_fuzz"):
    """Runs run-fuzz.sh ARGS, the target FAIL failing to compile; returns
    it and the lines it added to $LOG."""
    log = tmp_path / "log"
    before = log.read_text().splitlines() if log.exists() else []
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
               LOG=str(log), FAIL_TARGET=fail,
               MIDA_TEST_RESULTS=str(results))
    r = subprocess.run([str(tree / "scripts" / "run-fuzz.sh"), *args],
                       cwd=tree, env=env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    return r, log.read_text().splitlines()[len(before):]


def test_build_only_then_prebuilt_compiles_each_target_once(tmp_path):
    tree = fuzz_tree(tmp_path)
    r, log = run_fuzz(tmp_path, tree, "--build-only")
    assert r.returncode == 0, r.stdout + r.stderr
    assert log == [f"clang {t}" for t in TARGETS], log
    # A target whose outcome is missing is compiled by the run itself.
    (tree / "build-fuzz" / "json_fuzz.build").unlink()
    r, log = run_fuzz(tmp_path, tree, "--prebuilt", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert [line for line in log if line.startswith("clang")] == [
        "clang json_fuzz"], log
    ran = sorted(line for line in log if line.startswith("run"))
    assert ran == sorted(f"run {t}" for t in TARGETS if t != "wire_fuzz")
    assert "wire_fuzz: build failed" in r.stdout, r.stdout
    assert "wire_fuzz.c: error" in r.stdout, r.stdout
    xml = (tmp_path / "results" / "fuzz-wire_fuzz.xml").read_text()
    assert 'failure message="build failed"' in xml, xml
    assert "failure" not in (tmp_path / "results" /
                             "fuzz-json_fuzz.xml").read_text()


def test_a_build_only_run_forgets_the_outcomes_of_the_last(tmp_path):
    # A target that failed to compile once and compiles now is run.
    tree = fuzz_tree(tmp_path)
    run_fuzz(tmp_path, tree, "--build-only")
    assert (tree / "build-fuzz" / "wire_fuzz.build").read_text() == \
        "build failed\n"
    (tree / "build-fuzz" / "stale.build").write_text("built\n")
    r, _ = run_fuzz(tmp_path, tree, "--build-only", fail="")
    assert r.returncode == 0, r.stderr
    assert (tree / "build-fuzz" / "wire_fuzz.build").read_text() == \
        "built\n"
    assert not (tree / "build-fuzz" / "stale.build").exists()
    r, log = run_fuzz(tmp_path, tree, "--prebuilt", "1", fail="")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "run wire_fuzz" in log, log

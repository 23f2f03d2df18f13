"""scripts/run-tests.sh compiles the ASan and TSan builds, then the fuzz
targets (run-fuzz.sh --build-only), while the Python tests run, at the
lowest priority, instead of after them (they were ~80 s and ~35 s of the
suite's wall time with nothing else running); their C tests and the fuzz
runs (run-fuzz.sh --prebuilt) still come after the Python tests, and a
sanitizer build that does not compile is still a failure the summary
counts. (test_run_fuzz_prebuilt.py: what run-fuzz.sh does in those modes.)

run-tests.sh runs in a copy of the parts of the tree it reads, with
stand-ins for meson, ninja, pytest and the fuzz run that write down what
they were asked and when."""

import os
import shutil
import subprocess

from build_support import ROOT

# meson setup DIR ...: a configured DIR; meson test -C DIR ...: one line in
# $LOG. ninja -C DIR: one line in $LOG with its nice value, then DIR/built;
# it fails for the build named in $FAIL_BUILD.
FAKE_MESON = """#!/bin/sh
case $1 in
setup) mkdir -p "$2" && : >"$2/build.ninja" ;;
test) echo "meson-test $3" >>"$LOG" ;;
esac
"""
FAKE_NINJA = """#!/bin/sh
nice=$(cut -d' ' -f19 /proc/$$/stat)
echo "ninja $2 nice=$nice" >>"$LOG"
[ "$2" = "${FAIL_BUILD:-}" ] && exit 1
: >"$2/built"
"""
# run-fuzz.sh: one line in $LOG with its arguments and nice value; with
# --build-only, then build-fuzz/built.
FAKE_FUZZ = """#!/bin/sh
nice=$(cut -d' ' -f19 /proc/$$/stat)
echo "fuzz $* nice=$nice" >>"$LOG"
[ "$1" = --build-only ] && mkdir -p build-fuzz && : >build-fuzz/built
exit 0
"""
# pytest: waits (10 s at most) for both sanitizer builds and the fuzz
# targets to be compiled, and says in $LOG whether they were, while it ran.
FAKE_PYTEST = """#!/bin/sh
for i in $(seq 100); do
  [ -e build-asan/built ] && [ -e build-tsan/built ] &&
    [ -e build-fuzz/built ] && break
  [ -n "${FAIL_BUILD:-}" ] && [ -e build-asan/built ] &&
    grep -q "ninja $FAIL_BUILD" "$LOG" && break
  sleep 0.1
done
echo "pytest saw asan=$([ -e build-asan/built ] && echo built)" >>"$LOG"
echo "pytest saw fuzz=$([ -e build-fuzz/built ] && echo built)" >>"$LOG"
echo "pytest end" >>"$LOG"
"""


def run_suite(tmp_path, **extra_env):
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    for name in ["run-tests.sh", "test_summary.py"]:
        shutil.copy2(ROOT / "scripts" / name, tree / "scripts" / name)
    (tree / "tests" / "python").mkdir(parents=True)
    (tree / "tests" / "python" / "test_x.py").write_text("")
    stubs = {tree / "scripts" / "run-fuzz.sh": FAKE_FUZZ,
             tree / ".venv" / "bin" / "python": FAKE_PYTEST,
             tmp_path / "bin" / "meson": FAKE_MESON,
             tmp_path / "bin" / "ninja": FAKE_NINJA,
             tmp_path / "bin" / "clang": "#!/bin/sh\nexit 0\n"}
    for path, text in stubs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    log = tmp_path / "log"
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
               LOG=str(log), **extra_env)
    r = subprocess.run([str(tree / "scripts" / "run-tests.sh"), "build"],
                       cwd=tree, env=env, capture_output=True, text=True,
                       timeout=60)
    return r, log.read_text().splitlines(), tree


def test_sanitizer_builds_compile_during_the_python_tests(tmp_path):
    r, log, _ = run_suite(tmp_path)
    assert "pytest saw asan=built" in log, log
    assert "pytest saw fuzz=built" in log, log
    end = log.index("pytest end")
    builds = [line for line in log if line.startswith("ninja ")
              or line.startswith("fuzz --build-only")]
    assert builds == ["ninja build-asan nice=19",
                      "ninja build-tsan nice=19",
                      "fuzz --build-only nice=19"], log
    assert all(log.index(b) < end for b in builds), log
    # Their tests run after the Python tests, ASan first, as before, then
    # the fuzz targets, on what was built.
    assert log[end + 1:end + 3] == ["meson-test build-asan",
                                    "meson-test build-tsan"], log
    assert [line.rsplit(" nice=", 1)[0] for line in log[end + 3:]] == [
        "fuzz --prebuilt 20"], log
    assert log[0] == "meson-test build", log


def test_a_sanitizer_build_that_fails_is_counted(tmp_path):
    r, log, tree = run_suite(tmp_path, FAIL_BUILD="build-tsan")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "build build-tsan failed" in r.stdout, r.stdout
    assert (tree / "test-results" / "build-failures").read_text() == \
        "build-tsan\n"
    assert "meson-test build-asan" in log and \
        "meson-test build-tsan" not in log, log

"""bench_args.py -- the arguments of the benches that run a build of this
project: the build directory first (or the path of its `mida` program),
then counts.

`-h` or `--help` anywhere prints the bench's own description (its module
docstring) and exits 0; a first argument that is not a build, or a count
that is not a positive whole number, is refused with a usage line and
exit status 2, before anything is made or run. (`bench_preload.py --help`
once took "--help" for its build directory and compiled the project into
a scratch directory before it failed.)"""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MIDA_IN_BUILD = pathlib.Path("src") / "cli" / "mida"


def _name():
    return os.path.basename(sys.argv[0])


def _refuse(usage, why):
    sys.stderr.write(f"{_name()}: {why}\nusage: {_name()} {usage}\n")
    sys.exit(2)


def help_asked(doc, usage):
    """Prints the usage and doc, and exits 0, if -h or --help is among the
    arguments."""
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(f"usage: {_name()} {usage}\n\n{(doc or '').strip()}")
        sys.exit(0)


def build_dir(doc, usage, default="build-release", index=1):
    """The build directory at sys.argv[index] (default: default, from the
    project's root when relative), resolved; refused unless it holds a
    built `mida`."""
    help_asked(doc, usage)
    given = sys.argv[index] if len(sys.argv) > index else default
    path = pathlib.Path(given)
    if not path.is_absolute() and not path.exists():
        path = ROOT / path
    path = path.resolve()
    if not (path / MIDA_IN_BUILD).is_file():
        _refuse(usage, f"{given!r} is not a build directory of mida (no "
                       f"{MIDA_IN_BUILD} in it)")
    return path


def mida_program(doc, usage, default="build-release/src/cli/mida", index=1):
    """The `mida` program at sys.argv[index], absolute; refused unless it
    is an executable file."""
    help_asked(doc, usage)
    given = sys.argv[index] if len(sys.argv) > index else default
    path = os.path.abspath(given)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        _refuse(usage, f"{given!r} is not a mida program")
    return path


def count(usage, index, default):
    """The positive whole number at sys.argv[index], or default."""
    if len(sys.argv) <= index:
        return default
    text = sys.argv[index]
    if not text.isdigit() or int(text) < 1:
        _refuse(usage, f"{text!r} is not a positive whole number")
    return int(text)


def no_more(usage, last):
    """Refuses arguments past index last."""
    if len(sys.argv) > last + 1:
        _refuse(usage, f"unexpected argument {sys.argv[last + 1]!r}")

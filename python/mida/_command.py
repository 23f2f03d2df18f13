"""The `mida` command of a pip-installed mida (pyproject.toml's console
script): runs the mida program that the wheel carries in mida/_lib/bin,
with the same arguments, in this process (exec), so that its exit status,
signals and standard streams are the program's own."""

import os
import sys


def main():
    exe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_lib",
                       "bin", "mida")
    if not os.access(exe, os.X_OK):
        sys.stderr.write(f"mida: the mida program is not in this "
                         f"installation ({exe}); reinstall mida with pip\n")
        return 1
    os.execv(exe, ["mida"] + sys.argv[1:])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())

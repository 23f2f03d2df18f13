"""fresh_fs.py -- a file system of the bench's own, made new for each
workload, so that a bench measures mida and not the disk's history.

On ext4 a new inode is searched for past the inodes its group freed
recently; on this project's VM, after a session's experiments had made
and freed about a million inodes, the plain Python workload of
bench_preload.py took 1.5-5.6 s instead of 0.9 s and the library alone
read +24 % instead of +13 % (2026-12-03). A file system made just before
the workload has no such history, whatever ran on the machine before.

    with fresh_fs.mounted("mida-bench-") as (path, what):
        ...

yields a directory and a line that says what it is: an ext4 made by
mkfs.ext4 (Debian's defaults but an inode for each 4 KiB, its tables
written at once) in a sparse image file, mounted through
a loop device (as root, with mkfs.ext4 and mount on the PATH), or else a
plain temporary directory of the system's (say so in the figures). It is
unmounted and its image removed on leaving: one inode freed on the host,
not the workload's tens of thousands. BENCH_FS=tmp asks for the plain
directory; BENCH_FS_GB sets the image's size (default 8)."""

import contextlib
import os
import shutil
import subprocess
import tempfile


def _can_mount():
    return (os.environ.get("BENCH_FS", "") != "tmp" and os.geteuid() == 0
            and shutil.which("mkfs.ext4") and shutil.which("mount"))


@contextlib.contextmanager
def mounted(prefix):
    keep = os.environ.get("BENCH_KEEP") == "1"
    outer = tempfile.mkdtemp(prefix=prefix)
    image = os.path.join(outer, "fs.img")
    path = os.path.join(outer, "fs")
    os.mkdir(path)
    what = None
    if _can_mount():
        gb = int(os.environ.get("BENCH_FS_GB", "8"))
        with open(image, "wb") as f:
            f.truncate(gb << 30)
        # An inode for each 4 KiB (2 M in 8 GiB: a short workload's 27
        # runs of 10,000 files each, kept until the end, are ~300,000 a
        # configuration), and the inode tables written now, not by the
        # kernel's lazy init in the background of the first runs.
        made = subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-i", "4096", "-E",
             "lazy_itable_init=0,lazy_journal_init=0", image],
            capture_output=True, text=True)
        if made.returncode == 0:
            mount = subprocess.run(["mount", "-o", "loop", image, path],
                                   capture_output=True, text=True)
            if mount.returncode == 0:
                what = f"a fresh ext4 of {gb} GiB on a loop device"
            else:
                why = mount.stderr.strip()
        else:
            why = made.stderr.strip()
        if what is None:
            os.unlink(image)
            what = f"a temporary directory (no fresh file system: {why})"
    else:
        what = "a temporary directory (BENCH_FS=tmp, or not root)"
    try:
        yield path, what
    finally:
        if what.startswith("a fresh ext4"):
            if not keep:
                subprocess.run(["umount", path], check=False)
                shutil.rmtree(outer, ignore_errors=True)
        elif not keep:
            shutil.rmtree(outer, ignore_errors=True)

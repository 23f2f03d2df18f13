"""mida's Dask preload as a file: what `mida run` puts first in
DASK_DISTRIBUTED__SCHEDULER__PRELOAD and DASK_DISTRIBUTED__WORKER__PRELOAD
(src/cli/run.c), by its absolute path, rather than the module name
mida.dask.

A preload module that the Python running Dask cannot import stops the
cluster from starting ("RuntimeError: Cluster failed to start: No module
named 'mida'"): the command of `mida run` may be any Python (a venv without
mida, the build tree's `mida run` with no PYTHONPATH), and observing it
must never break it. A file always imports. This one takes Dask's preload
interface (dask_setup, dask_teardown) from mida.dask when that imports;
when it does not -- an ImportError only: any other error is a bug of mida's
and is left to show -- it says so in one line on stderr and defines
nothing, so that Dask calls nothing and the process runs unobserved.

Dask imports a preload ending in ".py" with distributed.utils.import_file
(distributed/preloading.py): its directory first on sys.path while it
imports (this directory holds nothing else, so that nothing else becomes
importable; a worker imports a copy in its local directory), then it
reloads the module. A reload runs this code again in the same globals,
which is how the line is said once per process.
"""
import os
import sys

try:
    from mida.dask import dask_setup, dask_teardown  # noqa: F401
except ImportError as error:
    if not globals().get("_mida_said_unobserved"):
        _mida_said_unobserved = True
        reason = " ".join(str(error).split())
        try:  # a closed or missing stderr must not stop Dask either
            sys.stderr.write(
                "mida: this Dask process (pid %d) is not observed: %s (the "
                "Python running it, %s, cannot import mida; install it "
                "there, or use mida run --no-dask)\n"
                % (os.getpid(), reason, sys.executable))
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass

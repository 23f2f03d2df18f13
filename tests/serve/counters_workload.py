"""A process that counts, for the dashboard's Counters check
(test_browser_views.py): each NAME=V1,V2,... argument is a counter of
this process written as its running total V1, then V2, ..., through the
mida Python module (the call the Dask plugin makes for
dask.telemetry_skipped), then shipped.

usage: counters_workload.py NAME=V1[,V2...]...
"""
import sys

import mida
from mida import _mida


def main():
    for arg in sys.argv[1:]:
        name, values = arg.split("=", 1)
        for v in values.split(","):
            if not _mida.counter(name, int(v)):
                sys.exit(f"counter {name} was not recorded")
    mida.flush()


if __name__ == "__main__":
    main()

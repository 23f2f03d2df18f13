"""Runs Flowcept 1.0.3's interceptors (adapters) until STOP_FILE appears,
then stops them, which dumps what they captured into the JSONL buffer named
in the settings (FLOWCEPT_SETTINGS_PATH). Run with the Flowcept venv.

usage: run_flowcept.py STOP_FILE INTERCEPTOR...
"""

import os
import sys
import time

from flowcept import Flowcept

stop_file, keys = sys.argv[1], sys.argv[2:]
f = Flowcept(interceptors=keys, start_persistence=False,
             check_safe_stops=False)
f.start()
print("started", flush=True)
while not os.path.exists(stop_file):
    time.sleep(0.1)
f.stop()
print("stopped", flush=True)

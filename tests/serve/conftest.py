"""pytest fixtures of the `mida serve` tests (serve_support.py)."""

from serve_support import (fleet, lite, mida_bin, pg_db,  # noqa
                           produce_bin, serve)

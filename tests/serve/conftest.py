"""pytest fixtures of the `mida serve` tests (serve_support.py)."""

from serve_support import (fleet, mida_bin, pg_db, produce_bin,  # noqa
                           serve)

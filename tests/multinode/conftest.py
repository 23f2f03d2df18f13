"""pytest fixtures of the multi-node tests; they live in
multinode_support.py (see its docstring)."""

from multinode_support import (fleet, mida_bin, mosquitto_factory,  # noqa
                               nats_factory, pg_db, private_pg,
                               produce_bin,
                               redis_factory)

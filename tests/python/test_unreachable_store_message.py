"""What the Python API says of a PostgreSQL store that cannot be reached:
it said "the broker cannot be reached", the text of MIDA_EUNREACHABLE,
which stores share with brokers; the text now names both."""
import subprocess
import sys

from midapy_util import child_env


def test_an_unreachable_postgresql_store_is_not_called_a_broker(tmp_path):
    env = child_env(tmp_path / "unused.db",
                    MIDA_STORE="postgresql://postgres@127.0.0.1:1/x",
                    MIDA_SPOOL=tmp_path / "spool")
    r = subprocess.run(
        [sys.executable, "-c",
         "import mida\n"
         "try:\n"
         "    mida.query('select 1')\n"
         "except mida.Error as e:\n"
         "    print(e)\n"],
        env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "the store or broker cannot be reached" in r.stdout
    assert "the broker cannot" not in r.stdout

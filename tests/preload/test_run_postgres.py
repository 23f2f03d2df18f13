"""`mida run` into a PostgreSQL store: the links of the command's files with
their byte counts (task_data.bytes, schema version 2) land there as in
SQLite, also in a store made before that column existed."""

import os
import sys

from preload_support import ROOT, Run, write_then_rename_shipped

sys.path.insert(0, str(ROOT / "tests" / "multinode"))
from multinode_support import pg_db, psql  # noqa: E402,F401


def test_files_and_bytes_in_postgresql(pg_db, tmp_path):
    r = Run(tmp_path)
    r.store = pg_db
    (tmp_path / "in").write_text("12345\n")
    assert r.run("true").returncode == 0
    # An older store without task_data.bytes gets the column when a newer
    # mida opens it (the version says it is older: a store at this version
    # is left alone).
    psql(pg_db, "ALTER TABLE task_data DROP COLUMN bytes;"
         " UPDATE mida_meta SET value = '3' WHERE key = 'schema_version'")
    p = r.run("bash", "-c", "cat in > out; cat in in >> out")
    assert p.returncode == 0, p.stderr
    rows = psql(pg_db, "SELECT t.activity, td.role, d.uri, td.bytes"
                " FROM task_data td JOIN task t ON t.id = td.task_id"
                " JOIN data d ON d.id = td.data_id"
                " WHERE d.uri LIKE 'file://%/out' ORDER BY td.bytes")
    assert rows.splitlines() == [
        f"cat|generated|file://{tmp_path}/out|6",
        f"cat|generated|file://{tmp_path}/out|12"]
    # The largest count of a link is kept (the second cat read "in" twice).
    used = psql(pg_db, "SELECT max(td.bytes) FROM task_data td JOIN data d"
                " ON d.id = td.data_id WHERE d.uri LIKE 'file://%/in'")
    assert used == "12"


def test_the_root_task_has_the_commands_pid(pg_db, tmp_path):
    """The root task is the command, and has its pid, in PostgreSQL as in
    SQLite: it had `mida run`'s own, which its begin left as the batch's
    default, and which the command's own begin (its pid explicit, but
    equal to its batch's origin) did not replace there."""
    r = Run(tmp_path)
    r.store = pg_db
    p = r.run("sh", "-c", "echo $$ > sh.pid; cat sh.pid > /dev/null")
    assert p.returncode == 0, p.stderr
    sh_pid = (tmp_path / "sh.pid").read_text().strip()
    assert psql(pg_db, "SELECT activity, pid FROM task"
                       " WHERE parent_id IS NULL") == f"sh|{sh_pid}"
    assert psql(pg_db, "SELECT custom->>'ppid' FROM task"
                       " WHERE activity = 'cat'") == sh_pid


def test_a_file_read_again_leaves_its_rows_alone(pg_db, tmp_path):
    """A file that every run reads (a source, an input) is the same data
    row each time: a later run links it to its own task and does not write
    the row again (an UPDATE in PostgreSQL is a new row version and a dead
    one, whatever it sets). xmin is the transaction that wrote the row."""
    r = Run(tmp_path)
    r.store = pg_db
    (tmp_path / "in").write_text("12345\n")
    assert r.run("cat", "in").returncode == 0
    where = " FROM data WHERE uri LIKE 'file://%/in'"
    first = psql(pg_db, "SELECT xmin" + where)
    assert r.run("cat", "in").returncode == 0
    assert r.run("cat", "in").returncode == 0
    assert psql(pg_db, "SELECT xmin" + where) == first
    links = psql(pg_db, "SELECT count(*), min(td.bytes), max(td.bytes)"
                 " FROM task_data td JOIN data d ON d.id = td.data_id"
                 " WHERE d.uri LIKE 'file://%/in'")
    assert links == "3|6|6"


def test_a_command_writing_many_files_ends(pg_db, tmp_path):
    """A batch with hundreds of rows of one link table (here the data rows
    of tar's 2,000 files) ends: the hash set of the rows waiting for one
    statement had 4,000 slots, not a power of two, so that its mask
    (3999) confined each probe to a run of 32 slots, and the 33rd key
    that hashed into one spun the shipper for ever (mida run never
    returned; 395 of 3,000 data rows stored)."""
    r = Run(tmp_path)
    r.store = pg_db
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2000):
        (src / f"f{i}").write_text(f"{i}\n")
    p = r.run("tar", "cf", "out.tar", "src", timeout=60)
    assert p.returncode == 0, p.stderr
    assert psql(pg_db, "SELECT count(*) FROM data WHERE uri LIKE"
                       " 'file://%/src/f%'") == "2000"


def test_a_program_whose_name_is_not_utf8_is_stored(pg_db, tmp_path):
    """A task's activity is its program's name, bytes as they are: one
    that is not UTF-8 made a UTF8 database refuse the whole batch ("invalid
    byte sequence for encoding UTF8"), and every record behind it stayed
    in the spool. It is stored with U+FFFD in place of the bad byte (the
    script's task then takes its interpreter's name, sh)."""
    r = Run(tmp_path)
    r.store = pg_db
    tool = os.path.join(os.fsencode(tmp_path), b"tool\xff")
    with open(tool, "wb") as f:
        f.write(b"#!/bin/sh\nexit 0\n")
    os.chmod(tool, 0o755)
    p = r.run(b"./tool\xff", timeout=60)
    assert p.returncode == 0, p.stderr
    assert "did not take" not in p.stderr, p.stderr
    assert psql(pg_db, "SELECT activity, status FROM task") == "sh|FINISHED"


def test_a_rename_s_name_holds_whichever_journal_ships_first(pg_db,
                                                             tmp_path):
    """As in SQLite (test_run_temporary_files.py): the renamer's journal
    applied before the writer's leaves the version named by the rename."""
    work = write_then_rename_shipped(tmp_path, pg_db)
    rows = psql(pg_db, f"SELECT uri, metadata->>'named_by' FROM data"
                f" WHERE uri LIKE 'file://{work}/%'")
    assert rows.splitlines() == [f"file://{work}/final|rename"], rows


def test_the_commands_processes_are_sampled_into_postgresql(pg_db, tmp_path):
    """The command's processes are sampled under their pids, into
    PostgreSQL as into SQLite, and join their tasks there
    (test_run_process_usage.py has the figures)."""
    r = Run(tmp_path)
    r.store = pg_db
    burn = ("import time\n"
            "t = time.process_time()\n"
            "while time.process_time() - t < 0.5: pass\n")
    p = r.run("sh", "-c", "\"$0\" -c \"$1\"; true", sys.executable, burn,
              env=r.env(MIDA_SAMPLE_HZ="10"))
    assert p.returncode == 0, p.stderr
    name = os.path.basename(sys.executable)
    task, pid = psql(pg_db, "SELECT id, pid FROM task WHERE activity = '"
                     + name + "'").split("|")
    samples = r.process_samples(task).get(int(pid), [])
    assert len(samples) >= 2, samples
    assert any(s.get("cpu_user_s", 0) > 0 for s in samples), samples

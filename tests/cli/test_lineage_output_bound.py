"""`mida lineage` prints in space linear in the nodes it shows (issue 11,
item 7): its indentation is capped at 32 levels, deeper lines show their
distance as [N]. A chain of 50,000 tasks printed 2.5 GB before (two spaces
a level); here its listing must stay within a few hundred bytes a node."""

import sqlite3
import subprocess

import mida_cli_store as fx

CHAIN = 50_000
BYTES_PER_NODE = 300  # a line: indentation (64), [depth], edge, id, name


def chain_store(path):
    db = sqlite3.connect(path)
    db.executescript(fx.schema_sql())
    db.execute("INSERT INTO workflow (id, name, status) VALUES"
               " ('w', 'chain', 'FINISHED')")
    ids = [f"0190a4c2-0000-7000-8000-{i:012x}" for i in range(CHAIN)]
    db.executemany("INSERT INTO task (id, workflow_id, activity, status)"
                   " VALUES (?, 'w', 'step', 'FINISHED')",
                   [(i,) for i in ids])
    db.executemany("INSERT INTO task_dep VALUES (?, ?)",
                   zip(ids[1:], ids[:-1]))
    db.commit()
    db.close()
    return ids


def test_lineage_of_a_long_chain_is_linear_in_its_nodes(mida_bin, tmp_path):
    store = tmp_path / "chain.db"
    ids = chain_store(str(store))
    limit = (CHAIN + 10) * BYTES_PER_NODE
    p = subprocess.Popen([mida_bin, "--store", str(store), "lineage",
                          ids[-1], "--up", "--max-nodes", str(CHAIN + 10)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = 0
    lines = 0
    tail = b""
    try:
        while True:
            chunk = p.stdout.read(1 << 16)
            if not chunk:
                break
            got += len(chunk)
            lines += chunk.count(b"\n")
            tail = (tail + chunk)[-4096:]
            assert got <= limit, f"more than {limit} bytes for {CHAIN} nodes"
        assert p.wait(timeout=300) == 0, p.stderr.read()
    finally:
        p.kill()
        p.wait()
    # Every node of the chain is there, the deepest with its distance.
    assert lines >= CHAIN
    last = tail.splitlines()[-1].decode()
    assert last.startswith(" " * 64 + f"[{CHAIN - 1}] <- "), last
    assert ids[0] in last

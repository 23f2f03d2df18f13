"""The fixture store of the tests of the `mida` command.

The tests run the built binary (MIDA_BIN, default build/src/cli/mida) against
a store made here with Python's sqlite3 module from the schema text of
src/sink/schema.h, so that they depend on nothing but the binary and the
schema. The store holds two workflows of one campaign, linked by a data item
that a task of the first generated and a task of the second used:

  campaign "climate"
  workflow prep (api, FINISHED)          workflow train (mlflow, RUNNING)
    load:  used s3://bucket/raw            fit:      used sha256:aaa
           generated file:///data/raw.csv            generated sha256:bbb
    clean: used file:///data/raw.csv                 ERROR, metric loss x3
           generated sha256:aaa              fit.epoch: child of fit
           depends on load                 evaluate: used sha256:bbb
                                                     depends on fit
"""

import pathlib
import re
import sqlite3
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]

SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC  # 2023-11-14T22:13:20Z

CAMPAIGN = "0190a4c2-0000-7000-8000-00000000c001"
WF_PREP = "0190a4c2-0000-7000-8000-00000000f001"
WF_TRAIN = "0190a4c2-0000-7000-8000-00000000f002"
T_LOAD = "0190a4c2-0000-7000-8000-00000000a001"
T_CLEAN = "0190a4c2-0000-7000-8000-00000000a002"
T_FIT = "0190a4c2-0000-7000-8000-00000000a003"
T_EPOCH = "0190a4c2-0000-7000-8000-00000000a004"
T_EVAL = "0190a4c2-0000-7000-8000-00000000a005"

D_SRC = "s3://bucket/raw"
D_RAW = "file:///data/raw.csv"
D_CLEAN = "sha256:aaa"
D_MODEL = "sha256:bbb"


# A task whose activity a spreadsheet would run as a formula (OWASP's CSV
# injection), with a negative value that must stay a number.
T_HOSTILE = "0190a4c2-0000-7000-8000-00000000a0ff"
HOSTILE_ACTIVITY = '=HYPERLINK("http://x","y")'
HOSTILE_CSV = ('activity,lr\r\n'
               '"\'=HYPERLINK(""http://x"",""y"")",-1.5\r\n')
HOSTILE_SQL = ("SELECT activity, used->>'lr' AS lr FROM task"
               f" WHERE id = '{T_HOSTILE}'")


def schema_sql():
    """The text of MIDA_SCHEMA_SQLITE, decoded from the C header."""
    text = (ROOT / "src" / "sink" / "schema.h").read_text()
    start = text.index("#define MIDA_SCHEMA_SQLITE ")
    end = text.index("\n\n", start)  # the macro's last line
    body = text[start:end]
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    joined = "".join(parts)
    return (joined.replace("\\n", "\n").replace('\\"', '"')
            .replace("\\\\", "\\"))


def metric_point(step, value):
    """schema.h's mida_point(step, value), as the store computes it."""
    if value is None or value != value:
        bits = 0x7ff8000000000000
    else:
        bits = struct.unpack("<Q", struct.pack("<d", value + 0.0))[0]
    return ("" if step is None else str(step)) + ":%016x" % bits


def make_store(path):
    db = sqlite3.connect(path)
    db.executescript(schema_sql())
    db.execute("INSERT INTO campaign VALUES (?, 'climate', ?, NULL)",
               (CAMPAIGN, T0))
    db.executemany(
        "INSERT INTO workflow (id, campaign_id, parent_id, name, source,"
        " user, host, pid, started, ended, status, metadata)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [(WF_PREP, CAMPAIGN, None, "prep", "api", "alice", "node1", 100,
          T0, T0 + 10 * SEC, "FINISHED", '{"code": "v1.2"}'),
         (WF_TRAIN, CAMPAIGN, None, "train", "mlflow", "bob", "gpu 1", 200,
          T0 + 20 * SEC, None, "RUNNING", None)])
    task = ("INSERT INTO task (id, workflow_id, campaign_id, parent_id,"
            " activity, status, submitted, started, ended, host, pid,"
            " worker, source_key, used, generated, custom, error,"
            " telemetry) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    db.executemany(task, [
        (T_LOAD, WF_PREP, CAMPAIGN, None, "load", "FINISHED", T0, T0 + SEC,
         T0 + 2 * SEC, "node1", 100, None, "load-1", '{"n": 10}',
         '{"rows": 1000}', None, None, None),
        (T_CLEAN, WF_PREP, CAMPAIGN, None, "clean", "FINISHED", T0,
         T0 + 3 * SEC, T0 + 5 * SEC + SEC // 2, "node1", 100, None, None,
         '{"threshold": 0.5, "drop": "nulls"}', None, None, None, None),
        (T_FIT, WF_TRAIN, CAMPAIGN, None, "fit", "ERROR", T0 + 20 * SEC,
         T0 + 21 * SEC, T0 + 31 * SEC, "gpu 1", 200, "w0", None,
         '{"lr": 0.01, "epochs": 3}', '{"loss": 0.25}', '{"tag": "x"}',
         "CUDA out of memory", None),
        (T_EPOCH, WF_TRAIN, CAMPAIGN, T_FIT, "fit.epoch", "FINISHED",
         None, T0 + 22 * SEC, T0 + 23 * SEC, "gpu 1", 200, None, None,
         None, None, None, None, None),
        (T_EVAL, WF_TRAIN, CAMPAIGN, None, "evaluate", "RUNNING", None,
         T0 + 32 * SEC, None, "gpu 1", 201, None, None, None, None, None,
         None, None),
    ])
    db.executemany("INSERT INTO data VALUES (?,?,?,?,?,?)", [
        (D_SRC, "dataset", D_SRC, None, None, None),
        (D_RAW, "file", D_RAW, 2048, None, None),
        (D_CLEAN, "file", "file:///data/clean.parquet", 1024, D_CLEAN, None),
        (D_MODEL, "model", "file:///models/m.pt", 4096, D_MODEL, None),
    ])
    db.executemany("INSERT INTO task_data(task_id, data_id, role, name)"
                   " VALUES (?,?,?,?)", [
        (T_LOAD, D_SRC, "used", "source"),
        (T_LOAD, D_RAW, "generated", "out"),
        (T_CLEAN, D_RAW, "used", "input"),
        (T_CLEAN, D_CLEAN, "generated", "output"),
        (T_FIT, D_CLEAN, "used", "train_set"),
        (T_FIT, D_MODEL, "generated", "model"),
        (T_EVAL, D_MODEL, "used", "model"),
    ])
    db.executemany("INSERT INTO task_dep VALUES (?,?)", [
        (T_CLEAN, T_LOAD), (T_EVAL, T_FIT)])
    db.create_function("mida_point", 2, metric_point, deterministic=True)
    db.executemany("INSERT INTO metric VALUES (?1,?2,?3,?4,?5,"
                   " mida_point(?3, ?5))", [
        (T_FIT, "loss", 0, T0 + 22 * SEC, 0.9),
        (T_FIT, "loss", 1, T0 + 23 * SEC, 0.5),
        (T_FIT, "loss", 2, T0 + 24 * SEC, 0.25),
        (T_FIT, "acc", 2, T0 + 24 * SEC, 0.75),
    ])
    db.executemany("INSERT INTO counter VALUES (?,?,?,?)", [
        ("node1", 100, "dropped", 2), ("gpu 1", 200, "dropped", 3),
        ("node1", 100, "corrupt", 1)])
    db.commit()
    db.close()




def add_hostile_task(path):
    """Adds T_HOSTILE to the store at path: activity HOSTILE_ACTIVITY, used
    {"lr": -1.5}. HOSTILE_SQL reads them back, and HOSTILE_CSV is its CSV."""
    db = sqlite3.connect(path)
    db.execute("INSERT INTO task (id, workflow_id, campaign_id, activity,"
               " status, started, used) VALUES (?,?,?,?,?,?,?)",
               (T_HOSTILE, WF_PREP, CAMPAIGN, HOSTILE_ACTIVITY, "FINISHED",
                T0 + 6 * SEC, '{"lr": -1.5}'))
    db.commit()
    db.close()

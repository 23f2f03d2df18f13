"""Records one workflow, one task and its data through libmida's public C
API (ctypes, with the structs of mida.h as they are: struct_size 0 means
this layout, and mida_config_init_sized writes no more than it is given),
then exits without mida_close(), as a crashed process would:
the records stay in its journal for `mida recover`.

usage: python3 mida_cli_producer.py LIBMIDA STORE   (prints the task id)
"""

import ctypes
import os
import sys


class Id(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint8 * 16)]


class Config(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("store", ctypes.c_char_p), ("spool", ctypes.c_char_p),
                ("campaign", ctypes.c_char_p), ("workflow", ctypes.c_char_p),
                ("parent_task", ctypes.c_char_p),
                ("journal_bytes", ctypes.c_size_t), ("full", ctypes.c_int),
                ("ship_interval_ms", ctypes.c_uint),
                ("disabled", ctypes.c_int), ("telemetry_task", ctypes.c_int),
                ("sample_hz", ctypes.c_double),
                ("sample", ctypes.c_char_p), ("spool_max", ctypes.c_uint64),
                ("strict", ctypes.c_int)]


class WorkflowInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("name", ctypes.c_char_p), ("campaign", ctypes.c_char_p),
                ("parent", ctypes.c_void_p), ("source", ctypes.c_char_p),
                ("metadata", ctypes.c_char_p), ("started_ns", ctypes.c_int64),
                ("keep_default", ctypes.c_int)]


class TaskInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("activity", ctypes.c_char_p),
                ("workflow", ctypes.POINTER(Id)),
                ("parent", ctypes.POINTER(Id)), ("used", ctypes.c_char_p),
                ("custom", ctypes.c_char_p), ("source_key", ctypes.c_char_p),
                ("worker", ctypes.c_char_p), ("started_ns", ctypes.c_int64),
                ("id", ctypes.POINTER(Id)), ("status", ctypes.c_int),
                ("submitted_ns", ctypes.c_int64)]


class DataInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("kind", ctypes.c_char_p), ("uri", ctypes.c_char_p),
                ("digest", ctypes.c_char_p), ("size", ctypes.c_int64),
                ("name", ctypes.c_char_p), ("metadata", ctypes.c_char_p)]


MIDA_USED, MIDA_GENERATED, MIDA_STATUS_FINISHED = 1, 2, 3


def main(libpath, store):
    lib = ctypes.CDLL(libpath)
    cfg = Config()
    # Only the fields declared above: the library writes no further.
    lib.mida_config_init_sized(ctypes.byref(cfg), ctypes.sizeof(cfg))
    cfg.store = store.encode()
    cfg.ship_interval_ms = 3_600_000  # the shipper must not ship first
    session = ctypes.c_void_p()
    err = ctypes.create_string_buffer(512)
    rc = lib.mida_open(ctypes.byref(cfg), ctypes.byref(session), err, 512)
    assert rc == 0, err.value
    wf, task = Id(), Id()
    assert lib.mida_workflow_begin(session, ctypes.byref(
        WorkflowInfo(name=b"crashed")), ctypes.byref(wf)) == 0
    assert lib.mida_task_begin(session, ctypes.byref(
        TaskInfo(activity=b"step", workflow=ctypes.pointer(wf))),
        ctypes.byref(task)) == 0
    assert lib.mida_data(session, ctypes.byref(task), MIDA_USED,
                         ctypes.byref(DataInfo(uri=b"file:///in.txt",
                                               size=-1, name=b"in"))) == 0
    assert lib.mida_data(session, ctypes.byref(task), MIDA_GENERATED,
                         ctypes.byref(DataInfo(uri=b"file:///out.txt",
                                               size=5, name=b"out"))) == 0
    assert lib.mida_task_end(session, ctypes.byref(task),
                             MIDA_STATUS_FINISHED, b'{"ok": 1}', None) == 0
    text = ctypes.create_string_buffer(37)
    lib.mida_id_format(ctypes.byref(task), text)
    print(text.value.decode(), flush=True)
    os._exit(0)  # no mida_close(): as if killed


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

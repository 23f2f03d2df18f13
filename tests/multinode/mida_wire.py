"""An independent writer of mida's broker messages (src/sink/wire.h, version
1) for the tests: valid messages, and the malformed ones a consumer must
reject (wrong version, bad CRC, bad lengths, foreign data)."""

import struct
import uuid

MAGIC = b"MIDAWIR1"
REC_TASK = 3
F_ID, F_ACTIVITY, F_STATUS, F_STARTED, F_ENDED = 1, 7, 8, 10, 11
KIND_ID, KIND_I64, KIND_STR = 1, 2, 4
FINISHED = 3


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


F_GENERATED = 17
RUNNING = 2


def _str(tag, text):
    b = text.encode()
    return bytes([tag, KIND_STR]) + struct.pack("<I", len(b)) + b


def _i64(tag, v):
    return bytes([tag, KIND_I64]) + struct.pack("<q", v)


F_TELEMETRY = 34


def task_record(task_id, activity=None, started=None, ended=None,
                status=FINISHED, generated=None, telemetry=None):
    """The payload of a task record (core/record.h encoding); fields left
    None are not in the record."""
    p = bytes([F_ID, KIND_ID]) + uuid.UUID(task_id).bytes
    if activity is not None:
        p += _str(F_ACTIVITY, activity)
    if status is not None:
        p += _i64(F_STATUS, status)
    if started is not None:
        p += _i64(F_STARTED, started)
    if ended is not None:
        p += _i64(F_ENDED, ended)
    if generated is not None:
        p += _str(F_GENERATED, generated)
    if telemetry is not None:
        p += _str(F_TELEMETRY, telemetry)
    return p


REC_RUN = 11
F_TASK, F_WORKER = 5, 14


def run_record(run_id, task_id, status, started=None, ended=None,
               worker=None):
    """The payload of a run record (mida_task_run)."""
    p = (bytes([F_ID, KIND_ID]) + uuid.UUID(run_id).bytes +
         bytes([F_TASK, KIND_ID]) + uuid.UUID(task_id).bytes +
         _i64(F_STATUS, status))
    if started is not None:
        p += _i64(F_STARTED, started)
    if ended is not None:
        p += _i64(F_ENDED, ended)
    if worker is not None:
        p += _str(F_WORKER, worker)
    return p


def message(records, host="testhost", pid=4242, version=1, seq=1,
            rec_version=1):
    """records: list of (type, payload). Returns the message bytes."""
    h = host.encode()
    body = (MAGIC + struct.pack("<HHIqQQH", version, 0, len(records), pid,
                                0x1234, seq, len(h)) + h)
    for rtype, payload in records:
        body += struct.pack("<HBI", rtype, rec_version, len(payload))
        body += payload
    return body + struct.pack("<I", crc32c(body))


def with_bad_crc(msg):
    return msg[:-1] + bytes([msg[-1] ^ 0xFF])


def with_bad_length(msg):
    """A record length that runs past the end, CRC made valid again."""
    body = bytearray(msg[:-4])
    hostlen = struct.unpack_from("<H", body, 40)[0]
    first = 42 + hostlen
    struct.pack_into("<I", body, first + 3, 1 << 20)
    return bytes(body) + struct.pack("<I", crc32c(bytes(body)))

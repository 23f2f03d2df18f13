/*
 * record.h -- the record: the unit that flows from a producer to a sink.
 *
 * Every capture call becomes one record: a type (what it describes) and a
 * set of fields (what it says about it). A record may say only part of what
 * is known about a thing: a task's begin says its activity and inputs, its
 * end says its status and outputs; the store merges them by id. The same
 * encoding is the payload of a journal frame (src/capture/journal.h) and of a
 * broker message, so it crosses process and host boundaries and is
 * versioned.
 *
 * Payload format, version 1 (MIDA_RECORD_VERSION):
 *
 *   payload  := field*
 *   field    := tag:u8  kind:u8  value
 *   value    := id     16 bytes, RFC 9562 byte order      (kind 1)
 *             | i64    8 bytes, little-endian, two's complement (kind 2)
 *             | f64    8 bytes, little-endian IEEE 754 binary64  (kind 3)
 *             | str    len:u32 little-endian, then len bytes, UTF-8,
 *                      no NUL                               (kind 4)
 *
 * A tag appears at most once; fields come in any order. A decoder skips
 * tags it does not know (their kind says how long they are), so a newer
 * producer can add fields without breaking an older consumer. A field whose
 * tag is known but whose kind is not the tag's kind makes the record corrupt.
 */
#ifndef MIDA_CORE_RECORD_H
#define MIDA_CORE_RECORD_H

#include "mida.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIDA_RECORD_VERSION 1

/* What a record describes, i.e. which table it merges into. */
typedef enum mida__rec_type {
  MIDA_REC_PAD = 0,       /* journal filler, never decoded */
  MIDA_REC_CAMPAIGN = 1,  /* ID NAME CREATED METADATA */
  MIDA_REC_WORKFLOW = 2,  /* ID CAMPAIGN PARENT NAME SOURCE USER HOST PID
                             STARTED ENDED STATUS METADATA */
  MIDA_REC_TASK = 3,      /* ID WORKFLOW CAMPAIGN PARENT ACTIVITY STATUS
                             SUBMITTED STARTED ENDED HOST PID WORKER
                             SOURCE_KEY USED GENERATED CUSTOM ERROR
                             TELEMETRY */
  MIDA_REC_DATA = 4,      /* DATA_ID KIND URI SIZE DIGEST METADATA, and if
                             TASK is present the link TASK ROLE NAME BYTES */
  MIDA_REC_DEP = 5,       /* TASK PARENT(= upstream task) */
  MIDA_REC_METRIC = 6,    /* TASK KEY STEP TS VALUE */
  MIDA_REC_TELEMETRY = 7, /* HOST PID TS WORKFLOW TASK METADATA(JSON of
                             the sample's values) */
  MIDA_REC_CURSOR = 8,    /* SOURCE KEY TEXT TS: an observer's position */
  MIDA_REC_COUNTER = 9,   /* HOST PID KEY VALUE_I: a monotonic counter (e.g.
                             dropped records); the store keeps the maximum */
  MIDA_REC_LOST = 10,     /* HOST PID STARTED ENDED ERROR: the process (host,
                             pid) whose journal began at STARTED is gone; its
                             tasks and workflows begun from STARTED until
                             ENDED that are not over (SUBMITTED, RUNNING)
                             become LOST, with the reason ERROR (sent by
                             recovery) */
  MIDA_REC_RUN = 11,      /* ID(= the run) TASK STATUS STARTED ENDED HOST PID
                             WORKER ERROR TELEMETRY: one execution of a
                             task (mida_task_run) */
  MIDA_REC_TYPE_COUNT
} mida__rec_type;

/* The kind of a field's value. */
typedef enum mida__kind {
  MIDA_KIND_ID = 1,
  MIDA_KIND_I64 = 2,
  MIDA_KIND_F64 = 3,
  MIDA_KIND_STR = 4
} mida__kind;

/* Field tags. XX(name, tag, kind). Tags are stable: append only. */
/* clang-format off */
#define MIDA_FIELD_MAP(XX)                                                   \
  XX(ID, 1, ID)             /* the subject's id (campaign/workflow/task) */  \
  XX(WORKFLOW, 2, ID)       /* enclosing workflow */                         \
  XX(CAMPAIGN, 3, ID)       /* enclosing campaign */                         \
  XX(PARENT, 4, ID)         /* parent task/workflow; DEP: upstream task */   \
  XX(TASK, 5, ID)           /* the task a data/dep/metric belongs to */      \
  XX(NAME, 6, STR)          /* campaign/workflow name; data link name */     \
  XX(ACTIVITY, 7, STR)      /* task activity */                              \
  XX(STATUS, 8, I64)        /* mida_status_t */                              \
  XX(SUBMITTED, 9, I64)     /* ns since epoch */                             \
  XX(STARTED, 10, I64)      /* ns since epoch */                             \
  XX(ENDED, 11, I64)        /* ns since epoch */                             \
  XX(HOST, 12, STR)         /* host name; default: the journal's */          \
  XX(PID, 13, I64)          /* process id; default: the journal's */         \
  XX(WORKER, 14, STR)       /* worker or thread name */                      \
  XX(SOURCE_KEY, 15, STR)   /* the source's own id (Dask key, MLflow run) */ \
  XX(USED, 16, STR)         /* JSON object */                                \
  XX(GENERATED, 17, STR)    /* JSON object */                                \
  XX(CUSTOM, 18, STR)       /* JSON object */                                \
  XX(ERROR, 19, STR)        /* error text */                                 \
  XX(METADATA, 20, STR)     /* JSON object */                                \
  XX(SOURCE, 21, STR)       /* workflow source: api, dask, mlflow, ... */    \
  XX(USER, 22, STR)         /* user name */                                  \
  XX(KIND, 23, STR)         /* data kind: file, dataset, model, object */    \
  XX(URI, 24, STR)          /* data URI */                                   \
  XX(DIGEST, 25, STR)       /* data content digest */                        \
  XX(SIZE, 26, I64)         /* data size in bytes */                         \
  XX(ROLE, 27, I64)         /* mida_role_t */                                \
  XX(KEY, 28, STR)          /* metric key; cursor key; counter name */       \
  XX(STEP, 29, I64)         /* metric step */                                \
  XX(TS, 30, I64)           /* ns since epoch */                             \
  XX(VALUE, 31, F64)        /* metric value */                               \
  XX(TEXT, 32, STR)         /* cursor position */                            \
  XX(VALUE_I, 33, I64)      /* counter value */                              \
  XX(TELEMETRY, 34, STR)    /* JSON object: a task's resource summary */     \
  XX(CREATED, 35, I64)      /* ns since epoch */                             \
  XX(DATA_ID, 36, STR)      /* DATA: the data's identity (digest or URI) */\
  XX(BYTES, 37, I64)        /* DATA link: bytes read (used) or written   */\
                            /* (generated); stores keep the largest seen */
/* clang-format on */

typedef enum mida__field_tag {
#define MIDA_FIELD_ENUM(name, tag, kind) MIDA_F_##name = (tag),
  MIDA_FIELD_MAP(MIDA_FIELD_ENUM)
#undef MIDA_FIELD_ENUM
      MIDA_F_COUNT /* one past the highest tag */
} mida__field_tag;

/* A borrowed string: not NUL-terminated, points into the encoded record. */
typedef struct mida__str {
  const char *ptr; /* first byte, or NULL */
  uint32_t len;    /* bytes */
} mida__str;

/* One decoded field. */
typedef struct mida__field {
  bool present; /* whether the record carries this field */
  union {
    mida_id_t id;
    int64_t i64;
    double f64;
    mida__str str;
  } v;
} mida__field;

/* A decoded record. Strings borrow the encoded bytes: keep them alive while
 * the record is used. Indexed by tag: rec->f[MIDA_F_ACTIVITY]. */
typedef struct mida__rec {
  uint16_t type;               /* mida__rec_type */
  mida__field f[MIDA_F_COUNT]; /* by tag; f[0] unused */
} mida__rec;

/* The kind of a known tag, or 0 for an unknown one. */
mida__kind mida__field_kind(unsigned tag);

/* The field's name in lower case ("activity"), or NULL for unknown tags. */
const char *mida__field_name(unsigned tag);

/* The record type's name ("task"), or NULL. */
const char *mida__rec_type_name(unsigned type);

/*
 * Encoding into a caller-provided buffer. The encoder never allocates:
 * the hot path encodes straight into journal memory.
 *
 *   mida__enc e; mida__enc_init(&e, buf, cap);
 *   mida__enc_id(&e, MIDA_F_ID, &id); ...
 *   if (e.overflow) -> the buffer was too small; e.len says how much was
 *   needed.
 */
typedef struct mida__enc {
  uint8_t *buf;  /* output */
  size_t cap;    /* bytes available at buf */
  size_t len;    /* bytes written (or needed, if overflow) */
  bool overflow; /* set when a field did not fit */
} mida__enc;

void mida__enc_init(mida__enc *e, void *buf, size_t cap);
void mida__enc_id(mida__enc *e, unsigned tag, const mida_id_t *id);
void mida__enc_i64(mida__enc *e, unsigned tag, int64_t v);
void mida__enc_f64(mida__enc *e, unsigned tag, double v);
/* s may be NULL (nothing is written); len is strlen(s) when (size_t)-1. */
void mida__enc_str(mida__enc *e, unsigned tag, const char *s, size_t len);
/* Writes the head of a string field of len bytes and returns where its
 * bytes go, for the caller to fill (a value built in place); NULL when it
 * did not fit (e->overflow is then set and e->len counts it). */
char *mida__enc_str_reserve(mida__enc *e, unsigned tag, size_t len);

/* Bytes a field takes when encoded: 2 + 16 / 8 / 4+len. */
static inline size_t mida__enc_size_str(size_t len) {
  return 2 + 4 + len;
}
static inline size_t mida__enc_size_id(void) {
  return 2 + 16;
}
static inline size_t mida__enc_size_num(void) {
  return 2 + 8;
}

/* Decodes payload into rec (which it clears first). Returns MIDA_OK or
 * MIDA_ECORRUPT (truncated field, known tag with the wrong kind, or a
 * repeated tag). */
int mida__rec_decode(uint16_t type, const void *payload, size_t len,
                     mida__rec *rec);

/* Re-encodes a decoded record (for sinks that forward records). Returns
 * bytes written, or 0 if cap is too small. */
size_t mida__rec_encode(const mida__rec *rec, void *buf, size_t cap);

/* The bytes mida__rec_encode() needs for rec. */
size_t mida__rec_encoded_size(const mida__rec *rec);

/* Helpers to fill a record by hand (observers, tests): each sets the field
 * and marks it present. Strings are borrowed, not copied. */
void mida__rec_set_id(mida__rec *rec, unsigned tag, const mida_id_t *id);
void mida__rec_set_i64(mida__rec *rec, unsigned tag, int64_t v);
void mida__rec_set_f64(mida__rec *rec, unsigned tag, double v);
void mida__rec_set_str(mida__rec *rec, unsigned tag, const char *s,
                       size_t len); /* len (size_t)-1: strlen(s) */

/* Fills rec (whole) as a MIDA_REC_COUNTER record: counter key of process
 * pid on host, value (the store keeps the largest). host NULL and pid 0
 * leave them to the batch's origin (mida__origin). The one way to build
 * one; strings are borrowed. */
void mida__rec_counter(mida__rec *rec, const char *host, int64_t pid,
                       const char *key, int64_t value);

#endif /* MIDA_CORE_RECORD_H */

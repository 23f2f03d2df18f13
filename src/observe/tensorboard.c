/*
 * tensorboard.c -- the TensorBoard observer: follows every event file under
 * a log directory as it grows and turns what it holds into records.
 *
 * Mapping (DESIGN.md, "How each source maps"):
 *   log directory        -> workflow, source "tensorboard", id derived from
 *                           the directory's absolute path;
 *   run directory        -> task (the directory of an event file, relative
 *                           to the log directory, is its source_key and
 *                           activity; "." for files at the top);
 *   scalar at each step  -> metric (key = tag, step, ts = wall time, value);
 *   last value per tag   -> the task's generated (JSON, key = tag);
 *   hparams plugin       -> the task's used (session_start_info);
 *   text plugin          -> the task's custom (key = tag).
 *
 * Following: each pass rescans the directory tree for files whose name
 * contains "tfevents" and reads each from the offset it has consumed up to.
 * Between passes it waits on inotify (IN_MODIFY, IN_CREATE, IN_MOVED_TO on
 * every directory) or, where inotify is unavailable (network file systems,
 * exhausted watches), sleeps poll_ms: a pass also runs every poll_ms even
 * with inotify, which covers writes that inotify does not report.
 *
 * Bad input: a file that ends inside a record is still being written, so
 * the offset stays at the record's start. A record whose data CRC is wrong
 * is skipped and counted; a header whose CRC is wrong starts a byte-by-byte
 * scan for the next good header (the bytes are counted); an Event that does
 * not decode is counted. Each file warns once. Counts go to the store as
 * counters observe.tensorboard.bad_records, .bad_bytes and .bad_events.
 *
 * Cursor: source "tensorboard", key = the file's absolute path, position =
 * the byte offset consumed, written after the records of each read, so a
 * restarted observer resumes there (the metric table's key makes a point
 * read twice harmless anyway).
 */
#include "observe/observer.h"

#include "api/session_access.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/record.h"
#include "observe/tb_items.h"
#include "observe/tbproto.h"
#include "observe/tfrecord.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SOURCE "tensorboard"
#define MAX_DEPTH 32           /* directory levels followed */
#define MAX_FILES 100000       /* event files followed at once */
#define READ_CHUNK (1u << 20)  /* bytes read per call */
#define MAX_RECORD (64u << 20) /* longest record accepted */
#define MAX_JSON (1u << 20)    /* longest used/generated/custom built */
#define DEFAULT_POLL_MS 500

/* The last value of one tag in the current read, for generated. */
typedef struct last_value {
  char *tag;    /* owned */
  double value; /* the value at the highest (step, order) seen */
} last_value;

/* A run directory: one task, ended when its files stop growing. */
typedef struct tb_run {
  char *run;              /* relative to the log dir, "." at the top (owned) */
  mida_id_t task;         /* its task */
  int64_t last_wall_ns;   /* the latest event's wall time read */
  int64_t last_change_ns; /* when one of its files last changed (mtime,
                             ns since the epoch) */
  int ended;              /* ended since it last changed */
  int counted;            /* counted in the summary's tasks */
  struct tb_run *next;
} tb_run;

/* Records read but not kept, by kind: the store's counters
 * observe.tensorboard.skipped.<kind>. */
#define MAX_SKIP_KINDS 32
typedef struct skip_count {
  char kind[40];  /* "graph", "pr_curves", "too_large", ... */
  uint64_t count; /* records */
} skip_count;

typedef struct tb_file {
  char *path;            /* absolute path (owned) */
  char *run;             /* run directory relative to the log dir (owned) */
  tb_run *r;             /* its run */
  mida_id_t task;        /* the run's task */
  int64_t size;          /* bytes at the last look */
  int64_t pending_at;    /* offset of a record not whole yet, or -1 */
  int64_t pending_since; /* since when (ns since the epoch) */
  int noted_pending;     /* the wait for it was noted */
  int64_t offset;        /* bytes consumed */
  int announced;         /* task record appended in this process */
  int warned;            /* a warning about this file was given */
  int seen;              /* found in the current scan */
  int in_bad_region;     /* scanning for a good header after a bad one */
  int64_t first_wall_ns; /* first event's wall time, for the task start */
  int begun_since;       /* the file began at or after the options'
                            parent_since_ns (its first event, read here,
                            is that recent) */
  struct tb_file *next;
} tb_file;

typedef struct observer {
  mida_session_t *s;
  const mida__obs_opts *opts;
  mida__obs_stats *st;
  char *logdir;       /* absolute, without a trailing slash (owned) */
  mida_id_t workflow; /* the log directory's workflow */
  int workflow_announced;
  tb_file *files; /* every file followed */
  size_t nfiles;
  uint8_t *buf; /* read buffer */
  size_t bufcap;
  int inotify_fd; /* -1 without inotify */
  /* Per read of one file: what goes into the task's JSON columns. */
  last_value *last;
  size_t nlast, caplast;
  mida__buf used;   /* hparams, as JSON members */
  mida__buf custom; /* text values, as JSON members */
  tb_file *cur;     /* the file being read */
  int64_t record_at; /* offset of the record being decoded */
  unsigned value_index; /* the value's place in its event */
  int rc;           /* first error from a callback */
  tb_run *runs;     /* every run seen */
  skip_count skipped[MAX_SKIP_KINDS]; /* records not kept, by kind */
  size_t nskipped;  /* kinds in skipped */
  int skipped_changed; /* counts changed since the counters were put */
  int warned_too_large; /* a record too large was reported */
  int noted_interrupt;  /* said that it stops at the next safe point */
  mida__tb_item_scratch item; /* scratch of item records */
} observer;

/* ---- records ----------------------------------------------------------- */

static void rec_init(mida__rec *rec, uint16_t type) {
  memset(rec, 0, sizeof *rec);
  rec->type = type;
}

static int put(observer *o, const mida__rec *rec) {
  int rc = mida__obs_put(o->s, rec);
  if (rc == MIDA_OK)
    o->st->records++;
  return rc;
}

/* Counts one record of kind (len bytes) read and not kept. */
static void skip(observer *o, const char *kind, size_t len) {
  char name[40];
  size_t n = 0;
  /* Counter names stay plain: letters, digits, '_', '-'. */
  for (size_t i = 0; i < len && n + 1 < sizeof name; i++) {
    char c = kind[i];
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '-';
    name[n++] = plain ? c : '_';
  }
  name[n] = '\0';
  if (n == 0)
    memcpy(name, "other", 6);
  size_t i = 0;
  while (i < o->nskipped && strcmp(o->skipped[i].kind, name) != 0)
    i++;
  if (i == o->nskipped && o->nskipped == MAX_SKIP_KINDS)
    i = MAX_SKIP_KINDS - 1; /* the last slot gathers the rest */
  if (i == o->nskipped) {
    memcpy(o->skipped[i].kind, name, n + 1);
    o->nskipped++;
  }
  o->skipped[i].count++;
  o->skipped_changed = 1;
  o->st->skipped++;
}

/* Appends a record of the run; one that the journal cannot take (a 1 MB
 * tag) is skipped, counted and reported once, and reading goes on. */
/* Counts something too large to keep (a record for the journal, a value
 * for a JSON column) and says so once. */
static void too_large(observer *o, const char *what) {
  skip(o, "too_large", 9);
  if (!o->warned_too_large)
    mida__obs_log(o->opts, MIDA_OBS_WARN,
                  "%s: %s larger than the journal takes (skipped and "
                  "counted as observe.tensorboard.skipped.too_large; further "
                  "ones are counted without a warning)",
                  o->cur != NULL ? o->cur->path : o->logdir, what);
  o->warned_too_large = 1;
}

static int put_or_skip(observer *o, const mida__rec *rec) {
  int rc = put(o, rec);
  if (rc != MIDA_ETOOBIG)
    return rc;
  too_large(o, "a record");
  return MIDA_OK;
}

static int announce_workflow(observer *o, int64_t started) {
  if (o->workflow_announced)
    return MIDA_OK;
  mida__rec rec;
  if (!mida_id_is_nil(mida__session_campaign(o->s))) {
    rec_init(&rec, MIDA_REC_CAMPAIGN);
    mida__rec_set_id(&rec, MIDA_F_ID, mida__session_campaign(o->s));
    const char *name = mida__session_campaign_name(o->s);
    if (name != NULL)
      mida__rec_set_str(&rec, MIDA_F_NAME, name, (size_t)-1);
    int rc = put(o, &rec);
    if (rc != MIDA_OK)
      return rc;
  }
  rec_init(&rec, MIDA_REC_WORKFLOW);
  mida__rec_set_id(&rec, MIDA_F_ID, &o->workflow);
  const char *base = strrchr(o->logdir, '/');
  base = (base != NULL && base[1] != '\0') ? base + 1 : o->logdir;
  mida__rec_set_str(&rec, MIDA_F_NAME, base, (size_t)-1);
  mida__rec_set_str(&rec, MIDA_F_SOURCE, SOURCE, (size_t)-1);
  mida__rec_set_str(&rec, MIDA_F_SOURCE_KEY, o->logdir, (size_t)-1);
  if (!mida_id_is_nil(mida__session_campaign(o->s)))
    mida__rec_set_id(&rec, MIDA_F_CAMPAIGN, mida__session_campaign(o->s));
  if (started > 0)
    mida__rec_set_i64(&rec, MIDA_F_STARTED, started);
  mida__rec_set_i64(&rec, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  int rc = put(o, &rec);
  if (rc == MIDA_OK)
    o->workflow_announced = 1;
  return rc;
}

/* Appends the run's task record, with the JSON columns gathered so far. */
static int put_task(observer *o, tb_file *f, const char *used,
                    const char *generated, const char *custom) {
  mida__rec rec;
  rec_init(&rec, MIDA_REC_TASK);
  mida__rec_set_id(&rec, MIDA_F_ID, &f->task);
  mida__rec_set_id(&rec, MIDA_F_WORKFLOW, &o->workflow);
  if (!mida_id_is_nil(mida__session_campaign(o->s)))
    mida__rec_set_id(&rec, MIDA_F_CAMPAIGN, mida__session_campaign(o->s));
  /* The session's parent task (a `mida run` command) claims only the runs
   * begun since parent_since_ns, when that is set. */
  if ((o->opts->parent_since_ns == 0 || f->begun_since) &&
      !mida_id_is_nil(mida__session_parent_task(o->s)))
    mida__rec_set_id(&rec, MIDA_F_PARENT, mida__session_parent_task(o->s));
  mida__rec_set_str(&rec, MIDA_F_ACTIVITY, f->run, (size_t)-1);
  mida__rec_set_str(&rec, MIDA_F_SOURCE_KEY, f->run, (size_t)-1);
  mida__rec_set_i64(&rec, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  if (f->first_wall_ns > 0)
    mida__rec_set_i64(&rec, MIDA_F_STARTED, f->first_wall_ns);
  if (used != NULL)
    mida__rec_set_str(&rec, MIDA_F_USED, used, (size_t)-1);
  if (generated != NULL)
    mida__rec_set_str(&rec, MIDA_F_GENERATED, generated, (size_t)-1);
  if (custom != NULL)
    mida__rec_set_str(&rec, MIDA_F_CUSTOM, custom, (size_t)-1);
  return put_or_skip(o, &rec);
}

/* ---- one event's values ------------------------------------------------ */

static int remember_last(observer *o, const char *tag, size_t len, double v) {
  if (len > MAX_JSON / 4) {
    too_large(o, "a tag"); /* its point is kept, not its last value */
    return MIDA_OK;
  }
  for (size_t i = 0; i < o->nlast; i++) {
    if (strlen(o->last[i].tag) == len &&
        memcmp(o->last[i].tag, tag, len) == 0) {
      o->last[i].value = v;
      return MIDA_OK;
    }
  }
  if (o->nlast == o->caplast) {
    size_t cap = o->caplast ? 2 * o->caplast : 16;
    last_value *grown = mida__realloc(o->last, cap * sizeof *grown);
    if (grown == NULL)
      return MIDA_ENOMEM;
    o->last = grown;
    o->caplast = cap;
  }
  char *copy = mida__malloc(len + 1);
  if (copy == NULL)
    return MIDA_ENOMEM;
  memcpy(copy, tag, len);
  copy[len] = '\0';
  o->last[o->nlast].tag = copy;
  o->last[o->nlast].value = v;
  o->nlast++;
  return MIDA_OK;
}

/* "tag": value, into b. */
static int member_json(mida__buf *b, const char *tag, size_t tag_len,
                       const mida__tb_value *v) {
  int rc = mida__json_add_string(b, tag, tag_len);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ":");
  if (rc != MIDA_OK)
    return rc;
  switch (v->kind) {
  case MIDA_TB_HPARAM_BOOL:
    return mida__buf_adds(b, v->number != 0 ? "true" : "false");
  case MIDA_TB_HPARAM_NUMBER:
    return mida__json_add_double(b, v->number);
  default:
    return mida__json_add_string(b, v->text != NULL ? v->text : "",
                                 v->text_len);
  }
}

/* Adds "tag": value to a JSON member list (without braces) when the list
 * stays within MAX_JSON; one that would not is counted and left out (the
 * list itself is kept). */
static int add_member(observer *o, mida__buf *list, const char *tag,
                      size_t tag_len, const mida__tb_value *v) {
  mida__buf one;
  mida__buf_init(&one, MAX_JSON);
  int rc = member_json(&one, tag, tag_len, v);
  if (rc == MIDA_OK && list->len + one.len + 3 > MAX_JSON)
    rc = MIDA_ETOOBIG;
  if (rc == MIDA_OK && list->len > 0)
    rc = mida__buf_adds(list, ",");
  if (rc == MIDA_OK)
    rc = mida__buf_add(list, one.ptr, one.len);
  mida__buf_free(&one);
  if (rc == MIDA_ETOOBIG) {
    too_large(o, "a value");
    rc = MIDA_OK;
  }
  return rc;
}


/* A histogram, image, audio clip or text as a data item (tb_items.h). */
static int put_item(observer *o, tb_file *f, const mida__tb_event *ev,
                    const mida__tb_value *v) {
  /* on_value counted this value already: its index is one less. */
  mida__tb_origin at = {f->path, o->record_at, o->value_index - 1, &f->task};
  mida__rec rec;
  int rc = mida__tb_item_record(ev, v, &at, &o->item, &rec);
  if (rc == MIDA_ETOOBIG) { /* metadata over its cap */
    skip(o, "too_large", 9);
    return MIDA_OK;
  }
  uint64_t skipped = o->st->skipped;
  if (rc == MIDA_OK)
    rc = put_or_skip(o, &rec);
  if (rc == MIDA_OK && skipped == o->st->skipped)
    o->st->items++;
  return rc;
}

static int on_value(void *ctx, const mida__tb_event *ev,
                    const mida__tb_value *v) {
  observer *o = ctx;
  tb_file *f = o->cur;
  o->value_index++;
  int64_t ts = (int64_t)llround(ev->wall_time * 1e9);
  int rc = MIDA_OK;
  switch (v->kind) {
  case MIDA_TB_SCALAR: {
    if (v->tag_len == 0)
      return MIDA_OK;
    mida__rec rec;
    rec_init(&rec, MIDA_REC_METRIC);
    mida__rec_set_id(&rec, MIDA_F_TASK, &f->task);
    mida__rec_set_str(&rec, MIDA_F_KEY, v->tag, v->tag_len);
    mida__rec_set_i64(&rec, MIDA_F_STEP, ev->step);
    mida__rec_set_i64(&rec, MIDA_F_TS, ts);
    mida__rec_set_f64(&rec, MIDA_F_VALUE, v->number);
    uint64_t skipped = o->st->skipped;
    rc = put_or_skip(o, &rec);
    if (rc == MIDA_OK && skipped == o->st->skipped) {
      o->st->metrics++;
      rc = remember_last(o, v->tag, v->tag_len, v->number);
    }
    break;
  }
  case MIDA_TB_HPARAM_NUMBER:
  case MIDA_TB_HPARAM_STRING:
  case MIDA_TB_HPARAM_BOOL:
    rc = add_member(o, &o->used, v->tag, v->tag_len, v);
    break;
  case MIDA_TB_TEXT: /* the last value in custom, every value an item */
    rc = add_member(o, &o->custom, v->tag, v->tag_len, v);
    if (rc == MIDA_OK)
      rc = put_item(o, f, ev, v);
    break;
  case MIDA_TB_HISTOGRAM:
  case MIDA_TB_IMAGE:
  case MIDA_TB_AUDIO:
    rc = put_item(o, f, ev, v);
    break;
  case MIDA_TB_OTHER:
    skip(o, v->other, v->other_len);
    break;
  default:
    break;
  }
  if (rc != MIDA_OK)
    o->rc = rc;
  return rc;
}

/* ---- reading one file -------------------------------------------------- */

static void warn_file(observer *o, tb_file *f, const char *what) {
  if (f->warned)
    return;
  f->warned = 1;
  mida__obs_log(o->opts, MIDA_OBS_WARN,
                "%s: %s (skipped and counted; further problems in this "
                "file are counted without a warning)",
                f->path, what);
}

static int grow_buf(observer *o, size_t need) {
  if (need <= o->bufcap)
    return MIDA_OK;
  size_t cap = o->bufcap ? o->bufcap : READ_CHUNK;
  while (cap < need)
    cap *= 2;
  uint8_t *b = mida__realloc(o->buf, cap);
  if (b == NULL)
    return MIDA_ENOMEM;
  o->buf = b;
  o->bufcap = cap;
  return MIDA_OK;
}

/* Turns the values gathered during a read into the task's JSON columns. */
static int flush_task_json(observer *o, tb_file *f) {
  if (o->nlast == 0 && o->used.len == 0 && o->custom.len == 0)
    return MIDA_OK;
  mida__buf gen, used, custom;
  mida__buf_init(&gen, MAX_JSON);
  mida__buf_init(&used, MAX_JSON);
  mida__buf_init(&custom, MAX_JSON);
  int rc = MIDA_OK;
  if (o->nlast > 0) {
    rc = mida__buf_adds(&gen, "{");
    for (size_t i = 0; rc == MIDA_OK && i < o->nlast; i++) {
      if (i > 0)
        rc = mida__buf_adds(&gen, ",");
      if (rc == MIDA_OK)
        rc =
            mida__json_add_string(&gen, o->last[i].tag, strlen(o->last[i].tag));
      if (rc == MIDA_OK)
        rc = mida__buf_adds(&gen, ":");
      if (rc == MIDA_OK)
        rc = mida__json_add_double(&gen, o->last[i].value);
    }
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&gen, "}");
    if (rc == MIDA_ETOOBIG) { /* the last values of many long tags */
      too_large(o, "the last values");
      rc = MIDA_OK;
    }
  }
  if (rc == MIDA_OK && o->used.len > 0)
    rc = mida__buf_printf(&used, "{%s}", o->used.ptr);
  if (rc == MIDA_OK && o->custom.len > 0)
    rc = mida__buf_printf(&custom, "{%s}", o->custom.ptr);
  if (rc == MIDA_OK)
    rc = put_task(o, f, used.len ? used.ptr : NULL, gen.len ? gen.ptr : NULL,
                  custom.len ? custom.ptr : NULL);
  mida__buf_free(&gen);
  mida__buf_free(&used);
  mida__buf_free(&custom);
  for (size_t i = 0; i < o->nlast; i++)
    mida__free(o->last[i].tag);
  o->nlast = 0;
  mida__buf_reset(&o->used);
  mida__buf_reset(&o->custom);
  return rc;
}

static int put_counters(observer *o) {
  int rc = mida_counter(o->s, "observe.tensorboard.bad_records",
                        (int64_t)o->st->bad_records);
  if (rc == MIDA_OK)
    rc = mida_counter(o->s, "observe.tensorboard.bad_bytes",
                      (int64_t)o->st->bad_bytes);
  if (rc == MIDA_OK)
    rc = mida_counter(o->s, "observe.tensorboard.bad_events",
                      (int64_t)o->st->bad_events);
  char name[80];
  for (size_t i = 0; rc == MIDA_OK && i < o->nskipped; i++) {
    snprintf(name, sizeof name, "observe.tensorboard.skipped.%s",
             o->skipped[i].kind);
    rc = mida_counter(o->s, name, (int64_t)o->skipped[i].count);
  }
  if (rc == MIDA_OK)
    o->skipped_changed = 0;
  return rc;
}

/* The Event's own fields that are not kept, counted by kind. */
static void skip_event_fields(observer *o, unsigned fields) {
  static const struct {
    unsigned flag;
    const char *kind;
  } names[] = {{MIDA_TB_EV_GRAPH, "graph"},
               {MIDA_TB_EV_META_GRAPH, "meta_graph"},
               {MIDA_TB_EV_RUN_METADATA, "run_metadata"},
               {MIDA_TB_EV_LOG_MESSAGE, "log_message"},
               {MIDA_TB_EV_SESSION_LOG, "session_log"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (fields & names[i].flag)
      skip(o, names[i].kind, strlen(names[i].kind));
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How long a record that is not whole is waited for before a note says
 * so (a writer flushes at least every 120 s by default). */
#define PENDING_NOTE_NS (30 * INT64_C(1000000000))

/* Reads f from its offset to the end, or to the start of a record that is
 * not complete yet. With final, the writer is gone (its run has ended): a
 * record the file does not hold whole never will be, so it is skipped and
 * counted, and what follows it is read. */
static int read_file(observer *o, tb_file *f, int final) {
  int fd = open(f->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) {
      o->st->errors++;
      warn_file(o, f, strerror(errno));
    }
    return MIDA_OK; /* gone or unreadable: try again next pass */
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    close(fd);
    return MIDA_OK;
  }
  if (sb.st_size < f->offset) {
    mida__obs_log(o->opts, MIDA_OBS_WARN,
                  "%s: the file shrank below the offset read (%" PRId64
                  " bytes); reading it again from the start",
                  f->path, f->offset);
    f->offset = 0;
  }
  int64_t mtime = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
  if ((int64_t)sb.st_size != f->size || mtime > f->r->last_change_ns) {
    /* It grew: its run goes on (or again). */
    if (mtime > f->r->last_change_ns)
      f->r->last_change_ns = mtime;
    f->r->ended = 0;
    f->size = (int64_t)sb.st_size;
  }
  int64_t start_offset = f->offset;
  uint64_t bad_before =
      o->st->bad_records + o->st->bad_events + o->st->bad_bytes;
  int rc = MIDA_OK;
  o->cur = f;
  o->rc = MIDA_OK;
  while (rc == MIDA_OK && f->offset < (int64_t)sb.st_size) {
    size_t want = (size_t)((int64_t)sb.st_size - f->offset);
    if (want > o->bufcap)
      want = o->bufcap;
    ssize_t got = pread(fd, o->buf, want, (off_t)f->offset);
    if (got <= 0) {
      if (got < 0) {
        o->st->errors++;
        warn_file(o, f, strerror(errno));
      }
      break;
    }
    size_t pos = 0;
    int need_more = 0, grew = 0;
    while (rc == MIDA_OK && pos < (size_t)got) {
      mida__tfr_frame fr;
      mida__tfr_status fs =
          mida__tfr_next(o->buf + pos, (size_t)got - pos, MAX_RECORD, &fr);
      if (fs == MIDA_TFR_PARTIAL) {
        int64_t left = (int64_t)sb.st_size - (f->offset + (int64_t)pos);
        if (final && (int64_t)fr.needed > left) {
          /* The writer is gone: the record will never be whole. Skip its
           * header and look for the next good one. */
          if (fr.needed > MIDA_TFR_HEADER) {
            o->st->bad_records++;
            warn_file(o, f, "a record longer than what the file holds "
                            "after its writer ended");
            pos += MIDA_TFR_HEADER;
            f->in_bad_region = 1;
          } else {
            o->st->bad_bytes += (uint64_t)left;
            pos += (size_t)left;
          }
          continue;
        }
        if (pos == 0 && fr.needed > o->bufcap && (int64_t)fr.needed <= left) {
          rc = grow_buf(o, fr.needed);
          grew = 1;
        }
        need_more = 1;
        break;
      }
      if (fs == MIDA_TFR_BAD_HEADER) {
        o->st->bad_bytes++;
        if (!f->in_bad_region) {
          f->in_bad_region = 1;
          warn_file(o, f, "bad record header (length checksum)");
        }
        pos += fr.consumed;
        continue;
      }
      f->in_bad_region = 0;
      if (fs == MIDA_TFR_BAD_DATA) {
        o->st->bad_records++;
        warn_file(o, f, "record with a bad data checksum");
        pos += fr.consumed;
        continue;
      }
      mida__tb_event ev;
      o->record_at = f->offset + (int64_t)pos;
      o->value_index = 0;
      int drc = mida__tb_event_decode(fr.data, fr.data_len, &ev, on_value, o);
      if (drc == MIDA_ECORRUPT) {
        o->st->bad_events++;
        warn_file(o, f, "record that is not a valid Event");
      } else if (drc != MIDA_OK) {
        rc = o->rc != MIDA_OK ? o->rc : drc;
        break;
      } else {
        int64_t wall = (int64_t)llround(ev.wall_time * 1e9);
        if (f->first_wall_ns == 0 && ev.wall_time > 0) {
          f->first_wall_ns = wall;
          /* The file's first event: when the writer opened it (event times
           * are seconds as doubles: allow a millisecond for rounding). */
          if (f->offset == 0 && pos == 0 &&
              wall >= o->opts->parent_since_ns - 1000000)
            f->begun_since = 1;
        }
        if (wall > f->r->last_wall_ns)
          f->r->last_wall_ns = wall;
        skip_event_fields(o, ev.fields);
      }
      pos += fr.consumed;
    }
    f->offset += (int64_t)pos;
    if (need_more && !(pos > 0 || grew))
      break; /* the rest is not written yet */
    /* Asked to stop (Ctrl-C): what this chunk held is read; the cursor
     * below covers it, and the next start reads on from there. */
    if (rc == MIDA_OK && !final &&
        mida__obs_interrupted(o->opts, &o->noted_interrupt))
      break;
  }
  close(fd);
  if (rc != MIDA_OK)
    return rc;
  /* A record that stays incomplete is waited for, and said so once. */
  if (f->offset < (int64_t)sb.st_size) {
    int64_t now = now_ns();
    if (f->pending_at != f->offset) {
      f->pending_at = f->offset;
      f->pending_since = now;
      f->noted_pending = 0;
    } else if (!f->noted_pending && now - f->pending_since > PENDING_NOTE_NS) {
      f->noted_pending = 1;
      mida__obs_log(o->opts, MIDA_OBS_INFO,
                    "%s: waiting for the rest of the record at offset "
                    "%" PRId64 " (%" PRId64 " bytes there so far); it is "
                    "skipped and counted if the run ends first",
                    f->path, f->offset, (int64_t)sb.st_size - f->offset);
    }
  } else {
    f->pending_at = -1;
  }
  if (!f->announced || o->nlast > 0 || o->used.len > 0 || o->custom.len > 0) {
    rc = announce_workflow(o, f->first_wall_ns);
    if (rc == MIDA_OK && !f->announced) {
      rc = put_task(o, f, NULL, NULL, NULL);
      if (rc == MIDA_OK) {
        f->announced = 1;
        /* A run of several files (a writer restarted) is one task. */
        if (!f->r->counted)
          o->st->tasks++;
        f->r->counted = 1;
      }
    }
    if (rc == MIDA_OK)
      rc = flush_task_json(o, f);
  }
  if (rc == MIDA_OK && f->offset != start_offset) {
    char pos[32];
    snprintf(pos, sizeof pos, "%" PRId64, f->offset);
    rc = mida__obs_put_cursor(o->s, SOURCE, f->path, pos);
    if (rc == MIDA_OK)
      o->st->records++;
  }
  if (rc == MIDA_OK &&
      (o->st->bad_records + o->st->bad_events + o->st->bad_bytes !=
           bad_before ||
       o->skipped_changed))
    rc = put_counters(o);
  return rc;
}

/* ---- finding files ----------------------------------------------------- */

static tb_file *find_file(observer *o, const char *path) {
  for (tb_file *f = o->files; f != NULL; f = f->next)
    if (strcmp(f->path, path) == 0)
      return f;
  return NULL;
}

static tb_run *find_run(observer *o, const char *run) {
  for (tb_run *r = o->runs; r != NULL; r = r->next)
    if (strcmp(r->run, run) == 0)
      return r;
  return NULL;
}

static int add_file(observer *o, const char *path) {
  tb_file *f = find_file(o, path);
  if (f != NULL) {
    f->seen = 1;
    return MIDA_OK;
  }
  if (o->nfiles >= MAX_FILES)
    return MIDA_OK;
  f = mida__calloc(1, sizeof *f);
  if (f == NULL)
    return MIDA_ENOMEM;
  f->path = mida__strdup(path);
  size_t root = strlen(o->logdir);
  const char *rel = path + root + 1;
  const char *slash = strrchr(rel, '/');
  size_t runlen = slash != NULL ? (size_t)(slash - rel) : 0;
  f->run = mida__malloc(runlen > 0 ? runlen + 1 : 2);
  if (f->path == NULL || f->run == NULL) {
    mida__free(f->path);
    mida__free(f->run);
    mida__free(f);
    return MIDA_ENOMEM;
  }
  if (runlen > 0) {
    memcpy(f->run, rel, runlen);
    f->run[runlen] = '\0';
  } else {
    memcpy(f->run, ".", 2);
  }
  mida__buf key;
  mida__buf_init(&key, PATH_MAX * 2);
  if (mida__buf_printf(&key, "%s/%s", o->logdir, f->run) == MIDA_OK)
    f->task = mida_id_from_name("tensorboard-run", key.ptr);
  mida__buf_free(&key);
  f->r = find_run(o, f->run);
  if (f->r == NULL) {
    f->r = mida__calloc(1, sizeof *f->r);
    if (f->r != NULL)
      f->r->run = mida__strdup(f->run);
    if (f->r == NULL || f->r->run == NULL) {
      if (f->r != NULL)
        mida__free(f->r);
      mida__free(f->path);
      mida__free(f->run);
      mida__free(f);
      return MIDA_ENOMEM;
    }
    f->r->task = f->task;
    f->r->next = o->runs;
    o->runs = f->r;
  }
  f->pending_at = -1;
  f->size = -1;
  f->seen = 1;
  /* Keep the list sorted by path, so a run's files are read oldest first
   * (their names start with the writer's start time). */
  tb_file **at = &o->files;
  while (*at != NULL && strcmp((*at)->path, path) < 0)
    at = &(*at)->next;
  f->next = *at;
  *at = f;
  o->nfiles++;
  o->st->files++;
  return MIDA_OK;
}

static int scan_dir(observer *o, const char *dir, int depth) {
  if (depth > MAX_DEPTH)
    return MIDA_OK;
  if (o->inotify_fd >= 0)
    (void)inotify_add_watch(o->inotify_fd, dir,
                            IN_MODIFY | IN_CREATE | IN_MOVED_TO |
                                IN_CLOSE_WRITE);
  DIR *d = opendir(dir);
  if (d == NULL)
    return MIDA_OK; /* vanished or unreadable: nothing to follow there */
  int rc = MIDA_OK;
  mida__buf path;
  mida__buf_init(&path, PATH_MAX * 2);
  struct dirent *e;
  while (rc == MIDA_OK && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' &&
        (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
      continue;
    mida__buf_reset(&path);
    if (mida__buf_printf(&path, "%s/%s", dir, e->d_name) != MIDA_OK)
      continue;
    struct stat sb;
    if (lstat(path.ptr, &sb) != 0)
      continue;
    if (S_ISDIR(sb.st_mode))
      rc = scan_dir(o, path.ptr, depth + 1);
    else if (S_ISREG(sb.st_mode) && strstr(e->d_name, "tfevents") != NULL)
      rc = add_file(o, path.ptr);
  }
  mida__buf_free(&path);
  closedir(d);
  return rc;
}

/* ---- cursors ----------------------------------------------------------- */

static int restore_cursor(void *ctx, const char *key, const char *position) {
  observer *o = ctx;
  size_t root = strlen(o->logdir);
  if (strncmp(key, o->logdir, root) != 0 || key[root] != '/')
    return 0;
  char *end = NULL;
  errno = 0;
  long long off = strtoll(position, &end, 10);
  if (errno != 0 || end == position || *end != '\0' || off < 0)
    return 0;
  int rc = add_file(o, key);
  if (rc != MIDA_OK)
    return rc;
  tb_file *f = find_file(o, key);
  if (f != NULL)
    f->offset = off;
  return 0;
}

/* ---- the loop ---------------------------------------------------------- */

/* Ends run r: what its files hold is read to the end (a record left
 * incomplete is skipped), then its task is FINISHED, ended at its last
 * event. */
static int end_run(observer *o, tb_run *r) {
  int rc = MIDA_OK;
  for (tb_file *f = o->files; rc == MIDA_OK && f != NULL; f = f->next)
    if (f->r == r && f->seen && f->offset < f->size)
      rc = read_file(o, f, 1);
  if (rc != MIDA_OK)
    return rc;
  mida__rec rec;
  rec_init(&rec, MIDA_REC_TASK);
  mida__rec_set_id(&rec, MIDA_F_ID, &r->task);
  mida__rec_set_i64(&rec, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
  int64_t ended = r->last_wall_ns > 0 ? r->last_wall_ns : r->last_change_ns;
  if (ended > 0)
    mida__rec_set_i64(&rec, MIDA_F_ENDED, ended);
  rc = put(o, &rec);
  if (rc == MIDA_OK) {
    r->ended = 1;
    o->st->ended++;
  }
  return rc;
}

/* Whether a file of run r holds more than was read of it at the last look
 * (its size then). */
static int run_unread(const observer *o, const tb_run *r) {
  for (const tb_file *f = o->files; f != NULL; f = f->next)
    if (f->r == r && f->seen && f->offset < f->size)
      return 1;
  return 0;
}

/* Ends the runs whose files have not changed for end_after_s (all of them
 * with all: the observer stops beside a command that has exited), then the
 * log directory's workflow when every run has ended. */
static int end_runs(observer *o, int all) {
  int64_t now = now_ns();
  int64_t idle = (int64_t)o->opts->end_after_s * 1000000000;
  int rc = MIDA_OK, any = 0, open_runs = 0, ended_now = 0;
  int64_t last = 0;
  for (tb_run *r = o->runs; rc == MIDA_OK && r != NULL; r = r->next) {
    if (r->last_change_ns == 0)
      continue; /* a cursor of a file not seen (yet) */
    any = 1;
    /* Asked to stop at once, a run is ended only if nothing of it is left
     * to read: reading the rest is what the next start does. */
    if (!r->ended && (all || (idle > 0 && now - r->last_change_ns >= idle)) &&
        !(mida__obs_interrupted(o->opts, &o->noted_interrupt) &&
          run_unread(o, r))) {
      rc = end_run(o, r);
      ended_now = 1;
    }
    if (!r->ended)
      open_runs = 1;
    if (r->last_wall_ns > last)
      last = r->last_wall_ns;
  }
  if (rc != MIDA_OK || !any || open_runs || !ended_now)
    return rc;
  mida__rec rec;
  rec_init(&rec, MIDA_REC_WORKFLOW);
  mida__rec_set_id(&rec, MIDA_F_ID, &o->workflow);
  mida__rec_set_i64(&rec, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
  if (last > 0)
    mida__rec_set_i64(&rec, MIDA_F_ENDED, last);
  rc = put(o, &rec);
  if (rc == MIDA_OK && o->skipped_changed)
    rc = put_counters(o);
  return rc;
}

static int one_pass(observer *o, int stopping) {
  for (tb_file *f = o->files; f != NULL; f = f->next)
    f->seen = 0;
  int rc = scan_dir(o, o->logdir, 0);
  for (tb_file *f = o->files; rc == MIDA_OK && f != NULL; f = f->next) {
    if (f->seen)
      rc = read_file(o, f, 0);
    if (mida__obs_interrupted(o->opts, &o->noted_interrupt))
      break; /* the other files at the next start */
  }
  if (rc == MIDA_OK)
    rc = end_runs(o, stopping && o->opts->end_at_stop);
  o->st->passes++;
  return rc;
}

static void observer_free(observer *o) {
  tb_run *r = o->runs;
  while (r != NULL) {
    tb_run *next = r->next;
    mida__free(r->run);
    mida__free(r);
    r = next;
  }
  mida__tb_item_scratch_free(&o->item);
  tb_file *f = o->files;
  while (f != NULL) {
    tb_file *next = f->next;
    mida__free(f->path);
    mida__free(f->run);
    mida__free(f);
    f = next;
  }
  for (size_t i = 0; i < o->nlast; i++)
    mida__free(o->last[i].tag);
  mida__free(o->last);
  mida__free(o->buf);
  mida__free(o->logdir);
  mida__buf_free(&o->used);
  mida__buf_free(&o->custom);
  if (o->inotify_fd >= 0)
    close(o->inotify_fd);
}

/* The absolute form of path whose last component does not exist (yet),
 * from the real path of its parent. Returns 0, or -1 if the parent does
 * not exist either or the result does not fit. */
static int absolute_missing(const char *path, char *out, size_t cap) {
  char dir[PATH_MAX], rdir[PATH_MAX];
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/')
    len--; /* "logs/" names "logs" */
  if (len == 0 || len >= sizeof dir)
    return -1;
  memcpy(dir, path, len);
  dir[len] = '\0';
  char *slash = strrchr(dir, '/');
  const char *base = slash != NULL ? slash + 1 : dir;
  char basecopy[PATH_MAX];
  snprintf(basecopy, sizeof basecopy, "%s", base);
  if (slash == dir)
    dir[1] = '\0';
  else if (slash != NULL)
    *slash = '\0';
  else
    memcpy(dir, ".", 2);
  if (basecopy[0] == '\0' || strcmp(basecopy, ".") == 0 ||
      strcmp(basecopy, "..") == 0 || realpath(dir, rdir) == NULL)
    return -1;
  size_t dl = strcmp(rdir, "/") == 0 ? 0 : strlen(rdir);
  size_t bl = strlen(basecopy);
  if (dl + 1 + bl + 1 > cap)
    return -1;
  memcpy(out, rdir, dl);
  out[dl] = '/';
  memcpy(out + dl + 1, basecopy, bl + 1);
  return 0;
}

int mida__tb_observe(mida_session_t *s, const char *logdir,
                     const mida__obs_opts *opts, mida__obs_stats *stats) {
  mida__obs_stats local;
  mida__obs_opts defaults;
  mida__obs_defaults(&opts, &stats, &defaults, &local);
  if (s == NULL || logdir == NULL)
    return MIDA_EINVAL;
  char abs[PATH_MAX];
  struct stat sb;
  int waiting = 0; /* the directory does not exist yet */
  if (realpath(logdir, abs) == NULL) {
    /* A long-running observer may start before the training creates its
     * log directory (mida run starts it first): the parent must exist. */
    if (opts->once || absolute_missing(logdir, abs, sizeof abs) != 0)
      return mida__set_error(MIDA_ENOTFOUND, "%s: not a directory", logdir);
    waiting = 1;
  } else if (stat(abs, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    return mida__set_error(MIDA_ENOTFOUND, "%s: not a directory", logdir);
  }
  observer o;
  memset(&o, 0, sizeof o);
  o.s = s;
  o.opts = opts;
  o.st = stats;
  o.logdir = mida__strdup(abs);
  o.inotify_fd = -1;
  mida__buf_init(&o.used, MAX_JSON);
  mida__buf_init(&o.custom, MAX_JSON);
  mida__tb_item_scratch_init(&o.item);
  int rc = o.logdir != NULL ? grow_buf(&o, READ_CHUNK) : MIDA_ENOMEM;
  if (rc != MIDA_OK) {
    observer_free(&o);
    return rc;
  }
  o.workflow = mida_id_from_name("tensorboard-logdir", o.logdir);
  if (!opts->once) {
    o.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (o.inotify_fd < 0)
      mida__obs_log(
          opts, MIDA_OBS_WARN, "inotify unavailable (%s); polling every %u ms",
          strerror(errno), opts->poll_ms ? opts->poll_ms : DEFAULT_POLL_MS);
  }
  if (waiting)
    mida__obs_log(opts, MIDA_OBS_INFO,
                  "%s does not exist yet; waiting for it to appear", o.logdir);
  rc = mida__obs_cursors(s, SOURCE, restore_cursor, &o);
  if (rc != MIDA_OK) {
    observer_free(&o);
    return rc;
  }
  unsigned poll_ms = opts->poll_ms ? opts->poll_ms : DEFAULT_POLL_MS;
  /* Asked to drain, one last pass reads what was written meanwhile (mida
   * run stops the observer right after the training exits); asked to stop
   * at once, the pass under way stops at its next safe point, and between
   * passes the loop stops there. */
  int stopping = 0;
  for (;;) {
    rc = one_pass(&o, stopping);
    if (rc != MIDA_OK || opts->once || stopping)
      break;
    if (!mida__obs_asked(opts, MIDA_OBS_DRAIN))
      mida__obs_wait(o.inotify_fd, poll_ms);
    if (mida__obs_interrupted(opts, &o.noted_interrupt)) {
      /* Runs that stop with the observer end, as far as it has read. */
      if (opts->end_at_stop)
        rc = end_runs(&o, 1);
      break;
    }
    if (mida__obs_asked(opts, MIDA_OBS_DRAIN))
      stopping = 1;
  }
  observer_free(&o);
  return rc;
}

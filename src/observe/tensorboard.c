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
#include "observe/tbproto.h"
#include "observe/tfrecord.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
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

typedef struct tb_file {
  char *path;            /* absolute path (owned) */
  char *run;             /* run directory relative to the log dir (owned) */
  mida_id_t task;        /* the run's task */
  int64_t offset;        /* bytes consumed */
  int announced;         /* task record appended in this process */
  int warned;            /* a warning about this file was given */
  int seen;              /* found in the current scan */
  int in_bad_region;     /* scanning for a good header after a bad one */
  int64_t first_wall_ns; /* first event's wall time, for the task start */
  int begun_since;       /* the file began after the observer started (its
                            first event, read here, is that recent) */
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
  int64_t started_ns; /* when it started, ns since the epoch */
  /* Per read of one file: what goes into the task's JSON columns. */
  last_value *last;
  size_t nlast, caplast;
  mida__buf used;   /* hparams, as JSON members */
  mida__buf custom; /* text values, as JSON members */
  tb_file *cur;     /* the file being read */
  int rc;           /* first error from a callback */
} observer;

/* ---- records ----------------------------------------------------------- */

static void rec_init(mida__rec *rec, uint16_t type) {
  memset(rec, 0, sizeof *rec);
  rec->type = type;
}

static int put(observer *o, const mida__rec *rec) {
  int rc = mida__session_put(o->s, rec);
  if (rc == MIDA_OK)
    o->st->records++;
  return rc;
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
  /* The observer's parent task (the `mida run` command) claims only the
   * runs that began after it started, not those of earlier commands. */
  if (f->begun_since && !mida_id_is_nil(mida__session_parent_task(o->s)))
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
  return put(o, &rec);
}

/* ---- one event's values ------------------------------------------------ */

static int remember_last(observer *o, const char *tag, size_t len, double v) {
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

/* Adds "tag": value to a JSON member list (without braces). */
static int add_member(mida__buf *b, const char *tag, size_t tag_len,
                      const mida__tb_value *v) {
  int rc = b->len > 0 ? mida__buf_adds(b, ",") : MIDA_OK;
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, tag, tag_len);
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

static int on_value(void *ctx, const mida__tb_event *ev,
                    const mida__tb_value *v) {
  observer *o = ctx;
  tb_file *f = o->cur;
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
    rc = put(o, &rec);
    if (rc == MIDA_OK) {
      o->st->metrics++;
      rc = remember_last(o, v->tag, v->tag_len, v->number);
    }
    break;
  }
  case MIDA_TB_HPARAM_NUMBER:
  case MIDA_TB_HPARAM_STRING:
  case MIDA_TB_HPARAM_BOOL:
    rc = add_member(&o->used, v->tag, v->tag_len, v);
    break;
  case MIDA_TB_TEXT:
    rc = add_member(&o->custom, v->tag, v->tag_len, v);
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
  return rc;
}

/* Reads f from its offset to the end, or to the start of a record that is
 * not complete yet. */
static int read_file(observer *o, tb_file *f) {
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
        if (pos == 0 && fr.needed > o->bufcap &&
            (int64_t)fr.needed <= (int64_t)sb.st_size - f->offset) {
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
      int drc = mida__tb_event_decode(fr.data, fr.data_len, &ev, on_value, o);
      if (drc == MIDA_ECORRUPT) {
        o->st->bad_events++;
        warn_file(o, f, "record that is not a valid Event");
      } else if (drc != MIDA_OK) {
        rc = o->rc != MIDA_OK ? o->rc : drc;
        break;
      } else if (f->first_wall_ns == 0 && ev.wall_time > 0) {
        f->first_wall_ns = (int64_t)llround(ev.wall_time * 1e9);
        /* The file's first event: when the writer opened it. */
        if (f->offset == 0 && pos == 0 && f->first_wall_ns >= o->started_ns)
          f->begun_since = 1;
      }
      pos += fr.consumed;
    }
    f->offset += (int64_t)pos;
    if (need_more && (pos > 0 || grew))
      continue; /* read again from the incomplete record */
    if (need_more)
      break; /* the rest is not written yet */
  }
  close(fd);
  if (rc != MIDA_OK)
    return rc;
  if (!f->announced || o->nlast > 0 || o->used.len > 0 || o->custom.len > 0) {
    rc = announce_workflow(o, f->first_wall_ns);
    if (rc == MIDA_OK && !f->announced) {
      rc = put_task(o, f, NULL, NULL, NULL);
      if (rc == MIDA_OK) {
        f->announced = 1;
        o->st->tasks++;
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
      o->st->bad_records + o->st->bad_events + o->st->bad_bytes != bad_before)
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

static int one_pass(observer *o) {
  for (tb_file *f = o->files; f != NULL; f = f->next)
    f->seen = 0;
  int rc = scan_dir(o, o->logdir, 0);
  for (tb_file *f = o->files; rc == MIDA_OK && f != NULL; f = f->next) {
    if (f->seen)
      rc = read_file(o, f);
  }
  o->st->passes++;
  return rc;
}

static void wait_for_change(observer *o, unsigned poll_ms) {
  if (o->inotify_fd < 0) {
    struct timespec ts = {poll_ms / 1000, (long)(poll_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return;
  }
  struct pollfd p = {o->inotify_fd, POLLIN, 0};
  if (poll(&p, 1, (int)poll_ms) > 0) {
    char drain[4096];
    while (read(o->inotify_fd, drain, sizeof drain) > 0) {
    }
  }
}

static void observer_free(observer *o) {
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
  /* Event times are seconds as doubles: allow for their rounding. */
  o.started_ns = mida_now_ns() - 1000000;
  mida__buf_init(&o.used, MAX_JSON);
  mida__buf_init(&o.custom, MAX_JSON);
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
  /* When asked to stop, one last pass reads what was written meanwhile
   * (mida run stops the observer right after the training exits). */
  int stopping = 0;
  for (;;) {
    rc = one_pass(&o);
    if (rc != MIDA_OK || opts->once || stopping)
      break;
    wait_for_change(&o, poll_ms);
    if (opts->stop != NULL && atomic_load(opts->stop))
      stopping = 1;
  }
  observer_free(&o);
  return rc;
}

/*
 * emit.c -- the records the preload library appends to its process's
 * journal (record format: src/core/record.h; what they mean: preload.h).
 *
 * A record is described as a short list of fields on the stack, each with
 * its length measured once as it is added (a URI's encoded length too),
 * sized by adding those up, and encoded once, straight into a frame
 * reserved in the journal: no heap memory, no copy, no second pass over the
 * strings. A file's URI and version id are those of core/fileid.h; the
 * URI is written in place the same way. The first record of
 * a process made by fork() is preceded by its task's begin, so that a
 * child that never execs still says what it is.
 */
#include "preload/preload.h"

#include "core/alloc.h"
#include "core/argv.h"
#include "core/buf.h"
#include "core/fileid.h"
#include "core/json.h"
#include "core/record.h"
#include "core/rusage.h"
#include "preload/real.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum field_kind { FK_ID, FK_I64, FK_STR, FK_URI };

/* One field of a record about to be encoded. */
typedef struct field {
  uint8_t tag;         /* MIDA_F_* */
  uint8_t kind;        /* field_kind */
  const mida_id_t *id; /* FK_ID: the id (borrowed) */
  int64_t i64;         /* FK_I64: the value */
  const char *str;     /* FK_STR: the text; FK_URI: the absolute path */
  size_t len;          /* FK_STR: strlen(str); FK_URI: its URI's length */
} field;

#define MAX_FIELDS 16

/* A record's fields, in the order they are encoded. Only the first n are
 * ever read: a record starts with n = 0 and the rest uninitialized (16
 * fields zeroed at every record cost more than the fields themselves). */
typedef struct record {
  field f[MAX_FIELDS]; /* the fields */
  int n;               /* entries used */
} record;

static void add_id(record *r, unsigned tag, const mida_id_t *id) {
  if (id != NULL && !mida_id_is_nil(id) && r->n < MAX_FIELDS)
    r->f[r->n++] = (field){(uint8_t)tag, FK_ID, id, 0, NULL, 0};
}

static void add_i64(record *r, unsigned tag, int64_t v) {
  if (r->n < MAX_FIELDS)
    r->f[r->n++] = (field){(uint8_t)tag, FK_I64, NULL, v, NULL, 0};
}

static void add_str(record *r, unsigned tag, const char *s) {
  if (s != NULL && r->n < MAX_FIELDS)
    r->f[r->n++] = (field){(uint8_t)tag, FK_STR, NULL, 0, s, strlen(s)};
}

/* A string field of known length. */
static void add_strn(record *r, unsigned tag, const char *s, size_t len) {
  if (r->n < MAX_FIELDS)
    r->f[r->n++] = (field){(uint8_t)tag, FK_STR, NULL, 0, s, len};
}

static void add_uri(record *r, const char *path) {
  if (r->n < MAX_FIELDS)
    r->f[r->n++] =
        (field){MIDA_F_URI, FK_URI, NULL, 0, path, mida__file_uri_len(path)};
}

/* The bytes r takes encoded. */
static size_t record_size(const record *r) {
  size_t n = 0;
  for (int i = 0; i < r->n; i++) {
    const field *f = &r->f[i];
    n += f->kind == FK_ID    ? mida__enc_size_id()
         : f->kind == FK_I64 ? mida__enc_size_num()
                             : mida__enc_size_str(f->len);
  }
  return n;
}

static void encode(mida__enc *e, const record *r) {
  for (int i = 0; i < r->n; i++) {
    const field *f = &r->f[i];
    switch (f->kind) {
    case FK_ID:
      mida__enc_id(e, f->tag, f->id);
      break;
    case FK_I64:
      mida__enc_i64(e, f->tag, f->i64);
      break;
    case FK_STR:
      mida__enc_str(e, f->tag, f->str, f->len);
      break;
    case FK_URI: {
      char *p = mida__enc_str_reserve(e, f->tag, f->len);
      if (p != NULL)
        mida__file_uri_write_len(p, f->str, f->len);
      break;
    }
    }
  }
}

/* Appends r as a record of type to the journal; what cannot be appended is
 * counted. Returns whether it was appended. */
static bool put_record(uint16_t type, const record *r) {
  mida__journal *j = mida__pl_journal();
  if (j == NULL) {
    mida__pl_count(MIDA_PL_C_DROPPED);
    return false;
  }
  mida__slot slot;
  if (mida__journal_reserve(j, type, record_size(r), &slot) != MIDA_OK) {
    mida__pl_count(MIDA_PL_C_DROPPED);
    return false;
  }
  mida__enc e;
  mida__enc_init(&e, slot.payload, slot.len);
  encode(&e, r);
  mida__journal_commit(j, &slot);
  return true;
}

/* The workflow, campaign and parent of a task of this process's making. */
static void add_context(record *r) {
  add_id(r, MIDA_F_WORKFLOW, &mida__pl.workflow);
  add_id(r, MIDA_F_CAMPAIGN, &mida__pl.campaign);
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL ? s + 1 : path;
}

/* {"ppid":ppid,"exe":this program's path} into custom (2048 bytes). */
static void process_custom(char *custom, size_t cap, long ppid) {
  int n = snprintf(custom, cap, "{\"ppid\":%ld%s%s}", ppid,
                   mida__pl.exe_json ? ",\"exe\":" : "",
                   mida__pl.exe_json ? mida__pl.exe_json : "");
  if (n < 0 || (size_t)n >= cap)
    snprintf(custom, cap, "{\"ppid\":%ld}", ppid);
}

void mida__pl_emit_begin(void) {
  if (mida__pl.begun)
    return;
  mida__pl.begun = 1;
  char custom[2048];
  process_custom(custom, sizeof custom, (long)getppid());
  record r;
  r.n = 0;
  add_id(&r, MIDA_F_ID, &mida__pl.task);
  add_context(&r);
  add_id(&r, MIDA_F_PARENT, &mida__pl.parent);
  add_str(&r, MIDA_F_ACTIVITY, mida__pl.activity);
  add_i64(&r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  add_i64(&r, MIDA_F_STARTED, mida__pl.started_ns);
  /* Explicit: the root task was begun by `mida run`, whose pid the store
   * would otherwise keep. */
  add_i64(&r, MIDA_F_PID, (int64_t)mida__pl.pid);
  add_str(&r, MIDA_F_USED, mida__pl.used_json);
  add_str(&r, MIDA_F_CUSTOM, custom);
  put_record(MIDA_REC_TASK, &r);
}

/* The first record of a forked child is its begin. */
static void ensure_begun(void) {
  if (!mida__pl.begun)
    mida__pl_emit_begin();
}

/* This process's resource use so far (since its fork or start, across
 * its execs; its children not included: they are tasks of their own) as
 * the telemetry JSON of its task into buf; "" for the command's first
 * process, whose use `mida run` records from wait4 (the command and what it
 * waited for), and if getrusage fails. */
static void own_usage(char *buf, size_t cap) {
  struct rusage ru;
  buf[0] = '\0';
  if (!mida__pl.is_command && getrusage(RUSAGE_SELF, &ru) == 0)
    (void)mida__rusage_json(&ru, buf, cap);
}

void mida__pl_emit_end(int code) {
  ensure_begun();
  mida__pl.exited = 1;
  char gen[48], err[48], usage[MIDA_RUSAGE_JSON_MAX];
  own_usage(usage, sizeof usage);
  snprintf(gen, sizeof gen, "{\"exit_status\":%d}", code);
  snprintf(err, sizeof err, "exit status %d", code);
  record r;
  r.n = 0;
  add_id(&r, MIDA_F_ID, &mida__pl.task);
  add_i64(&r, MIDA_F_ENDED, mida__pl_now_ns());
  add_i64(&r, MIDA_F_STATUS,
          code == 0 ? MIDA_STATUS_FINISHED : MIDA_STATUS_ERROR);
  add_str(&r, MIDA_F_GENERATED, gen);
  if (code != 0)
    add_str(&r, MIDA_F_ERROR, err);
  if (usage[0] != '\0')
    add_str(&r, MIDA_F_TELEMETRY, usage);
  put_record(MIDA_REC_TASK, &r);
  mida__pl_emit_counters();
}

/* What the own begin of a child of this process that runs this program
 * (made by fork or vfork, and never exec'd) would have said: activity,
 * argv and cwd, and custom (put into custom, cap bytes). */
static void add_this_program(record *r, char *custom, size_t cap) {
  process_custom(custom, cap, (long)mida__pl.pid);
  add_str(r, MIDA_F_ACTIVITY, mida__pl.activity);
  add_str(r, MIDA_F_USED, mida__pl.used_json);
  add_str(r, MIDA_F_CUSTOM, custom);
}

/* Appends {"argv":[...]} of argv to b, as the program's own begin has it
 * (state.c, describe_process) without the cwd. */
static int add_argv_used(mida__buf *b, char *const *argv) {
  int argc = 0;
  while (argv != NULL && argv[argc] != NULL)
    argc++;
  int rc = mida__buf_adds(b, "{\"argv\":");
  if (rc == MIDA_OK)
    rc = mida__argv_json(b, argc, argv);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  return rc;
}

char *mida__pl_argv_used(char *const *argv) {
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  int rc = add_argv_used(&b, argv);
  char *out = rc == MIDA_OK ? mida__strdup(mida__buf_str(&b)) : NULL;
  mida__buf_free(&b);
  return out;
}

void mida__pl_program_of(mida__pl_program *p, char *const *argv,
                         const char *path, char *buf, size_t cap) {
  p->activity = mida__pl_activity_of(argv, path, &p->len);
  mida__buf b;
  mida__buf_init_fixed(&b, buf, cap);
  p->used = add_argv_used(&b, argv) == MIDA_OK ? buf : NULL;
}

/* Adds what a program says it is (its activity and argv) to r. */
static void add_program(record *r, const mida__pl_program *p) {
  add_strn(r, MIDA_F_ACTIVITY, p->activity, p->len);
  add_str(r, MIDA_F_USED, p->used);
}

/* The custom document of a process that execs program path (or NULL),
 * unobserved for note: the note, and the program as its exe (the exe of
 * the image that made the exec, which its task said at its begin, is no
 * longer it), into out (cap bytes); without the exe when it does not fit.
 * Called once the journal is open (ensure_begun); never inlined, so that
 * its 4 KiB are not in its callers' frames, which stay as small as before
 * on a stack that a vfork child has used (where ASan's shadow is stale:
 * inlined into mida__pl_emit_child, the journal's opening below it read
 * as an overflow and aborted dash under the sanitized preload tests). */
__attribute__((noinline)) static int
unobserved_custom(char *out, size_t cap, const char *note, const char *path) {
  char abs[PATH_MAX];
  const char *exe = path == NULL                  ? NULL
                    : realpath(path, abs) != NULL ? abs
                    : path[0] == '/'              ? path
                                                  : NULL;
  for (int with_exe = exe != NULL;; with_exe = 0) {
    mida__buf b;
    mida__buf_init_fixed(&b, out, cap);
    int rc = mida__buf_adds(&b, "{\"not_observed\":\"");
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&b, note);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&b, ": its files were not recorded\"");
    if (rc == MIDA_OK && with_exe) {
      rc = mida__buf_adds(&b, ",\"exe\":");
      if (rc == MIDA_OK)
        rc = mida__json_add_string(&b, exe, strlen(exe));
    }
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&b, "}");
    if (rc == MIDA_OK || !with_exe)
      return rc;
  }
}

void mida__pl_emit_child(const mida_id_t *child, pid_t pid, int64_t started,
                         const char *note, const char *program,
                         const mida__pl_program *became, int this_program) {
  ensure_begun();
  char custom[2048]; /* this frame is on the stack a vfork child used */
  record r;
  r.n = 0;
  add_id(&r, MIDA_F_ID, child);
  add_context(&r);
  add_id(&r, MIDA_F_PARENT, &mida__pl.task);
  add_i64(&r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  add_i64(&r, MIDA_F_STARTED, started);
  add_i64(&r, MIDA_F_PID, (int64_t)pid);
  if (became != NULL && became->activity != NULL)
    add_program(&r, became);
  else if (this_program)
    add_this_program(&r, custom, sizeof custom);
  if (note != NULL) { /* then it exec'd: not this_program, custom free */
    if (unobserved_custom(custom, sizeof custom, note, program) == MIDA_OK)
      add_str(&r, MIDA_F_CUSTOM, custom);
  }
  put_record(MIDA_REC_TASK, &r);
}

/* The task of this process is the program p (with custom, or NULL). */
static void emit_program(const mida__pl_program *p, const char *custom) {
  record r;
  r.n = 0;
  add_id(&r, MIDA_F_ID, &mida__pl.task);
  add_program(&r, p);
  add_str(&r, MIDA_F_CUSTOM, custom);
  put_record(MIDA_REC_TASK, &r);
}

void mida__pl_emit_unobserved_exec(const char *note, const char *path,
                                   char *const *argv) {
  ensure_begun();
  char custom[2048];
  int rc = unobserved_custom(custom, sizeof custom, note, path);
  char *used = mida__pl_argv_used(argv);
  mida__pl_program p = {base_name(path), strlen(base_name(path)), used};
  emit_program(&p, rc == MIDA_OK ? custom : NULL);
  mida__free(used);
}

/* Not preceded by this image's begin: a forked child that execs at once
 * says nothing of the program it was (nor did it before). It says when
 * the process began, all the same: this may be the only record of its
 * journal, which is dead once the exec is made, and a collector pass
 * before the new program's first record marks LOST what that journal left
 * unfinished, a task with no time at all among them (its parent's record
 * of it may not have come in yet); one begun before the journal is not
 * (recovery.c, put_lost), so the task ends as it ends, not with the LOST
 * reason left in its error. */
void mida__pl_emit_exec_intent(const mida__pl_program *p) {
  record r;
  r.n = 0;
  add_id(&r, MIDA_F_ID, &mida__pl.task);
  add_program(&r, p);
  add_i64(&r, MIDA_F_STARTED, mida__pl.started_ns);
  put_record(MIDA_REC_TASK, &r);
}

void mida__pl_emit_exec_failed(void) {
  if (!mida__pl.begun) {
    mida__pl_emit_begin(); /* says this program */
    return;
  }
  mida__pl_program p = {mida__pl.activity, strlen(mida__pl.activity),
                        mida__pl.used_json};
  emit_program(&p, NULL);
}

void mida__pl_emit_reaped(const mida_id_t *child, int status,
                          int this_program) {
  ensure_begun();
  char gen[48], err[96], custom[2048];
  record r;
  r.n = 0;
  add_id(&r, MIDA_F_ID, child);
  if (this_program)
    add_this_program(&r, custom, sizeof custom);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    snprintf(gen, sizeof gen, "{\"signal\":%d}", sig);
    snprintf(err, sizeof err, "killed by signal %d (%s)", sig,
             sigabbrev_np(sig) != NULL ? sigabbrev_np(sig) : "?");
    add_i64(&r, MIDA_F_STATUS, MIDA_STATUS_ERROR);
    add_str(&r, MIDA_F_GENERATED, gen);
    add_str(&r, MIDA_F_ERROR, err);
  } else if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    snprintf(gen, sizeof gen, "{\"exit_status\":%d}", code);
    snprintf(err, sizeof err, "exit status %d", code);
    add_i64(&r, MIDA_F_STATUS,
            code == 0 ? MIDA_STATUS_FINISHED : MIDA_STATUS_ERROR);
    add_str(&r, MIDA_F_GENERATED, gen);
    if (code != 0)
      add_str(&r, MIDA_F_ERROR, err);
  } else {
    return; /* stopped or continued: not an end */
  }
  add_i64(&r, MIDA_F_ENDED, mida__pl_now_ns());
  put_record(MIDA_REC_TASK, &r);
}

/* ---- the link record, written out directly ------------------------------
 *
 * A file's link is the record of every close, so it is not described as a
 * field list and encoded (record_size, encode): its fields are fixed, and
 * are written straight into the reserved frame in the order that list gave
 * them (DATA_ID KIND URI SIZE [TASK] ROLE [BYTES]), the same bytes. */

static uint8_t *put_head(uint8_t *p, unsigned tag, unsigned kind) {
  p[0] = (uint8_t)tag;
  p[1] = (uint8_t)kind;
  return p + 2;
}

/* v little-endian at p, in one store (a loop of byte stores is what the
 * compiler kept of the portable form). */
static uint8_t *put_le64(uint8_t *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  memcpy(p, &v, 8);
  return p + 8;
}

static uint8_t *put_le32(uint8_t *p, uint32_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  memcpy(p, &v, 4);
  return p + 4;
}

static uint8_t *put_num(uint8_t *p, unsigned tag, int64_t v) {
  return put_le64(put_head(p, tag, MIDA_KIND_I64), (uint64_t)v);
}

/* The head of a string field of len bytes; returns where they go. */
static uint8_t *put_str_head(uint8_t *p, unsigned tag, size_t len) {
  return put_le32(put_head(p, tag, MIDA_KIND_STR), (uint32_t)len);
}

void mida__pl_emit_link(const mida_id_t *task, const char *path,
                        const struct stat *st, int role, int64_t bytes) {
  size_t path_len;
  size_t uri_len = mida__file_uri_measure(path, &path_len);
  mida__pl_emit_link_known(task, path, path_len, uri_len, st, role, bytes);
}

void mida__pl_emit_link_known(const mida_id_t *task, const char *path,
                              size_t path_len, size_t uri_len,
                              const struct stat *st, int role, int64_t bytes) {
  ensure_begun();
  char id[MIDA_FILE_VERSION_ID_BYTES];
  size_t id_len = mida__file_version_id_write(id, st);
  int with_task = task != NULL && mida__pl_id_set(task);
  size_t len = mida__enc_size_str(id_len) + mida__enc_size_str(4) +
               mida__enc_size_str(uri_len) + mida__enc_size_num() +
               (with_task ? mida__enc_size_id() : 0) + mida__enc_size_num() +
               (bytes >= 0 ? mida__enc_size_num() : 0);
  mida__journal *j = mida__pl_journal();
  mida__slot slot;
  if (uri_len > UINT32_MAX || j == NULL ||
      mida__journal_reserve(j, MIDA_REC_DATA, len, &slot) != MIDA_OK) {
    mida__pl_count(MIDA_PL_C_DROPPED);
    return;
  }
  uint8_t *p = put_str_head(slot.payload, MIDA_F_DATA_ID, id_len);
  memcpy(p, id, id_len);
  p = put_str_head(p + id_len, MIDA_F_KIND, 4);
  memcpy(p, "file", 4);
  p = put_str_head(p + 4, MIDA_F_URI, uri_len);
  mida__file_uri_write_known((char *)p, path, path_len, uri_len);
  p = put_num(p + uri_len, MIDA_F_SIZE, (int64_t)st->st_size);
  if (with_task) {
    p = put_head(p, MIDA_F_TASK, MIDA_KIND_ID);
    memcpy(p, task->bytes, 16);
    p += 16;
  }
  p = put_num(p, MIDA_F_ROLE, role);
  if (bytes >= 0)
    p = put_num(p, MIDA_F_BYTES, bytes);
  mida__journal_commit(j, &slot);
}

void mida__pl_emit_named(const char *path, const struct stat *st,
                         enum mida__pl_naming how) {
  ensure_begun();
  char id[MIDA_FILE_VERSION_ID_BYTES];
  size_t id_len = mida__file_version_id_write(id, st);
  record r;
  r.n = 0;
  add_strn(&r, MIDA_F_DATA_ID, id, id_len);
  add_str(&r, MIDA_F_KIND, "file");
  if (how == MIDA_PL_NAME_REMOVED) {
    add_str(&r, MIDA_F_METADATA, "{\"removed\":true}");
  } else {
    add_uri(&r, path);
    add_str(&r, MIDA_F_METADATA, how == MIDA_PL_NAME_BY_RENAME
                                     ? "{\"named_by\":\"rename\"}"
                                     : "{\"named_by\":\"link\"}");
  }
  add_i64(&r, MIDA_F_SIZE, (int64_t)st->st_size);
  put_record(MIDA_REC_DATA, &r);
}

void mida__pl_emit_dep(const mida_id_t *task, const mida_id_t *upstream) {
  ensure_begun();
  record r;
  r.n = 0;
  add_id(&r, MIDA_F_TASK, task);
  add_id(&r, MIDA_F_PARENT, upstream);
  if (r.n == 2)
    put_record(MIDA_REC_DEP, &r);
}

/* The segment files of this process's journal that were made anew rather
 * than taken from the spool's pool (spool_pool.h), as the counter
 * run.segment_files_made, when there are more than were told (an exec
 * tells, and one that fails tells again at the exit). Like every counter
 * it is the process's running total, over its images too (counts.c),
 * which the store keeps the largest of for each host and pid. A loop of
 * short processes under `mida run` should take nearly all of them from
 * the pool. */
uint64_t mida__pl_segments_made(void) {
  mida__journal *j = mida__pl_journal_if_open();
  /* Without the journal's lock: _exit may come from a signal handler. */
  return mida__pl.segments_made_before +
         (j != NULL ? mida__journal_segments_made(j) : 0);
}

static void emit_segments_made(void) {
  if (mida__pl_journal_if_open() == NULL)
    return;
  uint64_t made = mida__pl_segments_made();
  uint64_t told = atomic_exchange_explicit(&mida__pl.segments_made_told,
                                           made, memory_order_relaxed);
  if (made <= told)
    return;
  record r;
  r.n = 0;
  add_str(&r, MIDA_F_KEY, "run.segment_files_made");
  add_i64(&r, MIDA_F_VALUE_I, (int64_t)made);
  put_record(MIDA_REC_COUNTER, &r);
}

/* The records this process dropped, as its counter run.dropped_records.
 * Where the journal cannot take even that record (no segment could be
 * made: a full spool), what its journal does not hold of the count goes
 * to the pipe registry, where `mida run` finds it (pipes.c); the counter
 * leaves out what was handed over, so that the two add up to each drop
 * once (the store keeps a process's largest value of a counter). Named
 * name; last of the counters, so that it counts theirs that failed. */
static void emit_dropped(const char *name) {
  uint64_t v = atomic_load_explicit(&mida__pl.counters[MIDA_PL_C_DROPPED],
                                    memory_order_relaxed) -
               mida__pl.dropped_given;
  if (v == 0)
    return;
  record r;
  r.n = 0;
  add_str(&r, MIDA_F_KEY, name);
  add_i64(&r, MIDA_F_VALUE_I, (int64_t)v);
  if (put_record(MIDA_REC_COUNTER, &r)) {
    mida__pl.dropped_kept = v;
    return;
  }
  uint64_t give = atomic_load_explicit(&mida__pl.counters[MIDA_PL_C_DROPPED],
                                       memory_order_relaxed) -
                  mida__pl.dropped_given - mida__pl.dropped_kept;
  if (give > 0 && mida__pl_pipes_add_dropped(give))
    mida__pl.dropped_given += give;
}

void mida__pl_emit_counters(void) {
  static const char *const names[MIDA_PL_C_COUNT] = {
      [MIDA_PL_C_IGNORED] = "run.ignored_opens",
      [MIDA_PL_C_UNTRACKED] = "run.untracked_files",
      [MIDA_PL_C_DROPPED] = "run.dropped_records",
      [MIDA_PL_C_UNOBSERVED] = "run.unobserved_programs",
      [MIDA_PL_C_PIPES_LOST] = "run.pipes_lost",
  };
  for (int c = 0; c < MIDA_PL_C_COUNT; c++) {
    if (c == MIDA_PL_C_DROPPED)
      continue; /* below */
    uint64_t v =
        atomic_load_explicit(&mida__pl.counters[c], memory_order_relaxed);
    if (v == 0)
      continue;
    record r;
    r.n = 0;
    add_str(&r, MIDA_F_KEY, names[c]);
    add_i64(&r, MIDA_F_VALUE_I, (int64_t)v);
    put_record(MIDA_REC_COUNTER, &r);
  }
  emit_segments_made();
  emit_dropped(names[MIDA_PL_C_DROPPED]);
}


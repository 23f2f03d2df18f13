/*
 * mida.h -- the one public header of libmida.
 *
 * mida captures provenance (which task used and generated which data, in
 * which workflow and campaign), domain data (parameters, outputs, metrics)
 * and telemetry while workflows run. A program opens a session, describes
 * workflows, tasks, data and metric points through the functions below, and
 * closes the session. Every call appends a record to a per-process journal
 * (a memory-mapped file) and returns; a shipper thread moves the records to
 * the store (by default an SQLite file, sqlite://mida.db). A record whose call
 * has returned survives a crash of the process, even SIGKILL: the next
 * process that opens the same store, or `mida recover`, ships it.
 *
 * Errors: every function that can fail returns an int, 0 (MIDA_OK) on success
 * and a negative MIDA_E* code on failure; mida_strerror() names the code and
 * mida_errmsg() gives the session's last message in full.
 *
 * Threads: a session may be used from any number of threads at once. The
 * capture calls (task, data, dependency, metric) take no lock, make no system
 * call and allocate nothing after warm-up -- except that, with per-task
 * telemetry on (the default, mida_config_t.telemetry_task), mida_task_begin
 * and mida_task_end each make one getrusage() call.
 *
 * Strings passed in are copied before the call returns; the caller keeps
 * ownership. JSON arguments (used, generated, custom, metadata) must be a
 * JSON object in UTF-8 text, or NULL; anything else is MIDA_EJSON.
 *
 * Growing structs: every struct that crosses this API begins with
 * struct_size, so that later releases can add fields at the end without
 * breaking programs built against this one. A struct the caller fills in
 * (mida_workflow_info_t, mida_task_info_t, mida_task_update_t,
 * mida_data_info_t) carries sizeof as the caller compiled it, or 0, which
 * means the layout of this first release (version 1): zero-initialized
 * structs and designated initializers keep working, and a library reads
 * only the fields that the caller's size covers. A struct the library
 * fills in (mida_config_t, mida_stats_t, mida_session_info_t) is passed
 * with its size by the macros below, and the library writes no further.
 */
#ifndef MIDA_H
#define MIDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from libmida.so; hidden in a loadable module (src/modules/),
 * which carries a private copy of the few public functions it uses. */
#if defined(MIDA_BUILDING_LIBRARY) && !defined(MIDA_BUILDING_MODULE)
#define MIDA_EXTERN __attribute__((visibility("default")))
#else
#define MIDA_EXTERN
#endif

#define MIDA_VERSION_MAJOR 0
#define MIDA_VERSION_MINOR 1
#define MIDA_VERSION_PATCH 0
#define MIDA_VERSION_STRING "0.1.0"

/*
 * The error space, shared by every module. XX(name, code, message).
 * Codes are stable: new ones are appended.
 */
#define MIDA_ERRNO_MAP(XX)                                                     \
  XX(OK, 0, "success")                                                         \
  XX(EINVAL, -1, "invalid argument")                                           \
  XX(ENOMEM, -2, "out of memory")                                              \
  XX(EJSON, -3, "malformed JSON: a JSON object was expected")                  \
  XX(EIO, -4, "input/output error")                                            \
  XX(ESTORE, -5, "the store failed")                                           \
  XX(EURL, -6, "unsupported or malformed store URL")                           \
  XX(EFULL, -7, "the journal is full; the record was dropped and counted")     \
  XX(ECORRUPT, -8, "corrupt data")                                             \
  XX(ECLOSED, -9, "the session is closed")                                     \
  XX(EREADONLY, -10, "the query guard refuses this statement")                \
  XX(ENOTFOUND, -11, "not found")                                              \
  XX(ETOOBIG, -12, "the record is larger than the journal allows")             \
  XX(EBUSY, -13, "the resource is busy")                                       \
  XX(ETIMEDOUT, -14, "timed out")                                              \
  XX(EUNSUPPORTED, -15, "not supported by this build or this store")           \
  XX(EUNREACHABLE, -16, "the store or broker cannot be reached")               \
  XX(EDENIED, -17, "the broker refused the records (not authorized)")          \
  XX(EREFUSED, -18,                                                            \
     "the store refused records on their own; they were counted, not stored")

typedef enum mida_errno {
#define MIDA_ERRNO_ENUM(name, code, msg) MIDA_##name = (code),
  MIDA_ERRNO_MAP(MIDA_ERRNO_ENUM)
#undef MIDA_ERRNO_ENUM
} mida_errno_t;

/* A 128-bit identifier in UUIDv7 layout: 48 bits of Unix milliseconds, then
 * a per-thread counter and random bits. Time-ordered, unique across threads,
 * processes and hosts without coordination. All zero means "none". */
typedef struct mida_id {
  uint8_t bytes[16]; /* big-endian, RFC 9562 byte order */
} mida_id_t;

/* Text form: 36 characters plus NUL, e.g. 0190a4c2-...; lowercase hex. */
#define MIDA_ID_STRLEN 37

/* Task and workflow states, in the order in which a merge lets a later
 * state win: whichever record arrives first, FINISHED beats RUNNING --
 * except LOST, which ranks between RUNNING and FINISHED. */
typedef enum mida_status {
  MIDA_STATUS_UNKNOWN = 0,
  MIDA_STATUS_SUBMITTED = 1,
  MIDA_STATUS_RUNNING = 2,
  MIDA_STATUS_FINISHED = 3,
  MIDA_STATUS_CANCELLED = 4,
  MIDA_STATUS_ERROR = 5,
  /* The process that ran it died (or closed) before it ended: set by the
   * recovery of that process's journal, with the reason in the error
   * text. A real end recorded before or after still wins. */
  MIDA_STATUS_LOST = 6
} mida_status_t;

/* What a session does when its journal is full (the shipper is behind). */
typedef enum mida_full_policy {
  MIDA_FULL_SPILL = 0, /* default: open a new journal segment, lose nothing */
  MIDA_FULL_DROP = 1   /* drop the record, count it, return MIDA_EFULL */
} mida_full_policy_t;

/* Session configuration. mida_config_init() fills it with the defaults and
 * the MIDA_* environment variables; a zeroed struct is not valid. Strings are
 * borrowed until mida_open() returns. */
typedef struct mida_config {
  size_t struct_size;        /* set by mida_config_init */
  const char *store;         /* store URL; MIDA_STORE; sqlite://mida.db */
  const char *spool;         /* journal directory; MIDA_SPOOL; beside store */
  const char *campaign;      /* campaign name or id; MIDA_CAMPAIGN; NULL */
  const char *workflow;      /* enclosing workflow id; MIDA_WORKFLOW; NULL */
  const char *parent_task;   /* parent task id; MIDA_PARENT_TASK; NULL */
  size_t journal_bytes;      /* ring size of one segment; MIDA_JOURNAL_BYTES */
  mida_full_policy_t full;   /* MIDA_JOURNAL_FULL=spill|drop */
  unsigned ship_interval_ms; /* shipper's longest sleep; MIDA_SHIP_MS; 20 */
  int disabled;              /* MIDA_DISABLE=1: every call is a no-op */
  /* Telemetry (docs/telemetry.md). Per-task resource use, recorded by
   * mida_task_begin/end on the calling thread into the task's telemetry:
   * 0 off (no system call on the capture path), 1 thread CPU time, peak
   * RSS, context switches and I/O blocks by one getrusage() per call
   * (default), 2 also the thread's and the process's CPU clocks. */
  int telemetry_task;        /* MIDA_TELEMETRY_TASK=0|1|2; 1 */
  double sample_hz;          /* sampler rate, per second; MIDA_SAMPLE_HZ;
                                1; 0: no sampler; negative: invalid */
  const char *sample;        /* sampled subsystems, a comma list of proc,
                                sys, net, disk, gpu; MIDA_SAMPLE; NULL: all */
  /* Reliability (docs/reliability.md). */
  uint64_t spool_max; /* bytes on disk that the journal segments of
                         the spool may take, all processes together;
                         past it records are dropped and counted;
                         MIDA_SPOOL_MAX (e.g. 512M, 2G); 1 GiB; 0: no
                         bound; UINT64_MAX: invalid */
  int strict;         /* MIDA_STRICT=1: a store, spool or journal
                         that fails makes mida_open fail, instead of
                         a session that records what it can */
  int open_wait_ms;   /* the longest mida_open waits for the shipper's
                         first attempt to open the store, so that a bad
                         URL or store is reported at once: 200; 0: not at
                         all (the program starts while the store opens;
                         mida_flush reports a store that cannot); strict
                         waits for it whatever this says */
} mida_config_t;

/* A session: one per process is usual, several are allowed. Opaque. */
typedef struct mida_session mida_session_t;

/* Fills cfg with the defaults, then applies the MIDA_* environment variables.
 * Never fails; strings point into the environment or static storage.
 * mida_config_init(cfg) passes sizeof *cfg as compiled by the caller. */
MIDA_EXTERN void mida_config_init_sized(mida_config_t *cfg, size_t size);
#define mida_config_init(cfg) mida_config_init_sized((cfg), sizeof *(cfg))

/* Opens a session: creates the spool directory and this process's journal
 * and starts the shipper thread, which opens the store, ships the journals
 * left by dead processes of the same store, then this session's records.
 * It waits at most 200 ms for the store (cfg->open_wait_ms; unless
 * strict, which waits for the first attempt's end): a store that is
 * slow, hung or down never holds up the caller (docs/reliability.md).
 * cfg NULL means mida_config_init() defaults.
 * On success *out is a session to pass to mida_close(), and errmsg (if not
 * NULL, of errmsg_len bytes) receives "" or a warning saying why the session
 * records less than it could (say, no room for its journal: records are
 * then dropped and counted until there is room). On failure *out is NULL
 * and errmsg receives the reason.
 * Returns MIDA_OK, MIDA_EINVAL, MIDA_EURL, MIDA_ESTORE, MIDA_EIO,
 * MIDA_EFULL (strict only) or MIDA_ENOMEM.
 * A store or broker that cannot be opened is no failure (unless
 * cfg->strict, MIDA_STRICT=1): the session records into its journal, with
 * a warning in errmsg, and the shipper thread connects (retrying with
 * backoff) and ships once the store is up; until then mida_flush() waits
 * its timeout and returns the store's error (MIDA_EUNREACHABLE,
 * MIDA_ESTORE, ...) or MIDA_ETIMEDOUT. */
MIDA_EXTERN int mida_open(const mida_config_t *cfg, mida_session_t **out,
                          char *errmsg, size_t errmsg_len);

/* Ships everything recorded so far and waits until the store has it, or
 * until timeout_ms passes (negative: no limit); then, within what is left
 * of it, the journals of the spool's processes that ended without
 * shipping theirs (a forked child that called _exit). Returns MIDA_OK,
 * MIDA_ETIMEDOUT, or the sink's error (for this session's records). */
MIDA_EXTERN int mida_flush(mida_session_t *s, int timeout_ms);

/* Flushes, stops the shipper, closes the store and frees the session.
 * Returns the flush's result; the session is freed whatever it returns.
 * Records that could not be shipped stay in the journal for recovery;
 * where it fails, mida_errmsg(NULL) says why (the store's own message).
 * NULL is allowed and does nothing. */
MIDA_EXTERN int mida_close(mida_session_t *s);

/* The last error message of session s: the message of the last call on s
 * that failed, from whichever thread; "" if none failed. With s NULL, the
 * calling thread's last message (mida_open failures, calls without a
 * session). The text is the calling thread's copy, valid until its next
 * call of mida_errmsg(). */
MIDA_EXTERN const char *mida_errmsg(const mida_session_t *s);

/* The fixed message of an error code; never NULL. */
MIDA_EXTERN const char *mida_strerror(int rc);

/* The library version, e.g. "0.1.0". */
MIDA_EXTERN const char *mida_version(void);

/* ---- identifiers ----------------------------------------------------- */

/* A new time-ordered id. Thread-safe, no syscall after a thread's first id,
 * safe across fork(). */
MIDA_EXTERN mida_id_t mida_id_new(void);

/* Writes the 36-character text form and a NUL into buf (MIDA_ID_STRLEN
 * bytes). Returns buf. */
MIDA_EXTERN char *mida_id_format(const mida_id_t *id, char *buf);

/* Parses the text form (case-insensitive, hyphens required). Returns MIDA_OK
 * or MIDA_EINVAL. */
MIDA_EXTERN int mida_id_parse(const char *text, mida_id_t *out);

/* 1 if the id is all zero, else 0. */
MIDA_EXTERN int mida_id_is_nil(const mida_id_t *id);

/* A stable id for a name within a namespace (e.g. "dask", "<scheduler
 * id>/<key>"): the same in every process on every host, so that two
 * processes that never talk name one task alike (UUIDv8 layout: it never
 * collides with a time-ordered id). A name that is already the text form
 * of an id gives that id. */
MIDA_EXTERN mida_id_t mida_id_from_name(const char *ns, const char *name);

/* The current time, nanoseconds since the Unix epoch (CLOCK_REALTIME). */
MIDA_EXTERN int64_t mida_now_ns(void);

/* ---- workflows --------------------------------------------------------- */

typedef struct mida_workflow_info {
  size_t struct_size;        /* sizeof, or 0 (version 1) */
  const char *name;          /* what ran, e.g. "simulation"; may be NULL */
  const char *campaign;      /* campaign name or id; NULL: the session's;
                                the tasks this session records in the
                                workflow are of it too */
  const mida_id_t *parent;   /* enclosing workflow, or NULL */
  const char *source;        /* "api" when NULL; "dask", "mlflow", ... */
  const char *metadata;      /* JSON object or NULL */
  int64_t started_ns;        /* 0: now */
  int keep_default;          /* 1: do not make it the session's default */
} mida_workflow_info_t;

/* Records the start of a workflow and writes its new id to *out. The
 * workflow belongs to the named campaign (created on first mention; a name
 * maps to the same campaign id on every host). It becomes the session's
 * default workflow (the one tasks belong to when they name none) unless
 * info->keep_default. Returns MIDA_OK, MIDA_EINVAL, MIDA_EJSON, MIDA_EFULL,
 * MIDA_ETOOBIG or MIDA_ECLOSED. */
MIDA_EXTERN int mida_workflow_begin(mida_session_t *s,
                                    const mida_workflow_info_t *info,
                                    mida_id_t *out);

/* Records the end of a workflow with its final status. Same return codes. */
MIDA_EXTERN int mida_workflow_end(mida_session_t *s, const mida_id_t *wf,
                                  mida_status_t status);

/* Makes wf (NULL or nil: none) the session's default workflow, if the
 * default is now *expected (expected NULL: whatever it is) -- so that a
 * caller that ends a workflow can hand the default back to the enclosing
 * one without undoing another thread's change. Returns MIDA_OK, or
 * MIDA_EBUSY (default left as it was) when it is not *expected. */
MIDA_EXTERN int mida_workflow_set_default(mida_session_t *s,
                                          const mida_id_t *wf,
                                          const mida_id_t *expected);

/* The id of the named campaign (name-derived, the same everywhere), or of
 * the session's campaign when name is NULL; nil if none. */
MIDA_EXTERN mida_id_t mida_campaign_id(const mida_session_t *s,
                                       const char *name);

/* ---- tasks ------------------------------------------------------------- */

typedef struct mida_task_info {
  size_t struct_size;        /* sizeof, or 0 (version 1) */
  const char *activity;      /* function, step or command name */
  const mida_id_t *workflow; /* NULL: the session's workflow (MIDA_WORKFLOW) */
  const mida_id_t *parent;   /* parent task, or NULL (MIDA_PARENT_TASK) */
  const char *used;          /* inputs: JSON object or NULL */
  const char *custom;        /* free metadata: JSON object or NULL */
  const char *source_key;    /* the source's own name, e.g. a Dask key */
  const char *worker;        /* where it ran inside the process, or NULL */
  int64_t started_ns;        /* 0: now */
  const mida_id_t *id;       /* the task's id, chosen by the caller (e.g.
                                by mida_id_from_name), or NULL: a new one */
  mida_status_t status;      /* at begin: 0 or RUNNING (it runs now), or
                                SUBMITTED (queued: no start time, no
                                telemetry snapshot) */
  int64_t submitted_ns;      /* when it was submitted; 0: not recorded,
                                or now for a SUBMITTED task */
} mida_task_info_t;

/* Records the start (or the submission) of a task and writes its id (new,
 * or info->id) to *out. Lock-free, no allocation; no syscall unless
 * per-task telemetry is on, in which case a snapshot of the thread's
 * resource use is kept for mida_task_end(), which must then be called on
 * the same thread for the task to get a summary. Returns MIDA_OK,
 * MIDA_EINVAL, MIDA_EJSON, MIDA_EFULL (drop policy), MIDA_ETOOBIG or
 * MIDA_ECLOSED. */
MIDA_EXTERN int mida_task_begin(mida_session_t *s, const mida_task_info_t *info,
                                mida_id_t *out);

/* Records the end of a task: its status, its outputs (JSON object or NULL)
 * and an error text (or NULL). Same return codes as mida_task_begin(). */
MIDA_EXTERN int mida_task_end(mida_session_t *s, const mida_id_t *task,
                              mida_status_t status, const char *generated,
                              const char *error);

/* Adds outputs (a JSON object, merged key by key) or metadata to a task at
 * any time, before or after its end. Either may be NULL. */
MIDA_EXTERN int mida_task_annotate(mida_session_t *s, const mida_id_t *task,
                                   const char *generated, const char *custom);

/* What becomes known of a task outside its begin and end calls: from a
 * scheduler that sees it end elsewhere, or from the process that ran a
 * task whose begin another process recorded. Fields left 0 or NULL say
 * nothing; the store merges the rest into the task's row (the higher
 * status wins, JSON objects merge key by key). */
typedef struct mida_task_update {
  size_t struct_size;    /* sizeof, or 0 (version 1) */
  mida_status_t status;  /* a new status, or 0 */
  int64_t started_ns;    /* when it started, ns since the epoch, or 0 */
  int64_t ended_ns;      /* when it ended, or 0 */
  const char *used;      /* inputs: JSON object or NULL */
  const char *generated; /* outputs: JSON object or NULL */
  const char *custom;    /* free metadata: JSON object or NULL */
  const char *error;     /* error text, or NULL */
  const char *worker;    /* where it ran, or NULL */
  const char *telemetry; /* resource use: JSON object (as
                            mida_task_usage_end writes it) or NULL */
  int64_t pid;           /* the process it ran in, or 0 */
} mida_task_update_t;

/* Records an update of a task. Returns as mida_task_begin(). */
MIDA_EXTERN int mida_task_update(mida_session_t *s, const mida_id_t *task,
                                 const mida_task_update_t *u);

/* Per-task resource use for a task whose begin and end are recorded
 * elsewhere (a scheduler sees them; the task runs here): takes the begin
 * snapshot of the calling thread, as mida_task_begin does. Does nothing
 * when per-task telemetry is off. */
MIDA_EXTERN void mida_task_usage_begin(mida_session_t *s,
                                       const mida_id_t *task);

/* The bytes a usage summary takes at most, NUL included. */
#define MIDA_TASK_USAGE_MAX 1024

/* Takes the end snapshot on the same thread and writes the summary, a JSON
 * object (the keys of docs/telemetry.md), into buf (cap >=
 * MIDA_TASK_USAGE_MAX). Returns its length, or 0 when there is none
 * (telemetry off, or no begin snapshot on this thread: counted). Record it
 * with mida_task_update's telemetry. */
MIDA_EXTERN size_t mida_task_usage_end(mida_session_t *s,
                                       const mida_id_t *task, char *buf,
                                       size_t cap);

/* One execution of a task (a run). A task that runs more than once --
 * retried after an error, or run again because the process that ran it
 * died -- has one run each time; a source that knows its executions
 * records each of them, at its start and at its end, under one run id
 * (mida_id_new() at the start). The store keeps every run (table task_run)
 * and summarises them in the task's row: attempts = the runs that
 * started; started, ended, host, pid and worker = those of the run that
 * started last, whatever the order in which the records arrive (the task's
 * own records then no longer change these columns). The run's host and
 * pid are those of the recording process. */
typedef struct mida_task_run {
  size_t struct_size;    /* sizeof, or 0 (version 1) */
  const mida_id_t *task; /* the task it is a run of; required */
  mida_status_t status;  /* RUNNING at its start; FINISHED, ERROR or
                            CANCELLED at its end; 0: not said */
  int64_t started_ns;    /* when it started, ns since the epoch, or 0 */
  int64_t ended_ns;      /* when it ended, or 0 */
  const char *worker;    /* where it ran inside the process, or NULL */
  const char *error;     /* its error text, or NULL */
  const char *telemetry; /* its resource use: a JSON object (as
                            mida_task_usage_end writes it) or NULL */
} mida_task_run_t;

/* Records (part of) run `run` of a task. Returns as mida_task_begin(). */
MIDA_EXTERN int mida_task_run(mida_session_t *s, const mida_id_t *run,
                              const mida_task_run_t *r);

/* Marks the calling thread as running task, whose begin and end are
 * recorded elsewhere (a Dask task run by a worker), until
 * mida_task_leave(task) on the same thread; mida_task_begin and
 * mida_task_end do this for the tasks they record. Under `mida run`, the
 * files the thread opens meanwhile are linked to task as well as to its
 * process (docs/run.md). A thread keeps its 16 innermost tasks. No system
 * call, no allocation; needs no session. */
MIDA_EXTERN void mida_task_enter(const mida_id_t *task);
MIDA_EXTERN void mida_task_leave(const mida_id_t *task);

/* Records that task depends on upstream (control flow, e.g. a task graph's
 * edge). */
MIDA_EXTERN int mida_task_dep(mida_session_t *s, const mida_id_t *task,
                              const mida_id_t *upstream);

/* ---- data -------------------------------------------------------------- */

typedef enum mida_role { MIDA_USED = 1, MIDA_GENERATED = 2 } mida_role_t;

typedef struct mida_data_info {
  size_t struct_size;   /* sizeof, or 0 (version 1) */
  const char *kind;     /* "file", "dataset", "model", "object"; NULL: file */
  const char *uri;      /* where it lives; required */
  const char *digest;   /* content digest, e.g. "sha256:..."; or NULL */
  int64_t size;         /* bytes; negative: unknown */
  const char *name;     /* the task's name for it (a parameter); or NULL */
  const char *metadata; /* JSON object or NULL */
} mida_data_info_t;

/* Declares data used or generated by a task. The data's identity is its
 * digest when given, else its URI, so that the same file or dataset seen by
 * two workflows links them. Returns as mida_task_begin(). */
MIDA_EXTERN int mida_data(mida_session_t *s, const mida_id_t *task,
                          mida_role_t role, const mida_data_info_t *data);

/* ---- metrics ----------------------------------------------------------- */

/* The step of a metric point that has none. */
#define MIDA_NO_STEP INT64_MIN

/* Records one point of a metric time series of a task. step is the caller's
 * step, any int64 (negative steps are kept as they are), or MIDA_NO_STEP
 * for a point without one (stored as a NULL step); ts_ns 0 means now. Every
 * point is kept: two points of one key at the same step and time are two
 * points when their values differ (as MLflow keeps them), one when they are
 * equal. Returns as mida_task_begin(). */
MIDA_EXTERN int mida_metric(mida_session_t *s, const mida_id_t *task,
                            const char *key, int64_t step, int64_t ts_ns,
                            double value);

/* ---- counters ------------------------------------------------------------ */

/* Records a named counter of this process (host, pid, key), e.g. what a
 * plugin had to skip: the store keeps the largest value recorded, and
 * `mida stats` shows it. Returns as mida_task_begin(). */
MIDA_EXTERN int mida_counter(mida_session_t *s, const char *key,
                             int64_t value);

typedef struct mida_stats {
  size_t struct_size;    /* set by mida_stats_get */
  uint64_t records;      /* records appended by this session */
  uint64_t dropped;      /* records dropped: by the drop policy, or
                            refused by a broker (MIDA_EDENIED) */
  uint64_t shipped;      /* records the store has acknowledged */
  uint64_t backlog_bytes; /* journal bytes not yet shipped */
  uint64_t segments;     /* journal segments opened */
  uint64_t ship_errors;  /* failed attempts to write a batch to the store */
  uint64_t spool_full;   /* journal segments that could not be made (disk
                            full, spool not writable, MIDA_SPOOL_MAX) */
  uint64_t refused;      /* records the store refused on their own (a value
                            PostgreSQL cannot hold) and left out; the rest
                            of their batch was stored. Also the store's
                            counter refused */
} mida_stats_t;

/* Copies the session's counters (all 0 for s NULL). Thread-safe.
 * mida_stats_get(s, out) passes sizeof *out as compiled by the caller. */
MIDA_EXTERN void mida_stats_get_sized(const mida_session_t *s,
                                      mida_stats_t *out, size_t size);
#define mida_stats_get(s, out) mida_stats_get_sized((s), (out), sizeof *(out))

/* ---- the session itself ------------------------------------------------- */

typedef struct mida_session_info {
  size_t struct_size;        /* set by mida_session_info_get */
  const char *store;         /* the store URL as configured, password
                                and all: for mida_query(), never to show
                                (show store_shown) */
  const char *spool;         /* the journal directory */
  const char *host;          /* this host's name */
  int disabled;              /* 1: MIDA_DISABLE, nothing is recorded */
  int telemetry_task;        /* per-task telemetry level, 0..2 */
  mida_id_t campaign;        /* the session's campaign, or nil */
  const char *campaign_name; /* its name as configured, or NULL */
  mida_id_t parent_task;     /* default parent of tasks, or nil */
  mida_id_t workflow;        /* the default workflow now, or nil */
  const char *store_shown;   /* store as it may be shown: its password and
                                secret-looking query values are "***" */
} mida_session_info_t;

/* Describes session s. Strings belong to the session (valid until
 * mida_close). Returns MIDA_OK or MIDA_EINVAL (s NULL). Thread-safe.
 * mida_session_info_get(s, out) passes sizeof *out as compiled. */
MIDA_EXTERN int mida_session_info_get_sized(const mida_session_t *s,
                                            mida_session_info_t *out,
                                            size_t size);
#define mida_session_info_get(s, out)                                         \
  mida_session_info_get_sized((s), (out), sizeof *(out))

/* ---- queries ------------------------------------------------------------- */

/* Called for each row of a query: column names and values as text (NULL
 * for SQL NULL), valid during the call. Return 0 to go on, non-zero to
 * stop (the query then returns MIDA_OK with the rows so far). */
typedef int (*mida_row_fn)(void *ctx, int ncols, const char *const *names,
                           const char *const *values);

/* Runs one read-only SQL statement on the store at store_url (NULL: the
 * configured one, MIDA_STORE) with text parameters ?1..?n (NULL: SQL
 * NULL), calling fn for each row. nparams must be the number of
 * parameters the statement takes (its largest ?N): a missing or an extra
 * one is MIDA_EINVAL. Nothing can be written: a statement
 * that would write, or that the query guard refuses (a function that
 * reaches outside the store), is MIDA_EREADONLY. It first waits, for at
 * most $MIDA_SHIP_WAIT_MS (5000 by default), while the records of a
 * `mida run --detach-ship` that returned are still being shipped into the
 * store. On failure errmsg (if not NULL, of errmsg_len bytes) receives the
 * reason (for MIDA_EREADONLY, what follows mida_strerror()'s words, "the
 * query guard refuses this statement", in the guard's message); on
 * success a note when that wait gave up (the answer may lack the last
 * records) and, once per process, when the store's role runs queries
 * without the temporary-space bound (MIDA_QUERY_TEMP_MB; docs/security.md),
 * else "". Returns MIDA_OK, MIDA_EURL, MIDA_ENOTFOUND (no store
 * yet), MIDA_EREADONLY, MIDA_ESTORE,
 * ... */
MIDA_EXTERN int mida_query(const char *store_url, const char *sql,
                           const char *const *params, int nparams,
                           mida_row_fn fn, void *ctx, char *errmsg,
                           size_t errmsg_len);

/* Asked while a query computes; return non-zero to stop it. */
typedef int (*mida_stop_fn)(void *ctx);

/* As mida_query, and stop(ctx) (if not NULL) is called from this thread
 * about every 100 ms while the statement computes: when it returns
 * non-zero the statement is cancelled on the store (PQcancel on
 * PostgreSQL, sqlite3_interrupt on SQLite) and the call returns
 * MIDA_ECLOSED ("the query was cancelled"). fn and stop share ctx. The
 * Python package's mida.query() stops so on Ctrl-C. Thread-safe. */
MIDA_EXTERN int mida_query_stoppable(const char *store_url, const char *sql,
                                     const char *const *params, int nparams,
                                     mida_row_fn fn, mida_stop_fn stop,
                                     void *ctx, char *errmsg,
                                     size_t errmsg_len);

/* Called once for a query's result: the names of its columns, valid
 * during the call. Return 0 to go on, non-zero to stop (the query then
 * returns MIDA_OK, no rows). */
typedef int (*mida_columns_fn)(void *ctx, int ncols,
                               const char *const *names);

/* As mida_query_stoppable, and columns (if not NULL) is called once,
 * before the first row -- or, for a result without rows, after the
 * statement has run: a query that matched nothing still says which
 * columns it has (a table of them with no rows, not a table of none).
 * columns, fn and stop share ctx. Thread-safe. */
MIDA_EXTERN int mida_query_described(const char *store_url, const char *sql,
                                     const char *const *params, int nparams,
                                     mida_columns_fn columns, mida_row_fn fn,
                                     mida_stop_fn stop, void *ctx,
                                     char *errmsg, size_t errmsg_len);

/* As mida_query_described, with the kind of each parameter: kinds[i] 'i'
 * where params[i] is the text of an integer ("42"), 'r' where it is a
 * real's ("0.01", "1e-05", "inf"), anything else a text (kinds NULL: all
 * text, as mida_query_described). SQLite compares the number 5 and the
 * text '5' as different values, so a number compared with one of a JSON
 * document (json_extract(used, '$.lr') > ?1) must be bound as a number:
 * there each is bound as its kind. PostgreSQL infers each parameter's
 * type from the statement, kinds or not. The Python package's mida.query
 * binds an int or a float so. Thread-safe. */
MIDA_EXTERN int mida_query_kinds(const char *store_url, const char *sql,
                                 const char *const *params, const char *kinds,
                                 int nparams, mida_columns_fn columns,
                                 mida_row_fn fn, mida_stop_fn stop, void *ctx,
                                 char *errmsg, size_t errmsg_len);

/* Counts into *count the journal segments in the spool of store_url
 * (NULL: $MIDA_STORE, else the default store; $MIDA_SPOOL when set) that no
 * live process holds: what processes that ended left to ship (a forked
 * child ended by _exit ships nothing itself), which the next session on
 * the store ships. A program that only reads can ask this before a query
 * and open a session (which ships them) only when it is not 0. *count is
 * 0 where there is no spool. Writes nothing, and holds no lock (each
 * segment's is tried for an instant, as `mida stats` does). Returns
 * MIDA_OK, or MIDA_ETOOBIG (a spool path too long), MIDA_EIO. */
MIDA_EXTERN int mida_spool_orphans(const char *store_url, uint64_t *count);

#ifdef __cplusplus
}
#endif
#endif /* MIDA_H */

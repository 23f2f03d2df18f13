/*
 * run_preload.c -- the file and process capture of `mida run` (see
 * run_preload.h; what the library records: src/preload/preload.h).
 *
 * Start. The library is found (MIDA_PRELOAD_LIB, else beside this mida:
 * <bin>/../preload/ in the build tree, <bin>/../lib[/<triplet>]/ and the
 * configured libdir when installed, <bin>/../lib/ in a wheel's mida/_lib) and
 * appended to the command's LD_PRELOAD. The command gets the spool (absolute,
 * so that a process that changes directory still finds it), the prefixes not to
 * record (the spool, the store's file and its -wal/-shm, --ignore), whether an
 * interpreter's installed code is recorded (--record-code, else whatever
 * MIDA_PRELOAD_RECORD_CODE says already), a pipe registry
 * file of its own in the spool (src/preload/pipes.c) and, as
 * MIDA_PRELOAD_TASK, the task of `mida run`, which the command's first
 * process goes on as: the root of the process tree.
 *
 * Shipping. Each process of the command writes its own journal segment; a
 * segment becomes an orphan the moment its process ends (its lock goes
 * with it), or once the library handed it over full (the journal's
 * handoff). A collector thread here has the orphans shipped, and the live
 * segments read as they fill (mida__tail_open), by the session's shipper
 * on its own connection to the store (mida__session_collect: the recovery
 * of src/capture, the segments of a pass in one group, made durable by one
 * commit, then the orphans' files removed and the live ones' rings
 * released), so that the records are shipped while the command runs; and
 * once more after the command has ended, so that the store holds
 * everything when mida run returns (with --detach-ship a detached `mida
 * recover` ships the rest, and mida's readers of the store wait for it).
 * The observed processes themselves load nothing but the library: no
 * store or broker client ever enters them. A process still alive when
 * `mida run` ends (a daemon) has what it recorded until then shipped by
 * that last pass, and keeps its journal until it ends; `mida recover`, or
 * the next session on the store, ships the rest then.
 *
 * Digests (--digest). After the command ended and its journals are in the
 * store, the store is asked which files the run's tasks generated; each is
 * hashed (SHA-256) if it is still the version that was recorded (same
 * inode, mtime and size) and not larger than --digest-max, and its digest
 * is added to its data row. So hashing costs the command nothing: it
 * happens off its threads and after it, bounded per file and in total. A
 * broker answers no queries: there, --digest says so and does nothing.
 */
#include "cli/run_preload.h"
#include "cli/run_after.h"
#include "cli/run_left.h"
#include "cli/run_said.h"

#include "api/session_access.h"
#include "capture/recovery.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/fileid.h"
#include "core/program.h"
#include "core/sha256.h"
#include "core/url.h"
#include "mida_config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define COLLECT_INTERVAL_MS 250 /* between passes, at most */
#define COLLECT_SHIP_MIN_MS 5   /* after a pass that shipped, at least */
#define COLLECT_SHIP_MAX_MS 50  /* ... and at most */
#define COLLECT_SHIP_RECORDS 500 /* what a pass is to find, about */
#define COLLECT_ENDED_MS 20 /* after one that shipped a process's journal */
#define COLLECT_SETTLE_MS 20 /* after a segment's close, before a pass */
#define COLLECT_WAIT_MS 5000 /* a pass the collector waits for, at most */
#define FINISH_WAIT_MS 10000 /* the last pass, before it is said slow */
#define FINISH_GIVE_UP_MS 120000 /* ... and at most (last_pass) */
#define LEFT_MAX 256 /* processes left behind that are awaited */
#define PIPE_SLOTS 4096
#define PIPE_DROPPED_AT 16 /* the registry's count of drops (pipes.c) */
#define DIGEST_MAX_DEFAULT (64ull << 20)  /* bytes of one file hashed */
#define DIGEST_TOTAL (1ull << 30)         /* bytes hashed in all */
#define DIGEST_FILES 16384                /* generated files hashed at most */
#define DIGEST_BATCH 256                  /* digest records per batch */

const char *const mida__run_preload_value_options[] = {
    "--ignore", "--digest-max", NULL};

int mida__run_preload_options(mida__run_preload *p, mida__cli_opt *opts) {
  memset(p, 0, sizeof *p);
  p->stop_fd = -1;
  p->inotify = -1;
  p->inotify_watch = -1;
  opts[0] = (mida__cli_opt){"--no-files", NULL, NULL, &p->no_files};
  opts[1] = (mida__cli_opt){"--ignore", NULL, &p->ignore, NULL};
  opts[2] = (mida__cli_opt){"--digest", NULL, NULL, &p->digest};
  opts[3] = (mida__cli_opt){"--digest-max", NULL, &p->digest_max, NULL};
  opts[4] = (mida__cli_opt){"--record-code", NULL, NULL, &p->record_code};
  return MIDA_RUN_PRELOAD_OPTIONS;
}

/* The first prefix of --ignore's list that is not an absolute path, into
 * buf; NULL when all are (empty ones are nothing). */
static const char *relative_prefix(const char *list, char *buf, size_t cap) {
  for (const char *p = list; p != NULL && *p != '\0';) {
    const char *end = strchr(p, ':');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n > 0 && p[0] != '/') {
      snprintf(buf, cap, "%.*s", (int)n, p);
      return buf;
    }
    p = end != NULL ? end + 1 : NULL;
  }
  return NULL;
}

int mida__run_preload_check(mida__run_preload *p) {
  char prefix[256];
  if (relative_prefix(p->ignore, prefix, sizeof prefix) != NULL)
    return mida__cli_usage_error("run",
                                 "--ignore takes absolute path prefixes (the "
                                 "files recorded are absolute paths), not "
                                 "'%s'",
                                 prefix);
  /* An option that cannot act is refused rather than dropped without a
   * word: --digest-max alone hashes nothing (until 2026-12-06 a run given
   * only it stored no digest), and without the library (--no-files) no
   * file is there to ignore or to record as code. */
  if (p->digest_max != NULL && !p->digest)
    return mida__cli_usage_error("run", "--digest-max bounds --digest, "
                                        "which is not given: add --digest");
  if (p->no_files && (p->ignore != NULL || p->record_code))
    return mida__cli_usage_error(
        "run", "--no-files records no file: %s has nothing to do",
        p->ignore != NULL ? "--ignore" : "--record-code");
  long long bytes = (long long)DIGEST_MAX_DEFAULT;
  if (p->digest_max != NULL && mida__cli_parse_count(p->digest_max, &bytes))
    return mida__cli_usage_error("run",
                                 "--digest-max needs a count of bytes, not "
                                 "'%s'",
                                 p->digest_max);
  p->digest_bytes = (uint64_t)bytes;
  return MIDA_CLI_CONTINUE;
}

/* ---- finding things ---------------------------------------------------- */

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first of near (formats of a path with one %s: the directory of
 * this mida program) that is a file, resolved, into buf; else installed
 * (an absolute path, "" for none) if it is a file. 0, or -1 if none is. */
static int find_beside_program(const char *const *near, size_t n,
                               const char *installed, char *buf,
                               size_t cap) {
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL)
      *slash = '\0';
    for (size_t i = 0; i < n; i++) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, near[i], exe);
      if (is_file(path) && realpath(path, buf) != NULL)
        return 0;
    }
  }
  snprintf(buf, cap, "%s", installed);
  return buf[0] != '\0' && is_file(buf) ? 0 : -1;
}

/* The library's path into buf; 0, or -1 if it is nowhere to be found. */
static int find_library(char *buf, size_t cap) {
  const char *env = getenv("MIDA_PRELOAD_LIB");
  if (env != NULL && env[0] != '\0') {
    snprintf(buf, cap, "%s", env);
    return is_file(buf) && buf[0] == '/' ? 0 : -1;
  }
  static const char *const near[] = {
      "%s/../preload/libmida_preload.so", "%s/../lib/libmida_preload.so",
      "%s/../lib64/libmida_preload.so",
      "%s/../" MIDA_LIBDIR "/libmida_preload.so"};
  return find_beside_program(near, sizeof near / sizeof near[0],
                             MIDA_PRELOAD_INSTALLED, /* "" in a wheel */
                             buf, cap);
}

int mida__run_preload_dask_file(char *buf, size_t cap) {
  static const char *const near[] = {
      "%s/../../python/dask_preload/mida_dask_preload.py", /* build tree */
      "%s/../share/mida/mida_dask_preload.py"}; /* installed, a wheel */
  return find_beside_program(near, sizeof near / sizeof near[0],
                             MIDA_DASK_PRELOAD_INSTALLED, buf, cap);
}

/* The spool the command's journals go to: the one mida_open() uses. */
static int spool_of(const char *store, char *buf, size_t cap) {
  char dir[PATH_MAX];
  if (mida__spool_in_force(store, dir, sizeof dir) != MIDA_OK)
    return -1;
  return mida__cli_absolute(dir, buf, cap);
}

/* The program argv[0] runs (searched in $PATH), into buf. */
static const char *program_of(const char *name, char *buf, size_t cap) {
  if (strchr(name, '/') != NULL)
    return name;
  const char *path = getenv("PATH");
  while (path != NULL && *path != '\0') {
    const char *end = strchr(path, ':');
    size_t dl = end != NULL ? (size_t)(end - path) : strlen(path);
    int n = snprintf(buf, cap, "%.*s/%s", (int)dl, path, name);
    if (n > 0 && (size_t)n < cap && access(buf, X_OK) == 0)
      return buf;
    path = end != NULL ? end + 1 : NULL;
  }
  return name;
}

/* ---- the pipe registry (format: src/preload/pipes.c) ------------------- */

static int make_registry(mida__run_preload *p, const mida_id_t *task) {
  char id[MIDA_ID_STRLEN];
  mida_id_format(task, id);
  if (mkdir(p->spool, 0700) != 0 && errno != EEXIST)
    return -1;
  int len = snprintf(p->registry, sizeof p->registry, "%s/pipes.%.36s.reg",
                     p->spool, id);
  if (len < 0 || (size_t)len >= sizeof p->registry) {
    p->registry[0] = '\0';
    return -1;
  }
  int fd = open(p->registry, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    p->registry[0] = '\0';
    return -1;
  }
  unsigned char header[64] = {'M', 'I', 'D', 'A', 'P', 'I', 'P', 'E'};
  uint32_t version = 1, slots = PIPE_SLOTS;
  memcpy(header + 8, &version, 4);
  memcpy(header + 12, &slots, 4);
  off_t size = 64 + (off_t)PIPE_SLOTS * 96;
  /* Every page has its storage now, not at a process's first store
   * through its shared mapping: a sparse file (ftruncate) on a spool that
   * filled meanwhile killed that process, a forked shell among them, with
   * SIGBUS. On a full spool the registry is not made (pipes unrecorded). */
  int ok = posix_fallocate(fd, 0, size) == 0 &&
           pwrite(fd, header, sizeof header, 0) == (ssize_t)sizeof header;
  close(fd);
  if (!ok) {
    unlink(p->registry);
    p->registry[0] = '\0';
    return -1;
  }
  return 0;
}

/* ---- digests ----------------------------------------------------------- */

/* The generated files of the run that have no digest yet: data id and URI
 * (the store's own query language; both stores answer it). */
static const char generated_sql[] =
    "SELECT DISTINCT d.id, d.uri FROM data d"
    " JOIN task_data td ON td.data_id = d.id"
    " JOIN task t ON t.id = td.task_id"
    " WHERE t.workflow_id = ?1 AND td.role = 'generated'"
    " AND d.digest IS NULL AND d.id LIKE 'inode:%'";

/* Hashes the file whose data id is id (at uri) if it is still that version
 * and fits the budget; writes "sha256:<hex>" into out. Returns 0, or -1 if
 * skipped. */
static int digest_file(const char *id, const char *uri, uint64_t max,
                       uint64_t *budget, char out[MIDA_SHA256_TEXT]) {
  unsigned long long dev, ino, size;
  long long mtime;
  char path[PATH_MAX];
  if (sscanf(id, "inode:%llu:%llu:%lld:%llu", &dev, &ino, &mtime, &size) !=
          4 ||
      size > max || size > *budget ||
      mida__file_uri_path(uri, path, sizeof path) != MIDA_OK)
    return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return -1;
  struct stat st;
  int rc = -1;
  if (fstat(fd, &st) != 0 || (unsigned long long)st.st_dev != dev ||
      (unsigned long long)st.st_ino != ino ||
      (unsigned long long)st.st_size != size ||
      (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec !=
          mtime)
    goto out;
  mida__sha256 c;
  mida__sha256_init(&c);
  static unsigned char buf[1 << 16];
  uint64_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      goto out;
    if (n == 0)
      break;
    mida__sha256_add(&c, buf, (size_t)n);
    total += (uint64_t)n;
  }
  if (total != size)
    goto out; /* changed while read */
  uint8_t d[32];
  mida__sha256_done(&c, d);
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < 32; i++)
    snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
  *budget -= size;
  rc = 0;
out:
  close(fd);
  return rc;
}

/* Hashes the run's generated files and adds their digests to the store,
 * through a connection of its own (it asks the store which they are). */
static void add_digests(mida__run_preload *p) {
  uint64_t max = p->digest_bytes; /* checked before the command ran */
  char err[512] = "";
  mida__sink *sink = NULL;
  if (mida__sink_open(p->store, 0, &sink, err, sizeof err) != MIDA_OK) {
    mida__cli_note("mida run: no digests: %s\n", err);
    return;
  }
  char wf[MIDA_ID_STRLEN];
  const char *params[1] = {mida_id_format(&p->workflow, wf)};
  mida__cli_rows rows;
  int rc = mida__cli_fetch(sink, generated_sql, params, 1, DIGEST_FILES, &rows);
  if (rc != MIDA_OK) {
    mida__cli_note("mida run: no digests: %s\n",
                   rc == MIDA_EUNSUPPORTED ? "the store answers no queries (a "
                                             "broker)"
                                           : mida__sink_errmsg(sink));
    mida__cli_rows_free(&rows);
    mida__sink_close(sink);
    return;
  }
  uint64_t budget = DIGEST_TOTAL, skipped = 0;
  static mida__rec recs[DIGEST_BATCH];
  static char text[DIGEST_BATCH][MIDA_SHA256_TEXT];
  size_t n = 0;
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  mida__origin origin = {host, (int64_t)getpid()};
  for (size_t i = 0; i <= rows.nrows; i++) {
    if (i < rows.nrows) {
      const char *id = mida__cli_cell(&rows, i, 0);
      const char *uri = mida__cli_cell(&rows, i, 1);
      if (id == NULL || uri == NULL ||
          digest_file(id, uri, max, &budget, text[n]) != 0) {
        skipped++;
        continue;
      }
      mida__rec *r = &recs[n++];
      memset(r, 0, sizeof *r);
      r->type = MIDA_REC_DATA;
      mida__rec_set_str(r, MIDA_F_DATA_ID, id, (size_t)-1);
      mida__rec_set_str(r, MIDA_F_DIGEST, text[n - 1], (size_t)-1);
    }
    if (n == DIGEST_BATCH || (i == rows.nrows && n > 0)) {
      if (mida__sink_put_batch(sink, recs, n, &origin) != MIDA_OK)
        mida__cli_note("mida run: digests not stored: %s\n",
                       mida__sink_errmsg(sink));
      n = 0;
    }
  }
  if (skipped > 0) {
    mida__rec *r = &recs[0];
    memset(r, 0, sizeof *r);
    r->type = MIDA_REC_COUNTER;
    mida__rec_set_str(r, MIDA_F_KEY, "run.digests_skipped", (size_t)-1);
    mida__rec_set_i64(r, MIDA_F_VALUE_I, (int64_t)skipped);
    (void)mida__sink_put_batch(sink, recs, 1, &origin);
  }
  mida__cli_rows_free(&rows);
  mida__sink_close(sink);
}

/* ---- the collector ----------------------------------------------------- */

/* Ships the orphans of the spool through the session's own connection
 * to the store (its shipper thread makes the pass): no second connection,
 * whose opening, prepared statements and closing checkpoint each `mida run`
 * paid for. Says once when the store cannot take them (the files then
 * stay in the spool). */
static mida__collected collect_once_rc(mida__run_preload *p, int timeout_ms,
                                       unsigned flags, int *rc_out) {
  mida__collected shipped = {0, 0};
  int rc = mida__session_collect(p->session, timeout_ms, flags, &shipped);
  if (rc_out != NULL)
    *rc_out = rc;
  if (shipped.records > 0)
    atomic_fetch_add(&p->passes, 1);
  if (rc != MIDA_OK && rc != MIDA_ETIMEDOUT && rc != MIDA_ECLOSED &&
      !p->collect_failed) {
    p->collect_failed = 1;
    if (!mida__run_said_first(mida_errmsg(p->session)))
      return shipped; /* the same trouble as said already */
    char why[384];
    if (mida__session_space(p->session, why, sizeof why) != MIDA_OK)
      mida__cli_note("mida run: the store cannot take the command's files "
                     "now (%s), and the spool cannot keep them (%s)\n",
                     mida_errmsg(p->session), why);
    else
      mida__cli_note("mida run: the store cannot take the command's files "
                     "now (%s); they stay in the spool for 'mida recover'\n",
                     mida_errmsg(p->session));
  }
  return shipped;
}

static mida__collected collect_once(mida__run_preload *p, int timeout_ms,
                                    unsigned flags) {
  return collect_once_rc(p, timeout_ms, flags, NULL);
}

/* The last pass, after the command ended, on the session's connection
 * after what its shipper had of its own. A local SQLite store slower than
 * FINISH_WAIT_MS (a disk that a busy machine makes wait seconds for each
 * fsync, another writer holding the lock: waits that end, as the shipper's
 * stop takes them) is waited for, said once, up to FINISH_GIVE_UP_MS; a
 * store across the network for FINISH_WAIT_MS alone, as one that does not
 * answer may never. A store that fails (a full disk: the shipper's own
 * batches fail first, and the pass is never made) is not waited for again:
 * collect_once_rc says why. Past that, mida run ends and says that what the pass
 * had not shipped stays in the spool, where `mida recover`, or the next
 * program to open the store, ships it. (Until 2026-12-06 the pass was
 * left after FINISH_WAIT_MS without a word.) */
static void last_pass(mida__run_preload *p) {
  char path[8];
  int local = mida__url_sqlite_path(p->store, path, sizeof path) != MIDA_EURL;
  int give_up_ms = local ? FINISH_GIVE_UP_MS : FINISH_WAIT_MS;
  int64_t started = mida__monotonic_ms();
  int said = 0;
  for (;;) {
    int rc = MIDA_OK;
    collect_once_rc(p, FINISH_WAIT_MS, MIDA_RECOVER_TAIL_LIVE, &rc);
    if (rc != MIDA_ETIMEDOUT)
      return;
    if (mida__monotonic_ms() - started >= give_up_ms) {
      mida__cli_note("mida run: the store did not take the command's last "
                     "records in %d s; they stay in the spool %s for "
                     "'mida recover'\n",
                     give_up_ms / 1000, p->spool);
      return;
    }
    if (!said++)
      mida__cli_note("mida run: the store is slow to take the command's "
                     "last records; waiting for it (up to %d s)\n",
                     FINISH_GIVE_UP_MS / 1000);
  }
}

/* Counts the passes that shipped records (run.ship_passes): a
 * transaction of the store each, so the figure that the pass cadence
 * (collector) trades against how soon a running program's files are in
 * the store. A pass the collector makes after this is not counted. */
static void count_passes(mida__run_preload *p) {
  uint64_t n = atomic_load(&p->passes);
  if (n > 0 && p->session != NULL)
    (void)mida_counter(p->session, "run.ship_passes", (int64_t)n);
}

/* Records, as run.dropped_records of this process, the records that the
 * command's processes dropped where their journals could not keep the
 * count (no segment could be made on a full spool): they added it to the
 * registry (src/preload/pipes.c). Then removes the registry. */
static void count_dropped_and_remove_registry(mida__run_preload *p) {
  if (p->registry[0] == '\0')
    return;
  uint64_t dropped = 0;
  int fd = open(p->registry, O_RDONLY | O_CLOEXEC);
  if (fd >= 0 &&
      pread(fd, &dropped, sizeof dropped, PIPE_DROPPED_AT) ==
          (ssize_t)sizeof dropped &&
      dropped > 0 && dropped <= INT64_MAX && p->session != NULL)
    (void)mida_counter(p->session, "run.dropped_records", (int64_t)dropped);
  if (fd >= 0)
    close(fd);
  unlink(p->registry);
  p->registry[0] = '\0';
}

/* Reads whatever inotify has queued, without waiting. Returns 1 if a
 * journal segment was among the files made, renamed into place or closed:
 * *.mj (a segment taken from the spool's pool is named by a rename), or
 * "#<inode>", the name under which a segment made with O_TMPFILE (and
 * linked into place) is closed; the registry of pipes, the pool and the
 * locks are not worth a pass. */
static int drain(int fd) {
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  int segment = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t at = 0; at < n;) {
      const struct inotify_event *e = (const void *)(buf + at);
      size_t len = e->len > 0 ? strnlen(e->name, e->len) : 0;
      if (e->mask & IN_Q_OVERFLOW)
        segment = 1; /* events were lost: one of them may have been */
      if ((len > 3 && strcmp(e->name + len - 3, ".mj") == 0) ||
          (len > 1 && e->name[0] == '#'))
        segment = 1;
      at += (ssize_t)(sizeof *e + e->len);
    }
  }
  return segment;
}

/* The gap after a pass that shipped n records (> 0), which came in over
 * the elapsed ms since the pass before it; ended says whether among them
 * were the journals of processes that ended (or handed a full segment
 * over). As long as COLLECT_SHIP_RECORDS take to come in at that rate, from
 * COLLECT_SHIP_MIN_MS to COLLECT_SHIP_MAX_MS; at most COLLECT_ENDED_MS
 * after ended journals, whose files the next processes take from the
 * spool's pool (spool_pool.h; 96 of each size). Each pass is a
 * transaction, which rewrites the pages its B-trees share with the last
 * one and makes its commit durable before the rings are released, so a
 * steady writer is shipped in passes of a few hundred records, and a
 * loop of short processes in passes of a few dozen of them; and what a
 * fast writer leaves for the end (its last gap's records, shipped after
 * the command) stays a few milliseconds' work. */
static int64_t ship_gap(int64_t elapsed, uint64_t n, bool ended) {
  uint64_t gap =
      (uint64_t)(elapsed > 0 ? elapsed : 0) * COLLECT_SHIP_RECORDS / n;
  uint64_t most = ended ? COLLECT_ENDED_MS : COLLECT_SHIP_MAX_MS;
  return gap < COLLECT_SHIP_MIN_MS ? COLLECT_SHIP_MIN_MS
         : gap > most              ? (int64_t)most
                                   : (int64_t)gap;
}

/* Ships the command's records while it runs, so that little is left when
 * it ends. A pass ships the orphans (segments of processes that ended, or
 * that the library handed over full) and a batch of each live segment
 * (mida__tail_open: a running program's records as it makes them, so that
 * its ring is emptied and filled again instead of a new segment file made
 * for every 256 KiB). Passes come ship_gap() after one that shipped
 * something, then ever further apart while they find nothing, up to
 * COLLECT_INTERVAL_MS; and, where inotify works, COLLECT_SETTLE_MS after
 * a segment file was made or closed in the spool (a process began or
 * ended). The settling time gathers the segments of processes that end
 * together into one pass, and lets the stop that follows the command's
 * own end (whose last process's close wakes this thread) come first:
 * what is left then is shipped after the command, by the detached recover
 * or by finish(). A pass that finds a live segment holds its transaction
 * open while the command writes, for up to MIDA_RECOVER_HOLD_MS
 * (MIDA_RECOVER_HOLD, recovery.c: a commit rewrites every page the pass
 * touched); the command's end cuts it short (tell_collector_to_stop),
 * once what is left is read. A pass's own opens and closes of segments
 * are drained after it. */
static void *collector(void *arg) {
  mida__run_preload *p = arg;
  int in = p->inotify;
  /* A quiet start: no pass at all until quiet_ms (or the stop), so that a
   * short command runs beside no store work; the segments made or closed
   * meanwhile are drained, and the first pass finds them all. */
  if (p->quiet_ms > 0) {
    struct pollfd stop = {p->stop_fd, POLLIN, 0};
    int r;
    while ((r = poll(&stop, 1, p->quiet_ms)) < 0 && errno == EINTR)
      ;
    if (r != 0)
      return NULL;
    if (in >= 0)
      (void)drain(in);
  }
  int64_t gap = COLLECT_INTERVAL_MS; /* from one pass to the next */
  int64_t next = mida__monotonic_ms() + gap;
  int64_t last_pass = mida__monotonic_ms(); /* when the last pass began */
  for (;;) {
    struct pollfd fds[2] = {{p->stop_fd, POLLIN, 0}, {in, POLLIN, 0}};
    int64_t wait = next - mida__monotonic_ms();
    /* Only a pass further off than the settling time can be brought
     * forward; a nearer one (the next of a busy run of passes) would be
     * woken by every segment made or closed, for nothing, and those
     * events wait for the drain after it. */
    bool watch = in >= 0 && wait > COLLECT_SETTLE_MS;
    int r = poll(fds, watch ? 2 : 1, wait > 0 ? (int)wait : 0);
    if (r < 0 && errno != EINTR)
      break;
    if (r > 0 && (fds[0].revents & POLLIN) != 0)
      break;
    if (r != 0) {
      /* A segment made or closed brings the pass forward, never back. */
      if (r > 0 && drain(in) && next > mida__monotonic_ms() + COLLECT_SETTLE_MS)
        next = mida__monotonic_ms() + COLLECT_SETTLE_MS;
      continue;
    }
    int64_t began = mida__monotonic_ms();
    mida__collected shipped = collect_once(
        p, COLLECT_WAIT_MS, MIDA_RECOVER_TAIL_LIVE | MIDA_RECOVER_HOLD);
    if (shipped.records > 0)
      gap = ship_gap(began - last_pass, shipped.records, shipped.segments > 0);
    else
      gap = gap * 2 < COLLECT_INTERVAL_MS ? gap * 2 : COLLECT_INTERVAL_MS;
    next = mida__monotonic_ms() + gap;
    last_pass = began;
    if (in >= 0)
      (void)drain(in);
  }
  return NULL;
}

/* ---- start and finish -------------------------------------------------- */

/* LD_PRELOAD with lib appended (kept as it is if it has lib already). */
static int append_preload(mida__cli_env *env, const char *lib) {
  const char *old = mida__cli_env_get(env, "LD_PRELOAD=");
  if (old == NULL || old[0] == '\0')
    return mida__cli_env_set(env, "LD_PRELOAD=", lib);
  if (strstr(old, lib) != NULL)
    return MIDA_OK;
  size_t n = strlen(old) + strlen(lib) + 2;
  char *v = mida__malloc(n);
  if (v == NULL)
    return MIDA_ENOMEM;
  snprintf(v, n, "%s:%s", old, lib);
  int rc = mida__cli_env_set(env, "LD_PRELOAD=", v);
  mida__free(v);
  return rc;
}

/* Appends text to a MIDA_PRELOAD_IGNORE list with a '\\' before each
 * '\\' and, unless colons_separate, before each ':' (a path's own colon,
 * as in a directory named by an ISO time, which would otherwise split it
 * in two prefixes; src/preload/files.c, mida__pl_noise_init). */
static int add_ignored(mida__buf *b, const char *text, int colons_separate) {
  int rc = MIDA_OK;
  for (const char *c = text; *c != '\0' && rc == MIDA_OK; c++) {
    if (*c == '\\' || (*c == ':' && !colons_separate))
      rc = mida__buf_add(b, "\\", 1);
    if (rc == MIDA_OK)
      rc = mida__buf_add(b, c, 1);
  }
  return rc;
}

/* MIDA_PRELOAD_IGNORE: the spool, the store's file, and --ignore (whose
 * ':'s separate its prefixes). */
static int set_ignore(mida__run_preload *p, mida__cli_env *env) {
  mida__buf b;
  mida__buf_init(&b, 1 << 16);
  int rc = add_ignored(&b, p->spool, 0);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&b, "/");
  char file[PATH_MAX], abs[PATH_MAX];
  if (rc == MIDA_OK &&
      mida__url_sqlite_path(p->store, file, sizeof file) == MIDA_OK &&
      mida__cli_absolute(file, abs, sizeof abs) == 0) {
    rc = mida__buf_adds(&b, ":");
    if (rc == MIDA_OK)
      rc = add_ignored(&b, abs, 0);
  }
  if (rc == MIDA_OK && p->ignore != NULL && p->ignore[0] != '\0') {
    rc = mida__buf_adds(&b, ":");
    if (rc == MIDA_OK)
      rc = add_ignored(&b, p->ignore, 1);
  }
  if (rc == MIDA_OK)
    rc = mida__cli_env_set(env, "MIDA_PRELOAD_IGNORE=", mida__buf_str(&b));
  mida__buf_free(&b);
  return rc;
}

int mida__run_preload_start(mida__run_preload *p, mida_session_t *s,
                            const char *store, const mida_id_t *workflow,
                            const mida_id_t *task, char *const *argv,
                            mida__cli_env *env) {
  p->store = store;
  p->session = s;
  p->workflow = *workflow;
  if (p->no_files || task == NULL || mida_id_is_nil(task))
    return 0; /* asked not to, or nothing is recorded at all */
  char lib[PATH_MAX];
  if (find_library(lib, sizeof lib) != 0) {
    mida__cli_note( "mida run: libmida_preload.so not found (set "
                    "MIDA_PRELOAD_LIB); the command's files are not "
                    "recorded\n");
    return 0;
  }
  /* The loader splits LD_PRELOAD at spaces and colons, with no escape:
   * such a path would make it print two errors into the command's stderr
   * in every process, and load nothing. */
  if (strpbrk(lib, " :") != NULL) {
    mida__cli_note("mida run: the path of libmida_preload.so (%s) has a "
                   "space or ':', which LD_PRELOAD cannot carry; the "
                   "command's files are not recorded (set MIDA_PRELOAD_LIB "
                   "to a link to it at a path without them)\n",
                   lib);
    return 0;
  }
  if (spool_of(store, p->spool, sizeof p->spool) != 0) {
    mida__cli_note( "mida run: the spool's path is too long; the "
                    "command's files are not recorded\n");
    return 0;
  }
  /* The command's first process goes on as this task (pid 0: "yours"). */
  char id[MIDA_ID_STRLEN], context[128];
  mida_id_format(task, id);
  snprintf(context, sizeof context, "%s,-,0000000000", id);
  int mark = env->n;
  int rc = MIDA_OK;
  if (make_registry(p, task) == 0)
    rc = mida__cli_env_set(env, "MIDA_PRELOAD_PIPES=", p->registry);
  if (rc == MIDA_OK)
    rc = set_ignore(p, env);
  if (rc == MIDA_OK)
    rc = append_preload(env, lib);
  if (rc == MIDA_OK)
    rc = mida__cli_env_set(env, "MIDA_PRELOAD_SPOOL=", p->spool);
  if (rc == MIDA_OK)
    rc = mida__cli_env_set(env, "MIDA_SPOOL=", p->spool);
  if (rc == MIDA_OK)
    rc = mida__cli_env_set(env, "MIDA_PRELOAD_TASK=", context);
  if (rc == MIDA_OK && p->record_code)
    rc = mida__cli_env_set(env, "MIDA_PRELOAD_RECORD_CODE=", "1");
  if (rc != MIDA_OK) {
    mida__cli_note( "mida run: cannot set the command's environment; its "
                    "files are not recorded\n");
    mida__cli_env_undo(env, mark);
    return 0;
  }
  p->active = 1;
  char path[PATH_MAX];
  const char *note =
      mida__program_kind_note(mida__program_kind_of(
          program_of(argv[0], path, sizeof path)));
  if (note != NULL) {
    char custom[256];
    snprintf(custom, sizeof custom,
             "{\"not_observed\":\"%s: its files were not recorded\"}", note);
    (void)mida_task_annotate(s, task, NULL, custom);
  }
  if (note != NULL)
    (void)mida_counter(s, "run.unobserved_programs", 1);
  p->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (p->inotify >= 0 &&
      (p->inotify_watch = inotify_add_watch(p->inotify, p->spool,
                                            IN_CLOSE_WRITE | IN_CREATE |
                                                IN_MOVED_TO)) < 0) {
    close(p->inotify);
    p->inotify = -1;
  }
  p->stop_fd = eventfd(0, EFD_CLOEXEC);
  p->collector_started =
      p->stop_fd >= 0 &&
      pthread_create(&p->collector, NULL, collector, p) == 0;
  return 1;
}

/* ---- the detached shipping (--detach-ship) ----------------------------- */

/* Wakes the collector to end (it does after the pass it may be in), and
 * removes the watch of the spool, which is not needed any more (the last
 * pass is asked for, not awaited from inotify). The watch goes now and the
 * descriptor at the process's end: the kernel frees a watch's mark after
 * an RCU grace period, and a close that finds the watch still there waits
 * for that (median 7-9 ms, p90 16-18 ms on this VM), while one that comes
 * a few milliseconds after its removal does not (0.02 ms). */
static void tell_collector_to_stop(mida__run_preload *p) {
  uint64_t one = 1;
  /* A pass holding a group open ends it now: the command has ended. */
  if (p->session != NULL)
    mida__session_collect_cut(p->session);
  if (p->collector_started)
    while (write(p->stop_fd, &one, sizeof one) < 0 && errno == EINTR)
      ;
  if (p->inotify >= 0 && p->inotify_watch >= 0)
    (void)inotify_rm_watch(p->inotify, p->inotify_watch);
  p->inotify_watch = -1;
}

int mida__run_preload_detach(mida__run_preload *p, const char *store) {
  /* The collector is told to stop, not waited for: a pass it has asked
   * the shipper for may take tens of milliseconds, and this process ends
   * (_exit) as a crash would, its segments left to the recover. The
   * inotify descriptor stays open, its watch removed
   * (tell_collector_to_stop); the detached child's copy is closed at its
   * exec, after this returned. */
  tell_collector_to_stop(p);
  count_passes(p);
  count_dropped_and_remove_registry(p);
  return mida__run_recover_after(p->spool, store, 0);
}

void mida__run_preload_stop(mida__run_preload *p) {
  if (!p->active)
    return;
  if (p->collector_started) {
    tell_collector_to_stop(p);
    pthread_join(p->collector, NULL);
    p->collector_started = 0;
  }
  if (p->stop_fd >= 0)
    close(p->stop_fd);
  p->stop_fd = -1;
}

/* The command's processes that outlive it (run_left.h), awaited for a
 * moment before the last pass, so that it ships their ends; returns how
 * many are still running then (their journals stay for `mida recover` or
 * the next program to open the store). Found before that pass, not after
 * it: one that ends between the two would be found by neither. */
static size_t wait_for_left_behind(mida__run_preload *p) {
  pid_t left[LEFT_MAX];
  size_t n = mida__run_left_find(p->spool, &p->workflow, left, LEFT_MAX);
  return n == 0 ? 0 : mida__run_left_wait(left, n, MIDA_RUN_LEFT_WAIT_MS);
}

void mida__run_preload_finish(mida__run_preload *p) {
  if (!p->active)
    return;
  mida__run_preload_stop(p);
  size_t running = wait_for_left_behind(p);
  last_pass(p);
  if (running > 0 && p->session != NULL)
    (void)mida_counter(p->session, "run.processes_left_running",
                       (int64_t)running);
  count_passes(p);
  if (p->digest)
    add_digests(p);
  count_dropped_and_remove_registry(p);
  /* The inotify descriptor is left to this process's end, which comes
   * after the store's close: by then its watch, removed at the stop, is
   * freed, and the descriptor's release does not wait
   * (tell_collector_to_stop). */
}

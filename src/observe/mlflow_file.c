/*
 * mlflow_file.c -- the MLflow observer's reader of file stores (./mlruns,
 * MLflow's FileStore), behind the reader interface of mlflow_reader.h, so
 * that mlflow.c maps a file store exactly as it maps a database.
 *
 * How: the reader keeps a mirror, an in-memory SQLite database with the
 * tables and columns of MLflow's SQL stores (experiments, runs, params,
 * tags, experiment_tags, latest_metrics, metrics, datasets, inputs,
 * input_tags, logged_models and their params, tags and metrics), and
 * brings it up to date from the files at each poll; the mapping's
 * statements then run on the mirror (mida__mlf_sqlite_wrap). What the
 * files hold:
 *
 *   <exp>/meta.yaml                     experiment
 *   <exp>/tags/<key>                    an experiment's tag (the text)
 *   <exp>/<run>/meta.yaml               run (status and source type are
 *                                       numbers: mapped to MLflow's names)
 *   <exp>/<run>/params/<key>            a param (the file's text; keys may
 *   <exp>/<run>/tags/<key>              hold '/', as sub-directories)
 *   <exp>/<run>/metrics/<key>           every point, one line each:
 *                                       "<timestamp> <value> <step>
 *                                       [<dataset name> <dataset digest>]"
 *   <exp>/<run>/inputs/<id>/meta.yaml   a dataset (or a model) the run used
 *   <exp>/<run>/outputs/<id>/meta.yaml  a model the run generated
 *   <exp>/datasets/<id>/meta.yaml       a dataset
 *   <exp>/models/<id>/meta.yaml, params/, tags/, metrics/ ("<timestamp>
 *                                       <value> <step> <run> [<dataset
 *                                       name> <digest>]")   a logged model
 *
 * Deleted experiments (.trash/) and traces are not read.
 *
 * Incremental: every poll walks the tree and compares each file's inode,
 * size and modification time with what it read last; a changed meta.yaml,
 * param or tag is read again whole, a metric file from the byte after the
 * last complete line read (a line without its newline is still being
 * written). New metric points and inputs are rows of the mirror handed out
 * once (the mapping's scans) and then deleted from it, so the mirror holds
 * one row per run, key and file, not the points. The position of each
 * metric and input file is a cursor of its own (key "file:<path relative
 * to the root>", value the bytes read), saved after the records it covers
 * (positions()); a restarted observer reads every metric file again to
 * know each key's latest value, but hands out only the points after its
 * cursor. A file that shrinks is read again from its start (a warning).
 *
 * Asked to stop at once (MIDA_OBS_INTERRUPT: Ctrl-C, SIGTERM), the walk
 * ends at its next safe point, before the next file or between two chunks
 * of a metric file, where the file's offset is the end of a whole line;
 * poll() then returns at once and the pass maps nothing. What the walk had
 * read is in the mirror, not handed out, so no cursor moved past it: the
 * next start reads it again from the cursors, and a poll after the cut (in
 * the same process) would go on where the walk stopped.
 *
 * Never in MLflow's way: files are opened read-only, read and closed; a
 * meta.yaml caught half-written (MLflow rewrites it in place) is read again
 * at the next poll, and a warning comes only when an unchanged file still
 * cannot be read.
 */
#include "observe/mlflow_file.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 32              /* directory levels of keys followed */
#define MAX_SMALL_FILE (4u << 20) /* longest meta.yaml, param or tag read */
#define METRIC_CHUNK (1u << 20)   /* bytes of a metric file read at once */
#define MAX_LINE 65536            /* longest metric line */
#define FILE_BUCKETS 4096         /* hash of followed files */

typedef mida__fs_file fs_file;
typedef mida__fs_kind fs_kind;

typedef struct file_reader {
  mida__mlf_reader base;
  mida__mlf_mirror m;        /* the mirror (mlflow_mirror.c) */
  mida__mlf_reader *mirror;  /* the SQLite reader over the mirror */
  fs_file *files[FILE_BUCKETS];
  int first;               /* no pass yet */
  int inotify_fd;          /* -1 without inotify */
  int64_t handed[2];       /* rowids handed out per scanned table */
  int walk_rc;             /* first error of the current walk */
  mida__buf path;          /* scratch: absolute paths */
  char *chunk;             /* scratch: file contents */
} file_reader;

/* The file reader's scans wrap the mirror's. */
struct mida__mlf_scan {
  mida__mlf_scan *inner; /* the mirror reader's scan */
  int table;             /* 0 metrics, 1 inputs */
  int64_t hwm;           /* largest rowid handed out */
};

enum { T_METRICS = 0, T_INPUTS = 1 };

static file_reader *fr_of(mida__mlf_reader *base) {
  return (file_reader *)base;
}

/* ---- small helpers ------------------------------------------------------- */

/* Whether the walk is to end at this safe point (between two files, or
 * two chunks of a metric file): the observer is asked to stop at once. */
static bool walk_cut(const file_reader *r) {
  return mida__obs_asked(r->base.opts, MIDA_OBS_INTERRUPT);
}

static int64_t mtime_ns(const struct stat *sb) {
  return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

static uint64_t hash_text(const char *s) {
  uint64_t h = 14695981039346656037ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

static fs_file *find_file(file_reader *r, const char *rel) {
  for (fs_file *f = r->files[hash_text(rel) % FILE_BUCKETS]; f != NULL;
       f = f->next)
    if (strcmp(f->rel, rel) == 0)
      return f;
  return NULL;
}

static fs_file *add_file(file_reader *r, const char *rel) {
  fs_file *f = mida__calloc(1, sizeof *f);
  if (f == NULL)
    return NULL;
  f->rel = mida__strdup(rel);
  if (f->rel == NULL) {
    mida__free(f);
    return NULL;
  }
  f->saved = -1;
  uint64_t b = hash_text(rel) % FILE_BUCKETS;
  f->next = r->files[b];
  r->files[b] = f;
  return f;
}

static void free_file(fs_file *f) {
  mida__free(f->rel);
  mida__free(f->exp);
  mida__free(f->owner);
  mida__free(f->key);
  mida__free(f);
}

static int set_text(char **slot, const char *v) {
  if (*slot != NULL && v != NULL && strcmp(*slot, v) == 0)
    return MIDA_OK;
  char *copy = v != NULL ? mida__strdup(v) : NULL;
  if (v != NULL && copy == NULL)
    return MIDA_ENOMEM;
  mida__free(*slot);
  *slot = copy;
  return MIDA_OK;
}

/* Reads a whole small file into r->chunk; *len receives its bytes.
 * MIDA_ENOTFOUND when it is gone, MIDA_ETOOBIG past MAX_SMALL_FILE. */
static int read_small(file_reader *r, const char *abs, size_t *len) {
  int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? MIDA_ENOTFOUND : MIDA_EIO;
  size_t n = 0;
  for (;;) {
    ssize_t got = read(fd, r->chunk + n, MAX_SMALL_FILE + 1 - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      close(fd);
      return MIDA_EIO;
    }
    if (got == 0)
      break;
    n += (size_t)got;
    if (n > MAX_SMALL_FILE) {
      close(fd);
      return MIDA_ETOOBIG;
    }
  }
  close(fd);
  r->chunk[n] = '\0';
  *len = n;
  return MIDA_OK;
}

static void warn_file(file_reader *r, fs_file *f, const char *what) {
  if (f->warned)
    return;
  f->warned = 1;
  mida__obs_log(r->base.opts, MIDA_OBS_WARN,
                "%s/%s: %s (further problems with this file are not "
                "repeated)",
                r->base.where, f->rel, what);
}

/* Reads the whole lines of a metric file from f->offset on. */
static int load_metric_lines(file_reader *r, fs_file *f, const char *abs,
                             int64_t size) {
  if (size < f->offset) {
    mida__obs_log(r->base.opts, MIDA_OBS_WARN,
                  "%s/%s: the file shrank below the offset read (%" PRId64
                  " bytes); reading it again from the start",
                  r->base.where, f->rel, f->offset);
    f->offset = 0;
    f->emit_from = 0;
    if (f->kind == MIDA__FS_MODEL_METRIC) {
      int rc = mida__mlf_mirror_forget(&r->m, f->rel);
      if (rc != MIDA_OK)
        return rc;
    }
  }
  int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? MIDA_OK : MIDA_EIO;
  int rc = MIDA_OK;
  /* Each chunk leaves f->offset at the end of its last whole line: a safe
   * point to stop at, with the points read so far in the mirror. */
  while (rc == MIDA_OK && f->offset < size && !walk_cut(r)) {
    size_t want = (size_t)(size - f->offset);
    if (want > METRIC_CHUNK)
      want = METRIC_CHUNK;
    ssize_t got = pread(fd, r->chunk, want, (off_t)f->offset);
    if (got <= 0) {
      if (got < 0)
        rc = MIDA_EIO;
      break;
    }
    size_t pos = 0;
    for (;;) {
      const char *nl = memchr(r->chunk + pos, '\n', (size_t)got - pos);
      if (nl == NULL)
        break; /* the rest is not a whole line yet */
      size_t len = (size_t)(nl - (r->chunk + pos));
      const char *line = r->chunk + pos;
      if (len > 0 && line[len - 1] == '\r')
        len--;
      int64_t line_start = f->offset + (int64_t)pos;
      pos += (size_t)(nl - (r->chunk + pos)) + 1;
      if (len == 0)
        continue;
      mida__mlf_point pt;
      if (mida__mlf_metric_line(line, len, f->kind == MIDA__FS_MODEL_METRIC,
                                &pt) != MIDA_OK) {
        warn_file(r, f, "a line that is not a metric point (skipped)");
        continue;
      }
      rc = mida__mlf_mirror_point(&r->m, f, &pt, line_start >= f->emit_from);
      if (rc != MIDA_OK)
        break;
    }
    if (pos == 0 && (size_t)got == METRIC_CHUNK) {
      /* A line longer than a chunk: not MLflow's; skip to its end. */
      warn_file(r, f, "a line too long to be a metric point (skipped)");
      const char *nl = NULL;
      int64_t at = f->offset + METRIC_CHUNK;
      while (nl == NULL && at < size) {
        ssize_t more = pread(fd, r->chunk, METRIC_CHUNK, (off_t)at);
        if (more <= 0)
          break;
        nl = memchr(r->chunk, '\n', (size_t)more);
        at += nl != NULL ? (int64_t)(nl - r->chunk) + 1 : more;
      }
      if (nl == NULL)
        break; /* the line is not complete yet */
      f->offset = at;
      continue;
    }
    f->offset += (int64_t)pos;
    if (pos == 0)
      break;
  }
  close(fd);
  return rc;
}

/* Reads f again if it changed since it was last read. */
static int refresh(file_reader *r, fs_file *f, const char *abs,
                   const struct stat *sb) {
  int64_t mt = mtime_ns(sb);
  bool same = f->read_once && f->dev == sb->st_dev && f->ino == sb->st_ino &&
              f->size == (int64_t)sb->st_size && f->mtime_ns == mt;
  if (f->kind == MIDA__FS_METRIC || f->kind == MIDA__FS_MODEL_METRIC) {
    if (f->read_once && (f->dev != sb->st_dev || f->ino != sb->st_ino)) {
      f->offset = (int64_t)sb->st_size + 1; /* replaced: read it again */
    }
    f->dev = sb->st_dev;
    f->ino = sb->st_ino;
    f->size = (int64_t)sb->st_size;
    f->mtime_ns = mt;
    f->read_once = 1;
    if ((int64_t)sb->st_size == f->offset)
      return MIDA_OK;
    return load_metric_lines(r, f, abs, (int64_t)sb->st_size);
  }
  if (same && !f->failed)
    return MIDA_OK;
  if (same && f->failed) {
    /* The same state failed before: it is not a write in progress. */
    warn_file(r, f, f->kind == MIDA__FS_PARAM || f->kind == MIDA__FS_TAG ||
                            f->kind == MIDA__FS_EXP_TAG ||
                            f->kind == MIDA__FS_MODEL_PARAM ||
                            f->kind == MIDA__FS_MODEL_TAG
                        ? "cannot be read (skipped)"
                        : "not the YAML MLflow writes (skipped)");
    return MIDA_OK;
  }
  /* Content that cannot be read (MIDA_ECORRUPT, MIDA_EIO and
   * MIDA_ETOOBIG from the file) waits for the file to change; only the
   * mirror's own failures (MIDA_EIO, out of memory) end the pass. */
  size_t len = 0;
  int rc = read_small(r, abs, &len);
  if (rc == MIDA_ENOTFOUND)
    return MIDA_OK;
  bool mirror_failed = false;
  if (rc == MIDA_OK) {
    rc = mida__mlf_mirror_load(&r->m, f, r->chunk, len);
    mirror_failed = rc == MIDA_EIO || rc == MIDA_ENOMEM;
  }
  if (rc == MIDA_ENOMEM || mirror_failed)
    return rc;
  f->dev = sb->st_dev;
  f->ino = sb->st_ino;
  f->size = (int64_t)sb->st_size;
  f->mtime_ns = mt;
  f->failed = rc != MIDA_OK;
  if (rc == MIDA_OK)
    f->read_once = 1;
  return MIDA_OK; /* a file that could not be read waits for a change */
}

/* ---- walking the tree ---------------------------------------------------- */

static bool is_dot(const char *name) {
  return name[0] == '.';
}

/* The absolute path of rel in r->path. */
static const char *abs_of(file_reader *r, const char *rel) {
  mida__buf_reset(&r->path);
  if (mida__buf_printf(&r->path, "%s/%s", r->base.where, rel) != MIDA_OK)
    return NULL;
  return r->path.ptr;
}

/* Follows the file at rel (of kind, with its experiment, owner and key). */
static int follow(file_reader *r, const char *rel, fs_kind kind,
                  const char *exp, const char *owner, const char *key) {
  const char *abs = abs_of(r, rel);
  if (abs == NULL)
    return MIDA_ENOMEM;
  struct stat sb;
  if (lstat(abs, &sb) != 0 || !S_ISREG(sb.st_mode))
    return MIDA_OK;
  fs_file *f = find_file(r, rel);
  if (f == NULL) {
    f = add_file(r, rel);
    if (f == NULL)
      return MIDA_ENOMEM;
  }
  f->kind = kind;
  int rc = set_text(&f->exp, exp);
  if (rc == MIDA_OK)
    rc = set_text(&f->owner, owner);
  if (rc == MIDA_OK)
    rc = set_text(&f->key, key);
  f->seen = 1;
  if (rc != MIDA_OK)
    return rc;
  char *copy = mida__strdup(abs); /* refresh may reuse r->path */
  if (copy == NULL)
    return MIDA_ENOMEM;
  rc = refresh(r, f, copy, &sb);
  mida__free(copy);
  return rc;
}

static void watch(file_reader *r, const char *rel) {
  if (r->inotify_fd < 0)
    return;
  const char *abs = rel != NULL ? abs_of(r, rel) : r->base.where;
  if (abs != NULL)
    (void)inotify_add_watch(r->inotify_fd, abs,
                            IN_MODIFY | IN_CREATE | IN_MOVED_TO |
                                IN_CLOSE_WRITE);
}

/* Lists the entries of directory rel (relative to the root); calls fn for
 * each name. */
static int each_entry(file_reader *r, const char *rel,
                      int (*fn)(file_reader *r, const char *rel,
                                const char *name, bool dir, void *ctx),
                      void *ctx) {
  const char *abs = rel[0] != '\0' ? abs_of(r, rel) : r->base.where;
  if (abs == NULL)
    return MIDA_ENOMEM;
  DIR *d = opendir(abs);
  if (d == NULL)
    return MIDA_OK; /* vanished, or not there yet */
  watch(r, rel[0] != '\0' ? rel : NULL);
  int rc = MIDA_OK;
  struct dirent *e;
  mida__buf sub;
  mida__buf_init(&sub, PATH_MAX);
  while (rc == MIDA_OK && !walk_cut(r) && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    mida__buf_reset(&sub);
    rc = rel[0] != '\0' ? mida__buf_printf(&sub, "%s/%s", rel, e->d_name)
                        : mida__buf_adds(&sub, e->d_name);
    if (rc != MIDA_OK)
      break;
    bool dir = false;
    if (e->d_type == DT_DIR) {
      dir = true;
    } else if (e->d_type == DT_UNKNOWN) {
      struct stat sb;
      const char *a = abs_of(r, sub.ptr);
      dir = a != NULL && lstat(a, &sb) == 0 && S_ISDIR(sb.st_mode);
    }
    rc = fn(r, sub.ptr, e->d_name, dir, ctx);
  }
  mida__buf_free(&sub);
  closedir(d);
  return rc;
}

/* What the files below a keyed directory (params/, tags/, metrics/) are. */
typedef struct keyed {
  fs_kind kind;
  const char *exp, *owner;
  size_t prefix; /* bytes of "<...>/params/" in rel: the key follows */
  int depth;
} keyed;

static int keyed_entry(file_reader *r, const char *rel, const char *name,
                       bool dir, void *ctx) {
  keyed *k = ctx;
  (void)name;
  if (dir) {
    if (k->depth >= MAX_DEPTH)
      return MIDA_OK;
    keyed sub = *k;
    sub.depth++;
    return each_entry(r, rel, keyed_entry, &sub);
  }
  return follow(r, rel, k->kind, k->exp, k->owner, rel + k->prefix);
}

static int walk_keyed(file_reader *r, const char *dir, fs_kind kind,
                      const char *exp, const char *owner) {
  keyed k = {kind, exp, owner, strlen(dir) + 1, 0};
  return each_entry(r, dir, keyed_entry, &k);
}

/* A directory of links (inputs/, outputs/): <id>/meta.yaml each. */
typedef struct links {
  fs_kind kind;
  const char *exp, *run;
} links;

static int link_entry(file_reader *r, const char *rel, const char *name,
                      bool dir, void *ctx) {
  links *l = ctx;
  if (!dir || is_dot(name))
    return MIDA_OK;
  mida__buf meta;
  mida__buf_init(&meta, PATH_MAX);
  int rc = mida__buf_printf(&meta, "%s/meta.yaml", rel);
  if (rc == MIDA_OK)
    rc = follow(r, meta.ptr, l->kind, l->exp, l->run, name);
  mida__buf_free(&meta);
  return rc;
}

typedef struct owned {
  const char *exp;
} owned;

/* The parts of a run directory. */
static int run_entry(file_reader *r, const char *rel, const char *name,
                     bool dir, void *ctx) {
  const char **ids = ctx; /* experiment, run */
  if (!dir)
    return MIDA_OK; /* meta.yaml is read first, by walk_run */
  if (strcmp(name, "params") == 0)
    return walk_keyed(r, rel, MIDA__FS_PARAM, ids[0], ids[1]);
  if (strcmp(name, "tags") == 0)
    return walk_keyed(r, rel, MIDA__FS_TAG, ids[0], ids[1]);
  if (strcmp(name, "metrics") == 0)
    return walk_keyed(r, rel, MIDA__FS_METRIC, ids[0], ids[1]);
  if (strcmp(name, "inputs") == 0 || strcmp(name, "outputs") == 0) {
    links l = {name[0] == 'i' ? MIDA__FS_INPUT : MIDA__FS_OUTPUT, ids[0],
               ids[1]};
    return each_entry(r, rel, link_entry, &l);
  }
  return MIDA_OK; /* artifacts and what else a run holds */
}

static int model_entry(file_reader *r, const char *rel, const char *name,
                       bool dir, void *ctx) {
  const char **ids = ctx; /* experiment, model */
  if (!dir)
    return MIDA_OK;
  if (strcmp(name, "params") == 0)
    return walk_keyed(r, rel, MIDA__FS_MODEL_PARAM, ids[0], ids[1]);
  if (strcmp(name, "tags") == 0)
    return walk_keyed(r, rel, MIDA__FS_MODEL_TAG, ids[0], ids[1]);
  if (strcmp(name, "metrics") == 0)
    return walk_keyed(r, rel, MIDA__FS_MODEL_METRIC, ids[0], ids[1]);
  return MIDA_OK;
}

/* <exp>/datasets/<id> and <exp>/models/<id>. */
static int exp_child_entry(file_reader *r, const char *rel, const char *name,
                           bool dir, void *ctx) {
  const char **ids = ctx; /* experiment, "datasets" or "models" */
  if (!dir || is_dot(name))
    return MIDA_OK;
  mida__buf meta;
  mida__buf_init(&meta, PATH_MAX);
  int rc = mida__buf_printf(&meta, "%s/meta.yaml", rel);
  if (rc == MIDA_OK && ids[1][0] == 'd') {
    rc = follow(r, meta.ptr, MIDA__FS_DATASET, ids[0], name, NULL);
  } else if (rc == MIDA_OK) {
    rc = follow(r, meta.ptr, MIDA__FS_MODEL, ids[0], name, NULL);
    const char *mids[2] = {ids[0], name};
    if (rc == MIDA_OK)
      rc = each_entry(r, rel, model_entry, mids);
  }
  mida__buf_free(&meta);
  return rc;
}

static int exp_entry(file_reader *r, const char *rel, const char *name,
                     bool dir, void *ctx) {
  const char *exp = ctx;
  if (!dir || is_dot(name) || strcmp(name, "traces") == 0)
    return MIDA_OK;
  if (strcmp(name, "tags") == 0)
    return walk_keyed(r, rel, MIDA__FS_EXP_TAG, exp, exp);
  if (strcmp(name, "datasets") == 0 || strcmp(name, "models") == 0) {
    const char *ids[2] = {exp, name};
    return each_entry(r, rel, exp_child_entry, ids);
  }
  /* A run: a directory with a meta.yaml. */
  mida__buf meta;
  mida__buf_init(&meta, PATH_MAX);
  int rc = mida__buf_printf(&meta, "%s/meta.yaml", rel);
  if (rc == MIDA_OK)
    rc = follow(r, meta.ptr, MIDA__FS_RUN, exp, name, NULL);
  fs_file *f = rc == MIDA_OK ? find_file(r, meta.ptr) : NULL;
  mida__buf_free(&meta);
  if (rc != MIDA_OK || f == NULL || !f->seen)
    return rc;
  const char *ids[2] = {exp, name};
  return each_entry(r, rel, run_entry, ids);
}

static int root_entry(file_reader *r, const char *rel, const char *name,
                      bool dir, void *ctx) {
  (void)ctx;
  if (!dir || is_dot(name))
    return MIDA_OK; /* .trash: deleted experiments */
  mida__buf meta;
  mida__buf_init(&meta, PATH_MAX);
  int rc = mida__buf_printf(&meta, "%s/meta.yaml", rel);
  if (rc == MIDA_OK)
    rc = follow(r, meta.ptr, MIDA__FS_EXPERIMENT, name, name, NULL);
  fs_file *f = rc == MIDA_OK ? find_file(r, meta.ptr) : NULL;
  mida__buf_free(&meta);
  if (rc != MIDA_OK || f == NULL || !f->seen)
    return rc; /* not an experiment (the model registry's models/) */
  return each_entry(r, rel, exp_entry, (void *)name);
}

/* ---- the reader's methods ------------------------------------------------ */

static int fs_poll(mida__mlf_reader *base, bool *changed) {
  file_reader *r = fr_of(base);
  *changed = false;
  struct stat sb;
  if (stat(base->where, &sb) != 0)
    return mida__set_error(MIDA_ENOTFOUND,
                           "%s: no MLflow file store (%s)", base->where,
                           strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return mida__set_error(MIDA_ECORRUPT,
                           "%s: not a directory, so not an MLflow file store",
                           base->where);
  for (size_t b = 0; b < FILE_BUCKETS; b++)
    for (fs_file *f = r->files[b]; f != NULL; f = f->next)
      f->seen = 0;
  watch(r, NULL);
  int rc = each_entry(r, "", root_entry, NULL);
  if (rc != MIDA_OK || walk_cut(r))
    return rc; /* cut short: nothing to map (see the top of the file) */
  *changed = r->m.changed || r->first;
  return MIDA_OK;
}

static int fs_begin(mida__mlf_reader *base, const char *const *tables) {
  (void)tables;
  (void)base;
  return MIDA_OK;
}

/* After a pass that went well, the rows handed out leave the mirror. */
static void fs_end(mida__mlf_reader *base, bool ok) {
  file_reader *r = fr_of(base);
  if (!ok)
    return;
  mida__mlf_mirror_drop(&r->m, r->handed[T_METRICS], r->handed[T_INPUTS]);
  r->first = 0;
}

static int fs_fetch(mida__mlf_reader *base, const char *sql,
                    const char *const *params, int nparams, size_t max_rows,
                    mida__mlf_rows *out) {
  file_reader *r = fr_of(base);
  return r->mirror->methods->fetch(r->mirror, sql, params, nparams, max_rows,
                                   out);
}

static int fs_columns(mida__mlf_reader *base, const char *table,
                      mida__mlf_colset *cs) {
  file_reader *r = fr_of(base);
  return r->mirror->methods->columns(r->mirror, table, cs);
}

static int fs_scan_begin(mida__mlf_reader *base, const char *cols,
                         const char *from, const char *alias,
                         const char *position, mida__mlf_scan **out) {
  file_reader *r = fr_of(base);
  (void)position; /* the mirror holds only rows not handed out yet */
  *out = NULL;
  mida__mlf_scan *sc = mida__calloc(1, sizeof *sc);
  if (sc == NULL)
    return MIDA_ENOMEM;
  sc->table = strncmp(from, "inputs", 6) == 0 ? T_INPUTS : T_METRICS;
  int rc = r->mirror->methods->scan_begin(r->mirror, cols, from, alias, "",
                                          &sc->inner);
  if (rc != MIDA_OK) {
    mida__free(sc);
    return rc;
  }
  *out = sc;
  return MIDA_OK;
}

static int fs_scan_next(mida__mlf_reader *base, mida__mlf_scan *sc,
                        size_t batch, mida__mlf_rows *out) {
  file_reader *r = fr_of(base);
  int rc = r->mirror->methods->scan_next(r->mirror, sc->inner, batch, out);
  if (rc == MIDA_OK && out->n > 0)
    sc->hwm = out->c[(out->n - 1) * (size_t)out->ncols].i;
  return rc;
}

static const char *fs_scan_position(mida__mlf_reader *base,
                                    mida__mlf_scan *sc) {
  (void)base;
  (void)sc;
  return NULL; /* per-file positions instead (fs_positions) */
}

static void fs_scan_end(mida__mlf_reader *base, mida__mlf_scan *sc) {
  file_reader *r = fr_of(base);
  if (sc == NULL)
    return;
  if (sc->hwm > r->handed[sc->table])
    r->handed[sc->table] = sc->hwm;
  r->mirror->methods->scan_end(r->mirror, sc->inner);
  mida__free(sc);
}

static int fs_positions(mida__mlf_reader *base, mida__mlf_scan *sc,
                        int (*save)(void *ctx, const char *key,
                                    const char *position),
                        void *ctx) {
  file_reader *r = fr_of(base);
  int rc = MIDA_OK;
  mida__buf key;
  mida__buf_init(&key, PATH_MAX + 8);
  for (size_t b = 0; rc == MIDA_OK && b < FILE_BUCKETS; b++) {
    for (fs_file *f = r->files[b]; rc == MIDA_OK && f != NULL; f = f->next) {
      bool link = f->kind == MIDA__FS_INPUT || f->kind == MIDA__FS_OUTPUT;
      bool mine = sc->table == T_METRICS ? f->kind == MIDA__FS_METRIC : link;
      int64_t at = f->kind == MIDA__FS_METRIC ? f->offset
                   : f->read_once                ? 1
                                                 : 0;
      if (!mine || at == f->saved || at == 0 || f->last_rowid > sc->hwm)
        continue;
      char pos[32];
      snprintf(pos, sizeof pos, "%" PRId64, at);
      mida__buf_reset(&key);
      rc = mida__buf_printf(&key, "file:%s", f->rel);
      if (rc == MIDA_OK)
        rc = save(ctx, key.ptr, pos);
      if (rc == MIDA_OK)
        f->saved = at;
    }
  }
  mida__buf_free(&key);
  return rc;
}

static int fs_restore(mida__mlf_reader *base, const char *key,
                      const char *position) {
  file_reader *r = fr_of(base);
  if (strncmp(key, "file:", 5) != 0 || key[5] == '\0')
    return MIDA_OK;
  char *end = NULL;
  errno = 0;
  long long at = strtoll(position, &end, 10);
  if (errno != 0 || end == position || *end != '\0' || at <= 0)
    return MIDA_OK; /* not one of ours: read from the start */
  fs_file *f = find_file(r, key + 5);
  if (f == NULL)
    f = add_file(r, key + 5);
  if (f == NULL)
    return MIDA_ENOMEM;
  f->emit_from = at;
  f->saved = at;
  return MIDA_OK;
}

static int fs_rebuilt(mida__mlf_reader *base, const char *table,
                      const char *position, bool *rebuilt) {
  (void)base;
  (void)table;
  (void)position;
  *rebuilt = false; /* a shrunk file is read again by itself */
  return MIDA_OK;
}

static void fs_wait(mida__mlf_reader *base, unsigned poll_ms) {
  mida__obs_wait(fr_of(base)->inotify_fd, poll_ms);
}

static void fs_disconnect(mida__mlf_reader *base) {
  (void)base; /* nothing is held between polls */
}

static void fs_close(mida__mlf_reader *base) {
  file_reader *r = fr_of(base);
  if (r == NULL)
    return;
  if (r->mirror != NULL)
    r->mirror->methods->close(r->mirror);
  mida__mlf_mirror_close(&r->m);
  for (size_t b = 0; b < FILE_BUCKETS; b++) {
    fs_file *f = r->files[b];
    while (f != NULL) {
      fs_file *next = f->next;
      free_file(f);
      f = next;
    }
  }
  if (r->inotify_fd >= 0)
    close(r->inotify_fd);
  mida__buf_free(&r->path);
  mida__free(r->chunk);
  mida__free(r->base.where);
  mida__free(r);
}

static const mida__mlf_methods file_methods = {
    .name = "file",
    .cursor_unit = "file",
    .poll = fs_poll,
    .begin = fs_begin,
    .end = fs_end,
    .fetch = fs_fetch,
    .columns = fs_columns,
    .scan_begin = fs_scan_begin,
    .scan_next = fs_scan_next,
    .scan_position = fs_scan_position,
    .scan_end = fs_scan_end,
    .positions = fs_positions,
    .restore = fs_restore,
    .rebuilt = fs_rebuilt,
    .wait = fs_wait,
    .disconnect = fs_disconnect,
    .close = fs_close,
};

int mida__mlf_file_open(const char *root, const mida__obs_opts *opts,
                        bool with_inotify, mida__mlf_reader **out) {
  *out = NULL;
  file_reader *r = mida__calloc(1, sizeof *r);
  if (r == NULL)
    return MIDA_ENOMEM;
  r->base.methods = &file_methods;
  r->base.opts = opts;
  r->base.where = mida__strdup(root);
  r->inotify_fd = -1;
  r->first = 1;
  mida__buf_init(&r->path, PATH_MAX * 2);
  r->chunk = mida__malloc((METRIC_CHUNK > MAX_SMALL_FILE ? METRIC_CHUNK
                                                         : MAX_SMALL_FILE) +
                          2);
  int rc = r->base.where != NULL && r->chunk != NULL ? MIDA_OK : MIDA_ENOMEM;
  if (rc == MIDA_OK)
    rc = mida__mlf_mirror_open(&r->m, r->base.where, opts);
  if (rc == MIDA_OK)
    rc = mida__mlf_sqlite_wrap(r->m.db, root, opts, &r->mirror);
  if (rc == MIDA_OK && with_inotify) {
    r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->inotify_fd < 0)
      mida__obs_log(opts, MIDA_OBS_WARN,
                    "inotify unavailable (%s); polling every %u ms",
                    strerror(errno), opts->poll_ms ? opts->poll_ms : 500);
  }
  if (rc != MIDA_OK) {
    fs_close(&r->base);
    return rc;
  }
  *out = &r->base;
  return MIDA_OK;
}

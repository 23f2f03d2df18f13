/*
 * dest.c -- where an export goes (cli.h, "destinations"): standard output,
 * a file, or a directory of files, never left half-written.
 *
 * A file is written under a temporary name in the same directory
 * ("OUT.tmp-XXXXXX", so that the final rename(2) stays on one file
 * system and is atomic) and renamed to OUT only when the whole export
 * succeeded; on failure the temporary is removed. A directory (the
 * RO-Crate) is built the same way as "OUT.tmp-XXXXXX/" and renamed.
 *
 * An OUT that exists is an error unless --force: then a regular file is
 * replaced by the rename, and a directory only if it is an earlier crate
 * (it holds ro-crate-metadata.json and plain files only), which is moved
 * aside, replaced, and deleted. Anything else (a symbolic link, a device,
 * a FIFO) is never replaced.
 *
 * Progress: when standard error is a terminal, a one-line counter
 * ("mida export: tasks 120000/1000000") redrawn at most five times a
 * second; nothing otherwise.
 */
#include "cli/cli.h"

#include "mida.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The file of a crate that marks a directory --force may replace. */
#define CRATE_MARK "ro-crate-metadata.json"

static int dest_write(void *ctx, const char *data, size_t len) {
  mida__cli_dest *d = ctx;
  if (d->fp == NULL)
    return MIDA_EINVAL;
  if (fwrite(data, 1, len, d->fp) != len)
    return mida__cli_write_failed();
  return MIDA_OK;
}

/* Joins dir and name into buf; MIDA_ETOOBIG if it does not fit. */
static int join(char *buf, size_t cap, const char *dir, const char *name) {
  int n = snprintf(buf, cap, "%s/%s", dir, name);
  return n < 0 || (size_t)n >= cap ? MIDA_ETOOBIG : MIDA_OK;
}

static int dest_begin_file(void *ctx, const char *name) {
  mida__cli_dest *d = ctx;
  char path[4096];
  if (!d->is_dir || d->fp != NULL || strchr(name, '/') != NULL ||
      join(path, sizeof path, d->tmp, name) != MIDA_OK)
    return MIDA_EINVAL;
  d->fp = fopen(path, "wx");
  return d->fp != NULL ? MIDA_OK : mida__cli_write_failed();
}

static int dest_end_file(void *ctx) {
  mida__cli_dest *d = ctx;
  if (d->fp == NULL)
    return MIDA_EINVAL;
  int rc = fclose(d->fp) == 0 ? MIDA_OK : mida__cli_write_failed();
  d->fp = NULL;
  return rc;
}

static void dest_progress(void *ctx, const char *what, uint64_t done,
                          uint64_t total) {
  mida__cli_dest *d = ctx;
  if (total > 0)
    mida__cli_progress_show(&d->progress, done == total,
                            "%s %llu/%llu (%llu%%)", what,
                            (unsigned long long)done, (unsigned long long)total,
                            (unsigned long long)(done * 100 / total));
  else
    mida__cli_progress_show(&d->progress, 0, "%s %llu", what,
                            (unsigned long long)done);
}

/* Whether path is an earlier crate: a directory holding CRATE_MARK and
 * regular files only. */
static int is_old_crate(const char *path) {
  char mark[4096];
  if (join(mark, sizeof mark, path, CRATE_MARK) != MIDA_OK ||
      access(mark, F_OK) != 0)
    return 0;
  DIR *dir = opendir(path);
  if (dir == NULL)
    return 0;
  int ok = 1;
  struct dirent *e;
  while (ok && (e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[4096];
    struct stat st;
    ok = join(p, sizeof p, path, e->d_name) == MIDA_OK &&
         lstat(p, &st) == 0 && S_ISREG(st.st_mode);
  }
  closedir(dir);
  return ok;
}

/* Deletes a directory of regular files (a crate made here). */
static int remove_flat_dir(const char *path) {
  DIR *dir = opendir(path);
  if (dir == NULL)
    return errno == ENOENT ? 0 : -1;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[4096];
    if (join(p, sizeof p, path, e->d_name) != MIDA_OK || unlink(p) != 0)
      rc = -1;
  }
  closedir(dir);
  if (rmdir(path) != 0)
    rc = -1;
  return rc;
}

/* Whether an output that exists at path (st, from lstat) may be replaced.
 * What --force cannot replace is said first, whether or not it was given,
 * so that "--force replaces it" is said only where it would: "-o
 * /dev/stdout" was told to add --force, then that --force replaces only a
 * file. MIDA_CLI_CONTINUE, or MIDA_CLI_FAIL after saying why. */
static int existing_output(const char *verb, const char *path,
                           const struct stat *st, int is_dir, int force) {
  if (S_ISDIR(st->st_mode) && !is_dir)
    return mida__cli_fail("%s: %s is a directory: --force replaces a file "
                          "with a file, and a directory only with a crate",
                          verb, path);
  if (S_ISDIR(st->st_mode) && !is_old_crate(path))
    return mida__cli_fail("%s: %s is a directory that is not an earlier "
                          "crate; not replacing it",
                          verb, path);
  if (!S_ISDIR(st->st_mode) && is_dir)
    return mida__cli_fail("%s: %s exists and is not a directory", verb, path);
  /* The rename would put a file in place of a link, a device or a pipe
   * (as root, "-o /dev/null --force" would replace the device). */
  if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
    return mida__cli_fail("%s: %s is not a regular file (a link, a device "
                          "or a pipe): --force replaces only a file; "
                          "write to standard output with '-o -' instead",
                          verb, path);
  if (!force)
    return mida__cli_fail("%s: %s exists (--force replaces it)", verb, path);
  return MIDA_CLI_CONTINUE;
}

int mida__cli_dest_open(mida__cli_dest *d, const char *label,
                        const char *path, int is_dir, int force,
                        mida__report_io *io) {
  memset(d, 0, sizeof *d);
  memset(io, 0, sizeof *io);
  d->label = label;
  /* mida__cli_fail puts "mida: " first: "mida: export: ...", not
   * "mida: mida export: ...". */
  const char *verb = strncmp(label, "mida ", 5) == 0 ? label + 5 : label;
  d->path = path;
  d->is_dir = is_dir;
  d->force = force;
  io->write = dest_write;
  io->ctx = d;
  mida__cli_progress_init(&d->progress, label);
  if (d->progress.on) {
    io->progress = dest_progress;
    io->progress_ctx = d;
  }
  if (path == NULL || strcmp(path, "-") == 0) {
    if (is_dir)
      return mida__cli_fail("%s: an RO-Crate needs an output path", verb);
    d->path = NULL;
    d->fp = stdout;
    return MIDA_CLI_CONTINUE;
  }
  struct stat st;
  if (lstat(path, &st) == 0) {
    int ex = existing_output(verb, path, &st, is_dir, force);
    if (ex != MIDA_CLI_CONTINUE)
      return ex;
  }
  int n = snprintf(d->tmp, sizeof d->tmp, "%s.tmp-XXXXXX", path);
  if (n < 0 || (size_t)n >= sizeof d->tmp)
    return mida__cli_fail("%s: the path %s is too long", verb, path);
  if (is_dir) {
    if (mkdtemp(d->tmp) == NULL)
      return mida__cli_fail("%s: cannot write %s: %s", verb, path,
                            strerror(errno));
    io->begin_file = dest_begin_file;
    io->end_file = dest_end_file;
  } else {
    int fd = mkstemp(d->tmp);
    if (fd < 0)
      return mida__cli_fail("%s: cannot write %s: %s", verb, path,
                            strerror(errno));
    /* mkstemp makes 0600; an export is as readable as any new file. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    d->fp = fdopen(fd, "w");
    if (d->fp == NULL) {
      close(fd);
      unlink(d->tmp);
      return mida__cli_fail("%s: cannot write %s: %s", verb, path,
                            strerror(errno));
    }
  }
  d->open = 1;
  return MIDA_CLI_CONTINUE;
}

void mida__cli_dest_abort(mida__cli_dest *d) {
  mida__cli_progress_end(&d->progress);
  if (d->fp != NULL && d->fp != stdout)
    fclose(d->fp);
  d->fp = NULL;
  if (!d->open)
    return;
  d->open = 0;
  if (d->is_dir)
    remove_flat_dir(d->tmp);
  else
    unlink(d->tmp);
}

int mida__cli_dest_commit(mida__cli_dest *d) {
  mida__cli_progress_end(&d->progress);
  if (d->path == NULL)
    return mida__cli_flush(stdout);
  int rc = MIDA_OK;
  if (d->fp != NULL) {
    rc = mida__cli_flush(d->fp);
    if (rc == MIDA_OK && fsync(fileno(d->fp)) != 0)
      rc = mida__cli_write_failed();
    if (fclose(d->fp) != 0 && rc == MIDA_OK)
      rc = mida__cli_write_failed();
    d->fp = NULL;
  }
  if (rc != MIDA_OK) {
    mida__cli_dest_abort(d);
    return rc;
  }
  char old[4096] = "";
  if (d->is_dir && d->force && access(d->path, F_OK) == 0) {
    /* rename(2) does not replace a non-empty directory: move the earlier
     * crate aside first. */
    int n = snprintf(old, sizeof old, "%s.old-XXXXXX", d->path);
    if (n < 0 || (size_t)n >= sizeof old || mkdtemp(old) == NULL ||
        rmdir(old) != 0 || rename(d->path, old) != 0) {
      rc = mida__cli_write_failed();
      mida__cli_dest_abort(d);
      return rc;
    }
  }
  if (rename(d->tmp, d->path) != 0) {
    rc = mida__cli_write_failed();
    if (old[0] != '\0')
      (void)rename(old, d->path);
    mida__cli_dest_abort(d);
    return rc;
  }
  d->open = 0;
  if (old[0] != '\0' && remove_flat_dir(old) != 0)
    fprintf(stderr, "%s: the earlier crate is left at %s\n", d->label, old);
  return MIDA_OK;
}

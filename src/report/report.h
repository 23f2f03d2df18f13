/*
 * report.h -- the read side shared by the `mida` command and `mida serve`:
 * the standard exports (W3C PROV-JSON, Workflow Run RO-Crate, OpenLineage)
 * and the comparison of two runs (`mida diff`).
 *
 * Every function here reads the store only through mida__sink_query() (the
 * one query path) and writes through a mida__report_io: bytes go to a write
 * callback (a file, a buffer, a socket), progress to an optional callback.
 * Nothing is held per task: each part is a query whose rows are written as
 * they come, so memory stays flat whatever the store's size. No function
 * here prints, exits, or opens a file; the caller decides where the bytes
 * go (src/cli/export.c writes a temporary file and renames it).
 *
 * Errors: MIDA_OK, MIDA_ENOTFOUND (an id that is not in the store),
 * MIDA_EINVAL (a selection that cannot be exported, e.g. a workflow with
 * no tasks), the sink's error, MIDA_ENOMEM, or the write callback's error.
 * On failure io->errmsg says why in one line (it is "" when the sink's
 * message says it better: see mida__sink_errmsg()).
 */
#ifndef MIDA_REPORT_REPORT_H
#define MIDA_REPORT_REPORT_H

#include "sink/sink.h"

#include <stddef.h>
#include <stdint.h>

/* Where a report goes. */
typedef struct mida__report_io {
  /* Writes len bytes; returns MIDA_OK or an error (MIDA_EIO), which stops
   * the report and is returned by it. */
  int (*write)(void *ctx, const char *data, size_t len);
  /* For reports made of several files (the RO-Crate): starts the file
   * name (a relative path) and ends it; the writes in between are its
   * content. NULL for a one-document sink, which then cannot take them. */
  int (*begin_file)(void *ctx, const char *name);
  int (*end_file)(void *ctx);
  void *ctx; /* passed to the three above */
  /* Optional: called now and then with what is being written ("tasks"),
   * how many are done and how many there are in all (0 if unknown). */
  void (*progress)(void *ctx, const char *what, uint64_t done,
                   uint64_t total);
  void *progress_ctx; /* passed to progress */
  char errmsg[512];   /* on failure, why, in one line, or "" */
} mida__report_io;

/* What to export: the whole store, one workflow, or one campaign. */
typedef struct mida__report_scope {
  const char *workflow; /* a workflow id, or NULL */
  const char *campaign; /* a campaign id or name, or NULL */
  char campaign_id[64]; /* set by mida__report_scope_check: the id */
} mida__report_scope;

/* What an export wrote. */
typedef struct mida__report_stats {
  uint64_t workflows; /* workflows described */
  uint64_t tasks;     /* tasks described */
  uint64_t data;      /* data entities described */
  uint64_t events;    /* OpenLineage events written */
  uint64_t skipped;   /* workflows left out (RO-Crate: no tasks) */
} mida__report_stats;

/* Checks a scope against the store: the workflow exists and has tasks,
 * the campaign exists (by id or name; its id is copied into
 * scope->campaign_id). Both set at once is MIDA_EINVAL. Returns MIDA_OK,
 * MIDA_ENOTFOUND, MIDA_EINVAL or the sink's error, with io->errmsg set. */
int mida__report_scope_check(mida__sink *sink, mida__report_scope *scope,
                             mida__report_io *io);

/* W3C PROV-JSON (prov.c). The scope must have been checked. */
int mida__report_prov(mida__sink *sink, const mida__report_scope *scope,
                      mida__report_io *io, mida__report_stats *stats);

/* Options of the RO-Crate. */
typedef struct mida__report_crate_opts {
  const char *license; /* the crate's license (a URL), or NULL */
  const char *name;    /* the crate's name, or NULL for one made up */
} mida__report_crate_opts;

/* The main workflow file of a crate, written beside the metadata. */
#define MIDA_REPORT_CRATE_PLAN "mida-workflow.json"

/* A Workflow Run RO-Crate, Provenance Run Crate profile 0.5 (rocrate.c):
 * two files, ro-crate-metadata.json and MIDA_REPORT_CRATE_PLAN, through
 * io->begin_file / write / end_file. Workflows without tasks are left out
 * (counted in stats->skipped); a scope with no workflow that has tasks is
 * MIDA_EINVAL (a crate describes at least one run). */
int mida__report_rocrate(mida__sink *sink, const mida__report_scope *scope,
                         const mida__report_crate_opts *opts,
                         mida__report_io *io, mida__report_stats *stats);

/* OpenLineage RunEvents as JSON lines (openlineage.c): for each workflow,
 * then each task, a START event and, once it ended, a COMPLETE, FAIL or
 * ABORT event. Each call to io->write is exactly one event line, newline
 * included, so that a caller can send each one on its own (an HTTP POST). */
int mida__report_openlineage(mida__sink *sink, const mida__report_scope *scope,
                             mida__report_io *io, mida__report_stats *stats);

/* The comparison of two tasks or two workflows (diff.c), named by id or by
 * their source's key (an MLflow run id). Side by side as text, or as one
 * JSON object. Sets *differences to the number of rows that differ. */
int mida__report_diff(mida__sink *sink, const char *a, const char *b,
                      int json, mida__report_io *io, uint64_t *differences);

/* ---- a ZIP archive over a byte sink (zip.c) ------------------------------ */

typedef struct mida__zip mida__zip;

/* Makes a writer of a ZIP archive onto under (its write only), and fills
 * io so that a report's begin_file/write/end_file become entries,
 * deflated, streamed (sizes in data descriptors, so nothing is held but
 * one entry's zlib state). Free with mida__zip_free after
 * mida__zip_finish (which writes the central directory). Returns MIDA_OK
 * or MIDA_ENOMEM. */
int mida__zip_new(mida__report_io *under, mida__zip **out,
                  mida__report_io *io);
int mida__zip_finish(mida__zip *z);
void mida__zip_free(mida__zip *z);

/* ---- HTTP (http.c) ------------------------------------------------------- */

/* POSTs body (JSON) to an http:// URL with HTTP/1.1 and waits for the
 * answer: MIDA_OK for a 2xx status; MIDA_EURL for a URL that is not
 * http://host[:port]/path (https is not spoken: use a local relay);
 * MIDA_EUNREACHABLE when the host cannot be reached, MIDA_ETIMEDOUT after
 * timeout_ms, MIDA_EIO for any other status, with why in err (the URL's
 * user and password, if any, are never written there). */
int mida__http_post_json(const char *url, const char *body, size_t len,
                         int timeout_ms, char *err, size_t errlen);

#endif /* MIDA_REPORT_REPORT_H */

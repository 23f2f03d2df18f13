/*
 * export.c -- `mida export prov|rocrate|openlineage`: the store in the
 * formats other tools read. The formats themselves are src/report/'s
 * (prov.c, rocrate.c, openlineage.c, shared with `mida serve`); this verb
 * parses options, opens the store read-only, and sends the bytes to a
 * destination (dest.c) that never leaves a partial file behind, or, for
 * OpenLineage, also to an HTTP endpoint. The export's queries all read one
 * snapshot of the store (sink.h, mida__sink_snapshot_begin): a writer's
 * records committed meanwhile are in none of its parts, where each query
 * read its own state and a relation could name an entity the document did
 * not hold.
 */
#include "cli/cli.h"

#include "core/buf.h"
#include "mida.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char export_help[] =
    "usage: mida export prov [--workflow ID | --campaign C] [-o FILE]\n"
    "       mida export rocrate [--workflow ID | --campaign C] OUT[.zip]\n"
    "       mida export openlineage [--workflow ID | --campaign C]\n"
    "                               [-o FILE] [--url URL]\n"
    "\n"
    "Writes the store's provenance in a standard format (no selection:\n"
    "everything in the store):\n"
    "  prov         W3C PROV-JSON: data as entities, tasks and workflows as\n"
    "               activities, users, hosts and mida as agents, with used,\n"
    "               wasGeneratedBy, wasAssociatedWith, wasInformedBy and\n"
    "               wasDerivedFrom\n"
    "  rocrate      a Workflow Run RO-Crate (Provenance Run Crate 0.5): the\n"
    "               directory OUT, or a ZIP archive when OUT ends in .zip\n"
    "  openlineage  OpenLineage RunEvents (START, then COMPLETE, FAIL or\n"
    "               ABORT) as JSON lines, with parent-run facets and input\n"
    "               and output datasets\n"
    "\n"
    "options:\n"
    "  --workflow ID    only this workflow and its tasks\n"
    "  --campaign C     only campaign C (id or name): its workflows, and its\n"
    "                   tasks in workflows of another\n"
    "  -o, --output F   write to file F instead of standard output\n"
    "  --force          replace an existing output (a directory only if\n"
    "                   it is an earlier crate)\n"
    "  --license URL    rocrate: the crate's license (default: none stated)\n"
    "  --name TEXT      rocrate: the crate's name\n"
    "  --url URL        openlineage: also POST each event to this http://\n"
    "                   endpoint (Marquez: http://host:5000/api/v1/lineage)\n"
    "  --store URL      the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "Output is written under a temporary name and renamed when complete;\n"
    "an existing output is an error unless --force.\n"
    "\n"
    "example:\n"
    "  mida export rocrate --campaign paper run-crate.zip\n";

/* ---- OpenLineage: each event line also POSTed ---------------------------- */

typedef struct poster {
  mida__report_io *under; /* the file or standard output, or NULL */
  const char *url;        /* the endpoint */
  mida__buf event;        /* the line without its newline */
  char err[512];          /* why a POST failed */
} poster;

static int post_write(void *ctx, const char *data, size_t len) {
  poster *p = ctx;
  int rc = MIDA_OK;
  if (p->under != NULL)
    rc = p->under->write(p->under->ctx, data, len);
  if (rc != MIDA_OK)
    return rc;
  mida__buf_reset(&p->event);
  size_t n = len > 0 && data[len - 1] == '\n' ? len - 1 : len;
  rc = mida__buf_add(&p->event, data, n);
  if (rc == MIDA_OK)
    rc = mida__http_post_json(p->url, mida__buf_str(&p->event), n, 30000,
                              p->err, sizeof p->err);
  return rc;
}

/* ---- the verb ------------------------------------------------------------ */

typedef enum format { PROV, ROCRATE, OPENLINEAGE } format;

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Runs the export of fmt into io. */
static int run_export(format fmt, mida__sink *sink,
                      const mida__report_scope *scope,
                      const mida__report_crate_opts *crate,
                      mida__report_io *io, mida__report_stats *st) {
  if (fmt == PROV)
    return mida__report_prov(sink, scope, io, st);
  if (fmt == OPENLINEAGE)
    return mida__report_openlineage(sink, scope, io, st);
  return mida__report_rocrate(sink, scope, crate, io, st);
}

int mida__cli_export(mida__cli *cli, int argc, char **argv) {
  const char *output = NULL, *url = NULL;
  mida__report_scope scope;
  memset(&scope, 0, sizeof scope);
  mida__report_crate_opts crate = {NULL, NULL};
  int force = 0;
  const mida__cli_opt opts[] = {
      {"--workflow", NULL, &scope.workflow, NULL},
      {"--campaign", NULL, &scope.campaign, NULL},
      {"--output", "-o", &output, NULL},
      {"--force", NULL, NULL, &force},
      {"--license", NULL, &crate.license, NULL},
      {"--name", NULL, &crate.name, NULL},
      {"--url", NULL, &url, NULL},
      {NULL, NULL, NULL, NULL},
  };
  const char *pos[2];
  int npos = 0;
  int ex = mida__cli_parse(cli, "export", export_help, opts, argc, argv, pos, 1,
                           2, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  format fmt;
  if (strcmp(pos[0], "prov") == 0)
    fmt = PROV;
  else if (strcmp(pos[0], "rocrate") == 0)
    fmt = ROCRATE;
  else if (strcmp(pos[0], "openlineage") == 0)
    fmt = OPENLINEAGE;
  else
    return mida__cli_usage_error(
        "export", "unknown format '%s' (known: prov, rocrate, openlineage)",
        pos[0]);
  if (fmt == ROCRATE) {
    if (npos == 2 && output != NULL)
      return mida__cli_usage_error("export", "give OUT or -o, not both");
    if (npos == 2)
      output = pos[1];
    if (output == NULL)
      return mida__cli_usage_error("export", "rocrate needs OUT: a directory "
                                             "or a .zip file");
  } else if (npos == 2) {
    return mida__cli_usage_error("export", "unexpected argument '%s' (use -o)",
                                 pos[1]);
  }
  if (url != NULL && fmt != OPENLINEAGE)
    return mida__cli_usage_error("export", "--url is for openlineage");
  /* As --url: an option of another format was dropped without a word. */
  if ((crate.license != NULL || crate.name != NULL) && fmt != ROCRATE)
    return mida__cli_usage_error("export", "%s is for rocrate",
                                 crate.license != NULL ? "--license"
                                                       : "--name");
  if (scope.workflow != NULL && scope.campaign != NULL)
    return mida__cli_usage_error("export",
                                 "--workflow and --campaign exclude each "
                                 "other");

  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__cli_unbounded_time(sink);
  /* Another program's database fails here, before the first line of the
   * export goes out (to standard output, which cannot be taken back). */
  mida__cli_rows probe;
  int rc = mida__cli_fetch(sink, "SELECT key FROM mida_meta LIMIT 0", NULL, 0,
                           1, &probe);
  mida__cli_rows_free(&probe);
  if (rc != MIDA_OK) {
    ex = mida__cli_store_error(sink, rc, "export");
    mida__sink_close(sink);
    return ex;
  }
  mida__report_io io;
  memset(&io, 0, sizeof io);
  rc = mida__sink_snapshot_begin(sink);
  if (rc == MIDA_OK)
    rc = mida__report_scope_check(sink, &scope, &io);
  if (rc != MIDA_OK) {
    ex = io.errmsg[0] != '\0' ? mida__cli_fail("export: %s", io.errmsg)
                              : mida__cli_store_error(sink, rc, "export");
    mida__sink_snapshot_end(sink);
    mida__sink_close(sink);
    return ex;
  }

  int zip = fmt == ROCRATE && has_suffix(output, ".zip");
  mida__cli_dest dest;
  /* With --url and no -o, the events go to the endpoint only. */
  int to_file = !(fmt == OPENLINEAGE && url != NULL && output == NULL);
  mida__report_io file_io;
  memset(&file_io, 0, sizeof file_io);
  memset(&dest, 0, sizeof dest);
  if (to_file) {
    ex = mida__cli_dest_open(&dest, "mida export", output,
                             fmt == ROCRATE && !zip, force, &file_io);
    if (ex != MIDA_CLI_CONTINUE) {
      mida__sink_snapshot_end(sink);
      mida__sink_close(sink);
      return ex;
    }
  }
  io = file_io;
  mida__zip *z = NULL;
  poster post;
  memset(&post, 0, sizeof post);
  if (zip)
    rc = mida__zip_new(&file_io, &z, &io);
  if (url != NULL) {
    post.under = to_file ? &file_io : NULL;
    post.url = url;
    mida__buf_init(&post.event, 256u * 1024 * 1024);
    io.write = post_write;
    io.ctx = &post;
  }

  mida__report_stats st;
  memset(&st, 0, sizeof st);
  if (rc == MIDA_OK)
    rc = run_export(fmt, sink, &scope, &crate, &io, &st);
  /* The store is read: its snapshot is let go before the output is
   * finished (a ZIP's directory, the rename). */
  mida__sink_snapshot_end(sink);
  if (rc == MIDA_OK && z != NULL)
    rc = mida__zip_finish(z);
  mida__zip_free(z);
  if (rc == MIDA_OK && to_file)
    rc = mida__cli_dest_commit(&dest);
  else if (to_file)
    mida__cli_dest_abort(&dest);
  mida__buf_free(&post.event);

  if (rc == MIDA_OK) {
    ex = MIDA_CLI_OK;
    if (st.skipped > 0)
      fprintf(stderr,
              "mida export: %llu workflow(s) without tasks left out of the "
              "crate\n",
              (unsigned long long)st.skipped);
  } else if (post.err[0] != '\0') {
    ex = mida__cli_fail("export: %s", post.err);
  } else if (mida__cli_write_broke(rc)) {
    /* Before the report's own message, which says only MIDA_EIO's words. */
    ex = mida__cli_fail("export: cannot write %s: %s",
                        output != NULL && strcmp(output, "-") != 0
                            ? output
                            : "standard output",
                        mida__cli_write_error(rc));
  } else if (io.errmsg[0] != '\0') {
    ex = mida__cli_fail("export: %s", io.errmsg);
  } else if (rc == MIDA_EIO || rc == MIDA_ENOMEM || rc == MIDA_ETOOBIG) {
    ex = mida__cli_fail("export: %s%s%s", mida_strerror(rc),
                        output != NULL ? " writing " : "",
                        output != NULL ? output : "");
  } else {
    ex = mida__cli_store_error(sink, rc, "export");
  }
  mida__sink_close(sink);
  return ex;
}

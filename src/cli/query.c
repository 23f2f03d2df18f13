/*
 * query.c -- `mida query SQL`: one read-only SQL statement on the store.
 *
 * The statement goes to the store through mida__sink_query() on a store
 * opened read-only; the sink refuses a statement that would write (INSERT,
 * DELETE, DROP, ATTACH, ...) with MIDA_EREADONLY, so the user's steering
 * queries can never change what was captured, even while workflows run.
 */
#include "cli/cli.h"
#include "sink/guard.h"

#include "mida.h"

#include <stdio.h>

static const char query_help[] =
    "usage: mida query SQL [--csv | --json]\n"
    "\n"
    "Runs one read-only SQL statement on the store and prints its rows.\n"
    "Tables: campaign, workflow, task, task_run (each run of a task),\n"
    "data, task_data, task_dep, metric, telemetry, source_cursor, counter;\n"
    "views task_v and workflow_v add ISO 8601 times, task_telemetry_v\n"
    "joins each task to its telemetry (src/sink/schema.h).\n"
    "A statement that would write is refused.\n"
    "\n"
    "options:\n"
    "  --csv        CSV (RFC 4180) with a header line\n"
    "  --json       a JSON array of objects\n"
    "  --store URL  the store (default: $MIDA_STORE, else sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida query \"SELECT activity, count(*) AS n FROM task GROUP BY 1\"\n";

/* 1 when sql holds no statement: nothing but white space, ';' and SQL
 * comments (-- to the end of the line, and unnested slash-star ones). The
 * store would refuse it too ("empty query"), as a failure of the store
 * (exit 1) and only once it is open; it is a mistake in the command line.
 * A text this scan is not sure of goes to the store. */
static int statement_is_empty(const char *sql) {
  const char *p = mida__sql_skip_blank(sql, NULL);
  return p != NULL && *p == '\0'; /* unterminated: the store says so */
}

/* Prints the query guard's refusal of a statement as the guard words it
 * ("the query guard refuses this statement: it would write (...)"), the
 * words that Python's mida.query() and /api/sql give too. */
static int readonly_error(const mida__sink *sink) {
  const char *msg = mida__sink_errmsg(sink);
  if (msg == NULL || msg[0] == '\0')
    msg = mida_strerror(MIDA_EREADONLY);
  return mida__cli_fail("%s", msg);
}

int mida__cli_query(mida__cli *cli, int argc, char **argv) {
  int csv = 0;
  int json = 0;
  const mida__cli_opt opts[] = {
      {"--csv", NULL, NULL, &csv},
      {"--json", NULL, NULL, &json},
      {NULL, NULL, NULL, NULL},
  };
  const char *pos[1];
  int npos = 0;
  int ex = mida__cli_parse(cli, "query", query_help, opts, argc, argv, pos, 1,
                           1, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (statement_is_empty(pos[0]))
    return mida__cli_usage_error("query", "the SQL statement is empty");
  mida__out_format fmt;
  ex = mida__out_pick("query", csv, json, &fmt);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;

  /* This process only reads: a statement's rows are bounded in memory
   * as its temporary files are (guard.h). */
  (void)mida__sink_bound_reader_memory();
  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__out out;
  mida__out_init(&out, fmt, stdout);
  int rc = mida__sink_query_cells(sink, pos[0], NULL, 0, mida__out_columns,
                                  mida__out_row, &out);
  if (rc == MIDA_OK && out.rc != MIDA_OK)
    rc = out.rc;
  if (rc == MIDA_OK) {
    rc = mida__out_end(&out);
    ex = rc == MIDA_OK
             ? MIDA_CLI_OK
             : mida__cli_fail("cannot write the result: %s",
                              mida__cli_write_error(rc));
  } else {
    mida__out_discard(&out);
    fflush(stdout);
    if (rc == MIDA_EREADONLY)
      ex = readonly_error(sink);
    else if (out.rc != MIDA_OK)
      ex = mida__cli_fail("cannot write the result: %s",
                          mida__cli_write_error(rc));
    else
      ex = mida__cli_store_error(sink, rc, "query failed");
  }
  /* After the result (flushed), which it does not change: a bound of the
   * guard's that this role cannot have. */
  char unbounded[512];
  if (mida__sink_take_query_notice(sink, unbounded, sizeof unbounded))
    mida__cli_note("mida: warning: %s\n", unbounded);
  mida__sink_close(sink);
  return ex;
}

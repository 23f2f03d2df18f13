/*
 * diff.c -- `mida diff A B`: two tasks or two workflows side by side, with
 * what differs marked. The comparison is src/report/diff.c's, shared with
 * the compare view of `mida serve`; this verb parses options and prints.
 */
#include "cli/cli.h"

#include "mida.h"

#include <stdio.h>
#include <string.h>

static const char diff_help[] =
    "usage: mida diff A B [--json]\n"
    "\n"
    "Compares two tasks (e.g. two MLflow runs, two `mida run` commands) or\n"
    "two workflows (e.g. two Dask computations), named by id or by their\n"
    "source's key (an MLflow run id): the run (status, times, host), the\n"
    "parameters, the recorded environment, the input data by digest or\n"
    "URI, the outputs, the final metrics and the resource use, side by\n"
    "side. Marks: * differs, < only in A, > only in B.\n"
    "\n"
    "options:\n"
    "  --json          one JSON object: {\"a\", \"b\", \"rows\": [{section,\n"
    "                  key, a, b, status}], \"differences\"}\n"
    "  --store URL     the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "The exit status is 0 whether or not they differ, 1 on an error.\n"
    "\n"
    "example:\n"
    "  mida diff 0190a4c2-5e1f-7c3a-8d2b-4f6e8a9b0c1d "
    "0190a4c2-6a00-7c3a-8d2b-4f6e8a9b0c1e\n";

int mida__cli_diff(mida__cli *cli, int argc, char **argv) {
  int json = 0;
  const mida__cli_opt opts[] = {
      {"--json", NULL, NULL, &json},
      {NULL, NULL, NULL, NULL},
  };
  const char *pos[2];
  int npos = 0;
  int ex = mida__cli_parse(cli, "diff", diff_help, opts, argc, argv, pos, 2,
                           2, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__cli_dest dest;
  mida__report_io io;
  ex = mida__cli_dest_open(&dest, "mida diff", NULL, 0, 0, &io);
  io.progress = NULL;
  uint64_t differences = 0;
  int rc = mida__report_diff(sink, pos[0], pos[1], json, &io, &differences);
  if (rc == MIDA_OK)
    rc = mida__cli_dest_commit(&dest);
  if (rc == MIDA_OK)
    ex = MIDA_CLI_OK;
  else if (mida__cli_write_broke(rc))
    ex = mida__cli_fail("diff: cannot write standard output: %s",
                        mida__cli_write_error(rc));
  else if (io.errmsg[0] != '\0')
    ex = mida__cli_fail("diff: %s", io.errmsg);
  else
    ex = mida__cli_store_error(sink, rc, "diff");
  mida__sink_close(sink);
  return ex;
}

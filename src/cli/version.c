/*
 * version.c -- `mida version`: the versions a bug report needs.
 *
 * Prints the library version, the store schema version this build writes
 * and reads (src/sink/schema.h), and the version of the SQLite library
 * linked in, one per line.
 */
#include "cli/cli.h"

#include "mida.h"
#include "sink/schema.h"

#include <sqlite3.h>
#include <stdio.h>

static const char version_help[] =
    "usage: mida version\n"
    "\n"
    "Prints the versions of mida, of its store schema and of SQLite.\n"
    "\n"
    "example:\n"
    "  mida version\n";

int mida__cli_version(mida__cli *cli, int argc, char **argv) {
  const mida__cli_opt opts[] = {{NULL, NULL, NULL, NULL}};
  int npos = 0;
  int ex = mida__cli_parse(cli, "version", version_help, opts, argc, argv, NULL,
                           0, 0, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  printf("mida %s\n", mida_version());
  printf("schema %d\n", MIDA_SCHEMA_VERSION);
  printf("sqlite %s\n", sqlite3_libversion());
  int rc = mida__cli_flush(stdout);
  if (rc != MIDA_OK)
    return mida__cli_fail("cannot write: %s", mida__cli_write_error(rc));
  return MIDA_CLI_OK;
}

/*
 * index.c -- `mida index`: indexes on keys of the task documents, so that
 * steering queries across all workflows (mida tasks --where/--sort, the
 * API's where= and sort=) read an index instead of every task.
 *
 * The index and the queries share one expression (src/sink/key_index.h);
 * the store records each declared index in its table mida_index, which
 * --list prints.
 */
#include "cli/cli.h"

#include "core/clock.h"
#include "mida.h"
#include "sink/iso_time_sql.h"
#include "sink/key_index.h"

#include <stdio.h>
#include <string.h>

#define INDEX_KEYS_MAX 32

static const char index_help[] =
    "usage: mida index [--text] KEY...\n"
    "       mida index --drop [--text] KEY...\n"
    "       mida index --list [--csv | --json]\n"
    "\n"
    "Indexes a key of the task documents, so that queries that filter or\n"
    "sort on it across all workflows read the index instead of every task:\n"
    "mida tasks --where 'used.lr>0.01' or --sort -generated.acc, and the\n"
    "where= and sort= of the HTTP API (mida serve). KEY is DOC.PATH: DOC is\n"
    "used, generated, custom or telemetry; PATH is 1 to 4 keys of letters,\n"
    "digits, '_' or '-' separated by '.'. The index holds the key's numbers\n"
    "(for < <= > >= =, != and sorts); --text indexes its text instead (for\n"
    "= and != on strings). Each index slows ingest a little (see\n"
    "docs/performance.md). MIDA_INDEX=used.lr,generated.loss makes the\n"
    "first writer that opens the store create those (text:KEY for text).\n"
    "\n"
    "options:\n"
    "  --drop       drop the index of each KEY\n"
    "  --text       the key's text values rather than its numbers\n"
    "  --list       list the declared indexes: key, kind, name, created\n"
    "  --csv        with --list: CSV (RFC 4180) with a header line\n"
    "  --json       with --list: a JSON array of objects\n"
    "  --store URL  the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida index used.lr generated.val_loss\n";

/* Whether the store declares the index named name (its table mida_index,
 * which every index the store has is in), into *declared. Returns
 * MIDA_CLI_OK, or MIDA_CLI_FAIL after saying why it could not tell. */
static int index_declared(mida__sink *sink, const char *name,
                          int *declared) {
  const char *params[1] = {name};
  int rc = mida__cli_has_row(sink, "SELECT 1 FROM mida_index WHERE name = ?1",
                             params, 1, declared);
  if (rc != MIDA_OK && !*declared)
    return mida__cli_store_error(sink, rc, "cannot read the indexes");
  return MIDA_CLI_OK;
}

int mida__cli_index(mida__cli *cli, int argc, char **argv) {
  int drop = 0, text = 0, list = 0, csv = 0, json = 0;
  const mida__cli_opt opts[] = {
      {"--drop", NULL, NULL, &drop}, {"--text", NULL, NULL, &text},
      {"--list", NULL, NULL, &list}, {"--csv", NULL, NULL, &csv},
      {"--json", NULL, NULL, &json}, {NULL, NULL, NULL, NULL},
  };
  const char *keys[INDEX_KEYS_MAX];
  int nkeys = 0;
  int ex = mida__cli_parse(cli, "index", index_help, opts, argc, argv, keys, 0,
                           INDEX_KEYS_MAX, &nkeys);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (list) {
    if (nkeys > 0 || drop || text)
      return mida__cli_usage_error("index", "--list takes no key");
    mida__out_format fmt;
    ex = mida__out_pick("index", csv, json, &fmt);
    if (ex != MIDA_CLI_CONTINUE)
      return ex;
    return mida__cli_print_query(
        cli,
        "SELECT key, kind, name, " MIDA_ISO_S_SQL("created")
        " AS created FROM mida_index"
        " ORDER BY key, kind",
        NULL, 0, fmt);
  }
  if (csv || json)
    return mida__cli_usage_error("index", "--csv and --json go with --list");
  if (nkeys == 0)
    return mida__cli_usage_error("index", "name a key, e.g. used.lr");
  mida__key parsed[INDEX_KEYS_MAX];
  for (int i = 0; i < nkeys; i++) {
    char why[200];
    if (mida__key_parse_all(keys[i], &parsed[i], why, sizeof why) != MIDA_OK)
      return mida__cli_usage_error("index", "'%s' is not a key: %s", keys[i],
                                   why);
  }
  mida__sink *sink = NULL;
  ex = mida__cli_open_store(
      cli, drop ? MIDA_CLI_STORE_CHANGE : MIDA_CLI_STORE_WRITE, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__key_kind kind = text ? MIDA_KEY_TEXT : MIDA_KEY_NUM;
  ex = MIDA_CLI_OK;
  for (int i = 0; i < nkeys && ex == MIDA_CLI_OK; i++) {
    char name[MIDA_KEY_INDEX_NAME];
    mida__key_index_name(&parsed[i], kind, name);
    if (drop) {
      int declared = 0;
      ex = index_declared(sink, name, &declared);
      if (ex == MIDA_CLI_OK && !declared)
        ex = mida__cli_fail("no index on %s (%s); 'mida index --list' "
                            "lists them",
                            keys[i], text ? "text" : "numbers");
      if (ex != MIDA_CLI_OK)
        break;
    }
    int64_t t0 = mida__monotonic_ns();
    int rc = mida__key_index_apply(sink, &parsed[i], kind, drop);
    if (rc != MIDA_OK) {
      char what[200];
      snprintf(what, sizeof what, "cannot %s %s", drop ? "drop the index of"
                                                       : "index", keys[i]);
      ex = mida__cli_store_error(sink, rc, what);
    } else {
      double took_s = (double)(mida__monotonic_ns() - t0) / 1e9;
      printf("%s %s (%s, %s) in %.2f s\n", drop ? "dropped" : "indexed",
             keys[i], text ? "text" : "numbers", name, took_s);
    }
  }
  mida__sink_close(sink);
  return ex;
}

/*
 * main.c -- the `mida` command: global options and the table of verbs.
 *
 * `mida [--store URL] VERB [ARGS]`. The store is --store, else MIDA_STORE,
 * else sqlite://mida.db (mida__default_store()); --store may also come
 * after the verb. Each verb is one function in its group's file; this file
 * only finds it. Exit status: 0 success, 1 failure, 2 usage error.
 */
#include "cli/cli.h"

#include "core/config.h"
#include "sink/sink.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>

typedef struct verb {
  const char *name;      /* what the user types */
  mida__cli_verb_fn run; /* the verb's function */
  const char *summary;   /* one line for `mida --help` */
} verb;

static const verb verbs[] = {
    {"query", mida__cli_query, "run a read-only SQL query on the store"},
    {"workflows", mida__cli_workflows, "list workflows"},
    {"tasks", mida__cli_tasks, "list tasks, with filters"},
    {"index", mida__cli_index,
     "index a key of the task documents for queries on it"},
    {"show", mida__cli_show, "show one task or workflow in full"},
    {"lineage", mida__cli_lineage,
     "upstream and downstream of a task or data, across workflows"},
    {"export", mida__cli_export,
     "export as PROV-JSON, Workflow Run RO-Crate or OpenLineage"},
    {"diff", mida__cli_diff, "compare two tasks or two workflows"},
    {"recover", mida__cli_recover,
     "ship journals left by dead processes into the store"},
    {"stats", mida__cli_stats, "row counts, drop counters, spool backlog"},
    {"telemetry", mida__cli_telemetry, "print telemetry samples"},
    {"ingest", mida__cli_ingest, "apply records from a broker to a store"},
    {"observe", mida__cli_observe,
     "follow MLflow or TensorBoard as they write"},
    {"run", mida__cli_run, "run a command as an observed workflow"},
    {"serve", mida__cli_serve,
     "serve the store read-only: HTTP API and live web dashboard"},
    {"version", mida__cli_version, "print versions"},
};

#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

static void print_usage(FILE *fp) {
  fputs("usage: mida [--store URL] VERB [ARGS]\n"
        "\n"
        "Query and export what mida captured: workflows, tasks, data,\n"
        "lineage and metrics.\n"
        "\n"
        "verbs:\n",
        fp);
  for (size_t i = 0; i < VERB_COUNT; i++)
    fprintf(fp, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
  fputs("\n"
        "options:\n"
        "  --store URL  the store (default: $MIDA_STORE, else "
        "sqlite://mida.db)\n"
        "  -h, --help   this help; 'mida VERB --help' for a verb's\n"
        "  --version    same as 'mida version'\n"
        "\n"
        "example:\n"
        "  mida --store run.db tasks --status error\n",
        fp);
}

static const verb *find_verb(const char *name) {
  for (size_t i = 0; i < VERB_COUNT; i++) {
    if (strcmp(verbs[i].name, name) == 0)
      return &verbs[i];
  }
  return NULL;
}

int main(int argc, char **argv) {
  mida__sink_own_process();
  argv = mida__cli_mask_argv(argc, argv);
  mida__cli cli = {mida__default_store()};
  int i = 1;
  int store_given = 0;
  while (i < argc && argv[i][0] == '-') {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      print_usage(stdout);
      return MIDA_CLI_OK;
    }
    if (strcmp(arg, "--version") == 0) {
      char *args[] = {"version", NULL};
      return mida__cli_version(&cli, 1, args);
    }
    int is_store = strcmp(arg, "--store") == 0;
    if (is_store || strncmp(arg, "--store=", 8) == 0) {
      /* A second one would replace the first without a word. */
      if (store_given++) {
        fputs("mida: option '--store' given twice: it takes one value\n"
              "Try 'mida --help'.\n",
              stderr);
        return MIDA_CLI_USAGE;
      }
      if (is_store && i + 1 >= argc) {
        fputs("mida: option '--store' needs a value\n", stderr);
        return MIDA_CLI_USAGE;
      }
      cli.store = is_store ? argv[i + 1] : arg + 8;
      i += is_store ? 2 : 1;
      continue;
    }
    mida__cli_note("mida: unknown option '%s'", arg);
    fputs("Try 'mida --help'.\n", stderr);
    return MIDA_CLI_USAGE;
  }
  if (i >= argc) {
    print_usage(stderr);
    return MIDA_CLI_USAGE;
  }
  if (strcmp(argv[i], "help") == 0) {
    if (i + 1 >= argc || strcmp(argv[i + 1], "--help") == 0 ||
        strcmp(argv[i + 1], "-h") == 0) {
      print_usage(stdout);
      return MIDA_CLI_OK;
    }
    const verb *v = find_verb(argv[i + 1]);
    if (v == NULL) {
      mida__cli_note("mida: unknown verb '%s'", argv[i + 1]);
      fputs("Try 'mida --help'.\n", stderr);
      return MIDA_CLI_USAGE;
    }
    char *args[] = {argv[i + 1], "--help", NULL};
    return v->run(&cli, 2, args);
  }
  const verb *v = find_verb(argv[i]);
  if (v == NULL) {
    mida__cli_note("mida: unknown verb '%s'", argv[i]);
    fputs("Try 'mida --help'.\n", stderr);
    return MIDA_CLI_USAGE;
  }
  if (cli.store == NULL || cli.store[0] == '\0') {
    fputs("mida: the store URL is empty\n", stderr);
    return MIDA_CLI_USAGE;
  }
  return v->run(&cli, argc - i, argv + i);
}

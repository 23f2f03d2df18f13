/*
 * run_said.h -- what `mida run` has said of its store's trouble, so that
 * one cause is said once (run_said.c).
 *
 * Three parts of `mida run` meet a store that cannot take records: the
 * early flush (run_early.c), the collector's passes (run_preload.c) and
 * the close (run.c), each on its own thread. For one cause -- a store
 * that is no database, a directory, a full disk -- each said it, three
 * lines of the same message. Each now says its line only if the store's
 * message was not said already by this run.
 */
#ifndef MIDA_CLI_RUN_SAID_H
#define MIDA_CLI_RUN_SAID_H

#include <stdbool.h>

/* Whether why, the store's message for a trouble, is new to this run:
 * true the first time (the caller says it), false after. An empty or NULL
 * why is always new. Thread-safe. */
bool mida__run_said_first(const char *why);

#endif

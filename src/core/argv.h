/*
 * argv.h -- a program's command line as it may be recorded: bounded, with
 * secrets hidden.
 *
 * `mida run` records the argv of the command and (through the preload
 * library, src/preload) of every process it starts. A password given on a
 * command line must not reach the store, so an argument is recorded as
 * "***" where its name looks like a secret's (core/redact.h): the value
 * after "--db-password" or "-token", the part after '=' in
 * "--api-key=..." or "PASSWORD=...", the value of a header as curl -H
 * takes one ("Authorization: ***", "pass:***"), the password of curl's
 * "-u USER:PASSWORD" ("alice:***"), the secret members of a JSON argument
 * (as `used`, core/redact.h), the password and secret query
 * parameters of a URL ("postgresql://u:***@db/x"), and the value of a
 * secret key=value word inside an argument (libpq's conninfo, `psql
 * "host=db password=***"`: core/conninfo.h) or of a secret option or
 * header inside a shell command (`sh -c "x --token ***"`:
 * core/shell_secret.h). A long command line is
 * cut: at most MIDA_ARGV_MAX_ARGS arguments of at most MIDA_ARGV_MAX_ARG
 * bytes each, and the array then ends with a note of what was left out.
 */
#ifndef MIDA_CORE_ARGV_H
#define MIDA_CORE_ARGV_H

#include "core/buf.h"

#define MIDA_ARGV_MAX_ARGS 64  /* arguments recorded */
#define MIDA_ARGV_MAX_ARG 1024 /* bytes of one argument */

/* Appends argv[0..argc) to b as a JSON array of strings, redacted and
 * bounded as above ("..." as the last element if arguments were left out,
 * and a cut argument ends with "..."). Returns MIDA_OK or the buffer's
 * error (MIDA_ENOMEM, MIDA_ETOOBIG). */
int mida__argv_json(mida__buf *b, int argc, char *const *argv);

#endif /* MIDA_CORE_ARGV_H */

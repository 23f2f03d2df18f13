/*
 * source_key.c -- what `mida show`, `mida lineage` and `mida diff` do with
 * an argument that no id matches: take it as a source's own key (an MLflow
 * run id, a Dask key, a TensorBoard run directory, an MLflow experiment
 * id; report/source_key.h), which is what a user has at hand. One match is
 * used, and said on stderr; several are listed there, and the verb fails:
 * it would be a guess which one was meant.
 */
#include "cli/cli.h"

#include "report/source_key.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>

/* The most matches listed when a key names several. */
#define LISTED 20

static const char *or_dash(const char *s) { return s != NULL ? s : "-"; }

int mida__cli_source_key(mida__sink *sink, const char *verb, const char *key,
                         int workflows, char *id, size_t cap) {
  mida__rows r;
  memset(&r, 0, sizeof r);
  int rc = mida__source_key_find(sink, key, workflows, LISTED, &r);
  if (rc == MIDA_OK && r.nrows == 0)
    rc = MIDA_ENOTFOUND;
  if (rc == MIDA_OK && r.nrows == 1) {
    const char *found = mida__rows_cell(&r, 0, MIDA_SOURCE_KEY_ID);
    if (found == NULL || strlen(found) >= cap) {
      rc = MIDA_ENOTFOUND; /* not an id a verb could look up */
    } else {
      memcpy(id, found, strlen(found) + 1);
      mida__cli_note("mida %s: '%s' is the source key of %s %s (%s)", verb,
                     key, mida__rows_cell(&r, 0, MIDA_SOURCE_KEY_KIND), id,
                     or_dash(mida__rows_cell(&r, 0, MIDA_SOURCE_KEY_NAME)));
    }
  } else if (rc == MIDA_OK) {
    mida__cli_note("mida %s: '%s' is the source key of %s%zu %s; name one "
                   "by its id:",
                   verb, key, r.truncated ? "more than " : "", r.nrows,
                   mida__source_key_kinds(&r));
    for (size_t i = 0; i < r.nrows; i++)
      mida__cli_note(
          "  %-8s %s  %s  [%s]  started %s",
          or_dash(mida__rows_cell(&r, i, MIDA_SOURCE_KEY_KIND)),
          or_dash(mida__rows_cell(&r, i, MIDA_SOURCE_KEY_ID)),
          or_dash(mida__rows_cell(&r, i, MIDA_SOURCE_KEY_NAME)),
          or_dash(mida__rows_cell(&r, i, MIDA_SOURCE_KEY_SOURCE)),
          or_dash(mida__rows_cell(&r, i, MIDA_SOURCE_KEY_STARTED)));
    if (r.truncated)
      mida__cli_note("  ... (the newest %d shown)", LISTED);
    rc = MIDA_EINVAL;
  }
  mida__rows_free(&r);
  return rc;
}

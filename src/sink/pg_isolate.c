/*
 * pg_isolate.c -- the search for the records a store refuses in a batch
 * (pg_isolate.h): bisection, each part in its own transaction.
 */
#include "sink/pg_isolate.h"

#include "mida.h"

#include <stddef.h>

int mida__pg_state_refuses_data(const char *state) {
  if (state == NULL || state[0] == '\0' || state[1] == '\0')
    return 0;
  /* Class 22: a value the type refuses (numeric out of range, a bad
   * encoding, an invalid text representation); 23: a NOT NULL, CHECK or
   * key the row breaks; 54: a limit of the server's (an index row over
   * its maximum size, too many columns or arguments). */
  return (state[0] == '2' && (state[1] == '2' || state[1] == '3')) ||
         (state[0] == '5' && state[1] == '4');
}

int mida__pg_isolate(const mida__rec *recs, size_t n, mida__pg_try_fn try_batch,
                     mida__pg_refused_fn refused, void *ctx) {
  if (n == 0)
    return MIDA_OK;
  if (n == 1) {
    refused(ctx, &recs[0]);
    return MIDA_OK;
  }
  /* The halves in order, so that records keep their order of arrival
   * (a LOST record after the tasks it marks). Depth: log2(n). */
  const size_t first = n / 2;
  const mida__rec *part[2] = {recs, recs + first};
  const size_t count[2] = {first, n - first};
  for (int h = 0; h < 2; h++) {
    int is_refusal = 0;
    int rc = try_batch(ctx, part[h], count[h], &is_refusal);
    if (rc == MIDA_OK)
      continue;
    if (!is_refusal)
      return rc;
    rc = mida__pg_isolate(part[h], count[h], try_batch, refused, ctx);
    if (rc != MIDA_OK)
      return rc;
  }
  return MIDA_OK;
}

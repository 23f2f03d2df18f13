/*
 * spool.c -- mida_spool_orphans(): what ended processes left to ship in a
 * store's spool, for a program that only reads and must decide whether a
 * query is worth a capture session (which ships them) or not.
 */
#include "capture/journal.h"
#include "core/config.h"
#include "mida.h"

#include <limits.h>

int mida_spool_orphans(const char *store_url, uint64_t *count) {
  if (count == NULL)
    return MIDA_EINVAL;
  *count = 0;
  const char *url = store_url != NULL ? store_url : mida__default_store();
  char spool[PATH_MAX];
  int rc = mida__spool_in_force(url, spool, sizeof spool);
  if (rc != MIDA_OK)
    return rc;
  mida__spool_stats st;
  rc = mida__spool_segment_stats(spool, &st);
  if (rc == MIDA_OK)
    *count = st.orphans;
  return rc;
}

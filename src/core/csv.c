/*
 * csv.c -- RFC 4180 fields (csv.h).
 */
#include "core/csv.h"

#include "mida.h"

#include <string.h>

int mida__csv_add_field(mida__buf *b, const char *v) {
  if (v == NULL)
    return MIDA_OK;
  if (v[0] != '\0' && strpbrk(v, ",\"\r\n") == NULL)
    return mida__buf_adds(b, v);
  int rc = mida__buf_add(b, "\"", 1);
  for (const char *p = v; *p && rc == MIDA_OK; p++) {
    if (*p == '"')
      rc = mida__buf_add(b, "\"\"", 2);
    else
      rc = mida__buf_add(b, p, 1);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, "\"", 1);
  return rc;
}

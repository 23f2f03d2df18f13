/*
 * csv.c -- RFC 4180 fields (csv.h).
 */
#include "core/csv.h"

#include "mida.h"

#include <string.h>

int mida__csv_add_field(mida__buf *b, const char *v) {
  return mida__csv_add_field_n(b, v, v != NULL ? strlen(v) : 0);
}

/* Whether v[0..len) must be quoted: empty, or with a comma, quote, CR, LF
 * or NUL byte. */
static int needs_quotes(const char *v, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (v[i] == ',' || v[i] == '"' || v[i] == '\r' || v[i] == '\n' ||
        v[i] == '\0')
      return 1;
  return len == 0;
}

int mida__csv_add_field_n(mida__buf *b, const char *v, size_t len) {
  if (v == NULL)
    return MIDA_OK;
  if (!needs_quotes(v, len))
    return mida__buf_add(b, v, len);
  int rc = mida__buf_add(b, "\"", 1);
  const char *run = v, *end = v + len;
  for (const char *p = v; p < end && rc == MIDA_OK; p++) {
    if (*p == '"') {
      rc = mida__buf_add(b, run, (size_t)(p + 1 - run)); /* the quote too */
      run = p; /* and once more: doubled */
    }
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, run, (size_t)(end - run));
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, "\"", 1);
  return rc;
}

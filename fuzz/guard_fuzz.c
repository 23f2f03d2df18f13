/*
 * guard_fuzz.c -- libFuzzer target for the query guard's scan of a
 * statement's text (src/sink/guard.h), which reads whatever SQL a user
 * sends to `mida query`, mida.query() or /api/sql. It must never read out
 * of bounds, and it must refuse every text in which a refused name stands
 * right before '(' -- the property the guard relies on.
 */
#include "sink/guard.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int ident_char(unsigned char c) {
  return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *sql = malloc(size + 1);
  if (sql == NULL)
    return 0;
  memcpy(sql, data, size);
  sql[size] = '\0';
  char why[160];
  int refused = mida__guard_denied_call(sql, why, sizeof why);
  if (refused != 0 && refused != 1)
    abort();
  if (refused && why[0] == '\0')
    abort();
  /* A refused name right before '(' is always found. */
  static const char *const names[] = {"set_config(", "pg_read_file(",
                                      "pg_terminate_backend(",
                                      "fts3_tokenizer("};
  for (size_t i = 0; i < sizeof names / sizeof names[0] && !refused; i++) {
    for (const char *p = strstr(sql, names[i]); p != NULL;
         p = strstr(p + 1, names[i])) {
      if (p == sql || !ident_char((unsigned char)p[-1]))
        abort();
    }
  }
  free(sql);
  return 0;
}

/*
 * key.c -- a document key (key.h): its parsing, and the expression that
 * the indexes of key_index.c, the API's predicates and sort by key and
 * `mida tasks --where/--sort` all write.
 */
#include "sink/key.h"

#include "core/crc32c.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>

static const char *const docs[] = {"used", "generated", "custom", "telemetry"};

static int key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int mida__key_parse(const char *text, mida__key *k, const char **end,
                    char *why, size_t whylen) {
  memset(k, 0, sizeof *k);
  const char *dot = strchr(text, '.');
  for (size_t i = 0; dot != NULL && i < sizeof docs / sizeof docs[0]; i++)
    if ((size_t)(dot - text) == strlen(docs[i]) &&
        memcmp(text, docs[i], (size_t)(dot - text)) == 0)
      k->doc = docs[i];
  if (k->doc == NULL) {
    snprintf(why, whylen,
             "must start with used., generated., custom. or telemetry.");
    return MIDA_EINVAL;
  }
  const char *s = dot + 1;
  size_t n = 0;
  int keys = 1;
  while (key_char(s[n]) || (s[n] == '.' && n > 0 && s[n - 1] != '.')) {
    if (s[n] == '.')
      keys++;
    n++;
  }
  if (n == 0 || s[n - 1] == '.' || n > MIDA_KEY_MAX_PATH ||
      keys > MIDA_KEY_MAX_DEPTH) {
    snprintf(why, whylen,
             "the key path must be 1 to %d keys of letters, digits, '_' or "
             "'-', separated by '.', at most %d bytes",
             MIDA_KEY_MAX_DEPTH, MIDA_KEY_MAX_PATH);
    return MIDA_EINVAL;
  }
  memcpy(k->path, s, n);
  k->path[n] = '\0';
  if (end != NULL)
    *end = s + n;
  return MIDA_OK;
}

int mida__key_parse_all(const char *text, mida__key *k, char *why,
                        size_t whylen) {
  const char *end = NULL;
  int rc = mida__key_parse(text, k, &end, why, whylen);
  if (rc == MIDA_OK && *end != '\0') {
    snprintf(why, whylen, "'%.40s' after the key", end);
    rc = MIDA_EINVAL;
  }
  return rc;
}

int mida__key_expr(mida__buf *sql, const mida__key *k, mida__key_kind kind,
                   const char *alias) {
  int bare = alias == NULL || alias[0] == '\0';
  /* k->path holds only [A-Za-z0-9_.-] (mida__key_parse): no quote can end
   * the literal. */
  return mida__buf_printf(sql, "%s(%s%s%s, '%s')",
                          kind == MIDA_KEY_TEXT ? "mida_text" : "mida_num",
                          bare ? "" : alias, bare ? "" : ".", k->doc, k->path);
}

void mida__key_index_name(const mida__key *k, mida__key_kind kind, char *out) {
  char key[sizeof k->path + 16];
  int n = snprintf(key, sizeof key, "%s.%s", k->doc, k->path);
  uint32_t crc = mida__crc32c(0, key, (size_t)n);
  /* 9 + 5 + 10 + 1 + 24 + 1 + 8 = 58 bytes at most: the CRC keeps apart
   * the keys that fold or cut to the same text (a.b and a_b). */
  char folded[25];
  size_t i = 0;
  for (; k->path[i] != '\0' && i < sizeof folded - 1; i++)
    folded[i] = key_char(k->path[i]) && k->path[i] != '-' ? k->path[i] : '_';
  folded[i] = '\0';
  snprintf(out, MIDA_KEY_INDEX_NAME, "mida_key_%s_%s_%s_%08x",
           kind == MIDA_KEY_TEXT ? "text" : "num", k->doc, folded,
           (unsigned)crc);
}

/*
 * pg_message.c -- a PostgreSQL error message without the values of the
 * records it quotes (see pg_message.h).
 */
#include "sink/pg_message.h"

#include <stdio.h>
#include <string.h>

/* Whether the line at p opens, after its indent, with a field that may
 * quote a record's values. */
static int quotes_data(const char *p) {
  p += strspn(p, " \t");
  return strncmp(p, "DETAIL:", 7) == 0 || strncmp(p, "CONTEXT:", 8) == 0;
}

const char *mida__pg_message_without_data(const char *msg, char *buf,
                                          size_t cap) {
  if (cap == 0)
    return buf;
  const char *m = msg != NULL ? msg : "";
  size_t keep = strlen(m);
  for (const char *line = m; line != NULL && *line != '\0';) {
    if (quotes_data(line)) {
      keep = (size_t)(line - m);
      break;
    }
    line = strchr(line, '\n');
    if (line != NULL)
      line++;
  }
  snprintf(buf, cap, "%.*s", keep < cap ? (int)keep : (int)(cap - 1), m);
  return buf;
}

/*
 * nats_error.c -- libnats' last error as a sentence a user can read
 * (nats_error.h).
 */
#include "sink/nats_error.h"

#include <ctype.h>
#include <stddef.h>

const char *mida__nats_error_reason(const char *text) {
  if (text == NULL || text[0] != '(')
    return text;
  const char *p = text + 1;
  while (*p != '\0' && *p != ':' && *p != '(' && *p != ')' &&
         !isspace((unsigned char)*p))
    p++;
  if (p == text + 1 || *p != ':' || !isdigit((unsigned char)p[1]))
    return text;
  p++;
  while (isdigit((unsigned char)*p))
    p++;
  if (p[0] != ')' || p[1] != ':')
    return text;
  p += 2;
  while (*p == ' ')
    p++;
  return *p != '\0' ? p : text;
}

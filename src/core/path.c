/*
 * path.c -- a path made absolute lexically (path.h).
 */
#include "core/path.h"

#include <string.h>

size_t mida__path_append(char *out, size_t len, size_t cap, const char *rel) {
  if (len == 1 && out[0] == '/')
    len = 0; /* the root: each component adds its own '/' */
  const char *p = rel;
  while (*p != '\0') {
    while (*p == '/')
      p++;
    const char *end = p;
    while (*end != '\0' && *end != '/')
      end++;
    size_t n = (size_t)(end - p);
    if (n == 0 || (n == 1 && p[0] == '.')) {
      /* nothing */
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0)
        len--;
    } else {
      if (len + 1 + n + 1 > cap)
        return (size_t)-1;
      out[len++] = '/';
      memcpy(out + len, p, n);
      len += n;
    }
    p = end;
  }
  if (len + 1 > cap)
    return (size_t)-1;
  if (len == 0)
    out[len++] = '/';
  out[len] = '\0';
  return len;
}

/*
 * params.c -- query parameters checked one by one: an integer in a range,
 * one of a list of words (a status in any case), an id. A value that does
 * not fit makes the response a 400 that names the parameter and says what
 * it must be.
 */
#include "serve/serve.h"

#include "mida.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mida__param_int(const mida__req *req, mida__resp *resp, const char *name,
                    long long min, long long max, long long *out) {
  const char *v = mida__req_get(req, name);
  if (v == NULL)
    return 1;
  char *end = NULL;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (v[0] == '\0' || *end != '\0' || errno != 0 || x < min || x > max ||
      v[0] == ' ' || v[0] == '+') {
    mida__resp_error(resp, 400,
                     "parameter '%s' must be an integer from %lld to %lld",
                     name, min, max);
    return 0;
  }
  *out = x;
  return 1;
}

/* mida__param_choice() and mida__param_choice_any_case(): any_case
 * compares without regard to ASCII case, and says so in the 400. */
static int choose(const mida__req *req, mida__resp *resp, const char *name,
                  const char *const *choices, int any_case, int *out) {
  const char *v = mida__req_get(req, name);
  if (v == NULL)
    return 1;
  for (int i = 0; choices[i] != NULL; i++) {
    int same = any_case ? strcasecmp(v, choices[i]) == 0
                        : strcmp(v, choices[i]) == 0;
    if (same) {
      *out = i;
      return 1;
    }
  }
  char list[300] = "";
  size_t n = 0;
  for (int i = 0; choices[i] != NULL && n < sizeof list - 1; i++)
    n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                          choices[i]);
  mida__resp_error(resp, 400, "parameter '%s' must be one of: %s%s", name,
                   list, any_case ? " (any case)" : "");
  return 0;
}

int mida__param_choice(const mida__req *req, mida__resp *resp, const char *name,
                       const char *const *choices, int *out) {
  return choose(req, resp, name, choices, 0, out);
}

int mida__param_choice_any_case(const mida__req *req, mida__resp *resp,
                                const char *name, const char *const *choices,
                                int *out) {
  return choose(req, resp, name, choices, 1, out);
}

int mida__param_text(const mida__req *req, mida__resp *resp, const char *name,
                     size_t max, const char **out) {
  const char *v = mida__req_get(req, name);
  if (v == NULL)
    return 1;
  if (v[0] == '\0' || strlen(v) > max) {
    mida__resp_error(resp, 400, "parameter '%s' must be 1 to %zu bytes", name,
                     max);
    return 0;
  }
  *out = v;
  return 1;
}

int mida__serve_valid_id(const char *text) {
  size_t n = 0;
  for (const char *p = text; *p != '\0'; p++, n++) {
    unsigned char c = (unsigned char)*p;
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\'' || c == '\\')
      return 0;
  }
  return n >= 1 && n <= 200;
}

int mida__param_id(const mida__req *req, mida__resp *resp, const char *name,
                   const char **out) {
  const char *v = mida__req_get(req, name);
  if (v == NULL)
    return 1;
  if (!mida__serve_valid_id(v)) {
    mida__resp_error(resp, 400,
                     "parameter '%s' must be an id: 1 to 200 printable "
                     "characters, no spaces or quotes",
                     name);
    return 0;
  }
  *out = v;
  return 1;
}

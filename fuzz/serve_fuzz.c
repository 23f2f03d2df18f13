/*
 * serve_fuzz.c -- libFuzzer target for what `mida serve` does with a
 * request target before any query: the target parser (src/serve/request.c),
 * route matching, the parameter checks (params.c), the error responses
 * (response.c) and the where= predicates (predicate.c). Whatever the input,
 * none may read out of bounds, and what the parser accepts must keep its
 * promises: a decoded path with no NUL, no control character, no "." or
 * ".." segment and no '/' or '\' inside a segment; a predicate's SQL must
 * carry its value only as a bound parameter. Run by scripts/run-fuzz.sh.
 */
#include "sink/predicate.h"
#include "serve/serve.h"

#include "mida.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The shapes of the server's routes. */
/* Whether every quoted span of sql holds only a key path's characters. */
static int quoted_is_key(const char *sql) {
  int in = 0;
  for (const char *c = sql; *c != '\0'; c++) {
    if (*c == '\'')
      in = !in;
    else if (in && !isalnum((unsigned char)*c) && strchr("_-.", *c) == NULL)
      return 0;
  }
  return !in;
}

static const char *const patterns[] = {
    "/",
    "/assets/{name}",
    "/api/tasks",
    "/api/tasks/{id}",
    "/api/workflows/{id}/graph",
    "/api/lineage",
};

static const char *const choices[] = {"id", "-id", "started", NULL};

static void check_params(const mida__req *req) {
  mida__resp resp;
  mida__resp_init(&resp);
  long long n = 0;
  int choice = -1;
  const char *id = NULL;
  mida__param_int(req, &resp, "limit", 1, 1000, &n);
  if (n < 0 || n > 1000)
    abort();
  mida__param_choice(req, &resp, "sort", choices, &choice);
  mida__param_id(req, &resp, "after", &id);
  if (id != NULL && !mida__serve_valid_id(id))
    abort();
  for (int i = 0; (i = mida__req_next(req, "where", i)) >= 0; i++) {
    mida__predicate p;
    char why[200];
    if (mida__predicate_parse(req->params[i].value, &p, why, sizeof why) !=
        MIDA_OK)
      continue;
    mida__buf sql;
    mida__buf_init(&sql, 1 << 16);
    const char *params[4];
    int np = 0;
    /* The SQL is one of a few fixed shapes, whatever the value: short
     * (values may be 16 KiB long), the value bound, and only the checked
     * key path between quotes. */
    if (mida__predicate_sql(&p, "t", &sql, params, &np) == MIDA_OK &&
        (sql.len > 400 || np > 1 || !quoted_is_key(mida__buf_str(&sql))))
      abort();
    mida__buf_free(&sql);
  }
  mida__resp_free(&resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *target = malloc(size + 1);
  if (target == NULL)
    return 0;
  memcpy(target, data, size);
  target[size] = '\0';
  mida__req req;
  char why[200];
  if (mida__req_parse(&req, target, why, sizeof why) == MIDA_OK) {
    for (int s = 0; s < req.nsegments; s++) {
      const char *seg = req.segments[s];
      if (seg[0] == '\0' || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0 ||
          strchr(seg, '/') != NULL || strchr(seg, '\\') != NULL)
        abort();
      for (const unsigned char *p = (const unsigned char *)seg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
          abort();
    }
    if (strlen(req.path) > MIDA_SERVE_MAX_PATH || req.path[0] != '/')
      abort();
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
      if (mida__req_match(patterns[i], &req) &&
          req.ncaptures > MIDA_SERVE_MAX_CAPTURES)
        abort();
    check_params(&req);
  }
  mida__req_free(&req);
  free(target);
  return 0;
}

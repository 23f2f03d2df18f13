/*
 * request_test.c -- the request path of `mida serve` without a socket:
 * the target parser's caps and refusals, route matching and parameter
 * checks, the where= predicates, and whole requests answered from a real
 * SQLite store (mida__serve_handle).
 */
#include "serve/answer_cache.h"
#include "serve/serve.h"
#include "serve/tasks.h"
#include "sink/key_index.h"
#include "sink/predicate.h"

#include "core/buf.h"
#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int parses(const char *target) {
  mida__req req;
  char why[200];
  int rc = mida__req_parse(&req, target, why, sizeof why);
  mida__req_free(&req);
  return rc == MIDA_OK;
}

static void test_accepts_plain_targets(void **state) {
  (void)state;
  mida__req req;
  char why[200];
  assert_int_equal(
      mida__req_parse(&req,
                      "/api/tasks?status=ERROR&where=used.lr%3E0.01"
                      "&where=used.n=3&q=a+b&flag",
                      why, sizeof why),
      MIDA_OK);
  assert_string_equal(req.path, "/api/tasks");
  assert_int_equal(req.nsegments, 2);
  assert_string_equal(mida__req_get(&req, "status"), "ERROR");
  assert_string_equal(mida__req_get(&req, "q"), "a b");
  assert_string_equal(mida__req_get(&req, "flag"), "");
  int i = mida__req_next(&req, "where", 0);
  assert_string_equal(req.params[i].value, "used.lr>0.01");
  i = mida__req_next(&req, "where", i + 1);
  assert_string_equal(req.params[i].value, "used.n=3");
  assert_int_equal(mida__req_next(&req, "where", i + 1), -1);
  mida__req_free(&req);
  assert_true(parses("/"));
  assert_true(parses("/api/tasks/0190a4c2-0000-7000-8000-00000000a001"));
  assert_true(parses("/api/lineage?id=file%3A%2F%2F%2Fdata%2Fraw.csv"));
}

static void test_refuses_bad_targets(void **state) {
  (void)state;
  const char *bad[] = {
      "",
      "api",
      "/a/../b",
      "/a/./b",
      "/a//b",
      "/a/",
      "/%2e%2e/x",
      "/a%2Fb",
      "/a%00",
      "/a?x=%00",
      "/a?x=%0a",
      "/a%5cb",
      "/a%zz",
      "/a%2",
      "/a?=v",
      "/a#frag",
      "/\xff",
      "/a?x=\xc0\xaf",
      "/a?x=\xed\xa0\x80",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (parses(bad[i]))
      fail_msg("accepted '%s'", bad[i]);
  }
  /* Every cap. */
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  assert_int_equal(mida__buf_adds(&b, "/a?x="), MIDA_OK);
  for (int i = 0; i < MIDA_SERVE_MAX_VALUE + 1; i++)
    assert_int_equal(mida__buf_adds(&b, "v"), MIDA_OK);
  assert_false(parses(b.ptr));
  mida__buf_reset(&b);
  for (int i = 0; i < MIDA_SERVE_MAX_SEGMENTS + 1; i++)
    assert_int_equal(mida__buf_adds(&b, "/s"), MIDA_OK);
  assert_false(parses(b.ptr));
  mida__buf_reset(&b);
  assert_int_equal(mida__buf_adds(&b, "/a?"), MIDA_OK);
  for (int i = 0; i < MIDA_SERVE_MAX_PARAMS + 1; i++)
    assert_int_equal(mida__buf_printf(&b, "p%d=1&", i), MIDA_OK);
  assert_false(parses(b.ptr));
  mida__buf_reset(&b);
  assert_int_equal(mida__buf_adds(&b, "/"), MIDA_OK);
  for (int i = 0; i < MIDA_SERVE_MAX_TARGET; i++)
    assert_int_equal(mida__buf_adds(&b, "x"), MIDA_OK);
  assert_false(parses(b.ptr));
  mida__buf_free(&b);
}

static void test_matches_routes(void **state) {
  (void)state;
  mida__req req;
  char why[200];
  assert_int_equal(
      mida__req_parse(&req, "/api/workflows/w%201/graph", why, sizeof why),
      MIDA_OK);
  assert_true(mida__req_match("/api/workflows/{id}/graph", &req));
  assert_string_equal(req.captures[0], "w 1");
  assert_false(mida__req_match("/api/workflows/{id}", &req));
  assert_false(mida__req_match("/api/workflows/{id}/graph/x", &req));
  assert_false(mida__req_match("/", &req));
  mida__req_free(&req);

  mida__resp resp;
  mida__resp_init(&resp);
  assert_int_equal(mida__req_parse(&req, "/api/tasks?bogus=1", why, sizeof why),
                   MIDA_OK);
  assert_null(mida__serve_route(&req, &resp));
  assert_int_equal(resp.status, 400);
  assert_non_null(strstr(mida__buf_str(&resp.body), "bogus"));
  mida__req_free(&req);
  mida__resp_free(&resp);
}

/* The page's files load without the token; every other path is the
 * API's, however it is spelt on the wire. */
static void test_only_the_page_is_public(void **state) {
  (void)state;
  assert_true(mida__serve_target_public("/"));
  assert_true(mida__serve_target_public("/assets/app.js"));
  assert_true(mida__serve_target_public("/%61ssets/app.js"));
  assert_false(mida__serve_target_public("/api/tasks"));
  assert_false(mida__serve_target_public("/%61pi/tasks"));
  assert_false(mida__serve_target_public("/%61%70%69/sql?q=SELECT%201"));
  assert_false(mida__serve_target_public("/api/openapi.json"));
  assert_false(mida__serve_target_public("/assets/x/y"));
  assert_false(mida__serve_target_public("/api/../assets/app.js"));
  assert_false(mida__serve_target_public("/x%ZZ"));
}

static void test_predicates(void **state) {
  (void)state;
  mida__predicate p;
  char why[200];
  assert_int_equal(mida__predicate_parse("used.lr>=0.01", &p, why, sizeof why),
                   MIDA_OK);
  assert_string_equal(p.key.doc, "used");
  assert_string_equal(p.key.path, "lr");
  assert_string_equal(p.op, ">=");
  assert_string_equal(p.value, "0.01");
  assert_true(p.numeric);
  assert_int_equal(
      mida__predicate_parse("generated.m.name=resnet", &p, why, sizeof why),
      MIDA_OK);
  assert_string_equal(p.key.path, "m.name");
  assert_false(p.numeric);
  assert_int_equal(mida__predicate_parse("custom.tag", &p, why, sizeof why),
                   MIDA_OK);
  assert_null(p.op);
  const char *bad[] = {"lr>1", "used.>1", "used.a..b=1", "used.a=", "used.a<x",
                       "used.a;1", "used.a'=1", "x.a=1", "used.a.b.c.d.e=1",
                       /* past the doubles, which both stores compare in
                        * (PostgreSQL: "out of range for type double
                        * precision", an error of the store, not of the
                        * request) */
                       "used.a>1e400", "used.a=-1e999", "used.a<1e-400"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (mida__predicate_parse(bad[i], &p, why, sizeof why) == MIDA_OK &&
        strcmp(bad[i], "used.a=") != 0)
      fail_msg("accepted '%s'", bad[i]);
  }
  /* The value is bound, never spliced into the SQL; the path, which holds
   * only letters, digits, '_', '-' and '.', is written as a literal (an
   * index on the key serves only that form). */
  assert_int_equal(
      mida__predicate_parse("used.a=x') OR 1=1 --", &p, why, sizeof why),
      MIDA_OK);
  mida__buf sql;
  mida__buf_init(&sql, 4096);
  const char *params[4];
  int np = 0;
  assert_int_equal(mida__predicate_sql(&p, "t", &sql, params, &np), MIDA_OK);
  assert_null(strstr(sql.ptr, "OR 1=1"));
  assert_int_equal(np, 1);
  assert_string_equal(params[0], "x') OR 1=1 --");
  assert_non_null(strstr(sql.ptr, "mida_text(t.used, 'a') = ?1"));
  /* The forms an index serves (tests/multinode/test_key_index_postgres.py
   * asks PostgreSQL's planner about these very texts). */
  assert_int_equal(mida__predicate_parse("used.lr>=0.01", &p, why, sizeof why),
                   MIDA_OK);
  p.few = 1;
  mida__buf_reset(&sql);
  np = 0;
  assert_int_equal(mida__predicate_sql(&p, "t", &sql, params, &np), MIDA_OK);
  assert_string_equal(mida__buf_str(&sql),
                      "unlikely(mida_num(t.used, 'lr') >= CAST(?1 AS DOUBLE"
                      " PRECISION) + 0)");
  mida__buf_free(&sql);
}

/* ---- whole requests on a real store ---------------------------------- */

typedef struct store_fixture {
  char dir[64];
  char url[128];
  mida__serve srv;
} store_fixture;

/* A capture session on the fixture's store, without the sampler. */
static mida_session_t *open_session(store_fixture *fx) {
  char spool[128];
  snprintf(spool, sizeof spool, "%s/spool", fx->dir);
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.sample_hz = 0;
  cfg.store = fx->url;
  cfg.spool = spool;
  mida_session_t *s = NULL;
  return mida_open(&cfg, &s, NULL, 0) == MIDA_OK ? s : NULL;
}

static int store_setup(void **state) {
  store_fixture *fx = calloc(1, sizeof *fx);
  snprintf(fx->dir, sizeof fx->dir, "/tmp/mida-serve-test-XXXXXX");
  if (mkdtemp(fx->dir) == NULL)
    return -1;
  snprintf(fx->url, sizeof fx->url, "sqlite://%s/s.db", fx->dir);
  mida_session_t *s = open_session(fx);
  if (s == NULL)
    return -1;
  mida_id_t wf, t;
  mida_workflow_begin(s, &(mida_workflow_info_t){.name = "wf"}, &wf);
  for (int i = 0; i < 5; i++) {
    char used[64];
    snprintf(used, sizeof used, "{\"lr\": %d, \"name\": \"n%d\"}", i, i);
    mida_task_begin(
        s,
        &(mida_task_info_t){.activity = "train", .workflow = &wf, .used = used},
        &t);
    for (int k = 0; k < 50; k++)
      mida_metric(s, &t, "loss", k, 0, 1.0 / (k + 1));
    mida_task_end(s, &t, i == 4 ? MIDA_STATUS_ERROR : MIDA_STATUS_FINISHED,
                  "{\"acc\": 0.5}", NULL);
  }
  mida_workflow_end(s, &wf, MIDA_STATUS_FINISHED);
  mida_close(s);
  if (mida__serve_pool_init(&fx->srv.pool, fx->url, 2) != MIDA_OK)
    return -1;
  fx->srv.store_kind = "sqlite";
  *state = fx;
  return 0;
}

static int store_teardown(void **state) {
  store_fixture *fx = *state;
  mida__serve_pool_free(&fx->srv.pool);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", fx->dir);
  if (system(cmd) != 0)
    return -1;
  free(fx);
  return 0;
}

/* Answers target; returns the status, the body in body (caller frees). */
static int answer(store_fixture *fx, const char *target, char **body) {
  mida__resp resp;
  mida__resp_init(&resp);
  assert_int_equal(mida__serve_handle(&fx->srv, target, &resp), MIDA_OK);
  int status = resp.status;
  if (resp.static_body != NULL)
    *body = strndup((const char *)resp.static_body, resp.static_len);
  else
    *body = strdup(mida__buf_str(&resp.body));
  mida__resp_free(&resp);
  return status;
}

static void test_lists_filters_and_pages(void **state) {
  store_fixture *fx = *state;
  char *body;
  assert_int_equal(answer(fx, "/api/tasks?status=ERROR", &body), 200);
  assert_non_null(strstr(body, "\"lr\": 4"));
  assert_null(strstr(body, "\"lr\": 3"));
  free(body);
  assert_int_equal(answer(fx, "/api/tasks?where=used.lr%3E%3D3", &body), 200);
  assert_non_null(strstr(body, "\"lr\": 3"));
  assert_non_null(strstr(body, "\"lr\": 4"));
  assert_null(strstr(body, "\"lr\": 2"));
  free(body);
  assert_int_equal(answer(fx, "/api/tasks?where=used.name=n1", &body), 200);
  assert_non_null(strstr(body, "\"n1\""));
  assert_null(strstr(body, "\"n2\""));
  free(body);
  /* Keyset pages: 5 tasks in pages of 2 -> 2, 2, 1, then next is null. */
  char target[256] = "/api/tasks?limit=2&sort=started";
  int total = 0;
  for (int page = 0; page < 4; page++) {
    assert_int_equal(answer(fx, target, &body), 200);
    for (const char *p = body; (p = strstr(p, "\"activity\"")) != NULL; p++)
      total++;
    const char *next = strstr(body, "\"next\": \"");
    if (next == NULL) {
      assert_non_null(strstr(body, "\"next\": null"));
      free(body);
      break;
    }
    snprintf(target, sizeof target,
             "/api/tasks?limit=2&sort=started&after=%.36s", next + 9);
    free(body);
  }
  assert_int_equal(total, 5);
}

static void test_series_whole_and_downsampled(void **state) {
  store_fixture *fx = *state;
  char *body;
  assert_int_equal(answer(fx, "/api/tasks?limit=1", &body), 200);
  const char *id = strstr(body, "\"id\": \"") + 7;
  char target[256];
  snprintf(target, sizeof target, "/api/metrics?task=%.36s&key=loss", id);
  char *series;
  assert_int_equal(answer(fx, target, &series), 200);
  assert_non_null(strstr(series, "\"downsampled\": false"));
  int points = 0;
  for (const char *p = series; (p = strstr(p, "{\"step\"")) != NULL; p++)
    points++;
  assert_int_equal(points, 50);
  free(series);
  snprintf(target, sizeof target, "/api/metrics?task=%.36s&key=loss&points=10",
           id);
  assert_int_equal(answer(fx, target, &series), 200);
  assert_non_null(strstr(series, "\"downsampled\": true"));
  /* The maximum (step 0: 1.0) and the minimum (step 49: 0.02) survive. */
  assert_non_null(strstr(series, "\"hi\": 1.0"));
  assert_non_null(strstr(series, "\"lo\": 0.02"));
  free(series);
  free(body);
}

/* A downsampled series is kept, and dropped when the task gets a point. */
static void test_answer_cache_follows_changes(void **state) {
  store_fixture *fx = *state;
  fx->srv.series = mida__answer_cache_new();
  char *body;
  assert_int_equal(answer(fx, "/api/tasks?limit=1", &body), 200);
  char id[37];
  snprintf(id, sizeof id, "%.36s", strstr(body, "\"id\": \"") + 7);
  free(body);
  char target[256];
  snprintf(target, sizeof target, "/api/metrics?task=%s&key=loss&points=10",
           id);
  char *first, *second, *third;
  assert_int_equal(answer(fx, target, &first), 200);
  assert_int_equal(answer(fx, target, &second), 200);
  assert_string_equal(first, second);
  /* A new maximum (5.0 at step 100) must show at once. */
  mida_session_t *s = open_session(fx);
  assert_non_null(s);
  mida_id_t tid;
  assert_int_equal(mida_id_parse(id, &tid), MIDA_OK);
  mida_metric(s, &tid, "loss", 100, 0, 5.0);
  mida_close(s);
  assert_int_equal(answer(fx, target, &third), 200);
  assert_null(strstr(first, "\"hi\": 5.0"));
  assert_non_null(strstr(third, "\"hi\": 5.0"));
  free(first);
  free(second);
  free(third);
  mida__answer_cache_free(fx->srv.series);
  fx->srv.series = NULL;
}

static void test_errors_are_4xx(void **state) {
  store_fixture *fx = *state;
  const char *targets[] = {
      "/api/tasks?limit=0",
      "/api/tasks?limit=abc",
      "/api/tasks?status=BOGUS",
      "/api/tasks?where=lr",
      "/api/tasks?sort=-nope",
      "/api/metrics?task=x",
      "/api/tasks/no%20such",
      "/api/tasks/unknown-id",
      "/api/lineage",
      "/api/sql?q=DELETE%20FROM%20task",
      "/api/sql?q=SELEC",
      "/api/nothing",
      "/assets/nothing.js",
  };
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    char *body;
    int status = answer(fx, targets[i], &body);
    if (status < 400 || status >= 500)
      fail_msg("%s answered %d: %s", targets[i], status, body);
    assert_non_null(strstr(body, "\"error\""));
    free(body);
  }
}

/* ---- the index of a key serves where= and sort= -------------------- */

static int plan_row(void *ctx, int ncols, const char *const *names,
                    const char *const *values) {
  (void)names;
  /* EXPLAIN QUERY PLAN: id, parent, notused, detail. */
  if (ncols >= 4 && values[3] != NULL) {
    mida__buf_adds(ctx, values[3]);
    mida__buf_adds(ctx, "\n");
  }
  return 0;
}

/* How the store would run the task list of target: its query plan. */
static char *plan_of(store_fixture *fx, const char *target) {
  mida__req req;
  char why[200];
  assert_int_equal(mida__req_parse(&req, target, why, sizeof why), MIDA_OK);
  mida__resp resp;
  mida__resp_init(&resp);
  mida__tasks_query q;
  assert_int_equal(mida__tasks_query_build(&fx->srv, &req, &resp, &q), 1);
  assert_int_equal(q.rc, MIDA_OK);
  mida__buf sql, plan;
  mida__buf_init(&sql, 1 << 20);
  mida__buf_init(&plan, 1 << 20);
  mida__buf_printf(&sql, "EXPLAIN QUERY PLAN %s", mida__buf_str(&q.sql));
  mida__sink *sink = NULL;
  char err[512];
  assert_int_equal(mida__sink_open(fx->url, MIDA_SINK_READONLY, &sink, err,
                                   sizeof err),
                   MIDA_OK);
  assert_int_equal(mida__sink_query(sink, mida__buf_str(&sql), q.params, q.np,
                                    plan_row, &plan),
                   MIDA_OK);
  mida__sink_close(sink);
  char *out = strdup(mida__buf_str(&plan));
  mida__buf_free(&sql);
  mida__buf_free(&plan);
  mida__tasks_query_free(&q);
  mida__resp_free(&resp);
  mida__req_free(&req);
  return out;
}

static void set_index(store_fixture *fx, int drop) {
  mida__sink *sink = NULL;
  char err[512];
  assert_int_equal(mida__sink_open(fx->url, 0, &sink, err, sizeof err),
                   MIDA_OK);
  mida__key k;
  char why[200];
  assert_int_equal(mida__key_parse_all("used.lr", &k, why, sizeof why),
                   MIDA_OK);
  assert_int_equal(mida__key_index_apply(sink, &k, MIDA_KEY_NUM, drop),
                   MIDA_OK);
  mida__sink_close(sink);
}

static void test_key_index_serves_where_and_sort(void **state) {
  store_fixture *fx = *state;
  char name[MIDA_KEY_INDEX_NAME];
  mida__key k;
  char why[200];
  assert_int_equal(mida__key_parse_all("used.lr", &k, why, sizeof why),
                   MIDA_OK);
  mida__key_index_name(&k, MIDA_KEY_NUM, name);
  const char *targets[] = {
      "/api/tasks?where=used.lr%3E%3D3",          /* newest first */
      "/api/tasks?where=used.lr%3E%3D3&sort=started",
      "/api/tasks?where=used.lr%3E1&where=used.lr%3C%3D3", /* a range */
      "/api/tasks?sort=-used.lr&limit=2",          /* top 2 by the key */
      "/api/tasks?sort=used.lr&limit=2",
  };
  /* Without the index, no plan names it; with it, each plan reads it. */
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    char *plan = plan_of(fx, targets[i]);
    if (strstr(plan, name) != NULL)
      fail_msg("%s reads %s before it exists: %s", targets[i], name, plan);
    free(plan);
  }
  set_index(fx, 0);
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    char *plan = plan_of(fx, targets[i]);
    /* Newest first, a range on the key alone reads the key's side table
     * (key_side.h): only the page's ids are sorted. */
    const char *reads = i == 0 || i == 2 ? "task_key_num" : name;
    if (strstr(plan, reads) == NULL)
      fail_msg("%s does not read %s: %s", targets[i], reads, plan);
    free(plan);
  }
  /* The answers: the key's order, pages following it, filters intact. */
  char *body;
  assert_int_equal(answer(fx, "/api/tasks?sort=-used.lr&limit=2", &body), 200);
  const char *four = strstr(body, "\"lr\": 4");
  const char *three = strstr(body, "\"lr\": 3");
  assert_true(four != NULL && three != NULL && four < three);
  assert_null(strstr(body, "\"lr\": 2"));
  const char *next = strstr(body, "\"next\": \"");
  assert_non_null(next);
  char target[256];
  snprintf(target, sizeof target,
           "/api/tasks?sort=-used.lr&limit=2&after=%.36s", next + 9);
  free(body);
  assert_int_equal(answer(fx, target, &body), 200);
  const char *two = strstr(body, "\"lr\": 2");
  const char *one = strstr(body, "\"lr\": 1");
  assert_true(two != NULL && one != NULL && two < one);
  free(body);
  assert_int_equal(answer(fx, "/api/tasks?where=used.lr%3E%3D3", &body), 200);
  assert_non_null(strstr(body, "\"lr\": 3"));
  assert_non_null(strstr(body, "\"lr\": 4"));
  assert_null(strstr(body, "\"lr\": 2"));
  free(body);
  set_index(fx, 1);
  char *plan = plan_of(fx, targets[0]);
  assert_null(strstr(plan, name));
  free(plan);
}

/* A range on a key's index, sorted by that key: the page walks the index
 * in order and stops at the LIMIT (no sort of every match, no full read),
 * and no probe counts the matches first (no unlikely() hint in the SQL:
 * the probe reads up to 10,000 index entries, each a read of its row). */
static void test_key_range_sorted_by_key_walks_the_index(void **state) {
  store_fixture *fx = *state;
  char name[MIDA_KEY_INDEX_NAME];
  mida__key k;
  char why[200];
  assert_int_equal(mida__key_parse_all("used.lr", &k, why, sizeof why),
                   MIDA_OK);
  mida__key_index_name(&k, MIDA_KEY_NUM, name);
  set_index(fx, 0);
  const char *by_key = "/api/tasks?where=used.lr%3E%3D1&where=used.lr%3C4"
                       "&sort=used.lr&limit=2";
  char *plan = plan_of(fx, by_key);
  if (strstr(plan, name) == NULL || strstr(plan, "TEMP B-TREE") != NULL ||
      strstr(plan, "SCAN t") != NULL)
    fail_msg("%s does not walk %s in order: %s", by_key, name, plan);
  free(plan);
  mida__req req;
  assert_int_equal(mida__req_parse(&req, by_key, why, sizeof why), MIDA_OK);
  mida__resp resp;
  mida__resp_init(&resp);
  mida__tasks_query q;
  assert_int_equal(mida__tasks_query_build(&fx->srv, &req, &resp, &q), 1);
  if (strstr(mida__buf_str(&q.sql), "unlikely(") != NULL)
    fail_msg("%s was probed: %s", by_key, mida__buf_str(&q.sql));
  mida__tasks_query_free(&q);
  mida__resp_free(&resp);
  mida__req_free(&req);
  const char *newest = "/api/tasks?where=used.lr%3E%3D1&where=used.lr%3C4";
  /* The answers: the key's order and its next page; newest first. */
  char *body;
  assert_int_equal(answer(fx, by_key, &body), 200);
  const char *one = strstr(body, "\"lr\": 1"), *two = strstr(body, "\"lr\": 2");
  assert_true(one != NULL && two != NULL && one < two);
  assert_null(strstr(body, "\"lr\": 3"));
  const char *next = strstr(body, "\"next\": \"");
  assert_non_null(next);
  char target[256];
  snprintf(target, sizeof target, "%s&after=%.36s", by_key, next + 9);
  free(body);
  assert_int_equal(answer(fx, target, &body), 200);
  assert_non_null(strstr(body, "\"lr\": 3"));
  assert_null(strstr(body, "\"lr\": 2"));
  assert_null(strstr(body, "\"lr\": 4"));
  free(body);
  assert_int_equal(answer(fx, newest, &body), 200);
  one = strstr(body, "\"lr\": 1");
  const char *three = strstr(body, "\"lr\": 3");
  assert_true(one != NULL && three != NULL && three < one);
  assert_null(strstr(body, "\"lr\": 0"));
  assert_null(strstr(body, "\"lr\": 4"));
  free(body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts_plain_targets),
      cmocka_unit_test(test_refuses_bad_targets),
      cmocka_unit_test(test_matches_routes),
      cmocka_unit_test(test_only_the_page_is_public),
      cmocka_unit_test(test_predicates),
      cmocka_unit_test_setup_teardown(test_lists_filters_and_pages, store_setup,
                                      store_teardown),
      cmocka_unit_test_setup_teardown(test_series_whole_and_downsampled,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_answer_cache_follows_changes,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_errors_are_4xx, store_setup,
                                      store_teardown),
      cmocka_unit_test_setup_teardown(test_key_index_serves_where_and_sort,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(
          test_key_range_sorted_by_key_walks_the_index,
                                      store_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

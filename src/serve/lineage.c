/*
 * lineage.c -- GET /api/lineage?id=X: the provenance graph around a task or
 * a piece of data, upstream and downstream, across workflows, with a depth
 * and a node cap. The walk is report/lineage.c, the one `mida lineage`
 * uses; this file writes it as {"nodes", "edges", "truncated"}, each node
 * once (a node reached both ways is listed where it was first reached).
 */
#include "serve/serve.h"

#include "core/alloc.h"
#include "core/json.h"
#include "mida.h"
#include "report/lineage.h"

#include <stdio.h>
#include <string.h>

#define LINEAGE_NODES_DEFAULT 500
#define LINEAGE_NODES_MAX 10000
/* The longest start: a data id is the URI or path the workflow gave, of
 * up to PATH_MAX bytes. */
#define LINEAGE_ID_MAX 4096

static const char *const directions[] = {"both", "up", "down", NULL};

static int write_node(mida__buf *b, const mida__lineage_node *n, int first) {
  int rc = mida__buf_adds(b, first ? "{\"id\": " : ",\n{\"id\": ");
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, n->id, strlen(n->id));
  if (rc == MIDA_OK)
    rc = mida__buf_printf(
        b, ", \"kind\": \"%s\", \"label\": ", n->is_data ? "data" : "task");
  if (rc == MIDA_OK)
    rc = mida__serve_json_cell(b, MIDA_COL_TEXT, n->what);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"detail\": ");
  if (rc == MIDA_OK)
    rc = mida__serve_json_cell(b, MIDA_COL_TEXT, n->where);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"status\": ");
  if (rc == MIDA_OK)
    rc = mida__serve_json_cell(b, MIDA_COL_TEXT, n->status);
  if (rc == MIDA_OK)
    rc =
        mida__buf_printf(b, ", \"depth\": %d, \"direction\": \"%s\"}", n->depth,
                         n->dir < 0   ? "up"
                         : n->dir > 0 ? "down"
                                      : "root");
  return rc;
}

static int get_lineage(mida__serve *srv, const mida__req *req,
                       mida__resp *resp) {
  const char *id = NULL;
  long long depth = -1, max_nodes = LINEAGE_NODES_DEFAULT;
  int direction = 0;
  if (!mida__param_text(req, resp, "id", LINEAGE_ID_MAX, &id) ||
      !mida__param_int(req, resp, "depth", 0, 100, &depth) ||
      !mida__param_int(req, resp, "max_nodes", 1, LINEAGE_NODES_MAX,
                       &max_nodes) ||
      !mida__param_choice(req, resp, "direction", directions, &direction))
    return MIDA_OK;
  if (id == NULL)
    return mida__resp_error(resp, 400, "parameter 'id' is required");
  mida__lineage w;
  memset(&w, 0, sizeof w);
  w.max_depth = depth;
  w.max_nodes = (int)max_nodes;
  w.sink = mida__serve_take(srv, resp);
  if (w.sink == NULL)
    return MIDA_OK;
  /* The walk's queries read one snapshot of the store, as `mida lineage`
   * and the reports do (sink.h). */
  int qrc = mida__sink_snapshot_begin(w.sink);
  if (qrc == MIDA_OK)
    qrc = mida__lineage_walk(&w, id, direction != 2, direction != 1);
  mida__sink_snapshot_end(w.sink);
  mida__buf *b = &resp->body;
  int rc = MIDA_OK;
  if (qrc == MIDA_ENOTFOUND) {
    mida__resp_error(resp, 404,
                     "no task or data with id, digest or URI '%.200s'", id);
  } else if (qrc == MIDA_ENOMEM) {
    rc = qrc;
  } else if (qrc != MIDA_OK) {
    mida__serve_store_error(resp, w.sink, qrc);
  } else {
    /* Each node once, by kind and id: the first index stands for all. */
    mida__strset seen;
    memset(&seen, 0, sizeof seen);
    int *same = mida__lineage_unique(&w, &seen, &rc);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "{\"nodes\": [\n");
    int first = 1;
    for (int i = 0; i < w.nnodes && rc == MIDA_OK; i++) {
      if (same[i] != i)
        continue;
      rc = write_node(b, &w.nodes[i], first);
      first = 0;
    }
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "],\n\"edges\": [\n");
    for (size_t e = 0; e < w.nedges && rc == MIDA_OK; e++) {
      const mida__lineage_edge *ed = &w.edges[e];
      rc = mida__buf_adds(b, e ? ",\n{\"from\": " : "{\"from\": ");
      if (rc == MIDA_OK) {
        const char *from = w.nodes[same[ed->from]].id;
        rc = mida__json_add_string(b, from, strlen(from));
      }
      if (rc == MIDA_OK)
        rc = mida__buf_adds(b, ", \"to\": ");
      if (rc == MIDA_OK) {
        const char *to = w.nodes[same[ed->to]].id;
        rc = mida__json_add_string(b, to, strlen(to));
      }
      if (rc == MIDA_OK)
        rc = mida__buf_printf(b, ", \"label\": \"%s\"}", ed->label);
    }
    if (rc == MIDA_OK)
      rc = mida__buf_printf(b, "],\n\"truncated\": %s}\n",
                            w.capped ? "true" : "false");
    mida__free(same);
    mida__strset_free(&seen);
  }
  mida__serve_give(srv, w.sink, qrc);
  w.sink = NULL;
  mida__lineage_free(&w);
  return rc;
}

const mida__route mida__serve_routes_lineage[] = {
    {"/api/lineage", get_lineage, "id direction depth max_nodes"},
    {NULL, NULL, NULL},
};

/*
 * lineage.c -- the provenance walk from a task or a piece of data, across
 * workflows (lineage.h): shared by `mida lineage` and `mida serve`.
 *
 * The graph has two kinds of node, tasks and data, and three kinds of edge,
 * all stored in the sink's tables:
 *
 *   data -> task   "used"       task_data(task, data, role 'used')
 *   task -> data   "generated"  task_data(task, data, role 'generated')
 *   task -> task   "dep"        task_dep(task, upstream): upstream -> task
 *
 * Edges are drawn in the direction data flows. Workflows are linked where
 * one workflow's task generated data (same digest or URI, hence the same
 * data id) that another's used, so following these edges crosses workflows
 * with no special case.
 *
 * The walk is breadth-first in C, one indexed query per node taken from the
 * frontier (task_data's primary key and task_data_by_data, task_dep's
 * primary key and task_dep_by_upstream), upstream first and then
 * downstream, each with its own visited set so that a node may appear in
 * both listings. The number of nodes is capped so that a hub used by a
 * million tasks cannot exhaust memory (capped says so); max_depth bounds
 * the number of edges from the start.
 */
#include "report/lineage.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/fileid.h"
#include "core/path.h"
#include "mida.h"
#include "report/rows.h"

#include <stdint.h>
#include <string.h>

/* Edges kept, per node allowed. */
#define LINEAGE_EDGES_PER_NODE 8

/* ---- a set of strings, for visited nodes and drawn edges --------------- */

static uint64_t str_hash(const char *s) {
  uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= UINT64_C(1099511628211);
  }
  return h;
}

void mida__strset_free(mida__strset *set) {
  for (size_t i = 0; i < set->cap; i++)
    mida__free(set->keys[i]);
  mida__free(set->keys);
  mida__free(set->values);
  memset(set, 0, sizeof(*set));
}

int *mida__strset_value(const mida__strset *set, const char *key) {
  if (set->cap == 0)
    return NULL;
  for (size_t i = str_hash(key) & (set->cap - 1);;
       i = (i + 1) & (set->cap - 1)) {
    if (set->keys[i] == NULL)
      return NULL;
    if (strcmp(set->keys[i], key) == 0)
      return &set->values[i];
  }
}

/* The value stored with key, or -1. */
int mida__strset_get(const mida__strset *set, const char *key) {
  const int *value = mida__strset_value(set, key);
  return value != NULL ? *value : -1;
}

/* Adds key (copied) with value; the key must not be there yet. */
int mida__strset_put(mida__strset *set, const char *key, int value) {
  if ((set->count + 1) * 2 > set->cap) {
    mida__strset bigger = {NULL, NULL, set->cap ? set->cap * 2 : 64, 0};
    bigger.keys = mida__calloc(bigger.cap, sizeof(*bigger.keys));
    bigger.values = mida__calloc(bigger.cap, sizeof(*bigger.values));
    if (bigger.keys == NULL || bigger.values == NULL) {
      mida__free(bigger.keys);
      mida__free(bigger.values);
      return MIDA_ENOMEM;
    }
    for (size_t i = 0; i < set->cap; i++) {
      if (set->keys[i] == NULL)
        continue;
      size_t j = str_hash(set->keys[i]) & (bigger.cap - 1);
      while (bigger.keys[j] != NULL)
        j = (j + 1) & (bigger.cap - 1);
      bigger.keys[j] = set->keys[i];
      bigger.values[j] = set->values[i];
      bigger.count++;
    }
    mida__free(set->keys);
    mida__free(set->values);
    *set = bigger;
  }
  size_t i = str_hash(key) & (set->cap - 1);
  while (set->keys[i] != NULL)
    i = (i + 1) & (set->cap - 1);
  set->keys[i] = mida__strdup(key);
  if (set->keys[i] == NULL)
    return MIDA_ENOMEM;
  set->values[i] = value;
  set->count++;
  return MIDA_OK;
}

/* ---- the walk ---------------------------------------------------------- */

/* One neighbour query: columns id, edge name, what, where, status. */
typedef struct step {
  int from_data;     /* expands a data node (1) or a task node (0) */
  int dir;           /* -1 upstream, +1 downstream */
  int to_data;       /* finds data (1) or tasks (0) */
  const char *edge;  /* edge text when listed */
  const char *label; /* edge label in --dot */
  const char *sql;   /* the query, ?1 the node's id; LIMIT appended */
} step;

/* The columns what, where, status of a task t, and the join that the
 * workflow name needs once t is joined. */
#define TASK_COLUMNS " t.activity, coalesce(w.name, t.workflow_id), t.status"
#define WORKFLOW_JOIN " LEFT JOIN workflow w ON w.id = t.workflow_id"

static const step steps[] = {
    {0, -1, 1, "used", "used",
     "SELECT td.data_id, td.name, d.uri, d.kind, NULL FROM task_data td"
     " LEFT JOIN data d ON d.id = td.data_id"
     " WHERE td.task_id = ?1 AND td.role = 'used' ORDER BY td.data_id"},
    {0, -1, 0, "depends on", "dep",
     "SELECT dp.upstream_id, NULL," TASK_COLUMNS " FROM task_dep dp"
     " LEFT JOIN task t ON t.id = dp.upstream_id" WORKFLOW_JOIN
     " WHERE dp.task_id = ?1 ORDER BY dp.upstream_id"},
    {1, -1, 0, "generated by", "generated",
     "SELECT td.task_id, td.name," TASK_COLUMNS " FROM task_data td"
     " LEFT JOIN task t ON t.id = td.task_id" WORKFLOW_JOIN
     " WHERE td.data_id = ?1 AND td.role = 'generated' ORDER BY td.task_id"},
    {0, 1, 1, "generated", "generated",
     "SELECT td.data_id, td.name, d.uri, d.kind, NULL FROM task_data td"
     " LEFT JOIN data d ON d.id = td.data_id"
     " WHERE td.task_id = ?1 AND td.role = 'generated'"
     " ORDER BY td.data_id"},
    {0, 1, 0, "needed by", "dep",
     "SELECT dp.task_id, NULL," TASK_COLUMNS " FROM task_dep dp"
     " LEFT JOIN task t ON t.id = dp.task_id" WORKFLOW_JOIN
     " WHERE dp.upstream_id = ?1 ORDER BY dp.task_id"},
    {1, 1, 0, "used by", "used",
     "SELECT td.task_id, td.name," TASK_COLUMNS " FROM task_data td"
     " LEFT JOIN task t ON t.id = td.task_id" WORKFLOW_JOIN
     " WHERE td.data_id = ?1 AND td.role = 'used' ORDER BY td.task_id"},
};

#define STEP_COUNT (sizeof(steps) / sizeof(steps[0]))

void mida__lineage_free(mida__lineage *w) {
  for (int i = 0; i < w->nnodes; i++) {
    mida__lineage_node *n = &w->nodes[i];
    mida__free(n->id);
    mida__free(n->what);
    mida__free(n->where);
    mida__free(n->status);
    mida__free(n->edge);
  }
  mida__free(w->nodes);
  mida__free(w->edges);
  mida__strset_free(&w->visited);
  mida__strset_free(&w->edge_set);
}

/* The visited-set key of a node in a direction. */
static int node_key(mida__buf *b, int dir, int is_data, const char *id) {
  mida__buf_reset(b);
  return mida__buf_printf(b, "%c|%c|%s", dir < 0 ? 'u' : 'd',
                          is_data ? 'd' : 't', id);
}

static char *dup_or_null(const char *s, int *rc) {
  if (s == NULL)
    return NULL;
  char *copy = mida__strdup(s);
  if (copy == NULL)
    *rc = MIDA_ENOMEM;
  return copy;
}

/* Appends a node from row r of a neighbour query. Returns its index in
 * *out. */
static int add_node(mida__lineage *w, const mida__rows *r, size_t row,
                    int is_data, int parent, int dir, const char *edge_text,
                    int *out) {
  if (w->nnodes == w->cap) {
    int cap = w->cap ? w->cap * 2 : 64;
    mida__lineage_node *nodes =
        mida__realloc(w->nodes, (size_t)cap * sizeof(*nodes));
    if (nodes == NULL)
      return MIDA_ENOMEM;
    w->nodes = nodes;
    w->cap = cap;
  }
  int rc = MIDA_OK;
  mida__lineage_node *n = &w->nodes[w->nnodes];
  memset(n, 0, sizeof(*n));
  n->is_data = is_data;
  n->parent = parent;
  n->dir = dir;
  n->depth = parent >= 0 ? w->nodes[parent].depth + 1 : 0;
  n->first_child = -1;
  n->next_sibling = -1;
  n->id = dup_or_null(mida__rows_cell(r, row, 0), &rc);
  n->what = dup_or_null(mida__rows_cell(r, row, 2), &rc);
  n->where = dup_or_null(mida__rows_cell(r, row, 3), &rc);
  n->status = dup_or_null(mida__rows_cell(r, row, 4), &rc);
  const char *name = mida__rows_cell(r, row, 1);
  if (edge_text != NULL && rc == MIDA_OK) {
    mida__buf e;
    mida__buf_init(&e, 4096);
    rc = name != NULL ? mida__buf_printf(&e, "%s (%s)", edge_text, name)
                      : mida__buf_adds(&e, edge_text);
    n->edge = rc == MIDA_OK ? e.ptr : NULL;
  }
  w->nnodes++; /* counted even on failure, so that walk_free frees it */
  if (rc == MIDA_OK && n->id == NULL)
    rc = MIDA_EINVAL;
  *out = w->nnodes - 1;
  return rc;
}

/* Records an edge for --dot, once per pair of nodes. */
static int add_edge(mida__lineage *w, int from, int to, const char *label) {
  if (w->nedges >= (size_t)w->max_nodes * LINEAGE_EDGES_PER_NODE) {
    w->capped = 1;
    return MIDA_OK;
  }
  /* Keyed by the nodes' identities, not their indices: a node reached both
   * upstream and downstream is one node in the drawing. */
  const mida__lineage_node *f = &w->nodes[from];
  const mida__lineage_node *t = &w->nodes[to];
  mida__buf key;
  mida__buf_init(&key, 128 * 1024);
  int rc = mida__buf_printf(&key, "%c%s>%c%s", f->is_data ? 'd' : 't', f->id,
                            t->is_data ? 'd' : 't', t->id);
  if (rc != MIDA_OK)
    return rc;
  if (mida__strset_get(&w->edge_set, key.ptr) >= 0) {
    mida__buf_free(&key);
    return MIDA_OK;
  }
  if (w->nedges == w->edges_cap) {
    size_t cap = w->edges_cap ? w->edges_cap * 2 : 64;
    mida__lineage_edge *edges = mida__realloc(w->edges, cap * sizeof(*edges));
    if (edges == NULL) {
      mida__buf_free(&key);
      return MIDA_ENOMEM;
    }
    w->edges = edges;
    w->edges_cap = cap;
  }
  w->edges[w->nedges].from = from;
  w->edges[w->nedges].to = to;
  w->edges[w->nedges].label = label;
  w->nedges++;
  rc = mida__strset_put(&w->edge_set, key.ptr, 0);
  mida__buf_free(&key);
  return rc;
}

/* Finds the nodes of one direction, breadth-first from the roots. */
static int walk_direction(mida__lineage *w, int dir, int nroots) {
  mida__buf key;
  mida__buf sql;
  mida__buf_init(&key, 64 * 1024);
  mida__buf_init(&sql, 4096);
  int rc = MIDA_OK;
  int first = w->nnodes; /* this direction's nodes start here */
  for (int q = 0; rc == MIDA_OK && q < w->nnodes; q++) {
    /* The queue: the roots, then the nodes this direction added. */
    if (q >= nroots && q < first)
      q = first;
    if (q >= w->nnodes)
      break;
    if (w->max_depth >= 0 && w->nodes[q].depth >= w->max_depth)
      continue;
    for (size_t s = 0; rc == MIDA_OK && s < STEP_COUNT; s++) {
      const step *st = &steps[s];
      if (st->dir != dir || st->from_data != w->nodes[q].is_data)
        continue;
      int room = w->max_nodes - w->nnodes;
      mida__buf_reset(&sql);
      rc = mida__buf_printf(&sql, "%s LIMIT %d", st->sql,
                            room > 0 ? room * 2 + 1 : 1);
      if (rc != MIDA_OK)
        break;
      mida__rows rows;
      const char *params[1] = {w->nodes[q].id};
      rc = mida__rows_fetch(w->sink, sql.ptr, params, 1, (size_t)-1, &rows);
      for (size_t i = 0; rc == MIDA_OK && i < rows.nrows; i++) {
        const char *id = mida__rows_cell(&rows, i, 0);
        if (id == NULL)
          continue;
        rc = node_key(&key, dir, st->to_data, id);
        if (rc != MIDA_OK)
          break;
        int n = mida__strset_get(&w->visited, key.ptr);
        if (n < 0) {
          if (w->nnodes >= w->max_nodes) {
            w->capped = 1;
            continue;
          }
          rc = add_node(w, &rows, i, st->to_data, q, dir, st->edge, &n);
          if (rc == MIDA_OK)
            rc = mida__strset_put(&w->visited, key.ptr, n);
        }
        if (rc == MIDA_OK)
          rc = dir < 0 ? add_edge(w, n, q, st->label)
                       : add_edge(w, q, n, st->label);
      }
      mida__rows_free(&rows);
    }
  }
  mida__buf_free(&key);
  mida__buf_free(&sql);
  return rc;
}

/* The URI a file's data has when id names that file ("/p" or
 * "file:///p", as written or percent-encoded: core/fileid.h) into buf, as
 * the store holds it; else id itself. A path is never glued to "file://"
 * as it stands: the stored URIs are encoded, so "/d/a b" would not be
 * found and "/d/a%20b" would find the file "a b". Its ".", ".." and empty
 * components are taken out lexically, as `mida run` records the paths a
 * program opens (core/path.h): "/d/x/../a" is the file "/d/a". */
static const char *data_uri(const char *id, char *buf, size_t cap) {
  char path[4096], clean[4096];
  if (mida__file_uri_path(id, path, sizeof path) != MIDA_OK ||
      mida__path_append(clean, 0, sizeof clean, path) == (size_t)-1 ||
      mida__file_uri(clean, buf, cap) != MIDA_OK)
    return id;
  return buf;
}

/* Finds the start: a task, else data by id, else data by digest (every
 * file of that content), else data by URI. Returns MIDA_ENOTFOUND if
 * none. */
static int find_roots(mida__lineage *w, const char *id, int *nroots) {
  static const char *const sqls[] = {
      "SELECT t.id, NULL," TASK_COLUMNS
      " FROM task t LEFT JOIN workflow w ON w.id = t.workflow_id"
      " WHERE t.id = ?1",
      "SELECT x.id, NULL, d.uri, d.kind, NULL FROM (SELECT ?1 AS id) x"
      " LEFT JOIN data d ON d.id = x.id WHERE d.id IS NOT NULL"
      " OR EXISTS (SELECT 1 FROM task_data td WHERE td.data_id = ?1)",
      /* The index data_by_digest (schema.h, version 15) holds these. */
      "SELECT id, NULL, uri, kind, NULL FROM data"
      " WHERE digest = ?1 ORDER BY id LIMIT 100",
      "SELECT id, NULL, uri, kind, NULL FROM data"
      " WHERE uri = ?1 OR uri = ?2 ORDER BY id LIMIT 100",
  };
  char uri[3 * 4096 + 16];
  const char *params[1] = {id};
  const char *by_uri[2] = {id, data_uri(id, uri, sizeof uri)};
  int rc = MIDA_OK;
  *nroots = 0;
  const size_t nsqls = sizeof sqls / sizeof sqls[0];
  for (size_t s = 0; s < nsqls && rc == MIDA_OK && *nroots == 0; s++) {
    mida__rows rows;
    int last = s == nsqls - 1; /* by URI: as given, and as stored */
    rc = mida__rows_fetch(w->sink, sqls[s], last ? by_uri : params,
                          last ? 2 : 1, 100, &rows);
    for (size_t i = 0; rc == MIDA_OK && i < rows.nrows; i++) {
      int n = 0;
      rc = add_node(w, &rows, i, s > 0, -1, 0, NULL, &n);
      mida__buf key;
      mida__buf_init(&key, 64 * 1024);
      for (int dir = -1; rc == MIDA_OK && dir <= 1; dir += 2) {
        rc = node_key(&key, dir, s > 0, w->nodes[n].id);
        if (rc == MIDA_OK)
          rc = mida__strset_put(&w->visited, key.ptr, n);
      }
      mida__buf_free(&key);
      (*nroots)++;
    }
    mida__rows_free(&rows);
  }
  if (rc == MIDA_OK && *nroots == 0)
    rc = MIDA_ENOTFOUND;
  return rc;
}

/* ---- the whole walk ---------------------------------------------------- */

int mida__lineage_walk(mida__lineage *w, const char *start, int up, int down) {
  int rc = find_roots(w, start, &w->nroots);
  if (rc == MIDA_OK && up)
    rc = walk_direction(w, -1, w->nroots);
  if (rc == MIDA_OK && down)
    rc = walk_direction(w, 1, w->nroots);
  return rc;
}

int *mida__lineage_unique(const mida__lineage *w, mida__strset *seen, int *rc) {
  int *same =
      mida__malloc((size_t)(w->nnodes > 0 ? w->nnodes : 1) * sizeof *same);
  mida__buf key;
  mida__buf_init(&key, 64 * 1024);
  *rc = same != NULL ? MIDA_OK : MIDA_ENOMEM;
  for (int i = 0; i < w->nnodes && *rc == MIDA_OK; i++) {
    mida__buf_reset(&key);
    *rc = mida__buf_printf(&key, "%c|%s", w->nodes[i].is_data ? 'd' : 't',
                           w->nodes[i].id);
    if (*rc != MIDA_OK)
      break;
    int first = mida__strset_get(seen, key.ptr);
    if (first < 0) {
      first = i;
      *rc = mida__strset_put(seen, key.ptr, i);
    }
    same[i] = first;
  }
  mida__buf_free(&key);
  return same;
}

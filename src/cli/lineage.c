/*
 * lineage.c -- `mida lineage ID`: what a task or a piece of data came from
 * and what came of it, across workflows.
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
 * both listings. The number of nodes is capped (10,000 by default) so that
 * a hub used by a million tasks cannot exhaust memory; a note on stderr
 * says when the cap cut the walk short. --depth bounds the number of edges
 * from the start.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "mida.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LINEAGE_MAX_NODES 10000
/* Edges kept for --dot, per node allowed. */
#define LINEAGE_EDGES_PER_NODE 8

static const char lineage_help[] =
    "usage: mida lineage ID [--up | --down] [--depth N] [--dot]\n"
    "\n"
    "Walks the provenance graph from a task, or from data (its id, digest\n"
    "or URI): upstream (the data it used, the tasks that generated that\n"
    "data, the tasks it depends on, and so on) and downstream (the data it\n"
    "generated, the tasks that used it, ...), across workflows. Each line\n"
    "shows the edge, the node (task: id, activity, [workflow], status;\n"
    "data: id, URI, kind), indented by distance from the start.\n"
    "\n"
    "options:\n"
    "  --up           upstream only\n"
    "  --down         downstream only\n"
    "  --depth N      follow at most N edges from the start (default: all)\n"
    "  --max-nodes N  stop after N nodes (default: 10000)\n"
    "  --dot          a Graphviz digraph instead: tasks are boxes, data\n"
    "                 ellipses, edges point the way data flows\n"
    "  --store URL    the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida lineage 0190a4c2-5e1f-7c3a-8d2b-4f6e8a9b0c1d --dot | dot -Tsvg\n";

/* ---- a set of strings, for visited nodes and drawn edges --------------- */

typedef struct strset {
  char **keys;  /* open addressing; NULL marks a free slot */
  int *values;  /* the value stored with each key */
  size_t cap;   /* slots, a power of two */
  size_t count; /* keys held */
} strset;

static uint64_t str_hash(const char *s) {
  uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= UINT64_C(1099511628211);
  }
  return h;
}

static void strset_free(strset *set) {
  for (size_t i = 0; i < set->cap; i++)
    mida__free(set->keys[i]);
  mida__free(set->keys);
  mida__free(set->values);
  memset(set, 0, sizeof(*set));
}

/* The value stored with key, or -1. */
static int strset_get(const strset *set, const char *key) {
  if (set->cap == 0)
    return -1;
  for (size_t i = str_hash(key) & (set->cap - 1);;
       i = (i + 1) & (set->cap - 1)) {
    if (set->keys[i] == NULL)
      return -1;
    if (strcmp(set->keys[i], key) == 0)
      return set->values[i];
  }
}

/* Adds key (copied) with value; the key must not be there yet. */
static int strset_put(strset *set, const char *key, int value) {
  if ((set->count + 1) * 2 > set->cap) {
    strset bigger = {NULL, NULL, set->cap ? set->cap * 2 : 64, 0};
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

typedef struct node {
  char *id;         /* task id, or data id */
  int is_data;      /* 1 for data, 0 for a task */
  char *what;       /* task: activity; data: URI */
  char *where;      /* task: workflow name (or id); data: kind */
  char *status;     /* task: status; data: NULL */
  char *edge;       /* the edge it was reached by, as printed; NULL for roots */
  int depth;        /* edges from the start */
  int parent;       /* the node it was reached from; -1 for a root */
  int dir;          /* -1 upstream, +1 downstream, 0 a root */
  int first_child;  /* for printing: first node reached from it, or -1 */
  int next_sibling; /* for printing: next node reached from parent, or -1 */
} node;

typedef struct edge {
  int from;          /* node the data flows from */
  int to;            /* node it flows to */
  const char *label; /* "used", "generated" or "dep" (static) */
} edge;

typedef struct walk {
  mida__sink *sink;    /* the store */
  node *nodes;         /* every node, in the order reached */
  int nnodes;          /* nodes held */
  int cap;             /* nodes allocated */
  int max_nodes;       /* the cap on nodes */
  long long max_depth; /* the cap on depth; -1 for none */
  int capped;          /* 1 when max_nodes cut the walk short */
  strset visited;      /* "u|t|id" or "d|d|id" -> node, per direction */
  edge *edges;         /* edges seen, for --dot */
  size_t nedges;       /* edges held */
  size_t edges_cap;    /* edges allocated */
  strset edge_set;     /* "from>to" of the edges held, to draw each once */
} walk;

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

static void walk_free(walk *w) {
  for (int i = 0; i < w->nnodes; i++) {
    node *n = &w->nodes[i];
    mida__free(n->id);
    mida__free(n->what);
    mida__free(n->where);
    mida__free(n->status);
    mida__free(n->edge);
  }
  mida__free(w->nodes);
  mida__free(w->edges);
  strset_free(&w->visited);
  strset_free(&w->edge_set);
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
static int add_node(walk *w, const mida__cli_rows *r, size_t row, int is_data,
                    int parent, int dir, const char *edge_text, int *out) {
  if (w->nnodes == w->cap) {
    int cap = w->cap ? w->cap * 2 : 64;
    node *nodes = mida__realloc(w->nodes, (size_t)cap * sizeof(*nodes));
    if (nodes == NULL)
      return MIDA_ENOMEM;
    w->nodes = nodes;
    w->cap = cap;
  }
  int rc = MIDA_OK;
  node *n = &w->nodes[w->nnodes];
  memset(n, 0, sizeof(*n));
  n->is_data = is_data;
  n->parent = parent;
  n->dir = dir;
  n->depth = parent >= 0 ? w->nodes[parent].depth + 1 : 0;
  n->first_child = -1;
  n->next_sibling = -1;
  n->id = dup_or_null(mida__cli_cell(r, row, 0), &rc);
  n->what = dup_or_null(mida__cli_cell(r, row, 2), &rc);
  n->where = dup_or_null(mida__cli_cell(r, row, 3), &rc);
  n->status = dup_or_null(mida__cli_cell(r, row, 4), &rc);
  const char *name = mida__cli_cell(r, row, 1);
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
static int add_edge(walk *w, int from, int to, const char *label) {
  if (w->nedges >= (size_t)w->max_nodes * LINEAGE_EDGES_PER_NODE) {
    w->capped = 1;
    return MIDA_OK;
  }
  /* Keyed by the nodes' identities, not their indices: a node reached both
   * upstream and downstream is one node in the drawing. */
  const node *f = &w->nodes[from];
  const node *t = &w->nodes[to];
  mida__buf key;
  mida__buf_init(&key, 128 * 1024);
  int rc = mida__buf_printf(&key, "%c%s>%c%s", f->is_data ? 'd' : 't', f->id,
                            t->is_data ? 'd' : 't', t->id);
  if (rc != MIDA_OK)
    return rc;
  if (strset_get(&w->edge_set, key.ptr) >= 0) {
    mida__buf_free(&key);
    return MIDA_OK;
  }
  if (w->nedges == w->edges_cap) {
    size_t cap = w->edges_cap ? w->edges_cap * 2 : 64;
    edge *edges = mida__realloc(w->edges, cap * sizeof(*edges));
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
  rc = strset_put(&w->edge_set, key.ptr, 0);
  mida__buf_free(&key);
  return rc;
}

/* Finds the nodes of one direction, breadth-first from the roots. */
static int walk_direction(walk *w, int dir, int nroots) {
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
      mida__cli_rows rows;
      const char *params[1] = {w->nodes[q].id};
      rc = mida__cli_fetch(w->sink, sql.ptr, params, 1, (size_t)-1, &rows);
      for (size_t i = 0; rc == MIDA_OK && i < rows.nrows; i++) {
        const char *id = mida__cli_cell(&rows, i, 0);
        if (id == NULL)
          continue;
        rc = node_key(&key, dir, st->to_data, id);
        if (rc != MIDA_OK)
          break;
        int n = strset_get(&w->visited, key.ptr);
        if (n < 0) {
          if (w->nnodes >= w->max_nodes) {
            w->capped = 1;
            continue;
          }
          rc = add_node(w, &rows, i, st->to_data, q, dir, st->edge, &n);
          if (rc == MIDA_OK)
            rc = strset_put(&w->visited, key.ptr, n);
        }
        if (rc == MIDA_OK)
          rc = dir < 0 ? add_edge(w, n, q, st->label)
                       : add_edge(w, q, n, st->label);
      }
      mida__cli_rows_free(&rows);
    }
  }
  mida__buf_free(&key);
  mida__buf_free(&sql);
  return rc;
}

/* Finds the start: a task, else data by id, else data by URI. Returns
 * MIDA_ENOTFOUND if none. */
static int find_roots(walk *w, const char *id, int *nroots) {
  static const char *const sqls[] = {
      "SELECT t.id, NULL," TASK_COLUMNS
      " FROM task t LEFT JOIN workflow w ON w.id = t.workflow_id"
      " WHERE t.id = ?1",
      "SELECT x.id, NULL, d.uri, d.kind, NULL FROM (SELECT ?1 AS id) x"
      " LEFT JOIN data d ON d.id = x.id WHERE d.id IS NOT NULL"
      " OR EXISTS (SELECT 1 FROM task_data td WHERE td.data_id = ?1)",
      "SELECT id, NULL, uri, kind, NULL FROM data"
      " WHERE uri = ?1 OR uri = 'file://' || ?1 ORDER BY id LIMIT 100",
  };
  const char *params[1] = {id};
  int rc = MIDA_OK;
  *nroots = 0;
  for (int s = 0; s < 3 && rc == MIDA_OK && *nroots == 0; s++) {
    mida__cli_rows rows;
    rc = mida__cli_fetch(w->sink, sqls[s], params, 1, 100, &rows);
    for (size_t i = 0; rc == MIDA_OK && i < rows.nrows; i++) {
      int n = 0;
      rc = add_node(w, &rows, i, s > 0, -1, 0, NULL, &n);
      mida__buf key;
      mida__buf_init(&key, 64 * 1024);
      for (int dir = -1; rc == MIDA_OK && dir <= 1; dir += 2) {
        rc = node_key(&key, dir, s > 0, w->nodes[n].id);
        if (rc == MIDA_OK)
          rc = strset_put(&w->visited, key.ptr, n);
      }
      mida__buf_free(&key);
      (*nroots)++;
    }
    mida__cli_rows_free(&rows);
  }
  if (rc == MIDA_OK && *nroots == 0)
    rc = MIDA_ENOTFOUND;
  return rc;
}

/* ---- printing ---------------------------------------------------------- */

static void print_node(const node *n) {
  if (n->is_data) {
    printf("data %s", n->id);
    if (n->what != NULL && strcmp(n->what, n->id) != 0)
      printf(" %s", n->what);
    if (n->where != NULL)
      printf(" (%s)", n->where);
  } else {
    printf("task %s %s", n->id, n->what != NULL ? n->what : "?");
    if (n->where != NULL)
      printf(" [%s]", n->where);
    if (n->status != NULL)
      printf(" %s", n->status);
  }
  putchar('\n');
}

/* Links each node into its parent's list of children, in the order found. */
static int link_children(walk *w) {
  int *last =
      mida__malloc((size_t)(w->nnodes > 0 ? w->nnodes : 1) * sizeof(*last));
  if (last == NULL)
    return MIDA_ENOMEM;
  for (int i = 0; i < w->nnodes; i++)
    last[i] = -1;
  for (int i = 0; i < w->nnodes; i++) {
    int p = w->nodes[i].parent;
    if (p < 0)
      continue;
    if (last[p] < 0)
      w->nodes[p].first_child = i;
    else
      w->nodes[last[p]].next_sibling = i;
    last[p] = i;
  }
  mida__free(last);
  return MIDA_OK;
}

/* Prints the nodes of one direction below a root, depth-first over the
 * breadth-first tree, without recursion. */
static int print_tree(walk *w, int root, int dir) {
  int *stack = mida__malloc((size_t)(w->nnodes + 1) * sizeof(*stack));
  if (stack == NULL)
    return MIDA_ENOMEM;
  int top = 0;
  int any = 0;
  /* Push the root's children of this direction in reverse order. */
  int count = 0;
  for (int c = w->nodes[root].first_child; c >= 0;
       c = w->nodes[c].next_sibling) {
    if (w->nodes[c].dir == dir)
      stack[top + count++] = c;
  }
  for (int i = 0; i < count / 2; i++) {
    int t = stack[i];
    stack[i] = stack[count - 1 - i];
    stack[count - 1 - i] = t;
  }
  top = count;
  while (top > 0) {
    const node *n = &w->nodes[stack[--top]];
    any = 1;
    printf("%*s%s %s ", n->depth * 2, "", dir < 0 ? "<-" : "->", n->edge);
    print_node(n);
    int start = top;
    for (int c = n->first_child; c >= 0; c = w->nodes[c].next_sibling)
      stack[top++] = c;
    for (int i = 0; i < (top - start) / 2; i++) {
      int t = stack[start + i];
      stack[start + i] = stack[top - 1 - i];
      stack[top - 1 - i] = t;
    }
  }
  if (!any)
    printf("  (none)\n");
  mida__free(stack);
  return MIDA_OK;
}

static int print_text(walk *w, int nroots, int up, int down) {
  int rc = link_children(w);
  for (int r = 0; rc == MIDA_OK && r < nroots; r++) {
    if (r > 0)
      putchar('\n');
    print_node(&w->nodes[r]);
    if (up) {
      printf("upstream\n");
      rc = print_tree(w, r, -1);
    }
    if (down && rc == MIDA_OK) {
      printf("downstream\n");
      rc = print_tree(w, r, 1);
    }
  }
  return rc;
}

/* Appends s as the inside of a DOT quoted string. */
static int dot_escape(mida__buf *b, const char *s) {
  int rc = MIDA_OK;
  for (const unsigned char *p = (const unsigned char *)s; *p && rc == MIDA_OK;
       p++) {
    if (*p == '"' || *p == '\\')
      rc = mida__buf_add(b, "\\", 1);
    if (rc != MIDA_OK)
      break;
    if (*p == '\n')
      rc = mida__buf_adds(b, "\\n");
    else if (*p < 0x20 || *p == 0x7f)
      rc = mida__buf_add(b, " ", 1);
    else
      rc = mida__buf_add(b, p, 1);
  }
  return rc;
}

/* Appends the DOT name of a node: "t:<id>" or "d:<id>", quoted. */
static int dot_name(mida__buf *b, const node *n) {
  int rc = mida__buf_adds(b, n->is_data ? "\"d:" : "\"t:");
  if (rc == MIDA_OK)
    rc = dot_escape(b, n->id);
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, "\"", 1);
  return rc;
}

static int print_dot(walk *w, int nroots) {
  mida__buf b;
  mida__buf_init(&b, 16 * 1024 * 1024);
  strset drawn = {NULL, NULL, 0, 0};
  int rc = mida__buf_adds(&b, "digraph lineage {\n  rankdir=LR;\n"
                              "  node [fontsize=10];\n"
                              "  edge [fontsize=9];\n");
  if (rc == MIDA_OK)
    fputs(b.ptr, stdout);
  for (int i = 0; rc == MIDA_OK && i < w->nnodes; i++) {
    const node *n = &w->nodes[i];
    mida__buf_reset(&b);
    rc = dot_name(&b, n);
    if (rc != MIDA_OK)
      break;
    if (strset_get(&drawn, b.ptr) >= 0)
      continue; /* the same node reached upstream and downstream */
    rc = strset_put(&drawn, b.ptr, i);
    mida__buf_reset(&b);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&b, "  ");
    if (rc == MIDA_OK)
      rc = dot_name(&b, n);
    if (rc == MIDA_OK)
      rc = mida__buf_printf(&b, " [shape=%s, label=\"",
                            n->is_data ? "ellipse" : "box");
    if (rc == MIDA_OK && n->is_data) {
      rc = dot_escape(&b, n->what != NULL ? n->what : n->id);
      if (rc == MIDA_OK && n->where != NULL)
        rc = mida__buf_adds(&b, "\\n");
      if (rc == MIDA_OK && n->where != NULL)
        rc = dot_escape(&b, n->where);
    } else if (rc == MIDA_OK) {
      rc = dot_escape(&b, n->what != NULL ? n->what : "?");
      if (rc == MIDA_OK && n->where != NULL) {
        rc = mida__buf_adds(&b, "\\n");
        if (rc == MIDA_OK)
          rc = dot_escape(&b, n->where);
      }
      if (rc == MIDA_OK)
        rc = mida__buf_adds(&b, "\\n");
      if (rc == MIDA_OK)
        rc = dot_escape(&b, n->id);
    }
    if (rc == MIDA_OK)
      rc = mida__buf_printf(&b, "\"%s];\n", i < nroots ? ", style=bold" : "");
    if (rc == MIDA_OK)
      fputs(b.ptr, stdout);
  }
  for (size_t e = 0; rc == MIDA_OK && e < w->nedges; e++) {
    mida__buf_reset(&b);
    rc = mida__buf_adds(&b, "  ");
    if (rc == MIDA_OK)
      rc = dot_name(&b, &w->nodes[w->edges[e].from]);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&b, " -> ");
    if (rc == MIDA_OK)
      rc = dot_name(&b, &w->nodes[w->edges[e].to]);
    if (rc == MIDA_OK)
      rc = mida__buf_printf(&b, " [label=\"%s\"];\n", w->edges[e].label);
    if (rc == MIDA_OK)
      fputs(b.ptr, stdout);
  }
  if (rc == MIDA_OK)
    fputs("}\n", stdout);
  strset_free(&drawn);
  mida__buf_free(&b);
  return rc;
}

int mida__cli_lineage(mida__cli *cli, int argc, char **argv) {
  int up = 0;
  int down = 0;
  int dot = 0;
  const char *depth = NULL;
  const char *max_nodes = NULL;
  const mida__cli_opt opts[] = {
      {"--up", NULL, NULL, &up},
      {"--down", NULL, NULL, &down},
      {"--dot", NULL, NULL, &dot},
      {"--depth", NULL, &depth, NULL},
      {"--max-nodes", NULL, &max_nodes, NULL},
      {NULL, NULL, NULL, NULL},
  };
  const char *pos[1];
  int npos = 0;
  int ex = mida__cli_parse(cli, "lineage", lineage_help, opts, argc, argv, pos,
                           1, 1, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  walk w;
  memset(&w, 0, sizeof(w));
  w.max_depth = -1;
  w.max_nodes = LINEAGE_MAX_NODES;
  if (depth != NULL && mida__cli_parse_count(depth, &w.max_depth) != 0)
    return mida__cli_usage_error("lineage", "--depth needs a count, not '%s'",
                                 depth);
  long long cap = 0;
  if (max_nodes != NULL) {
    if (mida__cli_parse_count(max_nodes, &cap) != 0 || cap < 1 ||
        cap > 10000000)
      return mida__cli_usage_error(
          "lineage", "--max-nodes needs a count from 1 to 10000000, not '%s'",
          max_nodes);
    w.max_nodes = (int)cap;
  }
  if (!up && !down) {
    up = 1;
    down = 1;
  }

  ex = mida__cli_open_store(cli, 0, &w.sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  int nroots = 0;
  int rc = find_roots(&w, pos[0], &nroots);
  if (rc == MIDA_OK && up)
    rc = walk_direction(&w, -1, nroots);
  if (rc == MIDA_OK && down)
    rc = walk_direction(&w, 1, nroots);
  if (rc == MIDA_OK)
    rc = dot ? print_dot(&w, nroots) : print_text(&w, nroots, up, down);
  if (rc == MIDA_OK && fflush(stdout) != 0)
    rc = MIDA_EIO;

  if (rc == MIDA_ENOTFOUND)
    ex = mida__cli_fail("no task or data with id or URI %s", pos[0]);
  else if (rc == MIDA_ENOMEM || rc == MIDA_EIO || rc == MIDA_ETOOBIG)
    ex = mida__cli_fail("lineage: %s", mida_strerror(rc));
  else if (rc != MIDA_OK)
    ex = mida__cli_store_error(w.sink, rc, "lineage");
  else
    ex = MIDA_CLI_OK;
  if (rc == MIDA_OK && w.capped)
    fprintf(stderr,
            "mida: lineage stopped at %d nodes; narrow it with --depth, "
            "--up or --down, or raise --max-nodes\n",
            w.max_nodes);
  mida__sink_close(w.sink);
  walk_free(&w);
  return ex;
}

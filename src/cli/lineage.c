/*
 * lineage.c -- `mida lineage ID`: what a task or a piece of data came from
 * and what came of it, across workflows, as an indented listing or a
 * Graphviz digraph. The walk itself is report/lineage.c, shared with
 * `mida serve`, read from one snapshot of the store; this file prints it,
 * and says on stderr when the node cap cut the walk short.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/path.h"
#include "core/utf8.h"
#include "report/lineage.h"
#include "mida.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINEAGE_MAX_NODES 10000
/* Lines are indented by two spaces a level down to this depth; deeper
 * lines keep this indentation and show their depth as a number, so that
 * the listing grows with the nodes it shows, not with their square (a
 * chain of 50,000 tasks was 2.5 GB). */
#define LINEAGE_INDENT_MAX_DEPTH 32

static const char lineage_help[] =
    "usage: mida lineage ID [--up | --down] [--depth N] [--max-nodes N]\n"
    "                    [--dot]\n"
    "\n"
    "Walks the provenance graph from a task (its id, or its source's key:\n"
    "an MLflow run id, a Dask key), or from data (its id, digest\n"
    "or URI): upstream (the data it used, the tasks that generated that\n"
    "data, the tasks it depends on, and so on) and downstream (the data it\n"
    "generated, the tasks that used it, ...), across workflows. Each line\n"
    "shows the edge, the node (task: id, activity, [workflow], status;\n"
    "data: id, URI, kind), indented by distance from the start (beyond\n"
    "32 levels the distance is shown as [N]).\n"
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

/* ---- printing ---------------------------------------------------------- */

/* A node's line, after its edge; note (or NULL) is added at its end. */
static void print_node(const mida__lineage_node *n, const char *note) {
  /* Names, places and statuses come from the workflows: written through
   * mida__cli_put_text, so that none can drive the terminal. */
  if (n->is_data) {
    fputs("data ", stdout);
    mida__cli_put_text(stdout, n->id);
    if (n->what != NULL && strcmp(n->what, n->id) != 0) {
      putchar(' ');
      mida__cli_put_text(stdout, n->what);
    }
    if (n->where != NULL) {
      fputs(" (", stdout);
      mida__cli_put_text(stdout, n->where);
      putchar(')');
    }
  } else {
    fputs("task ", stdout);
    mida__cli_put_text(stdout, n->id);
    putchar(' ');
    mida__cli_put_text(stdout, n->what != NULL ? n->what : "?");
    if (n->where != NULL) {
      fputs(" [", stdout);
      mida__cli_put_text(stdout, n->where);
      putchar(']');
    }
    if (n->status != NULL) {
      putchar(' ');
      mida__cli_put_text(stdout, n->status);
    }
  }
  if (note != NULL)
    fputs(note, stdout);
  putchar('\n');
}

/* Links each node into its parent's list of children, in the order found. */
static int link_children(mida__lineage *w) {
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

/* The edges of the walk that the tree of nodes does not show: one that
 * reaches a node the walk had reached already (a start, or a node found
 * through another), e.g. the old version of a file that a task rewrote in
 * place, which is a start of its own. Each node's are listed below it,
 * pointing at the node shown elsewhere. A node reached both upstream and
 * downstream is held twice and an edge is held once, by the nodes'
 * identities (report/lineage.h): so the lists are per identity (same[]),
 * one per direction: up[u] the first edge into node u (what it came
 * from), down[u] the first out of it; next[e] the next edge of the same
 * list, -1 the end. stamp[] marks a node's tree children while its edges
 * are listed. */
typedef struct cross_refs {
  int *same;  /* per node: the first node of its identity */
  int *up;    /* per node (identity): its first edge in */
  int *down;  /* per node (identity): its first edge out */
  int *next_up, *next_down; /* per edge */
  int *stamp; /* per node (identity) */
  mida__strset seen;
} cross_refs;

static void cross_refs_free(cross_refs *x) {
  mida__free(x->same);
  mida__free(x->up);
  mida__free(x->down);
  mida__free(x->next_up);
  mida__free(x->next_down);
  mida__free(x->stamp);
  mida__strset_free(&x->seen);
}

static int cross_refs_make(const mida__lineage *w, cross_refs *x) {
  memset(x, 0, sizeof *x);
  int rc = MIDA_OK;
  x->same = mida__lineage_unique(w, &x->seen, &rc);
  size_t nn = (size_t)(w->nnodes > 0 ? w->nnodes : 1);
  size_t ne = w->nedges > 0 ? w->nedges : 1;
  x->up = mida__malloc(nn * sizeof *x->up);
  x->down = mida__malloc(nn * sizeof *x->down);
  x->stamp = mida__calloc(nn, sizeof *x->stamp);
  x->next_up = mida__malloc(ne * sizeof *x->next_up);
  x->next_down = mida__malloc(ne * sizeof *x->next_down);
  if (rc != MIDA_OK || x->up == NULL || x->down == NULL || x->stamp == NULL ||
      x->next_up == NULL || x->next_down == NULL) {
    cross_refs_free(x);
    return rc != MIDA_OK ? rc : MIDA_ENOMEM;
  }
  for (size_t i = 0; i < nn; i++)
    x->up[i] = x->down[i] = -1;
  for (size_t e = w->nedges; e-- > 0;) {
    int to = x->same[w->edges[e].to], from = x->same[w->edges[e].from];
    x->next_up[e] = x->up[to];
    x->up[to] = (int)e;
    x->next_down[e] = x->down[from];
    x->down[from] = (int)e;
  }
  return MIDA_OK;
}

/* The words of an edge as its node's line shows them (report/lineage.c's
 * steps), from the node at, in direction dir. */
static const char *edge_words(const char *label, int at_is_data, int dir) {
  if (strcmp(label, "dep") == 0)
    return dir < 0 ? "depends on" : "needed by";
  if (at_is_data)
    return dir < 0 ? "generated by" : "used by";
  return label; /* a task's "used" or "generated" */
}

/* Prints the edges of node at (depth depth, direction dir) that lead to
 * nodes shown elsewhere in the listing: every edge of its identity in that
 * direction but those to its children in the tree. Returns how many. */
static int print_cross_refs(const mida__lineage *w, const cross_refs *x,
                             int at, int depth, int dir) {
  int u = x->same[at];
  for (int c = w->nodes[at].first_child; c >= 0;
       c = w->nodes[c].next_sibling)
    if (w->nodes[c].dir == dir)
      x->stamp[x->same[c]] = at + 1;
  int printed = 0;
  for (int e = dir < 0 ? x->up[u] : x->down[u]; e >= 0;
       e = dir < 0 ? x->next_up[e] : x->next_down[e]) {
    const mida__lineage_edge *edge = &w->edges[e];
    int other = x->same[dir < 0 ? edge->from : edge->to];
    if (x->stamp[other] == at + 1)
      continue; /* a child in the tree: shown as one */
    int d = depth + 1;
    if (d <= LINEAGE_INDENT_MAX_DEPTH)
      printf("%*s%s ", d * 2, "", dir < 0 ? "<-" : "->");
    else
      printf("%*s[%d] %s ", LINEAGE_INDENT_MAX_DEPTH * 2, "", d,
             dir < 0 ? "<-" : "->");
    printf("%s ", edge_words(edge->label, w->nodes[at].is_data, dir));
    print_node(&w->nodes[other], other < w->nroots ? " (a start, listed as one)"
                                                   : " (listed elsewhere)");
    printed++;
  }
  return printed;
}

/* Prints the nodes of one direction below a root, depth-first over the
 * breadth-first tree, without recursion; below each, its edges to nodes
 * shown elsewhere (cross_refs). */
static int print_tree(mida__lineage *w, const cross_refs *x, int root,
                      int dir) {
  int *stack = mida__malloc((size_t)(w->nnodes + 1) * sizeof(*stack));
  if (stack == NULL)
    return MIDA_ENOMEM;
  int top = 0;
  int any = print_cross_refs(w, x, root, 0, dir) > 0;
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
    const mida__lineage_node *n = &w->nodes[stack[--top]];
    any = 1;
    if (n->depth <= LINEAGE_INDENT_MAX_DEPTH)
      printf("%*s%s ", n->depth * 2, "", dir < 0 ? "<-" : "->");
    else
      printf("%*s[%d] %s ", LINEAGE_INDENT_MAX_DEPTH * 2, "", n->depth,
             dir < 0 ? "<-" : "->");
    mida__cli_put_text(stdout, n->edge);
    putchar(' ');
    print_node(n, NULL);
    (void)print_cross_refs(w, x, (int)(n - w->nodes), n->depth, dir);
    int start = top;
    for (int c = n->first_child; c >= 0; c = w->nodes[c].next_sibling)
      stack[top++] = c;
    for (int i = 0; i < (top - start) / 2; i++) {
      int t = stack[start + i];
      stack[start + i] = stack[top - 1 - i];
      stack[top - 1 - i] = t;
    }
  }
  /* A walk cut short by --max-nodes may have left this side's nodes
   * out: "(none)" would say there are none (the note is on stderr). */
  if (!any && w->max_depth == 0)
    printf("  (not walked: --depth 0)\n");
  else if (!any && w->capped)
    printf("  (none before the walk stopped at %d nodes)\n", w->max_nodes);
  else if (!any)
    printf("  (none)\n");
  mida__free(stack);
  return MIDA_OK;
}

static int print_text(mida__lineage *w, int nroots, int up, int down) {
  int rc = link_children(w);
  cross_refs x;
  if (rc == MIDA_OK)
    rc = cross_refs_make(w, &x);
  if (rc != MIDA_OK)
    return rc;
  for (int r = 0; rc == MIDA_OK && r < nroots; r++) {
    if (r > 0)
      putchar('\n');
    print_node(&w->nodes[r], NULL);
    if (up) {
      printf("upstream\n");
      rc = print_tree(w, &x, r, -1);
    }
    if (down && rc == MIDA_OK) {
      printf("downstream\n");
      rc = print_tree(w, &x, r, 1);
    }
  }
  cross_refs_free(&x);
  return rc;
}

/* Appends s as the inside of a DOT quoted string. DOT is UTF-8 text: a
 * byte of s that is not (a program or file named in another encoding)
 * becomes U+FFFD, which Graphviz draws, rather than a byte it rejects. */
static int dot_escape(mida__buf *b, const char *s) {
  int rc = MIDA_OK;
  const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
  while (p < end && rc == MIDA_OK) {
    size_t n = mida__utf8_seq(p, end);
    if (n == 0) {
      rc = mida__buf_adds(b, "\xEF\xBF\xBD");
      p++;
      continue;
    }
    if (*p == '"' || *p == '\\')
      rc = mida__buf_add(b, "\\", 1);
    if (rc != MIDA_OK)
      break;
    if (*p == '\n')
      rc = mida__buf_adds(b, "\\n");
    else if (*p < 0x20 || *p == 0x7f)
      rc = mida__buf_add(b, " ", 1);
    else
      rc = mida__buf_add(b, p, n);
    p += n;
  }
  return rc;
}

/* Appends the DOT name of a node: "t:<id>" or "d:<id>", quoted. */
static int dot_name(mida__buf *b, const mida__lineage_node *n) {
  int rc = mida__buf_adds(b, n->is_data ? "\"d:" : "\"t:");
  if (rc == MIDA_OK)
    rc = dot_escape(b, n->id);
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, "\"", 1);
  return rc;
}

static int print_dot(mida__lineage *w, int nroots) {
  mida__buf b;
  mida__buf_init(&b, 16 * 1024 * 1024);
  mida__strset drawn = {NULL, NULL, 0, 0};
  int rc = mida__buf_adds(&b, "digraph lineage {\n  rankdir=LR;\n"
                              "  node [fontsize=10];\n"
                              "  edge [fontsize=9];\n");
  if (rc == MIDA_OK)
    fputs(b.ptr, stdout);
  for (int i = 0; rc == MIDA_OK && i < w->nnodes; i++) {
    const mida__lineage_node *n = &w->nodes[i];
    mida__buf_reset(&b);
    rc = dot_name(&b, n);
    if (rc != MIDA_OK)
      break;
    if (mida__strset_get(&drawn, b.ptr) >= 0)
      continue; /* the same node reached upstream and downstream */
    rc = mida__strset_put(&drawn, b.ptr, i);
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
  mida__strset_free(&drawn);
  mida__buf_free(&b);
  return rc;
}

/* start read as a path relative to the working directory: its absolute
 * path into buf, made lexically as the preload library records the paths
 * a program opens (core/path.h); NULL when start is not a relative path
 * (an absolute path or a file:// URI is made so by the walk,
 * report/lineage.c, for `mida serve` too). */
static const char *absolute_of(const char *start, char *buf, size_t cap) {
  if (start[0] == '/' || start[0] == '\0' || strstr(start, "://") != NULL ||
      getcwd(buf, cap) == NULL ||
      mida__path_append(buf, strlen(buf), cap, start) == (size_t)-1)
    return NULL;
  return buf;
}

/* start as a file under the working directory, when it is a relative path
 * that names one there ("out/n", "../data/x.csv"); else start itself (a
 * task or data id, a digest, a URI, or a file that is gone: see
 * mida__cli_lineage). */
static const char *start_of(const char *start, char *buf, size_t cap) {
  struct stat st;
  const char *path = lstat(start, &st) == 0 ? absolute_of(start, buf, cap)
                                            : NULL;
  return path != NULL ? path : start;
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
  mida__lineage w;
  memset(&w, 0, sizeof(w));
  w.max_depth = -1;
  w.max_nodes = LINEAGE_MAX_NODES;
  if (depth != NULL && mida__cli_parse_count(depth, &w.max_depth) != 0)
    return mida__cli_usage_error("lineage",
                                 "--depth needs a count from 0 to "
                                 "1000000000000, not '%s'",
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
  /* One snapshot for the whole walk, below: its time is the walk's,
   * bounded by --max-nodes, not by one statement's limit. */
  mida__cli_unbounded_time(w.sink);
  char path[4096];
  const char *start = start_of(pos[0], path, sizeof path);
  /* The walk is many queries (a node's edges of each kind, node by node):
   * they, and the lookups of its start below, all read one snapshot of
   * the store (sink.h), as `mida show` and the exports do, so that a
   * transaction committed while the walk runs is in none of its answer
   * rather than in its later queries only. */
  int rc = mida__sink_snapshot_begin(w.sink);
  if (rc == MIDA_OK)
    rc = mida__lineage_walk(&w, start, up, down);
  /* A relative path of a file that is gone (an intermediate the command
   * removed, `rm tmp`) is no id, digest or URI either: it is the file
   * it named, as an absolute path is (until 2026-12-06 `mida lineage
   * tmp` said "no task or data" where `mida lineage $PWD/tmp` found it). */
  if (rc == MIDA_ENOTFOUND && start == pos[0] &&
      absolute_of(pos[0], path, sizeof path) != NULL)
    rc = mida__lineage_walk(&w, path, up, down);
  /* Last, a task named by its source's key (an MLflow run id, a Dask
   * key). */
  char id[128];
  int listed = 0; /* a source key of several tasks, listed */
  if (rc == MIDA_ENOTFOUND) {
    rc = mida__cli_source_key(w.sink, "lineage", pos[0], 0, id, sizeof id);
    listed = rc == MIDA_EINVAL;
    if (rc == MIDA_OK)
      rc = mida__lineage_walk(&w, id, up, down);
  }
  /* The store is read: the snapshot is let go before the printing. */
  mida__sink_snapshot_end(w.sink);
  int nroots = w.nroots;
  if (rc == MIDA_OK)
    rc = dot ? print_dot(&w, nroots) : print_text(&w, nroots, up, down);
  if (rc == MIDA_OK)
    rc = mida__cli_flush(stdout);

  if (listed)
    ex = MIDA_CLI_FAIL;
  else if (rc == MIDA_ENOTFOUND)
    ex = mida__cli_fail("no task or data with id, digest, URI or source key "
                        "'%s'",
                        pos[0]);
  else if (mida__cli_write_broke(rc))
    ex = mida__cli_fail("lineage: cannot write standard output: %s",
                        mida__cli_write_error(rc));
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
  mida__lineage_free(&w);
  return ex;
}

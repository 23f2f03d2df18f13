/*
 * lineage.h -- the provenance walk (lineage.c), shared by `mida lineage`
 * and the /api/lineage endpoint of `mida serve`.
 */
#ifndef MIDA_REPORT_LINEAGE_H
#define MIDA_REPORT_LINEAGE_H

#include "sink/sink.h"

#include <stddef.h>

/* A set of strings with an int each (open addressing). */
typedef struct mida__strset {
  char **keys;  /* open addressing; NULL marks a free slot */
  int *values;  /* the value stored with each key */
  size_t cap;   /* slots, a power of two */
  size_t count; /* keys held */
} mida__strset;

typedef struct mida__lineage_node {
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
} mida__lineage_node;

typedef struct mida__lineage_edge {
  int from;          /* node the data flows from */
  int to;            /* node it flows to */
  const char *label; /* "used", "generated" or "dep" (static) */
} mida__lineage_edge;

typedef struct mida__lineage {
  mida__sink *sink;          /* the store */
  mida__lineage_node *nodes; /* every node, in the order reached */
  int nnodes;                /* nodes held */
  int cap;                   /* nodes allocated */
  int max_nodes;             /* the cap on nodes */
  long long max_depth;       /* the cap on depth; -1 for none */
  int capped;                /* 1 when max_nodes cut the walk short */
  int nroots;                /* the start nodes: nodes[0..nroots) */
  mida__strset visited;      /* "u|t|id" or "d|d|id" -> node, per direction */
  mida__lineage_edge *edges; /* edges seen, for --dot */
  size_t nedges;             /* edges held */
  size_t edges_cap;          /* edges allocated */
  mida__strset edge_set; /* "from>to" of the edges held, to draw each once */
} mida__lineage;

/* The value stored with key, or -1. */
int mida__strset_get(const mida__strset *set, const char *key);

/* Where the value stored with key is, to change it; NULL if key is not
 * there. */
int *mida__strset_value(const mida__strset *set, const char *key);

/* Adds key (copied) with value; the key must not be there yet. Returns
 * MIDA_OK or MIDA_ENOMEM. */
int mida__strset_put(mida__strset *set, const char *key, int value);

void mida__strset_free(mida__strset *set);

/* Walks from start (a task id, else a data id, else a data URI) upstream
 * (up) and downstream (down) on w->sink, within w->max_nodes and
 * w->max_depth (set them, and zero the rest, before). The start nodes are
 * w->nodes[0..w->nroots). Returns MIDA_OK, MIDA_ENOTFOUND (no such start),
 * MIDA_ENOMEM or the sink's error. Free w with mida__lineage_free() in
 * every case. */
int mida__lineage_walk(mida__lineage *w, const char *start, int up, int down);

void mida__lineage_free(mida__lineage *w);

/* For each node of w, the index of the first node of the same kind and id
 * (a node reached both upstream and downstream is held twice): an array of
 * w->nnodes entries to free with mida__free(), or NULL with *rc set. seen
 * is an empty set the caller frees. */
int *mida__lineage_unique(const mida__lineage *w, mida__strset *seen, int *rc);

#endif /* MIDA_REPORT_LINEAGE_H */

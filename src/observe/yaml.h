/*
 * yaml.h -- the part of YAML that MLflow's file store writes, read without
 * a YAML library.
 *
 * MLflow keeps each experiment, run, dataset, input and logged model of a
 * file store (./mlruns) as a meta.yaml written by PyYAML's safe_dump
 * (block style, keys sorted, lines folded at 80 columns). What such a file
 * holds, and what this reader takes:
 *
 *   key: plain scalar          folded over indented continuation lines
 *   key: 'single quoted'       '' is a quote; line breaks fold
 *   key: "double quoted"       backslash escapes (\n \t \xXX \uXXXX ...)
 *   key: |  / |- / >           block scalars (literal, folded)
 *   key: null / ~ / (nothing)  null
 *   key: {}  / []              empty; a block sequence below a key is
 *                              skipped
 *   key:                       a nested mapping, one level deep:
 *     child: scalar            (parent "key", key "child")
 *
 * Line folding follows YAML 1.1: a line break between two lines of text
 * becomes a space, each empty line a newline, and the whitespace around a
 * break is dropped. Scalars are kept as text (numbers too: "12"), without
 * type resolution beyond null. Anything else (anchors, tags, flow
 * collections with content, deeper nesting) is MIDA_ECORRUPT, never a read
 * outside the input. The parser allocates its results through the
 * allocation wrappers and nothing else; it has a libFuzzer target
 * (fuzz/mlflow_files_fuzz.c).
 */
#ifndef MIDA_OBSERVE_YAML_H
#define MIDA_OBSERVE_YAML_H

#include <stddef.h>

/* One scalar of the document. */
typedef struct mida__yaml_entry {
  char *parent; /* the key of the enclosing mapping, or NULL at the top */
  char *key;    /* the key */
  char *value;  /* the scalar's text (NUL-terminated), or NULL for null */
  size_t len;   /* bytes of value (it may hold NULs: "\0" escapes) */
} mida__yaml_entry;

/* A parsed document. Free with mida__yaml_free(). */
typedef struct mida__yaml {
  mida__yaml_entry *e; /* the entries, in document order */
  size_t n;            /* entries */
  size_t cap;          /* entries allocated */
} mida__yaml;

/* The most entries one document may hold. */
#define MIDA_YAML_MAX_ENTRIES 4096

/* Parses text[0..len). Returns MIDA_OK, MIDA_ECORRUPT (not the subset
 * above, or more than MIDA_YAML_MAX_ENTRIES entries) or MIDA_ENOMEM; on
 * failure out holds nothing. */
int mida__yaml_parse(const char *text, size_t len, mida__yaml *out);

/* The value of parent.key (parent NULL: a top-level key), the last one
 * when the key comes more than once; NULL when the key is absent or null.
 * len (may be NULL) receives its length. */
const char *mida__yaml_get(const mida__yaml *y, const char *parent,
                           const char *key, size_t *len);

void mida__yaml_free(mida__yaml *y);

#endif /* MIDA_OBSERVE_YAML_H */

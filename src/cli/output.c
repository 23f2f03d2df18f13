/*
 * output.c -- the result printer of every verb that prints rows (cli.h).
 *
 * Rows arrive from mida__sink_query_cells() as text values with their
 * lengths (a text may hold NUL bytes; a BLOB comes as "\xff", sink.h) and
 * their column names. Three formats:
 *
 * - table (the default, for people): columns as wide as their widest cell,
 *   a header and a rule of dashes, numbers right-aligned, control characters
 *   (a NUL byte among them) shown as spaces (core/term.h), and cells over
 *   MIDA_OUT_MAX_CELL characters cut with "…". The rows are collected in a
 *   capped buffer so that the widths come from the data; when the cap is
 *   reached the rows so far are printed and the widths stay as they are for
 *   the rest (later cells are cut to them), so memory stays bounded
 *   whatever the result's size. No rows prints "(no rows)".
 * - CSV (RFC 4180): a header line (also for a result without rows, when
 *   the columns are announced: mida__out_columns), then one line per row,
 *   CRLF line ends; a field with a comma, quote, CR or LF is quoted with
 *   quotes doubled; an empty string is "" and SQL NULL is an empty field.
 *   A NUL byte is kept as it is, in a quoted field. Never cut.
 * - JSON: an array of objects, one per line, keys in column order; a value
 *   that is exactly a JSON number (as SQLite prints numbers) is a number,
 *   SQL NULL is null, anything else a string (a NUL byte as \u0000);
 *   in the column named by json_object (a JSON document the store keeps
 *   as text), a cell that is a JSON object is nested as it is and any
 *   other cell is a string, a number's text too.
 *   Column names that repeat become distinct keys, since an object keeps
 *   only one of each: the second "a" is "a_2", the third "a_3" (skipping
 *   a name another column has). Never cut.
 *
 * CSV and JSON are streamed: each row is written as it comes.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/csv.h"
#include "core/json.h"
#include "core/term.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>

/* Most bytes of table cells held before the rows so far are printed. */
#define OUT_TABLE_BUFFER (16u * 1024 * 1024)
/* Most bytes of one formatted row. */
#define OUT_LINE_MAX (256u * 1024 * 1024)

static const char ELLIPSIS[] = "\xe2\x80\xa6"; /* U+2026, 3 bytes */

void mida__out_init(mida__out *o, mida__out_format fmt, FILE *fp) {
  memset(o, 0, sizeof(*o));
  o->format = fmt;
  o->fp = fp;
  o->max_cell = MIDA_OUT_MAX_CELL;
  o->indent = "";
  o->empty = "(no rows)";
  mida__buf_init(&o->rows, OUT_TABLE_BUFFER);
  mida__buf_init(&o->line, OUT_LINE_MAX);
}

int mida__out_pick(const char *verb, int csv, int json, mida__out_format *fmt) {
  if (csv && json)
    return mida__cli_usage_error(verb, "--csv and --json exclude each other");
  *fmt = csv ? MIDA_OUT_CSV : json ? MIDA_OUT_JSON : MIDA_OUT_TABLE;
  return MIDA_CLI_CONTINUE;
}

size_t mida__out_width(const char *text) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if ((*p & 0xC0) != 0x80)
      n++;
  }
  return n;
}

/* Appends text[0..len) to b as a table cell: control characters (a NUL
 * byte too) become spaces (core/term.h) and text longer than max
 * characters keeps max - 1 of them and "…". */
static int add_cell(mida__buf *b, const char *text, size_t len, size_t max) {
  mida__buf safe;
  mida__buf_init(&safe, OUT_LINE_MAX);
  int rc = MIDA_OK;
  if (mida__term_unsafe(text, len)) {
    rc = mida__term_add(&safe, text, len, MIDA_TERM_SPACE);
    text = mida__buf_str(&safe);
  }
  size_t chars = 0;
  const unsigned char *p = (const unsigned char *)text;
  int cut = mida__out_width(text) > max;
  size_t keep = cut ? (max > 0 ? max - 1 : 0) : (size_t)-1;
  const unsigned char *start = p;
  for (; rc == MIDA_OK && *p; p++) {
    if ((*p & 0xC0) != 0x80) {
      if (chars == keep)
        break;
      chars++;
    }
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, start, (size_t)(p - start));
  if (rc == MIDA_OK && cut)
    rc = mida__buf_adds(b, ELLIPSIS);
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, "", 1); /* the cell's terminating NUL */
  mida__buf_free(&safe);
  return rc;
}

int mida__cli_put_text(FILE *fp, const char *text) {
  if (text == NULL)
    return MIDA_OK;
  size_t len = strlen(text);
  if (!mida__term_unsafe(text, len))
    return fputs(text, fp) < 0 ? mida__cli_write_failed() : MIDA_OK;
  mida__buf b;
  mida__buf_init(&b, OUT_LINE_MAX);
  int rc = mida__term_add(&b, text, len, MIDA_TERM_ESCAPE);
  if (rc == MIDA_OK && fputs(mida__buf_str(&b), fp) < 0)
    rc = mida__cli_write_failed();
  mida__buf_free(&b);
  return rc;
}

static int out_write(mida__out *o, const char *s, size_t len) {
  if (len > 0 && fwrite(s, 1, len, o->fp) != len)
    return mida__cli_write_failed();
  return MIDA_OK;
}

/* Writes text padded to width characters, on the left for numbers. */
static int write_padded(mida__out *o, const char *text, size_t width, int right,
                        int last) {
  size_t w = mida__out_width(text);
  size_t pad = w < width ? width - w : 0;
  int rc = MIDA_OK;
  if (right) {
    for (size_t i = 0; i < pad && rc == MIDA_OK; i++)
      rc = out_write(o, " ", 1);
  }
  if (rc == MIDA_OK)
    rc = out_write(o, text, strlen(text));
  if (!right && !last) {
    for (size_t i = 0; i < pad && rc == MIDA_OK; i++)
      rc = out_write(o, " ", 1);
  }
  return rc;
}

/* Prints the header (once) and the collected rows, then empties the buffer.
 * A cell wider than its column (possible only after the first flush) is cut
 * to the column's width. */
static int table_flush(mida__out *o) {
  int rc = MIDA_OK;
  size_t indent = strlen(o->indent);
  if (!o->header_done) {
    rc = out_write(o, o->indent, indent);
    for (int c = 0; c < o->ncols && rc == MIDA_OK; c++) {
      if (c > 0)
        rc = out_write(o, "  ", 2);
      if (rc == MIDA_OK)
        rc = write_padded(o, o->names[c], o->width[c], o->numeric[c],
                          c == o->ncols - 1);
    }
    if (rc == MIDA_OK)
      rc = out_write(o, "\n", 1);
    if (rc == MIDA_OK)
      rc = out_write(o, o->indent, indent);
    for (int c = 0; c < o->ncols && rc == MIDA_OK; c++) {
      if (c > 0)
        rc = out_write(o, "  ", 2);
      for (size_t i = 0; i < o->width[c] && rc == MIDA_OK; i++)
        rc = out_write(o, "-", 1);
    }
    if (rc == MIDA_OK)
      rc = out_write(o, "\n", 1);
    o->header_done = 1;
  }
  const char *p = mida__buf_str(&o->rows);
  mida__buf cut;
  mida__buf_init(&cut, OUT_TABLE_BUFFER);
  for (size_t r = 0; r < o->pending && rc == MIDA_OK; r++) {
    rc = out_write(o, o->indent, indent);
    for (int c = 0; c < o->ncols && rc == MIDA_OK; c++) {
      const char *cell = p;
      p += strlen(p) + 1;
      if (mida__out_width(cell) > o->width[c]) {
        mida__buf_reset(&cut);
        rc = add_cell(&cut, cell, strlen(cell), o->width[c]);
        cell = mida__buf_str(&cut);
      }
      if (rc == MIDA_OK && c > 0)
        rc = out_write(o, "  ", 2);
      if (rc == MIDA_OK)
        rc = write_padded(o, cell, o->width[c], o->numeric[c],
                          c == o->ncols - 1);
    }
    if (rc == MIDA_OK)
      rc = out_write(o, "\n", 1);
  }
  mida__buf_free(&cut);
  mida__buf_reset(&o->rows);
  o->pending = 0;
  return rc;
}

/* Whether name is taken among the first c of o's names, or by a column
 * after c among names. */
static int name_taken(const mida__out *o, int c, const char *const *names,
                      int ncols, const char *name) {
  for (int i = 0; i < ncols; i++) {
    const char *other = i < c    ? o->names[i]
                        : i > c  ? (names[i] != NULL ? names[i] : "")
                                 : NULL;
    if (other != NULL && strcmp(other, name) == 0)
      return 1;
  }
  return 0;
}

/* Makes o->names[c], a name that an earlier column has, a JSON key of its
 * own: name_2, name_3, ... the first that no column has. */
static int unique_key(mida__out *o, int c, const char *const *names,
                      int ncols) {
  if (!name_taken(o, c, names, c + 1, o->names[c]))
    return MIDA_OK;
  mida__buf key;
  mida__buf_init(&key, OUT_LINE_MAX);
  int rc = MIDA_OK;
  for (int n = 2; rc == MIDA_OK; n++) {
    mida__buf_reset(&key);
    rc = mida__buf_printf(&key, "%s_%d", o->names[c], n);
    if (rc == MIDA_OK && !name_taken(o, c, names, ncols, key.ptr))
      break;
  }
  if (rc == MIDA_OK) {
    mida__free(o->names[c]);
    o->names[c] = mida__strdup(key.ptr);
    rc = o->names[c] != NULL ? MIDA_OK : MIDA_ENOMEM;
  }
  mida__buf_free(&key);
  return rc;
}

/* Copies the column names (as distinct keys for JSON) and sets up the
 * widths from the first row. */
static int out_columns(mida__out *o, int ncols, const char *const *names) {
  o->names = mida__calloc((size_t)ncols, sizeof(*o->names));
  o->width = mida__calloc((size_t)ncols, sizeof(*o->width));
  o->numeric = mida__calloc((size_t)ncols, sizeof(*o->numeric));
  if (o->names == NULL || o->width == NULL || o->numeric == NULL)
    return MIDA_ENOMEM;
  o->ncols = ncols;
  for (int c = 0; c < ncols; c++) {
    o->names[c] = mida__strdup(names[c] != NULL ? names[c] : "");
    if (o->names[c] == NULL)
      return MIDA_ENOMEM;
    if (o->format == MIDA_OUT_JSON) {
      int rc = unique_key(o, c, names, ncols);
      if (rc != MIDA_OK)
        return rc;
    }
    o->width[c] = mida__out_width(o->names[c]);
    o->numeric[c] = 1;
  }
  return MIDA_OK;
}

static int table_row(mida__out *o, const char *const *values,
                     const size_t *lens) {
  mida__buf_reset(&o->line);
  int rc = MIDA_OK;
  for (int c = 0; c < o->ncols && rc == MIDA_OK; c++) {
    const char *v = values[c] != NULL ? values[c] : "";
    size_t len = values[c] != NULL ? lens[c] : 0;
    if (len > 0 && (strlen(v) != len || !mida__json_is_number(v)))
      o->numeric[c] = 0;
    size_t before = o->line.len;
    rc = add_cell(&o->line, v, len, o->max_cell);
    if (rc == MIDA_OK && !o->header_done) {
      size_t w = mida__out_width(o->line.ptr + before);
      if (w > o->width[c])
        o->width[c] = w;
    }
  }
  if (rc != MIDA_OK)
    return rc;
  if (o->rows.len + o->line.len > o->rows.max) {
    rc = table_flush(o);
    if (rc != MIDA_OK)
      return rc;
  }
  rc = mida__buf_add(&o->rows, o->line.ptr, o->line.len);
  if (rc == MIDA_OK)
    o->pending++;
  return rc;
}

/* One CSV line; lens NULL: the values are C strings (the header). */
static int csv_line(mida__out *o, const char *const *values,
                    const size_t *lens) {
  mida__buf_reset(&o->line);
  int rc = MIDA_OK;
  for (int c = 0; c < o->ncols && rc == MIDA_OK; c++) {
    if (c > 0)
      rc = mida__buf_add(&o->line, ",", 1);
    if (rc == MIDA_OK && lens != NULL)
      rc = mida__csv_add_field_n(&o->line, values[c], lens[c]);
    else if (rc == MIDA_OK)
      rc = mida__csv_add_field(&o->line, values[c]);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(&o->line, "\r\n", 2);
  if (rc == MIDA_OK)
    rc = out_write(o, o->line.ptr, o->line.len);
  return rc;
}

static int json_row(mida__out *o, const char *const *values,
                    const size_t *lens) {
  mida__buf_reset(&o->line);
  int rc = mida__buf_adds(&o->line, o->count == 0 ? "[\n  {" : ",\n  {");
  for (int c = 0; c < o->ncols && rc == MIDA_OK; c++) {
    if (c > 0)
      rc = mida__buf_add(&o->line, ", ", 2);
    if (rc == MIDA_OK)
      rc = mida__json_add_string(&o->line, o->names[c], strlen(o->names[c]));
    if (rc == MIDA_OK)
      rc = mida__buf_add(&o->line, ": ", 2);
    if (rc != MIDA_OK)
      break;
    int in_object_column = values[c] != NULL && o->json_object != NULL &&
                           strcmp(o->names[c], o->json_object) == 0;
    if (in_object_column &&
        mida__json_check(values[c], lens[c], true, NULL) == MIDA_OK)
      rc = mida__buf_add(&o->line, values[c], lens[c]);
    else if (in_object_column) /* 42 too: the text as stored, not a number */
      rc = mida__json_add_string(&o->line, values[c], lens[c]);
    else
      rc = mida__json_add_cell_n(&o->line, values[c], lens[c]);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(&o->line, "}", 1);
  if (rc == MIDA_OK)
    rc = out_write(o, o->line.ptr, o->line.len);
  return rc;
}

/* The columns, from the result's announcement or its first row; CSV's
 * header line. */
static int out_start(mida__out *o, int ncols, const char *const *names) {
  int rc = out_columns(o, ncols, names);
  if (rc == MIDA_OK && o->format == MIDA_OUT_CSV)
    rc = csv_line(o, (const char *const *)o->names, NULL);
  return rc;
}

int mida__out_columns(void *ctx, int ncols, const char *const *names) {
  mida__out *o = ctx;
  if (o->rc == MIDA_OK && o->names == NULL)
    o->rc = out_start(o, ncols, names);
  return o->rc != MIDA_OK;
}

int mida__out_row(void *ctx, int ncols, const char *const *names,
                  const char *const *values, const size_t *lens) {
  mida__out *o = ctx;
  if (o->rc != MIDA_OK)
    return 1;
  int rc = MIDA_OK;
  if (o->names == NULL)
    rc = out_start(o, ncols, names);
  if (rc == MIDA_OK && ncols < o->ncols)
    rc = MIDA_EINVAL; /* rows of one result all have the same columns */
  if (rc == MIDA_OK) {
    switch (o->format) {
    case MIDA_OUT_CSV:
      rc = csv_line(o, values, lens);
      break;
    case MIDA_OUT_JSON:
      rc = json_row(o, values, lens);
      break;
    default:
      rc = table_row(o, values, lens);
      break;
    }
  }
  if (rc != MIDA_OK) {
    o->rc = rc;
    return 1;
  }
  o->count++;
  return 0;
}

void mida__out_discard(mida__out *o) {
  for (int c = 0; c < o->ncols && o->names != NULL; c++)
    mida__free(o->names[c]);
  mida__free(o->names);
  mida__free(o->width);
  mida__free(o->numeric);
  mida__buf_free(&o->rows);
  mida__buf_free(&o->line);
  o->names = NULL;
  o->width = NULL;
  o->numeric = NULL;
  o->ncols = 0;
}

int mida__out_end(mida__out *o) {
  int rc = o->rc;
  if (rc == MIDA_OK) {
    switch (o->format) {
    case MIDA_OUT_CSV:
      break;
    case MIDA_OUT_JSON:
      rc = o->count == 0 ? out_write(o, "[]\n", 3) : out_write(o, "\n]\n", 3);
      break;
    default:
      if (o->count == 0) {
        rc = out_write(o, o->indent, strlen(o->indent));
        if (rc == MIDA_OK)
          rc = out_write(o, o->empty, strlen(o->empty));
        if (rc == MIDA_OK)
          rc = out_write(o, "\n", 1);
      } else {
        rc = table_flush(o);
      }
      break;
    }
  }
  int flushed = mida__cli_flush(o->fp);
  if (rc == MIDA_OK)
    rc = flushed;
  mida__out_discard(o);
  return rc;
}

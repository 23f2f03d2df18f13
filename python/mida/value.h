/*
 * value.h -- Python values to JSON text, in C, for the mida extension.
 *
 * The decorator records a task's arguments (`used`) and its return value
 * (`generated`) as JSON objects. json.dumps would cost microseconds per call
 * and raise on most objects; this writer costs tens of nanoseconds for the
 * common scalars and never fails: whatever it cannot represent becomes a
 * summary. The rules (docs/python.md):
 *
 * - None, bool, int (64-bit; larger ones as decimal strings), float (NaN and
 *   infinities as the strings "NaN", "Infinity", "-Infinity"), str (cut at
 *   max_str bytes, marked) are written as JSON;
 * - list, tuple, set, deque, dict views, array.array and dict are written
 *   as arrays and objects up to max_items items and max_depth levels
 *   (deeper or recursive structures become {"type", "len"});
 * - arrays and frames of NumPy, pandas, torch (and CuPy, JAX, xarray) become
 *   {"type", "dtype", "shape", "bytes"}, found from the type's module and
 *   attributes, without importing those libraries; 0-d arrays and NumPy
 *   scalars become their value;
 * - a UserList, UserDict, UserString, ChainMap (their data, their maps),
 *   and any other collections.abc Mapping, Sequence, Set or MappingView
 *   whose class has a repr of its own (its first max_items items) are
 *   written as the list, dict or str above: their repr would write all
 *   of them; os.environ becomes {"type", "len"};
 * - anything else becomes {"type", "repr"} with the repr cut at max_repr
 *   bytes; a repr that raises gives {"type", "repr_error"}.
 *
 * Once the text passes max_bytes, further values are written as "...".
 * The writer leaves no Python exception set, whatever user code (repr,
 * properties) raises on the way.
 */
#ifndef MIDA_PY_VALUE_H
#define MIDA_PY_VALUE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <string.h>

/* The deepest nesting the caps may allow: the store's JSON check accepts
 * MIDA_JSON_MAX_DEPTH (64) levels, and a record holds values two levels
 * down; it also bounds the writer's recursion on the C stack. */
#define MIDA_PY_MAX_DEPTH 32

/* Size caps, shared by every thread (set under the GIL). */
typedef struct mida_py_caps {
  Py_ssize_t max_str;   /* bytes of a string before it is cut */
  Py_ssize_t max_items; /* items of a container before the rest is counted */
  int max_depth;        /* nesting levels written; deeper: a summary */
  Py_ssize_t max_repr;  /* bytes of a repr before it is cut */
  size_t max_bytes;     /* text length after which values become "..." */
} mida_py_caps;

extern mida_py_caps mida_py_caps_now;

/* A growable text buffer: starts in its inline storage, grows with
 * PyMem_Realloc. On allocation failure it sets oom and stops growing. */
typedef struct mida_py_json {
  char *p;          /* the text; NUL-terminated after mida_py_json_end */
  size_t len;       /* bytes written */
  size_t cap;       /* bytes available at p */
  int oom;          /* an allocation failed: the text is incomplete */
  char inline_buf[512];
} mida_py_json;

void mida_py_json_init(mida_py_json *w);
void mida_py_json_free(mida_py_json *w);

/* mida_py_json_raw when s[0..n) does not fit: grows the buffer first. */
void mida_py_json_raw_grow(mida_py_json *w, const char *s, size_t n);

/* Appends s[0..n). Inline: a task's text is a dozen of these, and nearly
 * all fit in the room at hand (with the NUL that mida_py_json_end adds). */
static inline void mida_py_json_raw(mida_py_json *w, const char *s,
                                    size_t n) {
  if (!w->oom && n < w->cap - w->len) {
    memcpy(w->p + w->len, s, n);
    w->len += n;
    return;
  }
  mida_py_json_raw_grow(w, s, n);
}

/* Appends one byte, as mida_py_json_raw. */
static inline void mida_py_json_char(mida_py_json *w, char c) {
  if (!w->oom && 1 < w->cap - w->len) {
    w->p[w->len++] = c;
    return;
  }
  mida_py_json_raw_grow(w, &c, 1);
}
/* Appends s[0..n) as a JSON string with quotes. */
void mida_py_json_string(mida_py_json *w, const char *s, size_t n);
/* Appends a JSON object key ("name":) from a Python object (str or not). */
void mida_py_json_key(mida_py_json *w, PyObject *key);
/* Appends the JSON form of a value at the given depth (0 at the top). */
void mida_py_json_value(mida_py_json *w, PyObject *v, int depth);
/* Finishes the text (adds the NUL). Returns w->p, or NULL if an allocation
 * failed (the caller then records nothing for this value). */
const char *mida_py_json_end(mida_py_json *w);

/* The JSON object text for a mapping's items (keys as strings), depth 1
 * for the values; a non-dict gives {"return": value}. */
void mida_py_json_result(mida_py_json *w, PyObject *v);

/* getattr(o, text), with text's str interned into *name on first use
 * and kept there (the GIL orders first uses; each call site has its own
 * static slot): a new reference, or NULL with an exception set. For what
 * is read per task or per value: PyObject_GetAttrString makes and hashes
 * a new str at every call, ~1,000 instructions a lookup. */
PyObject *mida_py_attr(PyObject *o, PyObject **name, const char *text);

#endif /* MIDA_PY_VALUE_H */

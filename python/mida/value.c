/*
 * value.c -- Python values to JSON text (see value.h for the rules).
 *
 * Everything here runs with the GIL held, on the caller's thread, inside
 * the decorated call: it must be fast for scalars and must never raise.
 * Calls into user code (repr, attribute getters of array types) can fail or
 * run arbitrary Python; each such call is followed by clear_error() and a
 * fallback, so the caller's exception state is never disturbed. A
 * KeyboardInterrupt among them (Ctrl-C pressed while a __repr__ ran) is
 * given back as the signal it was once the value is written
 * (mida_py_json_end): cleared with the rest, the user's Ctrl-C was lost.
 */
#include "value.h"

#if PY_VERSION_HEX < 0x030B0000
#include <longintrepr.h> /* ob_digit: Python.h has it from 3.11 on */
#endif

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

mida_py_caps mida_py_caps_now = {
    .max_str = 1024,
    .max_items = 32,
    .max_depth = 4,
    .max_repr = 256,
    .max_bytes = 64 * 1024,
};

/* Whether user code that a capture called raised KeyboardInterrupt on
 * this thread, cleared since and not yet given back (mida_py_json_end). */
static _Thread_local bool interrupt_cleared;

/* PyErr_Clear(), noting a KeyboardInterrupt. */
static void clear_error(void) {
  if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt))
    interrupt_cleared = true;
  PyErr_Clear();
}

void mida_py_json_init(mida_py_json *w) {
  w->p = w->inline_buf;
  w->len = 0;
  w->cap = sizeof w->inline_buf;
  w->oom = 0;
}

void mida_py_json_free(mida_py_json *w) {
  if (w->p != w->inline_buf)
    PyMem_Free(w->p);
  mida_py_json_init(w);
}

/* Makes room for n more bytes plus a NUL. */
static int reserve(mida_py_json *w, size_t n) {
  if (w->oom)
    return 0;
  if (w->len + n + 1 <= w->cap)
    return 1;
  size_t cap = w->cap * 2;
  while (cap < w->len + n + 1)
    cap *= 2;
  char *p;
  if (w->p == w->inline_buf) {
    p = PyMem_Malloc(cap);
    if (p != NULL)
      memcpy(p, w->p, w->len);
  } else {
    p = PyMem_Realloc(w->p, cap);
  }
  if (p == NULL) {
    w->oom = 1;
    return 0;
  }
  w->p = p;
  w->cap = cap;
  return 1;
}

void mida_py_json_raw_grow(mida_py_json *w, const char *s, size_t n) {
  if (!reserve(w, n))
    return;
  memcpy(w->p + w->len, s, n);
  w->len += n;
}

static void raw_str(mida_py_json *w, const char *s) {
  mida_py_json_raw(w, s, strlen(s));
}

static void put_char(mida_py_json *w, char c) { mida_py_json_char(w, c); }

/* The longest prefix of s[0..n) that is at most max bytes and does not cut
 * a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max) {
  if (n <= max)
    return n;
  size_t k = max;
  while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
    k--;
  return k;
}

static void escape_into(mida_py_json *w, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t run = 0; /* start of the pending run of plain bytes */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    mida_py_json_raw(w, s + run, i - run);
    run = i + 1;
    switch (c) {
    case '"': raw_str(w, "\\\""); break;
    case '\\': raw_str(w, "\\\\"); break;
    case '\n': raw_str(w, "\\n"); break;
    case '\r': raw_str(w, "\\r"); break;
    case '\t': raw_str(w, "\\t"); break;
    default: {
      char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      mida_py_json_raw(w, u, sizeof u);
    }
    }
  }
  mida_py_json_raw(w, s + run, n - run);
}

void mida_py_json_string(mida_py_json *w, const char *s, size_t n) {
  put_char(w, '"');
  escape_into(w, s, n);
  put_char(w, '"');
}

/* A string of which s[0..n) is at hand (with more after it, if more),
 * cut at max bytes, with the cut marked and the full size said: total
 * units ("bytes", "characters"). */
static void capped_prefix(mida_py_json *w, const char *s, size_t n,
                          size_t max, bool more, size_t total,
                          const char *units) {
  size_t k = utf8_cut(s, n, max);
  put_char(w, '"');
  escape_into(w, s, k);
  if (k < n || more) {
    char tail[64];
    int t = snprintf(tail, sizeof tail, "...(%zu %s in all)", total, units);
    mida_py_json_raw(w, tail, (size_t)t);
  }
  put_char(w, '"');
}

/* A string cut at max bytes, with the cut marked and the full size said. */
static void capped_string(mida_py_json *w, const char *s, size_t n,
                          size_t max) {
  capped_prefix(w, s, n, max, false, n, "bytes");
}

/* UTF-8 of a str; lone surrogates are replaced. Returns a new reference
 * holding the bytes (or the str itself), with *s and *n set; NULL if even
 * that failed (no exception left set). */
static PyObject *utf8_of(PyObject *str, const char **s, Py_ssize_t *n) {
  const char *p = PyUnicode_AsUTF8AndSize(str, n);
  if (p != NULL) {
    *s = p;
    Py_INCREF(str);
    return str;
  }
  clear_error();
  PyObject *b = PyUnicode_AsEncodedString(str, "utf-8", "replace");
  if (b == NULL) {
    clear_error();
    return NULL;
  }
  *s = PyBytes_AS_STRING(b);
  *n = PyBytes_GET_SIZE(b);
  return b;
}

/* A str longer than max characters that is not ASCII: only the first max
 * characters (at least max bytes) are encoded, and the full size is said
 * in characters. PyUnicode_AsUTF8AndSize would encode all of it (~470 us
 * for 10 MB) and keep that copy on the program's str for as long as the
 * str lives, as large as the str or more: what observing a value must not
 * do. Its size in bytes would take a pass over all of it (2-10 ms for 10
 * million characters, unvectorized). Returns 0 if done, -1 if the caller
 * is to write it as a short one (no memory for the prefix). */
static int put_long_pystr(mida_py_json *w, PyObject *str, Py_ssize_t max) {
  PyObject *head = PyUnicode_Substring(str, 0, max);
  if (head == NULL) {
    clear_error();
    return -1;
  }
  const char *s;
  Py_ssize_t n;
  PyObject *hold = utf8_of(head, &s, &n);
  if (hold != NULL) {
    capped_prefix(w, s, (size_t)n, (size_t)max, true,
                  (size_t)PyUnicode_GET_LENGTH(str), "characters");
    Py_DECREF(hold);
  }
  Py_DECREF(head);
  return hold != NULL ? 0 : -1;
}

static void put_pystr(mida_py_json *w, PyObject *str, Py_ssize_t max) {
  if (!PyUnicode_IS_ASCII(str) && PyUnicode_GET_LENGTH(str) > max &&
      put_long_pystr(w, str, max) == 0)
    return;
  const char *s;
  Py_ssize_t n;
  PyObject *hold = utf8_of(str, &s, &n);
  if (hold == NULL) {
    raw_str(w, "\"?\"");
    return;
  }
  capped_string(w, s, (size_t)n, (size_t)max);
  Py_DECREF(hold);
}

void mida_py_json_key(mida_py_json *w, PyObject *key) {
  if (PyUnicode_Check(key)) {
    put_pystr(w, key, mida_py_caps_now.max_str);
  } else {
    PyObject *s = PyObject_Str(key);
    if (s == NULL) {
      clear_error();
      raw_str(w, "\"?\"");
    } else {
      put_pystr(w, s, mida_py_caps_now.max_str);
      Py_DECREF(s);
    }
  }
  put_char(w, ':');
}

/* text's str, interned into *slot on first use and kept there: a
 * borrowed reference, or NULL with an exception set. */
static PyObject *interned_name(PyObject **slot, const char *text) {
  if (*slot == NULL)
    *slot = PyUnicode_InternFromString(text);
  return *slot;
}

PyObject *mida_py_attr(PyObject *o, PyObject **name, const char *text) {
  PyObject *n = interned_name(name, text);
  return n != NULL ? PyObject_GetAttr(o, n) : NULL;
}

/* "module.qualname" of a type, as a new str, or NULL (no error set). */
static PyObject *type_name(PyTypeObject *t) {
  if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || t->tp_dict == NULL)
    return PyUnicode_FromString(t->tp_name); /* static: "numpy.ndarray" */
  static PyObject *module_key, *qualname;
  PyObject *key = interned_name(&module_key, "__module__");
  PyObject *mod = key != NULL ? PyDict_GetItemWithError(t->tp_dict, key)
                              : NULL; /* borrowed */
  if (mod == NULL)
    clear_error();
  PyObject *qual = mida_py_attr((PyObject *)t, &qualname, "__qualname__");
  PyObject *out = NULL;
  if (qual == NULL)
    clear_error();
  if (mod != NULL && PyUnicode_Check(mod) && qual != NULL &&
      PyUnicode_Check(qual) &&
      PyUnicode_CompareWithASCIIString(mod, "builtins") != 0)
    out = PyUnicode_FromFormat("%U.%U", mod, qual);
  else
    out = PyUnicode_FromString(t->tp_name);
  Py_XDECREF(qual);
  if (out == NULL)
    clear_error();
  return out;
}

static void put_type_field(mida_py_json *w, PyTypeObject *t) {
  raw_str(w, "\"type\":");
  PyObject *name = type_name(t);
  if (name == NULL) {
    mida_py_json_string(w, t->tp_name, strlen(t->tp_name));
    return;
  }
  put_pystr(w, name, 256);
  Py_DECREF(name);
}

/* Whether a type comes from a library whose arrays are summarized. */
static int is_array_library(PyTypeObject *t) {
  static const char *const libs[] = {"numpy", "pandas", "torch", "cupy",
                                     "jax", "jaxlib", "xarray", NULL};
  char mod[64];
  const char *dot = strchr(t->tp_name, '.');
  if (dot != NULL && !(t->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
    size_t n = (size_t)(dot - t->tp_name);
    if (n >= sizeof mod)
      return 0;
    memcpy(mod, t->tp_name, n);
    mod[n] = '\0';
  } else {
    if (t->tp_dict == NULL)
      return 0;
    PyObject *m = PyDict_GetItemString(t->tp_dict, "__module__");
    if (m == NULL || !PyUnicode_Check(m))
      return 0;
    const char *s = PyUnicode_AsUTF8(m);
    if (s == NULL) {
      clear_error();
      return 0;
    }
    size_t n = strcspn(s, ".");
    if (n >= sizeof mod)
      return 0;
    memcpy(mod, s, n);
    mod[n] = '\0';
  }
  for (int i = 0; libs[i] != NULL; i++)
    if (strcmp(mod, libs[i]) == 0)
      return 1;
  return 0;
}

/* The value of an integer-valued attribute or method result; -1 if none. */
static long long int_of(PyObject *o) {
  if (o == NULL) {
    clear_error();
    return -1;
  }
  long long v = -1;
  PyObject *i = PyNumber_Index(o);
  if (i == NULL) {
    PyObject *f = PyNumber_Long(o); /* e.g. a NumPy integer */
    if (f == NULL)
      clear_error();
    i = f;
  }
  if (i != NULL) {
    v = PyLong_AsLongLong(i);
    if (v == -1 && PyErr_Occurred())
      clear_error();
    Py_DECREF(i);
  }
  Py_DECREF(o);
  return v;
}

/* getattr(v, text) for an attribute that array types define on the type
 * (dtype, nbytes): a new reference, or NULL when v has none (an exception
 * may be set: the caller clears it). v is not asked at all when its type
 * lacks the name and answers missing attributes with a __getattr__ of its
 * own: a pandas DataFrame has no dtype nor nbytes, and its __getattr__
 * looks for a column of that name, in Python, then raises, ~3 us each
 * (and a column named "dtype" was taken for one). */
static PyObject *array_attr(PyObject *v, PyObject **name, const char *text) {
  PyTypeObject *t = Py_TYPE(v);
  if (t->tp_getattro != PyObject_GenericGetAttr) {
    PyObject *n = interned_name(name, text);
    if (n == NULL)
      return NULL;
    if (_PyType_Lookup(t, n) == NULL)
      return NULL;
  }
  return mida_py_attr(v, name, text);
}

/* The bytes of a pandas DataFrame as memory_usage().sum() counts them
 * (each column's array, shallow, and the index), read from the frame's
 * blocks: 1-7 us, where memory_usage() builds a Series of them in ~200 us
 * whatever the frame's size (pandas 3.1), paid for each frame a Dask task
 * takes or returns. -1 when the frame is not laid out so (another
 * version's internals): the caller asks memory_usage() then. */
static long long frame_bytes(PyObject *v) {
  static PyObject *mgr_name, *blocks_name, *values_name, *nbytes_name,
      *index_name;
  PyObject *mgr = mida_py_attr(v, &mgr_name, "_mgr");
  if (mgr == NULL) {
    clear_error();
    return -1;
  }
  PyObject *blocks = mida_py_attr(mgr, &blocks_name, "blocks");
  Py_DECREF(mgr);
  if (blocks == NULL || !PyTuple_Check(blocks)) {
    Py_XDECREF(blocks);
    clear_error();
    return -1;
  }
  long long sum = 0;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(blocks) && sum >= 0; i++) {
    PyObject *values =
        mida_py_attr(PyTuple_GET_ITEM(blocks, i), &values_name, "values");
    long long n = -1;
    if (values != NULL) {
      n = int_of(mida_py_attr(values, &nbytes_name, "nbytes"));
      Py_DECREF(values);
    }
    sum = n >= 0 ? sum + n : -1;
  }
  Py_DECREF(blocks);
  clear_error();
  if (sum < 0)
    return -1;
  PyObject *index = mida_py_attr(v, &index_name, "index");
  if (index == NULL) {
    clear_error();
    return -1;
  }
  long long n = int_of(PyObject_CallMethod(index, "memory_usage", NULL));
  Py_DECREF(index);
  return n >= 0 ? sum + n : -1;
}

/* A 0-d datetime64 or timedelta64 (dtype kind 'M' or 'm') as its text,
 * "2026-01-02T03:04:05" or "5 seconds": its value, which .item() gives as
 * a bare count of nanoseconds for some units, and a summary not at all.
 * Returns 1 if v was one. */
static int put_time_scalar(mida_py_json *w, PyObject *v) {
  static PyObject *dtype_name, *kind_name;
  /* By the type's name first: a NumPy float or int scalar (the common
   * 0-d value) costs a string comparison, not two attribute lookups. */
  const char *t = Py_TYPE(v)->tp_name;
  int time = strcmp(t, "numpy.datetime64") == 0 ||
             strcmp(t, "numpy.timedelta64") == 0;
  if (!time && strcmp(t, "numpy.ndarray") == 0) {
    PyObject *dtype = array_attr(v, &dtype_name, "dtype");
    PyObject *kind =
        dtype != NULL ? mida_py_attr(dtype, &kind_name, "kind") : NULL;
    Py_XDECREF(dtype);
    time = kind != NULL && PyUnicode_Check(kind) &&
           (PyUnicode_CompareWithASCIIString(kind, "M") == 0 ||
            PyUnicode_CompareWithASCIIString(kind, "m") == 0);
    Py_XDECREF(kind);
  }
  PyObject *text = time ? PyObject_Str(v) : NULL;
  clear_error();
  if (text == NULL)
    return 0;
  put_pystr(w, text, 64);
  Py_DECREF(text);
  return 1;
}

/* Summary of an array, frame or tensor: {"type","dtype","shape","bytes"}.
 * A 0-d array (shape ()) with .item() becomes its value instead. Returns 0
 * if the object has no shape (not an array after all). */
static int put_array_summary(mida_py_json *w, PyObject *v, int depth) {
  static PyObject *shape_name, *dtype_name, *nbytes_name;
  PyObject *shape = mida_py_attr(v, &shape_name, "shape");
  if (shape == NULL) {
    clear_error();
    return 0;
  }
  if (!PyTuple_Check(shape)) {
    Py_DECREF(shape);
    return 0;
  }
  if (PyTuple_GET_SIZE(shape) == 0 && put_time_scalar(w, v)) {
    Py_DECREF(shape);
    return 1;
  }
  if (PyTuple_GET_SIZE(shape) == 0) {
    PyObject *item = PyObject_CallMethod(v, "item", NULL);
    if (item != NULL && (PyLong_Check(item) || PyFloat_Check(item) ||
                         PyBool_Check(item) || PyComplex_Check(item) ||
                         PyUnicode_Check(item))) {
      if (!PyComplex_Check(item)) {
        mida_py_json_value(w, item, depth);
        Py_DECREF(item);
        Py_DECREF(shape);
        return 1;
      }
    }
    if (item == NULL)
      clear_error();
    Py_XDECREF(item);
  }
  put_char(w, '{');
  put_type_field(w, Py_TYPE(v));
  PyObject *dtype = array_attr(v, &dtype_name, "dtype");
  if (dtype != NULL) {
    PyObject *s = PyObject_Str(dtype);
    if (s != NULL) {
      raw_str(w, ",\"dtype\":");
      put_pystr(w, s, 64);
      Py_DECREF(s);
    }
    Py_DECREF(dtype);
  }
  clear_error();
  raw_str(w, ",\"shape\":[");
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(shape); i++) {
    PyObject *d = PyTuple_GET_ITEM(shape, i);
    Py_INCREF(d);
    long long n = int_of(d);
    char num[32];
    int k = snprintf(num, sizeof num, "%s%lld", i ? "," : "", n);
    mida_py_json_raw(w, num, (size_t)k);
  }
  put_char(w, ']');
  Py_DECREF(shape);
  long long bytes = int_of(array_attr(v, &nbytes_name, "nbytes"));
  if (bytes < 0) /* a pandas DataFrame */
    bytes = frame_bytes(v);
  if (bytes < 0) {
    PyObject *mu = PyObject_CallMethod(v, "memory_usage", NULL);
    if (mu != NULL) {
      bytes = int_of(PyObject_CallMethod(mu, "sum", NULL));
      Py_DECREF(mu);
    } else {
      clear_error();
    }
  }
  if (bytes >= 0) {
    char num[48];
    int k = snprintf(num, sizeof num, ",\"bytes\":%lld", bytes);
    mida_py_json_raw(w, num, (size_t)k);
  }
  put_char(w, '}');
  return 1;
}

/* {"type": ..., "repr": ...} for anything else. */
static void put_repr_summary(mida_py_json *w, PyObject *v) {
  put_char(w, '{');
  put_type_field(w, Py_TYPE(v));
  PyObject *r = PyObject_Repr(v);
  if (r == NULL) {
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    raw_str(w, ",\"repr_error\":");
    if (et != NULL && PyType_Check(et))
      mida_py_json_string(w, ((PyTypeObject *)et)->tp_name,
                          strlen(((PyTypeObject *)et)->tp_name));
    else
      raw_str(w, "null");
    if (et != NULL &&
        PyErr_GivenExceptionMatches(et, PyExc_KeyboardInterrupt))
      interrupt_cleared = true;
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(etb);
    clear_error();
  } else {
    raw_str(w, ",\"repr\":");
    put_pystr(w, r, mida_py_caps_now.max_repr);
    Py_DECREF(r);
  }
  put_char(w, '}');
}

static void put_len_summary(mida_py_json *w, PyObject *v, Py_ssize_t n) {
  char num[48];
  put_char(w, '{');
  put_type_field(w, Py_TYPE(v));
  int k = snprintf(num, sizeof num, ",\"len\":%zd}", n);
  mida_py_json_raw(w, num, (size_t)k);
}

static void put_float(mida_py_json *w, double d) {
  if (isnan(d)) {
    raw_str(w, "\"NaN\"");
    return;
  }
  if (isinf(d)) {
    raw_str(w, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  char *s = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
  if (s == NULL) {
    clear_error();
    raw_str(w, "null");
    return;
  }
  raw_str(w, s);
  PyMem_Free(s);
}

/* The decimal digits of n, written backwards from the end of buf[0..24);
 * returns where they start. snprintf costs ~700 instructions a number. */
static char *decimal(long long n, char buf[24]) {
  char *p = buf + 24;
  unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n
                               : (unsigned long long)n;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (n < 0)
    *--p = '-';
  return p;
}

/* 1 and the value of int v in *n when v is held in one internal digit
 * (|v| < 2**30: nearly every int an argument or result holds), read
 * without a call; else 0. */
static int small_int(PyObject *v, long long *n) {
#if PY_VERSION_HEX >= 0x030C0000
  if (!PyUnstable_Long_IsCompact((PyLongObject *)v))
    return 0;
  *n = (long long)PyUnstable_Long_CompactValue((PyLongObject *)v);
  return 1;
#else
  Py_ssize_t size = Py_SIZE(v);
  if (size < -1 || size > 1)
    return 0;
  *n = (long long)size * (long long)((PyLongObject *)v)->ob_digit[0];
  return 1;
#endif
}

static void put_int(mida_py_json *w, PyObject *v) {
  long long n;
  int ok = small_int(v, &n);
  if (!ok) {
    int overflow = 0;
    n = PyLong_AsLongLongAndOverflow(v, &overflow);
    ok = overflow == 0 && !(n == -1 && PyErr_Occurred());
  }
  if (ok) {
    char num[24];
    char *p = decimal(n, num);
    mida_py_json_raw(w, p, (size_t)(num + sizeof num - p));
    return;
  }
  clear_error();
  /* Beyond 64 bits: a decimal string (JSON readers would lose digits),
   * up to the 4,300 digits (14,284 bits) that CPython prints by default;
   * a larger one by its size, whatever sys.set_int_max_str_digits says:
   * its text, cut at max_str anyway, takes time quadratic in its digits
   * (12 s for a million, where a program lifted the limit). */
  long long bits = int_of(PyObject_CallMethod((PyObject *)&PyLong_Type,
                                              "bit_length", "O", v));
  PyObject *s = bits >= 0 && bits <= 14284 ? PyNumber_ToBase(v, 10) : NULL;
  if (s == NULL) {
    clear_error();
    char note[80];
    int k = snprintf(note, sizeof note,
                     "\"(integer of %lld bits, too large to print)\"", bits);
    mida_py_json_raw(w, note, (size_t)k);
    return;
  }
  put_pystr(w, s, mida_py_caps_now.max_str);
  Py_DECREF(s);
}

/* The list or tuple v, as an array of its first max_items, and the items
 * counted: v's own, or total when it is the head of a larger collection. */
static void put_items(mida_py_json *w, PyObject *v, int depth,
                      Py_ssize_t total) {
  Py_ssize_t n = PyList_Check(v) ? PyList_GET_SIZE(v) : PyTuple_GET_SIZE(v);
  if (depth >= mida_py_caps_now.max_depth) {
    put_len_summary(w, v, n);
    return;
  }
  put_char(w, '[');
  Py_ssize_t i = 0;
  for (; i < mida_py_caps_now.max_items; i++) {
    /* A repr called below may shrink a list: re-read its size. */
    Py_ssize_t now = PyList_Check(v) ? PyList_GET_SIZE(v)
                                     : PyTuple_GET_SIZE(v);
    if (i >= now)
      break;
    PyObject *item = PyList_Check(v) ? PyList_GET_ITEM(v, i)
                                     : PyTuple_GET_ITEM(v, i);
    Py_INCREF(item);
    if (i)
      put_char(w, ',');
    mida_py_json_value(w, item, depth + 1);
    Py_DECREF(item);
  }
  n = PyList_Check(v) ? PyList_GET_SIZE(v) : PyTuple_GET_SIZE(v);
  if (total > n)
    n = total;
  if (i < n) {
    char more[64];
    int k = snprintf(more, sizeof more, "%s\"...(%zd items in all)\"",
                     i ? "," : "", n);
    mida_py_json_raw(w, more, (size_t)k);
  }
  put_char(w, ']');
}

static void put_sequence(mida_py_json *w, PyObject *v, int depth) {
  put_items(w, v, depth, 0);
}

/* Whether t is collections.deque or a class of it (the C API has no
 * check of its own for it). */
static int is_deque(PyTypeObject *t) {
  for (; t != NULL; t = t->tp_base)
    if (strcmp(t->tp_name, "collections.deque") == 0)
      return 1;
  return 0;
}

/* Whether v is a collection that iteration does not consume and whose
 * repr would write all of it: a dict's keys(), values() or items(), an
 * array.array (their repr took 0.4-2.6 s for 5,000,000 items, each call
 * of a task that took one, to keep its first max_repr bytes). */
static int is_viewed_collection(PyObject *v) {
  return PyDictKeys_Check(v) || PyDictValues_Check(v) ||
         PyDictItems_Check(v) ||
         strcmp(Py_TYPE(v)->tp_name, "array.array") == 0;
}

/* The first max_items of a collection of n that iteration does not
 * consume (a set, a deque), taken before any of them is written (a repr
 * may change the collection): a copy of all of a set took ~50 us for
 * 10,000 items, and a deque's repr, which it fell to, ~570 us. */
static void put_head(mida_py_json *w, PyObject *v, Py_ssize_t n, int depth) {
  if (depth >= mida_py_caps_now.max_depth) {
    put_len_summary(w, v, n);
    return;
  }
  PyObject *it = PyObject_GetIter(v);
  PyObject *head = it != NULL ? PyList_New(0) : NULL;
  PyObject *item;
  while (head != NULL && PyList_GET_SIZE(head) < mida_py_caps_now.max_items &&
         (item = PyIter_Next(it)) != NULL) {
    int rc = PyList_Append(head, item);
    Py_DECREF(item);
    if (rc < 0)
      Py_CLEAR(head);
  }
  Py_XDECREF(it);
  if (head == NULL || PyErr_Occurred()) {
    clear_error();
    Py_XDECREF(head);
    put_len_summary(w, v, n);
    return;
  }
  put_items(w, head, depth, n);
  Py_DECREF(head);
}

/* Whether str s holds a lone surrogate, which is written '?' (so that
 * os.fsdecode's "\udcff.csv" and "\udcfe.csv" read alike). */
static int has_surrogate(PyObject *s) {
  int kind = PyUnicode_KIND(s);
  if (kind == PyUnicode_1BYTE_KIND)
    return 0;
  const void *data = PyUnicode_DATA(s);
  Py_ssize_t n = PyUnicode_GET_LENGTH(s);
  for (Py_ssize_t i = 0; i < n; i++) {
    Py_UCS4 c = PyUnicode_READ(kind, data, i);
    if (c >= 0xD800 && c <= 0xDFFF)
      return 1;
  }
  return 0;
}

/* Whether every key of dict v that is written (its first max_items) is
 * written as itself, whole: a str short enough never to be cut, with no
 * lone surrogate. The keys
 * written then differ, as the dict's own do; any other key is written as
 * its str() (None as "None", 1 as "1") or cut, and may then read as
 * another key of the same dict. Only those are looked at: all of a dict
 * of 2,000,000 keys took ~20 ms, each call of a task that takes it. */
static int keys_written_whole(PyObject *v) {
  Py_ssize_t pos = 0, i = 0;
  PyObject *key, *val;
  while (i++ < mida_py_caps_now.max_items &&
         PyDict_Next(v, &pos, &key, &val)) {
    if (!PyUnicode_Check(key))
      return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    if ((PyUnicode_IS_ASCII(key) ? n : 4 * n) > mida_py_caps_now.max_str)
      return 0;
    if (has_surrogate(key))
      return 0;
  }
  return 1;
}

/* Writes key of dict as mida_py_json_key does, unless the text it writes
 * is one that seen (a set of the dict's keys as written so far) holds, or
 * the name of a str key of dict: then the same text with its type,
 * " (NoneType)", and a number after it where that is taken too, so that
 * no member of the object hides another (a JSON object with two "None"
 * keys: SQLite reads the first, PostgreSQL keeps the last). seen is NULL
 * when out of memory: the key as it is. */
static void put_distinct_key(mida_py_json *w, PyObject *key, PyObject *seen,
                             PyObject *dict) {
  size_t start = w->len;
  mida_py_json_key(w, key);
  if (seen == NULL || w->oom || w->len < start + 3)
    return;
  /* The key's text between its quotes, without the ':' after them. */
  size_t inner = w->len - start - 3;
  /* A str key keeps its own name, wherever it comes in the dict: a key
   * of another type whose str() it is takes the type. */
  int owned = 0;
  if (!PyUnicode_Check(key)) {
    PyObject *name = PyObject_Str(key);
    owned = name != NULL && PyDict_Contains(dict, name) == 1;
    Py_XDECREF(name);
    clear_error();
  }
  PyObject *text = NULL;
  for (int k = 1; k <= 1000; k++) {
    text = PyBytes_FromStringAndSize(w->p + start, (Py_ssize_t)(w->len - start));
    int taken = text != NULL ? PySet_Contains(seen, text) : -1;
    if (k == 1 && owned && taken == 0)
      taken = 1;
    if (taken != 1)
      break;
    Py_CLEAR(text);
    char tail[160];
    int t = k == 1 ? snprintf(tail, sizeof tail, " (%.100s)",
                              Py_TYPE(key)->tp_name)
                   : snprintf(tail, sizeof tail, " (%.100s %d)",
                              Py_TYPE(key)->tp_name, k);
    w->len = start + 1 + inner; /* after the key's own text */
    escape_into(w, tail, (size_t)t);
    raw_str(w, "\":");
  }
  if (text != NULL && PySet_Add(seen, text) < 0)
    clear_error();
  if (text == NULL)
    clear_error();
  Py_XDECREF(text);
}

/* Whether the key text name (plain ASCII, no escapes) is one that the
 * first `written` keys of dict v were written as: seen holds their texts
 * where they may differ from the keys (put_distinct_key), else each key
 * written is a str written as itself. */
static int key_written(PyObject *v, PyObject *seen, Py_ssize_t written,
                       const char *name) {
  if (seen != NULL) {
    PyObject *text = PyBytes_FromFormat("\"%s\":", name);
    int taken = text != NULL ? PySet_Contains(seen, text) : -1;
    Py_XDECREF(text);
    if (taken < 0)
      clear_error();
    return taken == 1;
  }
  Py_ssize_t pos = 0;
  PyObject *key, *val;
  for (Py_ssize_t i = 0; i < written && PyDict_Next(v, &pos, &key, &val);
       i++)
    if (PyUnicode_Check(key) &&
        PyUnicode_CompareWithASCIIString(key, name) == 0)
      return 1;
  return 0;
}

/* The member that ends a dict cut after its first `written` items:
 * "...": "(N items in all)". Where a key written before it reads "..."
 * (a str key of that name, or one whose str() it is), the marker is named
 * "... (mida)", then "... (mida 2)", ...: the dict's key keeps its name
 * and its value, as a str key keeps its own against a key of another
 * type (until 2026-12-07 the object had two "..." members, of which
 * SQLite reads the first and PostgreSQL keeps the last). */
static void put_cut_marker(mida_py_json *w, PyObject *v, PyObject *seen,
                           Py_ssize_t written, Py_ssize_t total, int first) {
  char name[32] = "...";
  for (int k = 1; k <= 1000 && key_written(v, seen, written, name); k++) {
    if (k == 1)
      snprintf(name, sizeof name, "... (mida)");
    else
      snprintf(name, sizeof name, "... (mida %d)", k);
  }
  char more[96];
  int n = snprintf(more, sizeof more, "%s\"%s\":\"(%zd items in all)\"",
                   first ? "" : ",", name, total);
  mida_py_json_raw(w, more, (size_t)n);
}

/* The members of dict v: its first max_items, then the cut marker if it
 * has more, or if total (the size of the mapping that v is the head of)
 * says so. */
static void put_dict_items(mida_py_json *w, PyObject *v, int depth,
                           int first, Py_ssize_t total) {
  Py_ssize_t pos = 0, i = 0;
  PyObject *key, *val;
  PyObject *seen = NULL; /* the keys written, where they may meet */
  if (!keys_written_whole(v) && (seen = PySet_New(NULL)) == NULL)
    clear_error();
  int distinct = seen != NULL;
  while (i < mida_py_caps_now.max_items && PyDict_Next(v, &pos, &key, &val)) {
    Py_INCREF(key);
    Py_INCREF(val);
    if (!first)
      put_char(w, ',');
    first = 0;
    if (distinct)
      put_distinct_key(w, key, seen, v);
    else
      mida_py_json_key(w, key);
    mida_py_json_value(w, val, depth + 1);
    Py_DECREF(key);
    Py_DECREF(val);
    i++;
  }
  /* A repr called above may have changed the dict: its size now. */
  if (total < PyDict_GET_SIZE(v))
    total = PyDict_GET_SIZE(v);
  if (i < total)
    put_cut_marker(w, v, seen, i, total, first);
  Py_XDECREF(seen);
}

static void put_dict(mida_py_json *w, PyObject *v, int depth) {
  if (depth >= mida_py_caps_now.max_depth) {
    put_len_summary(w, v, PyDict_GET_SIZE(v));
    return;
  }
  put_char(w, '{');
  put_dict_items(w, v, depth, 1, 0);
  put_char(w, '}');
}

/* How a value that no other rule takes is written when it is a
 * collection: its repr would write all of it before the cut (a
 * collections.UserList of 10,000,000 ints: 0.6-0.8 s and 85 MiB a call). */
typedef enum {
  NOT_A_COLLECTION, /* its repr */
  AS_MAPPING,       /* an object of its first items: a dict's rules */
  AS_ITEMS,         /* an array of its first items: a set's rules */
  AS_DATA,          /* a UserList, UserDict, UserString: its data */
  AS_MAPS,          /* a collections.ChainMap: its list of maps */
  AS_SIZE           /* os.environ: {"type", "len"}, no name nor value */
} collection_form;

/* The classes of collections.abc that values are asked about, taken once
 * from _collections_abc (which the interpreter imports at startup) and
 * kept. Returns 0 if they could not be had (no error left set). */
enum { ABC_MAPPING, ABC_SEQUENCE, ABC_SET, ABC_MAPPING_VIEW, ABC_COUNT };
static PyObject *collection_abcs[ABC_COUNT];

static int load_collection_abcs(void) {
  static const char *const names[ABC_COUNT] = {"Mapping", "Sequence", "Set",
                                               "MappingView"};
  static bool tried;
  if (tried)
    return collection_abcs[ABC_COUNT - 1] != NULL;
  tried = true;
  PyObject *mod = PyImport_ImportModule("_collections_abc");
  for (int i = 0; mod != NULL && i < ABC_COUNT; i++) {
    collection_abcs[i] = PyObject_GetAttrString(mod, names[i]);
    if (collection_abcs[i] == NULL)
      break;
  }
  Py_XDECREF(mod);
  clear_error();
  return collection_abcs[ABC_COUNT - 1] != NULL;
}

static int is_instance(PyObject *v, PyObject *cls) {
  int rc = PyObject_IsInstance(v, cls);
  if (rc < 0)
    clear_error();
  return rc == 1;
}

/* A class of the standard library that some values are asked about: the
 * name of its module, its own name, and the class once found (kept). */
typedef struct stdlib_class {
  const char *module;
  const char *name;
  PyObject *module_name; /* interned on first use */
  PyObject *cls;         /* NULL until its module is imported */
} stdlib_class;

static stdlib_class user_list = {"collections", "UserList", NULL, NULL};
static stdlib_class user_dict = {"collections", "UserDict", NULL, NULL};
static stdlib_class user_string = {"collections", "UserString", NULL, NULL};
static stdlib_class chain_map = {"collections", "ChainMap", NULL, NULL};
static stdlib_class environ_mapping = {"os", "_Environ", NULL, NULL};

/* Whether v is an instance of c. Its module is looked up, never imported:
 * without it there is no such instance. */
static int is_stdlib_instance(PyObject *v, stdlib_class *c) {
  if (c->cls == NULL) {
    PyObject *name = interned_name(&c->module_name, c->module);
    PyObject *mod = name != NULL ? PyImport_GetModule(name) : NULL;
    if (mod != NULL)
      c->cls = PyObject_GetAttrString(mod, c->name);
    Py_XDECREF(mod);
    clear_error();
    if (c->cls == NULL)
      return 0;
  }
  return is_instance(v, c->cls);
}

/* The form of v, of a type that no other rule takes. A type with
 * object's own repr keeps it: that repr is short and reads nothing of
 * the value, where its items may be costly to read (a data set that loads
 * them); so do range and memoryview, whose repr is short too. Only a type
 * with a length is asked about the collections.abc classes. */
static collection_form collection_form_of(PyObject *v) {
  PyTypeObject *t = Py_TYPE(v);
  if (t->tp_repr == PyBaseObject_Type.tp_repr || t == &PyRange_Type ||
      t == &PyMemoryView_Type)
    return NOT_A_COLLECTION;
  bool sized =
      (t->tp_as_sequence != NULL && t->tp_as_sequence->sq_length != NULL) ||
      (t->tp_as_mapping != NULL && t->tp_as_mapping->mp_length != NULL);
  if (!sized || !load_collection_abcs())
    return NOT_A_COLLECTION;
  if (is_instance(v, collection_abcs[ABC_MAPPING])) {
    if (is_stdlib_instance(v, &user_dict))
      return AS_DATA;
    /* A ChainMap's own len() and iter() build the union of its maps'
     * keys: twice the memory its repr took. */
    if (is_stdlib_instance(v, &chain_map))
      return AS_MAPS;
    if (is_stdlib_instance(v, &environ_mapping))
      return AS_SIZE;
    return AS_MAPPING;
  }
  if (is_instance(v, collection_abcs[ABC_SEQUENCE]))
    return is_stdlib_instance(v, &user_list) ||
                   is_stdlib_instance(v, &user_string)
               ? AS_DATA
               : AS_ITEMS;
  if (is_instance(v, collection_abcs[ABC_SET]) ||
      is_instance(v, collection_abcs[ABC_MAPPING_VIEW]))
    return AS_ITEMS;
  return NOT_A_COLLECTION;
}

/* A mapping of n items that is no dict (a mappingproxy, a class of
 * collections.abc.Mapping), as a dict is written: its first max_items keys are
 * taken from iter(v), their values by v[key], into a dict that is then
 * written with the cut marker for n. A mapping that fails while read (a
 * key it cannot give, a key no dict can hold) is written by its size. */
static void put_mapping_head(mida_py_json *w, PyObject *v, Py_ssize_t n,
                             int depth) {
  if (depth >= mida_py_caps_now.max_depth) {
    put_len_summary(w, v, n);
    return;
  }
  PyObject *it = PyObject_GetIter(v);
  PyObject *head = it != NULL ? PyDict_New() : NULL;
  PyObject *key;
  /* Counted apart from the head's size: a mapping that yields one key
   * again and again must not hold the writer. */
  for (Py_ssize_t i = 0;
       head != NULL && i < mida_py_caps_now.max_items &&
       (key = PyIter_Next(it)) != NULL;
       i++) {
    PyObject *val = PyObject_GetItem(v, key);
    if (val == NULL || PyDict_SetItem(head, key, val) < 0)
      Py_CLEAR(head);
    Py_XDECREF(val);
    Py_DECREF(key);
  }
  Py_XDECREF(it);
  if (head == NULL || PyErr_Occurred()) {
    clear_error();
    Py_XDECREF(head);
    put_len_summary(w, v, n);
    return;
  }
  put_char(w, '{');
  put_dict_items(w, head, depth, 1, n);
  put_char(w, '}');
  Py_DECREF(head);
}

/* The list, dict or str that attribute name of v holds, written by its
 * rules; 0 if v has none such. */
static int put_attribute(mida_py_json *w, PyObject *v, PyObject **slot,
                         const char *name, int depth) {
  PyObject *a = mida_py_attr(v, slot, name);
  int ok = a != NULL &&
           (PyList_Check(a) || PyDict_Check(a) || PyUnicode_Check(a));
  if (ok)
    mida_py_json_value(w, a, depth);
  Py_XDECREF(a);
  clear_error();
  return ok;
}

/* v, of a type that no other rule takes: a collection by its first
 * items, a UserList, UserDict or UserString as the list, dict or str it
 * keeps in .data and a ChainMap as its list of maps (what their repr
 * shows, and cheaper to read than their items, which are read in
 * Python), else its repr. */
static void put_other(mida_py_json *w, PyObject *v, int depth) {
  static PyObject *data_name, *maps_name;
  collection_form form = collection_form_of(v);
  if (form == AS_DATA && put_attribute(w, v, &data_name, "data", depth))
    return;
  if (form == AS_MAPS && put_attribute(w, v, &maps_name, "maps", depth))
    return;
  if (form == AS_DATA || form == AS_MAPS) /* no such attribute: its items */
    form = is_instance(v, collection_abcs[ABC_MAPPING]) ? AS_MAPPING
                                                        : AS_ITEMS;
  Py_ssize_t n = form != NOT_A_COLLECTION ? PyObject_Length(v) : -1;
  if (n < 0) {
    clear_error();
    put_repr_summary(w, v);
  } else if (form == AS_SIZE) {
    put_len_summary(w, v, n);
  } else if (form == AS_MAPPING) {
    put_mapping_head(w, v, n, depth);
  } else {
    put_head(w, v, n, depth);
  }
}

void mida_py_json_value(mida_py_json *w, PyObject *v, int depth) {
  if (w->len > mida_py_caps_now.max_bytes) {
    raw_str(w, "\"...\"");
    return;
  }
  if (v == Py_None) {
    raw_str(w, "null");
  } else if (v == Py_True) {
    raw_str(w, "true");
  } else if (v == Py_False) {
    raw_str(w, "false");
  } else if (PyLong_Check(v)) {
    put_int(w, v);
  } else if (PyFloat_Check(v)) {
    put_float(w, PyFloat_AS_DOUBLE(v));
  } else if (PyUnicode_Check(v)) {
    put_pystr(w, v, mida_py_caps_now.max_str);
  } else if (PyList_Check(v) || PyTuple_Check(v)) {
    put_sequence(w, v, depth);
  } else if (PyDict_Check(v)) {
    put_dict(w, v, depth);
  } else if (PyAnySet_Check(v)) {
    put_head(w, v, PySet_GET_SIZE(v), depth);
  } else if (is_deque(Py_TYPE(v)) || is_viewed_collection(v)) {
    Py_ssize_t n = PyObject_Length(v);
    if (n >= 0)
      put_head(w, v, n, depth);
    else
      put_repr_summary(w, v);
  } else if (PyBytes_Check(v) || PyByteArray_Check(v)) {
    put_len_summary(w, v, PyBytes_Check(v) ? PyBytes_GET_SIZE(v)
                                           : PyByteArray_GET_SIZE(v));
  } else if (is_array_library(Py_TYPE(v)) &&
             put_array_summary(w, v, depth)) {
    /* written */
  } else {
    put_other(w, v, depth);
  }
  if (PyErr_Occurred() != NULL) /* cheaper than PyErr_Clear when none */
    clear_error();
}

void mida_py_json_result(mida_py_json *w, PyObject *v) {
  put_char(w, '{');
  if (PyDict_Check(v)) {
    put_dict_items(w, v, 0, 1, 0);
  } else {
    raw_str(w, "\"return\":");
    mida_py_json_value(w, v, 1);
  }
  put_char(w, '}');
}

const char *mida_py_json_end(mida_py_json *w) {
  if (interrupt_cleared) {
    interrupt_cleared = false;
    PyErr_SetInterrupt(); /* SIGINT's handler runs at the next check */
  }
  if (!reserve(w, 0))
    return NULL;
  w->p[w->len] = '\0';
  return w->p;
}

/*
 * errtext.c -- the text of an error (an exception's message, Dask's
 * exception and traceback texts) as the C string that libmida records.
 *
 * A message is the program's own text, and two kinds of it have no C
 * string as they are: a lone surrogate (a file name from os.listdir or
 * os.fsdecode that is not UTF-8, "cannot read /in/\udcff.csv"), which
 * UTF-8 cannot encode, and a NUL character, at which a C string ends.
 * Both are written as repr() writes them (\udcff, \x00), so that the
 * whole message reaches the store and reads as Python would print it
 * (until 2026-12-07 the first made a task's error "unknown error", and
 * the scheduler's record of a Dask key's ERROR failed, leaving it
 * RUNNING; the second cut the text there).
 */
#include "ext.h"

#include <string.h>

/* text with each NUL as \x00: a new reference, or NULL (no exception
 * left set). */
static PyObject *nuls_written_out(PyObject *text) {
  Py_ssize_t n = PyUnicode_GET_LENGTH(text);
  Py_ssize_t at = PyUnicode_FindChar(text, 0, 0, n, 1);
  if (at == -1)
    return Py_NewRef(text);
  PyObject *nul = at >= 0 ? PyUnicode_FromStringAndSize("\0", 1) : NULL;
  PyObject *shown = nul != NULL ? PyUnicode_FromString("\\x00") : NULL;
  PyObject *out =
      shown != NULL ? PyUnicode_Replace(text, nul, shown, -1) : NULL;
  Py_XDECREF(nul);
  Py_XDECREF(shown);
  if (out == NULL)
    PyErr_Clear();
  return out;
}

PyObject *mida_py_error_utf8(PyObject *text, const char **out) {
  *out = NULL;
  PyObject *whole = nuls_written_out(text);
  if (whole == NULL)
    return NULL;
  *out = PyUnicode_AsUTF8(whole);
  if (*out != NULL)
    return whole;
  PyErr_Clear(); /* a lone surrogate */
  PyObject *bytes =
      PyUnicode_AsEncodedString(whole, "utf-8", "backslashreplace");
  Py_DECREF(whole);
  if (bytes == NULL) {
    PyErr_Clear();
    return NULL;
  }
  *out = PyBytes_AS_STRING(bytes);
  return bytes;
}

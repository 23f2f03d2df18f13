/*
 * args.c -- the arguments of the public Python API, read and checked, and
 * the exceptions a bad one raises.
 *
 * Every bad argument of mida.workflow, mida.metric, mida.data, mida.query,
 * mida.flush, mida.configure and @mida.task raises one of two exceptions,
 * both a mida.Error, so that `except mida.Error` catches every failure of
 * a mida call, and both what Python's own conventions raise, so that
 * `except ValueError` and `except TypeError` catch them as they would any
 * function's:
 *
 *   mida.ArgumentError      (mida.Error, ValueError): a value that cannot
 *                           be taken (a str that is not UTF-8 text, a NUL
 *                           character, an int beyond 64 bits, a role that
 *                           is not one);
 *   mida.ArgumentTypeError  (mida.Error, TypeError): a value of the wrong
 *                           type (None or bytes where a str is needed).
 *
 * Python's argument parsing (PyArg_ParseTuple's "s", "d", "L") raised
 * bare UnicodeEncodeError, OverflowError, TypeError and ValueError that
 * named no argument: the readers below name the argument and raise these.
 */
#include "ext.h"

#include <stdarg.h>
#include <string.h>

PyObject *mida_py_arg_error;
PyObject *mida_py_arg_type_error;

int mida_py_args_init(PyObject *module) {
  PyObject *value_bases = PyTuple_Pack(2, mida_py_error, PyExc_ValueError);
  PyObject *type_bases = PyTuple_Pack(2, mida_py_error, PyExc_TypeError);
  if (value_bases != NULL && type_bases != NULL) {
    mida_py_arg_error = PyErr_NewExceptionWithDoc(
        "mida.ArgumentError",
        "An argument of a mida call has a value that cannot be taken; a "
        "mida.Error and a ValueError.",
        value_bases, NULL);
    mida_py_arg_type_error = PyErr_NewExceptionWithDoc(
        "mida.ArgumentTypeError",
        "An argument of a mida call has the wrong type; a mida.Error and a "
        "TypeError.",
        type_bases, NULL);
  }
  Py_XDECREF(value_bases);
  Py_XDECREF(type_bases);
  if (mida_py_arg_error == NULL || mida_py_arg_type_error == NULL)
    return -1;
  if (PyModule_AddObjectRef(module, "ArgumentError", mida_py_arg_error) < 0 ||
      PyModule_AddObjectRef(module, "ArgumentTypeError",
                            mida_py_arg_type_error) < 0)
    return -1;
  return 0;
}

/* The exception now set, taken and normalized: a new reference. */
static PyObject *exception_taken(void) {
  mida_py_saved_exc e = mida_py_exc_take();
#if PY_VERSION_HEX < 0x030C0000
  PyErr_NormalizeException(&e.type, &e.value, &e.tb);
  if (e.tb != NULL && e.value != NULL)
    PyException_SetTraceback(e.value, e.tb);
  Py_XDECREF(e.type);
  Py_XDECREF(e.tb);
#endif
  return e.value;
}

int mida_py_arg_raise_from(PyObject *cls, const char *fmt, ...) {
  PyObject *cause = exception_taken();
  va_list ap;
  va_start(ap, fmt);
  PyObject *msg = PyUnicode_FromFormatV(fmt, ap);
  va_end(ap);
  PyObject *err = msg != NULL ? PyObject_CallOneArg(cls, msg) : NULL;
  Py_XDECREF(msg);
  if (err == NULL) {
    Py_XDECREF(cause);
    return -1;
  }
  if (cause != NULL)
    PyException_SetCause(err, cause); /* takes cause */
  PyErr_SetObject(cls, err);
  Py_DECREF(err);
  return -1;
}

/* Whether the exception now set is one that converting a value raised
 * (its own __index__, __float__ or __str__ included), as opposed to one
 * that is no fault of the value (out of memory, Ctrl-C). */
static int conversion_failed(void) {
  return PyErr_ExceptionMatches(PyExc_Exception) &&
         !PyErr_ExceptionMatches(PyExc_MemoryError);
}

int mida_py_text_arg(PyObject *o, const char *what, int nullable,
                     const char **out) {
  *out = NULL;
  if (o == Py_None && nullable)
    return 0;
  if (!PyUnicode_Check(o)) {
    PyErr_Format(mida_py_arg_type_error, "%s must be a str%s, not %.100s",
                 what, nullable ? " (or None)" : "", Py_TYPE(o)->tp_name);
    return -1;
  }
  Py_ssize_t len;
  const char *text = PyUnicode_AsUTF8AndSize(o, &len);
  if (text == NULL) {
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
      return -1; /* out of memory */
    return mida_py_arg_raise_from(
        mida_py_arg_error,
        "%s is not UTF-8 text: it holds a lone surrogate (as os.fsdecode "
        "makes of bytes that are not UTF-8)",
        what);
  }
  if (strlen(text) != (size_t)len) {
    PyErr_Format(mida_py_arg_error, "%s holds a NUL character", what);
    return -1;
  }
  *out = text;
  return 0;
}

int mida_py_float_arg(PyObject *o, const char *what, double *out) {
  if (PyFloat_CheckExact(o)) {
    *out = PyFloat_AS_DOUBLE(o);
    return 0;
  }
  *out = PyFloat_AsDouble(o);
  if (*out == -1.0 && PyErr_Occurred()) {
    if (PyErr_ExceptionMatches(PyExc_OverflowError))
      return mida_py_arg_raise_from(mida_py_arg_error,
                                    "%s is too large for a float", what);
    if (conversion_failed())
      return mida_py_arg_raise_from(mida_py_arg_type_error,
                                    "%s must be a real number, not %.100s",
                                    what, Py_TYPE(o)->tp_name);
    return -1;
  }
  return 0;
}

int mida_py_int64_arg(PyObject *o, const char *what, long long *out) {
  PyObject *index = PyNumber_Index(o); /* an int, or what stands for one */
  if (index == NULL) {
    if (conversion_failed())
      return mida_py_arg_raise_from(mida_py_arg_type_error,
                                    "%s must be an integer, not %.100s", what,
                                    Py_TYPE(o)->tp_name);
    return -1;
  }
  int overflow = 0;
  *out = PyLong_AsLongLongAndOverflow(index, &overflow);
  Py_DECREF(index);
  if (overflow != 0) {
    PyErr_Format(mida_py_arg_error,
                 "%s must fit in 64 bits (-2**63 to 2**63-1)", what);
    return -1;
  }
  return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/*
 * taskfunc.c -- the `TaskFunc` type that @mida.task returns for a plain
 * function: a vectorcall callable that binds the call's arguments to
 * parameter names (precomputed at decoration), writes them as JSON straight
 * into a buffer (value.c), records the task's begin and end around the call
 * through the public API, and hands the result or the exception back
 * untouched. Coroutine functions use its _begin, _end and _fail methods
 * around the await (mida/__init__.py).
 *
 * Capture never changes what the user's function returns or raises; when
 * recording fails (no store, full journal), the call still runs and the
 * failure is counted in mida.stats()["capture_errors"].
 */
#include "ext.h"
#include "value.h"

#include <string.h>

/* ---- error text --------------------------------------------------------- */

/* "Type: message\n" followed by the formatted traceback, as a new str, or
 * NULL. Only on the error path: imports the traceback module. */
static PyObject *error_text(PyObject *type, PyObject *value, PyObject *tb) {
  PyObject *text = NULL, *lines = NULL, *empty = NULL, *joined = NULL;
  PyObject *mod = PyImport_ImportModule("traceback");
  if (mod != NULL)
    lines = PyObject_CallMethod(mod, "format_exception", "OOO", type,
                                value != NULL ? value : Py_None,
                                tb != NULL ? tb : Py_None);
  if (lines != NULL)
    empty = PyUnicode_FromString("");
  if (empty != NULL)
    joined = PyUnicode_Join(empty, lines);
  PyErr_Clear();
  const char *tname = PyType_Check(type) ? ((PyTypeObject *)type)->tp_name
                                         : "exception";
  PyObject *msg = value != NULL ? PyObject_Str(value) : NULL;
  if (msg == NULL) {
    PyErr_Clear();
    msg = PyUnicode_FromString("");
  }
  if (msg != NULL)
    text = PyUnicode_FromFormat("%s: %U\n%U", tname, msg,
                                joined != NULL ? joined : msg);
  PyErr_Clear();
  Py_XDECREF(msg);
  Py_XDECREF(mod);
  Py_XDECREF(lines);
  Py_XDECREF(empty);
  Py_XDECREF(joined);
  return text;
}

/* The status of a task (or workflow) that exception ev of type et ended: a
 * SystemExit as a program's exit status reads (`sys.exit()`, `sys.exit(0)`:
 * FINISHED; any other code: ERROR, as `mida run` records a command),
 * another Exception ERROR, the rest (KeyboardInterrupt, CancelledError, ...)
 * CANCELLED. */
mida_status_t mida_py_exception_status(PyObject *et, PyObject *ev) {
  if (et == NULL || PyErr_GivenExceptionMatches(et, PyExc_Exception))
    return MIDA_STATUS_ERROR;
  if (!PyErr_GivenExceptionMatches(et, PyExc_SystemExit))
    return MIDA_STATUS_CANCELLED;
  PyObject *code = ev != NULL && PyExceptionInstance_Check(ev)
                       ? ((PySystemExitObject *)ev)->code
                       : NULL;
  int ok = code == NULL || code == Py_None ||
           (PyLong_Check(code) && PyLong_AsLong(code) == 0);
  PyErr_Clear();
  return ok ? MIDA_STATUS_FINISHED : MIDA_STATUS_ERROR;
}

/* Records the end of task id for the exception now set, which it leaves set
 * and unchanged. */
static void end_with_exception(mida_session_t *s, const mida_id_t *id) {
#if PY_VERSION_HEX >= 0x030C0000
  PyObject *ev = PyErr_GetRaisedException();
  PyObject *et = ev != NULL ? Py_NewRef((PyObject *)Py_TYPE(ev)) : NULL;
  PyObject *etb = ev != NULL ? PyException_GetTraceback(ev) : NULL;
#else
  PyObject *et, *ev, *etb;
  PyErr_Fetch(&et, &ev, &etb);
  PyErr_NormalizeException(&et, &ev, &etb);
  if (etb != NULL && ev != NULL)
    PyException_SetTraceback(ev, etb);
#endif
  mida_status_t st = mida_py_exception_status(et, ev);
  PyObject *text = et != NULL && st != MIDA_STATUS_FINISHED
                       ? error_text(et, ev, etb)
                       : NULL;
  const char *t = NULL;
  PyObject *held = text != NULL ? mida_py_error_utf8(text, &t) : NULL;
  if (mida_task_end(s, id, st, NULL,
                    st == MIDA_STATUS_FINISHED ? NULL
                    : t != NULL                ? t
                                               : "unknown error") != MIDA_OK)
    mida_py_capture_errors++;
  Py_XDECREF(held);
  Py_XDECREF(text);
#if PY_VERSION_HEX >= 0x030C0000
  Py_XDECREF(et);
  Py_XDECREF(etb);
  PyErr_SetRaisedException(ev);
#else
  PyErr_Restore(et, ev, etb);
#endif
}

static void end_with_result(mida_session_t *s, const mida_id_t *id,
                            PyObject *result) {
  mida_py_json w;
  mida_py_json_init(&w);
  mida_py_json_result(&w, result);
  const char *gen = mida_py_json_end(&w);
  int rc = mida_task_end(s, id, MIDA_STATUS_FINISHED, gen, NULL);
  if (rc == MIDA_ETOOBIG || rc == MIDA_EJSON)
    rc = mida_task_end(s, id, MIDA_STATUS_FINISHED,
                       "{\"_mida\":\"result too large to record\"}", NULL);
  if (rc != MIDA_OK)
    mida_py_capture_errors++;
  mida_py_json_free(&w);
}

/* ---- TaskFunc: the decorated function ------------------------------------ */

typedef struct TaskFunc {
  PyObject_HEAD
  vectorcallfunc vectorcall; /* taskfunc_vectorcall */
  PyObject *func;            /* the wrapped callable */
  PyObject *dict;            /* __dict__ (functools.update_wrapper) */
  PyObject *names;           /* tuple of str: positional, then kw-only */
  Py_ssize_t npos;           /* positional parameters */
  PyObject *varargs;         /* name of *args, or NULL */
  PyObject *defaults;        /* __defaults__ tuple, or NULL */
  PyObject *kwdefaults;      /* __kwdefaults__ dict, or NULL */
  PyObject *activity;        /* str: the task's activity name */
  const char *activity_utf8; /* its UTF-8, which the str keeps */
  PyObject *keys;            /* tuple of bytes: names[i] as JSON `"name":` */
  PyObject *pickled;         /* __mida_func__: func's copy that pickles by
                                value (see taskfunc_reduce), or NULL */
} TaskFunc;

static int in_kwnames(PyObject *name, PyObject *kwnames) {
  if (kwnames == NULL)
    return 0;
  Py_ssize_t n = PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t i = 0; i < n; i++)
    if (PyTuple_GET_ITEM(kwnames, i) == name)
      return 1;
  for (Py_ssize_t i = 0; i < n; i++) {
    int eq = PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, i), name) == 0;
    if (PyErr_Occurred())
      PyErr_Clear();
    if (eq)
      return 1;
  }
  return 0;
}

static void put_arg(mida_py_json *w, int *first, PyObject *name,
                    PyObject *value) {
  if (!*first)
    mida_py_json_raw(w, ",", 1);
  *first = 0;
  mida_py_json_key(w, name);
  mida_py_json_value(w, value, 1);
}

/* put_arg for parameter i, with its key encoded at decoration. */
static void put_param(mida_py_json *w, int *first, TaskFunc *tf,
                      Py_ssize_t i, PyObject *value) {
  if (!*first)
    mida_py_json_raw(w, ",", 1);
  *first = 0;
  PyObject *key = PyTuple_GET_ITEM(tf->keys, i);
  mida_py_json_raw(w, PyBytes_AS_STRING(key), (size_t)PyBytes_GET_SIZE(key));
  mida_py_json_value(w, value, 1);
}

/* put_arg for a keyword argument: the parameter's encoded key when the
 * keyword is the parameter's own (interned) name object, as it is for a
 * keyword written in the call's source. */
static void put_keyword(mida_py_json *w, int *first, TaskFunc *tf,
                        PyObject *name, PyObject *value) {
  Py_ssize_t n = PyTuple_GET_SIZE(tf->names);
  for (Py_ssize_t i = 0; i < n; i++) {
    if (PyTuple_GET_ITEM(tf->names, i) == name) {
      put_param(w, first, tf, i, value);
      return;
    }
  }
  put_arg(w, first, name, value);
}

/* The `used` object of a call: arguments bound to parameter names, with
 * defaults applied; extra positional arguments under the *args name (or
 * "args"); a callable without a code object names them arg0, arg1, ... */
static void encode_used(mida_py_json *w, TaskFunc *tf, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames) {
  int first = 1;
  mida_py_json_raw(w, "{", 1);
  Py_ssize_t npos = tf->npos;
  Py_ssize_t shown = nargs < npos ? nargs : npos;
  for (Py_ssize_t i = 0; i < shown; i++)
    put_param(w, &first, tf, i, args[i]);
  if (nargs > npos) {
    if (tf->names != NULL && PyTuple_GET_SIZE(tf->names) == 0 &&
        tf->varargs == NULL && npos == 0) {
      for (Py_ssize_t i = 0; i < nargs; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s\"arg%zd\":", first ? "" : ",", i);
        first = 0;
        mida_py_json_raw(w, key, strlen(key));
        mida_py_json_value(w, args[i], 1);
      }
    } else {
      PyObject *rest = PyTuple_New(nargs - npos);
      if (rest != NULL) {
        for (Py_ssize_t i = npos; i < nargs; i++) {
          Py_INCREF(args[i]);
          PyTuple_SET_ITEM(rest, i - npos, args[i]);
        }
        if (!first)
          mida_py_json_raw(w, ",", 1);
        first = 0;
        if (tf->varargs != NULL)
          mida_py_json_key(w, tf->varargs);
        else
          mida_py_json_raw(w, "\"args\":", 7);
        mida_py_json_value(w, rest, 1);
        Py_DECREF(rest);
      } else {
        PyErr_Clear();
      }
    }
  }
  Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t i = 0; i < nkw; i++)
    put_keyword(w, &first, tf, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]);
  /* Defaults of positional parameters not given. */
  Py_ssize_t ndef = tf->defaults != NULL ? PyTuple_GET_SIZE(tf->defaults) : 0;
  for (Py_ssize_t i = nargs; i < npos; i++) {
    Py_ssize_t d = i - (npos - ndef);
    PyObject *name = PyTuple_GET_ITEM(tf->names, i);
    if (d >= 0 && !in_kwnames(name, kwnames))
      put_param(w, &first, tf, i, PyTuple_GET_ITEM(tf->defaults, d));
  }
  /* Defaults of keyword-only parameters not given. */
  if (tf->kwdefaults != NULL) {
    Py_ssize_t all = PyTuple_GET_SIZE(tf->names);
    for (Py_ssize_t i = npos; i < all; i++) {
      PyObject *name = PyTuple_GET_ITEM(tf->names, i);
      PyObject *dv = PyDict_GetItemWithError(tf->kwdefaults, name);
      if (dv == NULL)
        PyErr_Clear();
      else if (!in_kwnames(name, kwnames))
        put_param(w, &first, tf, i, dv);
    }
  }
  mida_py_json_raw(w, "}", 1);
}

/* Records a task's begin for a call. Returns 1 and fills *id and *token
 * when the call is recorded, 0 when it is not (no session, or a failure,
 * counted). Leaves no exception set. */
static int call_begin(TaskFunc *tf, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames, mida_id_t *id, PyObject **token) {
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    return 0;
  mida_py_json w;
  mida_py_json_init(&w);
  encode_used(&w, tf, args, nargs, kwnames);
  const char *used = mida_py_json_end(&w);
  mida_id_t parent, wf;
  int has_parent = mida_py_current_task(&parent);
  int has_wf = mida_py_current_workflow(&wf); /* else the session's */
  mida_task_info_t info = {0};
  info.activity = tf->activity_utf8;
  info.used = used;
  info.parent = has_parent ? &parent : NULL;
  info.workflow = has_wf ? &wf : NULL;
  int rc = mida_task_begin(s, &info, id);
  if (rc == MIDA_ETOOBIG || rc == MIDA_EJSON) {
    /* The caps allow a record the journal cannot take: keep the task. */
    info.used = "{\"_mida\":\"arguments too large to record\"}";
    rc = mida_task_begin(s, &info, id);
  }
  mida_py_json_free(&w);
  if (PyErr_Occurred() != NULL)
    PyErr_Clear();
  if (rc != MIDA_OK) {
    mida_py_capture_errors++;
    return 0;
  }
  *token = mida_py_current_push(id);
  return 1;
}

/* A call that call_begin did not record (capture off, no store, or a
 * begin that failed, counted) still runs as a task, under a new id that
 * nothing records: the mida.metric and mida.data its function calls find
 * a current task and go on, recording nothing for it (recording never
 * raises into the program; python.md). Returns the token to reset the
 * current task with, or NULL. */
static PyObject *unrecorded_begin(mida_id_t *id) {
  *id = mida_id_new();
  return mida_py_current_push(id);
}

static PyObject *taskfunc_vectorcall(PyObject *self, PyObject *const *args,
                                     size_t nargsf, PyObject *kwnames) {
  TaskFunc *tf = (TaskFunc *)self;
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  mida_id_t id;
  PyObject *token = NULL;
  if (!call_begin(tf, args, nargs, kwnames, &id, &token)) {
    token = unrecorded_begin(&id);
    PyObject *res = PyObject_Vectorcall(tf->func, args, nargsf, kwnames);
    mida_py_current_pop(token);
    return res;
  }
  PyObject *res = PyObject_Vectorcall(tf->func, args, nargsf, kwnames);
  mida_py_current_pop(token);
  mida_session_t *s = mida_py_session;
  if (s == NULL) /* closed during the call (interpreter exit) */
    return res;
  if (res != NULL)
    end_with_result(s, &id, res);
  else
    end_with_exception(s, &id);
  return res;
}

/* Reads the parameter names of a Python function from its code object. */
static int taskfunc_bind_signature(TaskFunc *tf, PyObject *func) {
  PyObject *code = PyObject_GetAttrString(func, "__code__");
  if (code == NULL || !PyCode_Check(code)) {
    /* A builtin, a class, a partial: positional arguments become arg0...
     */
    PyErr_Clear();
    Py_XDECREF(code);
    tf->names = PyTuple_New(0);
    tf->npos = 0;
    return tf->names != NULL ? 0 : -1;
  }
  PyObject *varnames = PyObject_GetAttrString(code, "co_varnames");
  PyObject *argc = PyObject_GetAttrString(code, "co_argcount");
  PyObject *kwc = PyObject_GetAttrString(code, "co_kwonlyargcount");
  PyObject *flags = PyObject_GetAttrString(code, "co_flags");
  int rc = -1;
  if (varnames == NULL || argc == NULL || kwc == NULL || flags == NULL)
    goto out;
  Py_ssize_t npos = PyLong_AsSsize_t(argc);
  Py_ssize_t nkw = PyLong_AsSsize_t(kwc);
  long fl = PyLong_AsLong(flags);
  if (PyErr_Occurred() || !PyTuple_Check(varnames) ||
      PyTuple_GET_SIZE(varnames) < npos + nkw)
    goto out;
  tf->names = PyTuple_GetSlice(varnames, 0, npos + nkw);
  tf->npos = npos;
  if (tf->names == NULL)
    goto out;
  if ((fl & CO_VARARGS) && PyTuple_GET_SIZE(varnames) > npos + nkw) {
    tf->varargs = PyTuple_GET_ITEM(varnames, npos + nkw);
    Py_INCREF(tf->varargs);
  }
  PyObject *defs = PyObject_GetAttrString(func, "__defaults__");
  if (defs != NULL && PyTuple_Check(defs))
    tf->defaults = defs;
  else
    Py_XDECREF(defs);
  PyObject *kwdefs = PyObject_GetAttrString(func, "__kwdefaults__");
  if (kwdefs != NULL && PyDict_Check(kwdefs))
    tf->kwdefaults = kwdefs;
  else
    Py_XDECREF(kwdefs);
  PyErr_Clear();
  rc = 0;
out:
  if (rc != 0 && !PyErr_Occurred())
    PyErr_SetString(PyExc_TypeError, "mida.task: unreadable code object");
  Py_XDECREF(varnames);
  Py_XDECREF(argc);
  Py_XDECREF(kwc);
  Py_XDECREF(flags);
  Py_DECREF(code);
  return rc;
}

/* tf->keys from tf->names: each name as the JSON text `"name":`, so that
 * a call copies its keys rather than escaping them again. */
static int taskfunc_encode_keys(TaskFunc *tf) {
  Py_ssize_t n = PyTuple_GET_SIZE(tf->names);
  tf->keys = PyTuple_New(n);
  if (tf->keys == NULL)
    return -1;
  for (Py_ssize_t i = 0; i < n; i++) {
    mida_py_json w;
    mida_py_json_init(&w);
    mida_py_json_key(&w, PyTuple_GET_ITEM(tf->names, i));
    const char *text = mida_py_json_end(&w);
    PyObject *b = text != NULL ? PyBytes_FromStringAndSize(text, w.len)
                               : NULL;
    mida_py_json_free(&w);
    if (b == NULL) {
      if (!PyErr_Occurred())
        PyErr_NoMemory();
      return -1;
    }
    PyTuple_SET_ITEM(tf->keys, i, b);
  }
  return 0;
}

static PyObject *taskfunc_new(PyTypeObject *type, PyObject *args,
                              PyObject *kwargs) {
  static char *kwlist[] = {"func", "name", NULL};
  PyObject *func, *name = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:TaskFunc", kwlist,
                                   &func, &name))
    return NULL;
  if (!PyCallable_Check(func)) {
    PyErr_Format(mida_py_arg_type_error,
                 "mida.task needs a callable, not %.100s",
                 Py_TYPE(func)->tp_name);
    return NULL;
  }
  TaskFunc *tf = (TaskFunc *)type->tp_alloc(type, 0);
  if (tf == NULL)
    return NULL;
  tf->vectorcall = taskfunc_vectorcall;
  Py_INCREF(func);
  tf->func = func;
  const char *what = "name";
  if (name != Py_None) {
    Py_INCREF(name);
    tf->activity = name;
  } else {
    what = "the function's __qualname__";
    tf->activity = PyObject_GetAttrString(func, "__qualname__");
    if (tf->activity == NULL || !PyUnicode_Check(tf->activity)) {
      PyErr_Clear();
      Py_XDECREF(tf->activity);
      tf->activity = PyObject_GetAttrString(func, "__name__");
    }
    if (tf->activity == NULL || !PyUnicode_Check(tf->activity)) {
      PyErr_Clear();
      Py_XDECREF(tf->activity);
      tf->activity = PyUnicode_FromString(Py_TYPE(func)->tp_name);
    }
  }
  /* The activity is read as C text: a NUL would cut it short. */
  if (tf->activity == NULL ||
      mida_py_text_arg(tf->activity, what, 0, &tf->activity_utf8) < 0 ||
      taskfunc_bind_signature(tf, func) < 0 ||
      taskfunc_encode_keys(tf) < 0) {
    Py_DECREF(tf);
    return NULL;
  }
  return (PyObject *)tf;
}

static int taskfunc_traverse(PyObject *self, visitproc visit, void *arg) {
  TaskFunc *tf = (TaskFunc *)self;
  Py_VISIT(tf->func);
  Py_VISIT(tf->dict);
  Py_VISIT(tf->defaults);
  Py_VISIT(tf->kwdefaults);
  Py_VISIT(tf->pickled);
  return 0;
}

static int taskfunc_clear(PyObject *self) {
  TaskFunc *tf = (TaskFunc *)self;
  Py_CLEAR(tf->func);
  Py_CLEAR(tf->dict);
  Py_CLEAR(tf->names);
  Py_CLEAR(tf->varargs);
  Py_CLEAR(tf->defaults);
  Py_CLEAR(tf->kwdefaults);
  tf->activity_utf8 = NULL;
  Py_CLEAR(tf->activity);
  Py_CLEAR(tf->keys);
  Py_CLEAR(tf->pickled);
  return 0;
}

static void taskfunc_dealloc(PyObject *self) {
  PyObject_GC_UnTrack(self);
  taskfunc_clear(self);
  Py_TYPE(self)->tp_free(self);
}

/* Methods bind like functions: obj.method -> a bound method of the task. */
static PyObject *taskfunc_descr_get(PyObject *self, PyObject *obj,
                                    PyObject *type) {
  (void)type;
  if (obj == NULL || obj == Py_None) {
    Py_INCREF(self);
    return self;
  }
  return PyMethod_New(self, obj);
}

/* Splits (args tuple, kwargs dict) into a vector and kwnames. */
static PyObject *call_vector(PyObject *args, PyObject *kwargs,
                             PyObject ***vec, Py_ssize_t *nargs,
                             PyObject **kwnames) {
  Py_ssize_t na = PyTuple_GET_SIZE(args);
  Py_ssize_t nk = kwargs != NULL && PyDict_Check(kwargs)
                      ? PyDict_GET_SIZE(kwargs) : 0;
  PyObject *holder = PyTuple_New(na + nk); /* owns the vector's items */
  if (holder == NULL)
    return NULL;
  PyObject *names = nk ? PyTuple_New(nk) : NULL;
  if (nk && names == NULL) {
    Py_DECREF(holder);
    return NULL;
  }
  for (Py_ssize_t i = 0; i < na; i++) {
    Py_INCREF(PyTuple_GET_ITEM(args, i));
    PyTuple_SET_ITEM(holder, i, PyTuple_GET_ITEM(args, i));
  }
  Py_ssize_t pos = 0, j = 0;
  PyObject *k, *v;
  while (nk && PyDict_Next(kwargs, &pos, &k, &v) && j < nk) {
    Py_INCREF(k);
    PyTuple_SET_ITEM(names, j, k);
    Py_INCREF(v);
    PyTuple_SET_ITEM(holder, na + j, v);
    j++;
  }
  *vec = &PyTuple_GET_ITEM(holder, 0);
  *nargs = na;
  *kwnames = names;
  return holder;
}

/* tf._begin(args, kwargs) -> handle or None: the async wrapper's begin.
 * The handle is (id, token), or (None, token) for a call not recorded. */
static PyObject *taskfunc_begin(PyObject *self, PyObject *a) {
  PyObject *args, *kwargs;
  if (!PyArg_ParseTuple(a, "O!O", &PyTuple_Type, &args, &kwargs))
    return NULL;
  PyObject **vec;
  Py_ssize_t nargs;
  PyObject *kwnames;
  PyObject *holder = call_vector(args, kwargs, &vec, &nargs, &kwnames);
  if (holder == NULL) {
    PyErr_Clear();
    Py_RETURN_NONE;
  }
  mida_id_t id;
  PyObject *token = NULL;
  int on = call_begin((TaskFunc *)self, vec, nargs, kwnames, &id, &token);
  Py_DECREF(holder);
  Py_XDECREF(kwnames);
  PyObject *h;
  if (!on) {
    token = unrecorded_begin(&id);
    h = Py_BuildValue("(ON)", Py_None,
                      token != NULL ? token : Py_NewRef(Py_None));
  } else {
    h = Py_BuildValue("(y#N)", (const char *)id.bytes, (Py_ssize_t)16,
                      token != NULL ? token : Py_NewRef(Py_None));
  }
  if (h == NULL)
    PyErr_Clear();
  return h != NULL ? h : Py_NewRef(Py_None);
}

/* Unpacks a handle made by _begin and resets the current task. Returns 1
 * with *id set when the call is recorded, else 0. */
static int handle_finish(PyObject *h, mida_id_t *id) {
  PyObject *idb, *tok;
  if (!PyTuple_Check(h) || !PyArg_ParseTuple(h, "OO", &idb, &tok)) {
    PyErr_Clear();
    return 0;
  }
  if (tok != Py_None) {
    Py_INCREF(tok);
    mida_py_current_pop(tok);
  }
  if (!PyBytes_Check(idb) || PyBytes_GET_SIZE(idb) != 16)
    return 0;
  memcpy(id->bytes, PyBytes_AS_STRING(idb), 16);
  return 1;
}

/* tf._end(handle, result): records the end of an awaited call. */
static PyObject *taskfunc_end(PyObject *self, PyObject *a) {
  (void)self;
  PyObject *h, *result;
  if (!PyArg_ParseTuple(a, "OO", &h, &result))
    return NULL;
  mida_id_t id;
  if (h != Py_None && handle_finish(h, &id) && mida_py_session != NULL)
    end_with_result(mida_py_session, &id, result);
  Py_RETURN_NONE;
}

/* tf._fail(handle, exc): records the exception of an awaited call. */
static PyObject *taskfunc_fail(PyObject *self, PyObject *a) {
  (void)self;
  PyObject *h, *exc;
  if (!PyArg_ParseTuple(a, "OO", &h, &exc))
    return NULL;
  mida_id_t id;
  if (h == Py_None || !handle_finish(h, &id) || mida_py_session == NULL ||
      !PyExceptionInstance_Check(exc))
    Py_RETURN_NONE;
  PyObject *tb = PyException_GetTraceback(exc);
  PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), Py_NewRef(exc), tb);
  end_with_exception(mida_py_session, &id);
  PyErr_Clear();
  Py_RETURN_NONE;
}

/* ---- pickling ------------------------------------------------------------ */

/* A decorated function pickles the way the function itself would, so that
 * multiprocessing, concurrent.futures and Dask take it as they take the
 * function:
 *
 *   - by reference when the TaskFunc is what the attribute of its module
 *     named by its qualified name holds (a module-level `@mida.task def
 *     f`): __reduce__ gives that name and pickle saves a reference, which
 *     the loading process resolves by importing the module, as it does for
 *     a function;
 *   - by value otherwise: TaskFunc(func, activity) with the instance's
 *     attributes (functools.update_wrapper's) as state, func pickled the
 *     way the pickler pickles that function.
 *
 * A function of __main__ (or of a module registered with cloudpickle to be
 * pickled by value) needs both: pickle, and so a multiprocessing child,
 * finds it by its name; cloudpickle, and so Dask, must send it by value,
 * since a worker's __main__ is not the client's script. A __reduce__ is
 * not told which pickler calls it, but the two treat functions apart:
 * cloudpickle pickles a function of __main__ by value, pickle by reference
 * once it has checked that the name leads back to the same object. The
 * wrapped function fails that check (its name holds the TaskFunc now), so
 * such a TaskFunc pickles as TaskFunc(copy, activity), where copy is a copy
 * of the function (the same code, globals, closure and defaults) named
 * "<qualname>.__mida_func__", the TaskFunc's attribute that holds it: pickle
 * saves it by reference, which the same script's TaskFunc resolves in a
 * child; cloudpickle saves it by value. */

/* The object that module modname's attribute path qualname names, as a
 * new reference; NULL, with no exception set, if there is none. */
static PyObject *lookup_qualname(PyObject *modname, PyObject *qualname) {
  PyObject *obj = PyImport_GetModule(modname);
  PyObject *dot = PyUnicode_FromString(".");
  PyObject *parts = dot != NULL ? PyUnicode_Split(qualname, dot, -1) : NULL;
  Py_XDECREF(dot);
  if (obj == NULL || parts == NULL)
    goto fail;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parts); i++) {
    PyObject *part = PyList_GET_ITEM(parts, i);
    if (PyUnicode_CompareWithASCIIString(part, "<locals>") == 0)
      goto fail;
    PyObject *next = PyObject_GetAttr(obj, part);
    Py_DECREF(obj);
    obj = next;
    if (obj == NULL)
      goto fail;
  }
  Py_DECREF(parts);
  return obj;
fail:
  PyErr_Clear();
  Py_XDECREF(obj);
  Py_XDECREF(parts);
  return NULL;
}

/* 1 if a function of module modname is sent by value by cloudpickle: a
 * function of __main__, or of a module (or package) registered with
 * cloudpickle.register_pickle_by_value. */
static int module_pickles_by_value(PyObject *modname) {
  if (PyUnicode_CompareWithASCIIString(modname, "__main__") == 0)
    return 1;
  PyObject *cp_name = PyUnicode_FromString("cloudpickle");
  PyObject *cp = cp_name != NULL ? PyImport_GetModule(cp_name) : NULL;
  Py_XDECREF(cp_name);
  PyObject *names =
      cp != NULL ? PyObject_CallMethod(cp, "list_registry_pickle_by_value",
                                       NULL)
                 : NULL;
  Py_XDECREF(cp);
  int found = 0;
  PyObject *name = Py_NewRef(modname);
  while (names != NULL && name != NULL && !found) {
    found = PySequence_Contains(names, name) == 1;
    Py_ssize_t dot = PyUnicode_FindChar(name, '.', 0,
                                        PyUnicode_GET_LENGTH(name), -1);
    if (dot < 0)
      break;
    PyObject *parent = PyUnicode_Substring(name, 0, dot);
    Py_DECREF(name);
    name = parent;
  }
  Py_XDECREF(name);
  Py_XDECREF(names);
  PyErr_Clear();
  return found;
}

/* 1 and the qualified name (new reference) in *name when tf pickles by
 * reference; 0 when by value, and then *copy is 1 when func is to be sent
 * as its __mida_func__ copy. Leaves no exception set. */
static int pickles_by_reference(TaskFunc *tf, PyObject **name, int *copy) {
  PyObject *self = (PyObject *)tf;
  PyObject *mod = PyObject_GetAttrString(self, "__module__");
  PyObject *qual = PyObject_GetAttrString(self, "__qualname__");
  PyErr_Clear();
  *name = NULL;
  *copy = 0;
  int by_ref = 0;
  if (mod != NULL && qual != NULL && PyUnicode_Check(mod) &&
      PyUnicode_Check(qual)) {
    PyObject *found = lookup_qualname(mod, qual);
    if (found == self) {
      if (!module_pickles_by_value(mod)) {
        by_ref = 1;
        *name = Py_NewRef(qual);
      } else {
        *copy = PyFunction_Check(tf->func);
      }
    }
    Py_XDECREF(found);
  }
  Py_XDECREF(mod);
  Py_XDECREF(qual);
  return by_ref;
}

/* A copy of the Python function func named qualname (see above), as a new
 * reference, or NULL with an exception set. */
static PyObject *function_copy(PyObject *func, PyObject *qualname) {
  PyObject *copy = PyFunction_NewWithQualName(
      PyFunction_GetCode(func), PyFunction_GetGlobals(func), qualname);
  if (copy == NULL)
    return NULL;
#define OR_NONE(o) ((o) != NULL ? (o) : Py_None)
  if (PyFunction_SetDefaults(copy, OR_NONE(PyFunction_GetDefaults(func))) <
          0 ||
      PyFunction_SetKwDefaults(copy,
                               OR_NONE(PyFunction_GetKwDefaults(func))) < 0 ||
      PyFunction_SetClosure(copy, OR_NONE(PyFunction_GetClosure(func))) < 0 ||
      PyFunction_SetAnnotations(copy,
                                OR_NONE(PyFunction_GetAnnotations(func))) < 0)
    goto fail;
#undef OR_NONE
  static const char *const attrs[] = {"__module__", "__name__", "__doc__"};
  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
    PyObject *v = PyObject_GetAttrString(func, attrs[i]);
    int rc = v != NULL ? PyObject_SetAttrString(copy, attrs[i], v) : -1;
    Py_XDECREF(v);
    if (rc < 0)
      goto fail;
  }
  PyObject *d = PyObject_GetAttrString(func, "__dict__");
  PyObject *dc = d != NULL && PyDict_Check(d) ? PyDict_Copy(d) : NULL;
  Py_XDECREF(d);
  int rc = dc != NULL ? PyObject_SetAttrString(copy, "__dict__", dc) : -1;
  Py_XDECREF(dc);
  if (rc < 0)
    goto fail;
  return copy;
fail:
  Py_DECREF(copy);
  return NULL;
}

/* tf.__mida_func__: the copy of the wrapped function that pickles by value
 * under cloudpickle and by reference under pickle; made on first use. */
static PyObject *taskfunc_pickled(PyObject *self, void *unused) {
  (void)unused;
  TaskFunc *tf = (TaskFunc *)self;
  if (tf->pickled == NULL) {
    if (!PyFunction_Check(tf->func)) {
      PyErr_SetString(PyExc_AttributeError,
                      "__mida_func__: the task wraps no Python function");
      return NULL;
    }
    PyObject *qual = PyObject_GetAttrString(self, "__qualname__");
    PyObject *name = qual != NULL && PyUnicode_Check(qual)
                         ? PyUnicode_FromFormat("%U.__mida_func__", qual)
                         : NULL;
    Py_XDECREF(qual);
    if (name == NULL) {
      if (!PyErr_Occurred())
        PyErr_SetString(PyExc_AttributeError,
                        "__mida_func__: the task has no __qualname__");
      return NULL;
    }
    tf->pickled = function_copy(tf->func, name);
    Py_DECREF(name);
    if (tf->pickled == NULL)
      return NULL;
  }
  return Py_NewRef(tf->pickled);
}

/* pickle's __reduce__: the qualified name (by reference), or
 * (TaskFunc, (func, activity), attributes) (by value); see above. */
static PyObject *taskfunc_reduce(PyObject *self, PyObject *unused) {
  (void)unused;
  TaskFunc *tf = (TaskFunc *)self;
  PyObject *name;
  int copy;
  if (pickles_by_reference(tf, &name, &copy))
    return name;
  PyObject *func = copy ? taskfunc_pickled(self, NULL) : Py_NewRef(tf->func);
  if (func == NULL)
    return NULL;
  PyObject *state = tf->dict != NULL ? PyDict_Copy(tf->dict) : NULL;
  if (tf->dict != NULL &&
      (state == NULL ||
       (PyDict_GetItemString(state, "__wrapped__") != NULL &&
        PyDict_SetItemString(state, "__wrapped__", func) < 0))) {
    Py_XDECREF(state);
    Py_DECREF(func);
    return NULL;
  }
  return Py_BuildValue("(O(NO)N)", (PyObject *)Py_TYPE(self), func,
                       tf->activity, state != NULL ? state
                                                   : Py_NewRef(Py_None));
}

/* Dask's token (dask.base.tokenize): deterministic, the same in every
 * process: the module and qualified name of a task pickled by reference,
 * else Dask's token of the wrapped function. Only Dask calls it. */
static PyObject *taskfunc_dask_tokenize(PyObject *self, PyObject *unused) {
  (void)unused;
  TaskFunc *tf = (TaskFunc *)self;
  PyObject *name;
  int copy;
  if (pickles_by_reference(tf, &name, &copy)) {
    PyObject *mod = PyObject_GetAttrString(self, "__module__");
    if (mod == NULL) {
      Py_DECREF(name);
      return NULL;
    }
    return Py_BuildValue("(sNNO)", "mida.task", mod, name, tf->activity);
  }
  PyObject *base = PyImport_ImportModule("dask.base");
  PyObject *tok = base != NULL ? PyObject_CallMethod(base, "normalize_token",
                                                     "O", tf->func)
                               : NULL;
  Py_XDECREF(base);
  if (tok == NULL)
    return NULL;
  return Py_BuildValue("(sON)", "mida.task", tf->activity, tok);
}

static PyMethodDef taskfunc_methods[] = {
    {"_begin", taskfunc_begin, METH_VARARGS, NULL},
    {"_end", taskfunc_end, METH_VARARGS, NULL},
    {"_fail", taskfunc_fail, METH_VARARGS, NULL},
    {"__reduce__", taskfunc_reduce, METH_NOARGS, NULL},
    {"__dask_tokenize__", taskfunc_dask_tokenize, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef taskfunc_members[] = {
    {"activity", T_OBJECT, offsetof(TaskFunc, activity), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef taskfunc_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL,
     NULL},
    {"__mida_func__", taskfunc_pickled, NULL,
     "the wrapped function's copy that a task of __main__ pickles as",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject mida_py_TaskFuncType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mida._mida.TaskFunc",
    .tp_basicsize = sizeof(TaskFunc),
    .tp_dealloc = taskfunc_dealloc,
    .tp_vectorcall_offset = offsetof(TaskFunc, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
                Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "A function whose calls are recorded as mida tasks.",
    .tp_traverse = taskfunc_traverse,
    .tp_clear = taskfunc_clear,
    .tp_methods = taskfunc_methods,
    .tp_members = taskfunc_members,
    .tp_getset = taskfunc_getset,
    .tp_descr_get = taskfunc_descr_get,
    .tp_dictoffset = offsetof(TaskFunc, dict),
    .tp_new = taskfunc_new,
};

/*
 * _mida.c -- the C extension module behind the Python package `mida`.
 *
 * It sits on the public C API (include/mida.h) and on two internals: the
 * session's hand-built records (mida__session_put, for the Dask plugins,
 * which know their own ids) and the sink's read-only query interface (for
 * mida.query). What it holds:
 *
 * - one session per process, opened lazily from the MIDA_* environment on
 *   first use, closed by mida.__init__'s atexit hook; after fork() the child
 *   opens its own (a journal and a shipper thread do not survive fork);
 * - the `TaskFunc` type that @mida.task returns for a plain function: a
 *   vectorcall callable that binds the call's arguments to parameter names
 *   (precomputed at decoration), writes them as JSON straight into a buffer
 *   (value.c), records the task's begin and end around the call, and hands
 *   the result or the exception back untouched;
 * - the `TaskMeter` type, which the Dask worker plugin puts around a task's
 *   function on the worker: it takes the per-task telemetry snapshots
 *   (src/telemetry/telemetry.h) around the call on the thread that runs it
 *   and records the summary as the TELEMETRY field of the task's id;
 * - the "current task", a context variable, so that nested tasks (also
 *   across await) get their parent and mida.metric() knows its task;
 * - module functions for workflows, data, metrics, queries, flushing and
 *   raw records.
 *
 * Nothing here prints. Capture never changes what the user's function
 * returns or raises; when recording fails (no store, full journal), the call
 * still runs and the failure is counted in mida.stats()["capture_errors"].
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "dask_args.h"
#include "value.h"

#include "api/session.h"
#include "core/host.h"
#include "core/id.h"
#include "core/json.h"
#include "core/record.h"
#include "mida.h"
#include "telemetry/telemetry.h"
#include "sink/sink.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The exception now set, taken and put back whole: PyErr_Fetch is
 * deprecated from Python 3.12 on, PyErr_GetRaisedException new in it. */
typedef struct saved_exc {
  PyObject *type, *value, *tb;
} saved_exc;

static saved_exc exc_take(void) {
  saved_exc e = {NULL, NULL, NULL};
#if PY_VERSION_HEX >= 0x030C0000
  e.value = PyErr_GetRaisedException();
#else
  PyErr_Fetch(&e.type, &e.value, &e.tb);
#endif
  return e;
}

static void exc_put_back(saved_exc e) {
#if PY_VERSION_HEX >= 0x030C0000
  PyErr_SetRaisedException(e.value);
#else
  PyErr_Restore(e.type, e.value, e.tb);
#endif
}

/* ---- the process's session ---------------------------------------------- */

static mida_session_t *g_session;   /* open session, or NULL */
static int g_open_failed;           /* 1 after a failed open: do not retry */
static char g_open_error[512];      /* why it failed */
static mida_id_t g_inherited_wf;    /* workflow of the parent before fork */
static unsigned long long g_capture_errors; /* records that could not be made */
static PyObject *g_error;           /* mida.Error */
static PyObject *g_current;         /* ContextVar: the current task (bytes) */
static PyObject *g_field_tags;      /* dict: field name -> tag */

static void after_fork_child(void) {
  /* The parent's session belongs to the parent: its shipper thread is gone
   * here. Remember the default workflow and open a new session lazily. */
  if (g_session != NULL)
    g_inherited_wf = mida__shared_id_load(&g_session->workflow);
  g_session = NULL;
  g_open_failed = 0;
}

/* The session, opened on first use; NULL when the store cannot be opened
 * (then capture is off for this process and mida.status() says why). */
static mida_session_t *session_get(void) {
  if (g_session != NULL || g_open_failed)
    return g_session;
  mida_config_t cfg;
  mida_config_init(&cfg);
  mida_session_t *s = NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mida_open(&cfg, &s, g_open_error, sizeof g_open_error);
  Py_END_ALLOW_THREADS
  if (rc != MIDA_OK) {
    g_open_failed = 1;
    PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                     "mida: cannot open the store (%s); nothing is recorded",
                     g_open_error);
    PyErr_Clear(); /* a warning turned into an error must not escape */
    return NULL;
  }
  if (!mida_id_is_nil(&g_inherited_wf) && cfg.workflow == NULL)
    mida__shared_id_store(&s->workflow, &g_inherited_wf);
  g_session = s;
  return s;
}

/* The session for a capture call: NULL if nothing is to be recorded. */
static mida_session_t *session_for_capture(void) {
  mida_session_t *s = g_session != NULL ? g_session : session_get();
  return (s != NULL && !s->disabled) ? s : NULL;
}

/* The session for an explicit API call: raises mida.Error if none. */
static mida_session_t *session_or_raise(void) {
  mida_session_t *s = session_get();
  if (s == NULL && !PyErr_Occurred())
    PyErr_Format(g_error, "no mida session: %s", g_open_error);
  return s;
}

static PyObject *raise_rc(int rc) {
  PyErr_Format(g_error, "%s: %s", mida_strerror(rc), mida_errmsg(g_session));
  return NULL;
}

/* ---- ids ---------------------------------------------------------------- */

static PyObject *id_to_str(const mida_id_t *id) {
  char buf[MIDA_ID_STRLEN];
  mida_id_format(id, buf);
  return PyUnicode_FromStringAndSize(buf, MIDA_ID_STRLEN - 1);
}

/* Parses a str id (or 16 bytes) into *out. Returns 0, or -1 with an
 * exception set. */
static int id_from_obj(PyObject *o, mida_id_t *out) {
  if (PyBytes_Check(o) && PyBytes_GET_SIZE(o) == 16) {
    memcpy(out->bytes, PyBytes_AS_STRING(o), 16);
    return 0;
  }
  const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
  if (s == NULL || mida_id_parse(s, out) != MIDA_OK) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "not a mida id: %R", o);
    return -1;
  }
  return 0;
}

/* The current task from the context variable; 1 if there is one. */
static int current_task(mida_id_t *out) {
  PyObject *v = NULL;
  if (PyContextVar_Get(g_current, NULL, &v) < 0) {
    PyErr_Clear();
    return 0;
  }
  if (v == NULL)
    return 0;
  int ok = PyBytes_Check(v) && PyBytes_GET_SIZE(v) == 16;
  if (ok)
    memcpy(out->bytes, PyBytes_AS_STRING(v), 16);
  Py_DECREF(v);
  return ok;
}

/* Makes id the current task; returns the token to reset with, or NULL. */
static PyObject *current_push(const mida_id_t *id) {
  PyObject *b = PyBytes_FromStringAndSize((const char *)id->bytes, 16);
  if (b == NULL) {
    PyErr_Clear();
    return NULL;
  }
  PyObject *tok = PyContextVar_Set(g_current, b);
  Py_DECREF(b);
  if (tok == NULL)
    PyErr_Clear();
  return tok;
}

static void current_pop(PyObject *tok) {
  if (tok == NULL)
    return;
  /* Called with the user's exception possibly set: keep it. */
  saved_exc e = exc_take();
  if (PyContextVar_Reset(g_current, tok) < 0)
    PyErr_Clear();
  exc_put_back(e);
  Py_DECREF(tok);
}

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
  mida_status_t st = MIDA_STATUS_ERROR;
  if (et != NULL && !PyErr_GivenExceptionMatches(et, PyExc_Exception))
    st = MIDA_STATUS_CANCELLED; /* KeyboardInterrupt, CancelledError, ... */
  PyObject *text = et != NULL ? error_text(et, ev, etb) : NULL;
  const char *t = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
  if (t == NULL)
    PyErr_Clear();
  if (mida_task_end(s, id, st, NULL, t != NULL ? t : "unknown error") !=
      MIDA_OK)
    g_capture_errors++;
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
    g_capture_errors++;
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
    put_arg(w, &first, PyTuple_GET_ITEM(tf->names, i), args[i]);
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
    put_arg(w, &first, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]);
  /* Defaults of positional parameters not given. */
  Py_ssize_t ndef = tf->defaults != NULL ? PyTuple_GET_SIZE(tf->defaults) : 0;
  for (Py_ssize_t i = nargs; i < npos; i++) {
    Py_ssize_t d = i - (npos - ndef);
    PyObject *name = PyTuple_GET_ITEM(tf->names, i);
    if (d >= 0 && !in_kwnames(name, kwnames))
      put_arg(w, &first, name, PyTuple_GET_ITEM(tf->defaults, d));
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
        put_arg(w, &first, name, dv);
    }
  }
  mida_py_json_raw(w, "}", 1);
}

/* Records a task's begin for a call. Returns 1 and fills *id and *token
 * when the call is recorded, 0 when it is not (no session, or a failure,
 * counted). Leaves no exception set. */
static int call_begin(TaskFunc *tf, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames, mida_id_t *id, PyObject **token) {
  mida_session_t *s = session_for_capture();
  if (s == NULL)
    return 0;
  mida_py_json w;
  mida_py_json_init(&w);
  encode_used(&w, tf, args, nargs, kwnames);
  const char *used = mida_py_json_end(&w);
  mida_id_t parent;
  int has_parent = current_task(&parent);
  mida_task_info_t info = {0};
  info.activity = PyUnicode_AsUTF8(tf->activity);
  info.used = used;
  info.parent = has_parent ? &parent : NULL;
  int rc = mida_task_begin(s, &info, id);
  if (rc == MIDA_ETOOBIG || rc == MIDA_EJSON) {
    /* The caps allow a record the journal cannot take: keep the task. */
    info.used = "{\"_mida\":\"arguments too large to record\"}";
    rc = mida_task_begin(s, &info, id);
  }
  mida_py_json_free(&w);
  PyErr_Clear();
  if (rc != MIDA_OK) {
    g_capture_errors++;
    return 0;
  }
  *token = current_push(id);
  return 1;
}

static PyObject *taskfunc_vectorcall(PyObject *self, PyObject *const *args,
                                     size_t nargsf, PyObject *kwnames) {
  TaskFunc *tf = (TaskFunc *)self;
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  mida_id_t id;
  PyObject *token = NULL;
  if (!call_begin(tf, args, nargs, kwnames, &id, &token))
    return PyObject_Vectorcall(tf->func, args, nargsf, kwnames);
  PyObject *res = PyObject_Vectorcall(tf->func, args, nargsf, kwnames);
  current_pop(token);
  mida_session_t *s = g_session;
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

static PyObject *taskfunc_new(PyTypeObject *type, PyObject *args,
                              PyObject *kwargs) {
  static char *kwlist[] = {"func", "name", NULL};
  PyObject *func, *name = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:TaskFunc", kwlist,
                                   &func, &name))
    return NULL;
  if (!PyCallable_Check(func)) {
    PyErr_SetString(PyExc_TypeError, "mida.task needs a callable");
    return NULL;
  }
  TaskFunc *tf = (TaskFunc *)type->tp_alloc(type, 0);
  if (tf == NULL)
    return NULL;
  tf->vectorcall = taskfunc_vectorcall;
  Py_INCREF(func);
  tf->func = func;
  if (name != Py_None) {
    if (!PyUnicode_Check(name)) {
      PyErr_SetString(PyExc_TypeError, "name must be a str");
      Py_DECREF(tf);
      return NULL;
    }
    Py_INCREF(name);
    tf->activity = name;
  } else {
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
  if (tf->activity == NULL || PyUnicode_AsUTF8(tf->activity) == NULL ||
      taskfunc_bind_signature(tf, func) < 0) {
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
  Py_CLEAR(tf->activity);
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

/* tf._begin(args, kwargs) -> handle or None: the async wrapper's begin. */
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
  if (!on)
    Py_RETURN_NONE;
  PyObject *h = Py_BuildValue("(y#N)", (const char *)id.bytes, (Py_ssize_t)16,
                              token != NULL ? token : Py_NewRef(Py_None));
  if (h == NULL)
    PyErr_Clear();
  return h != NULL ? h : Py_NewRef(Py_None);
}

/* Unpacks a handle made by _begin, resets the current task. */
static int handle_finish(PyObject *h, mida_id_t *id) {
  PyObject *idb, *tok;
  if (!PyTuple_Check(h) || !PyArg_ParseTuple(h, "SO", &idb, &tok) ||
      PyBytes_GET_SIZE(idb) != 16) {
    PyErr_Clear();
    return 0;
  }
  memcpy(id->bytes, PyBytes_AS_STRING(idb), 16);
  if (tok != Py_None) {
    Py_INCREF(tok);
    current_pop(tok);
  }
  return 1;
}

/* tf._end(handle, result): records the end of an awaited call. */
static PyObject *taskfunc_end(PyObject *self, PyObject *a) {
  (void)self;
  PyObject *h, *result;
  if (!PyArg_ParseTuple(a, "OO", &h, &result))
    return NULL;
  mida_id_t id;
  if (h != Py_None && handle_finish(h, &id) && g_session != NULL)
    end_with_result(g_session, &id, result);
  Py_RETURN_NONE;
}

/* tf._fail(handle, exc): records the exception of an awaited call. */
static PyObject *taskfunc_fail(PyObject *self, PyObject *a) {
  (void)self;
  PyObject *h, *exc;
  if (!PyArg_ParseTuple(a, "OO", &h, &exc))
    return NULL;
  mida_id_t id;
  if (h == Py_None || !handle_finish(h, &id) || g_session == NULL ||
      !PyExceptionInstance_Check(exc))
    Py_RETURN_NONE;
  PyObject *tb = PyException_GetTraceback(exc);
  PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), Py_NewRef(exc), tb);
  end_with_exception(g_session, &id);
  PyErr_Clear();
  Py_RETURN_NONE;
}

static PyMethodDef taskfunc_methods[] = {
    {"_begin", taskfunc_begin, METH_VARARGS, NULL},
    {"_end", taskfunc_end, METH_VARARGS, NULL},
    {"_fail", taskfunc_fail, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef taskfunc_members[] = {
    {"activity", T_OBJECT, offsetof(TaskFunc, activity), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef taskfunc_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL,
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject TaskFuncType = {
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

/* ---- TaskMeter: per-task resource use around a Dask task's function ----- */

/* The Dask worker plugin sees a task start and end on the worker's
 * event-loop thread, which is not the thread that runs it; it puts a
 * TaskMeter around the task's function instead, so that the work happens
 * on the executing thread, in C, off the event loop: the begin and end
 * snapshots of the telemetry and, when the plugin handed over the run spec
 * (args=...), the call's arguments by parameter name (dask_args.h) and its
 * result as {"return": value}. All of it is one TASK record (ID, USED,
 * GENERATED, TELEMETRY, WORKER, PID), which the store merges into the
 * task's row. The call's arguments, result and exception pass through
 * untouched. */
typedef struct TaskMeter {
  PyObject_HEAD
  vectorcallfunc vectorcall; /* taskmeter_vectorcall */
  PyObject *func;            /* the wrapped callable */
  mida_id_t id;              /* the task the record belongs to */
  mida_py_dask_spec spec;    /* run spec; spec.args NULL: telemetry only */
  PyObject *worker;          /* worker address (str), or NULL */
} TaskMeter;

static unsigned long long g_meter_calls;    /* calls that were measured */
static unsigned long long g_meter_no_summary; /* ... that gave no summary */

/* The TASK record of a metered call that returned res (NULL: raised, with
 * the exception set, which it leaves as it was). */
static void taskmeter_record(TaskMeter *tm, mida_session_t *s,
                             PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames, PyObject *res,
                             const char *telemetry, size_t telemetry_len) {
  mida__rec rec;
  memset(&rec, 0, sizeof rec);
  rec.type = MIDA_REC_TASK;
  mida__rec_set_id(&rec, MIDA_F_ID, &tm->id);
  if (telemetry_len > 0)
    mida__rec_set_str(&rec, MIDA_F_TELEMETRY, telemetry, telemetry_len);
  mida_py_json used, gen;
  mida_py_json_init(&used);
  mida_py_json_init(&gen);
  if (tm->spec.args != NULL) {
    saved_exc exc = exc_take(); /* the call's exception, if it raised */
    mida_py_dask_used(&used, &tm->spec, tm->func, args, nargs, kwnames);
    if (mida_py_json_end(&used) != NULL)
      mida__rec_set_str(&rec, MIDA_F_USED, used.p, used.len);
    if (res != NULL) {
      mida_py_json_raw(&gen, "{\"return\":", 10);
      mida_py_json_value(&gen, res, 1);
      mida_py_json_raw(&gen, "}", 1);
      if (mida_py_json_end(&gen) != NULL)
        mida__rec_set_str(&rec, MIDA_F_GENERATED, gen.p, gen.len);
    }
    const char *worker =
        tm->worker != NULL ? PyUnicode_AsUTF8(tm->worker) : NULL;
    if (worker != NULL)
      mida__rec_set_str(&rec, MIDA_F_WORKER, worker, strlen(worker));
    mida__rec_set_i64(&rec, MIDA_F_PID, (int64_t)getpid());
    PyErr_Clear();
    exc_put_back(exc);
  }
  int rc = mida__session_put(s, &rec);
  if (rc == MIDA_ETOOBIG && tm->spec.args != NULL) {
    /* Arguments or result too large for a record: keep the rest. */
    mida__rec_set_str(&rec, MIDA_F_USED,
                      "{\"_mida\":\"arguments too large to record\"}",
                      (size_t)-1);
    if (res != NULL)
      mida__rec_set_str(&rec, MIDA_F_GENERATED,
                        "{\"_mida\":\"result too large to record\"}",
                        (size_t)-1);
    rc = mida__session_put(s, &rec);
  }
  if (rc != MIDA_OK)
    g_capture_errors++; /* a pure C call: the exception, if any, stays */
  mida_py_json_free(&used);
  mida_py_json_free(&gen);
}

static PyObject *taskmeter_vectorcall(PyObject *self, PyObject *const *args,
                                      size_t nargsf, PyObject *kwnames) {
  TaskMeter *tm = (TaskMeter *)self;
  mida_session_t *s = session_for_capture();
  int level = s != NULL ? s->telemetry_task : 0;
  if (s == NULL || (level <= 0 && tm->spec.args == NULL))
    return PyObject_Vectorcall(tm->func, args, nargsf, kwnames);
  if (level > 0)
    mida__telemetry_task_begin(level, &tm->id);
  PyObject *res = PyObject_Vectorcall(tm->func, args, nargsf, kwnames);
  char buf[MIDA_TELEMETRY_JSON_MAX];
  size_t n = 0;
  if (level > 0) {
    n = mida__telemetry_task_end(level, &tm->id, buf, sizeof buf);
    g_meter_calls++;
    if (n == 0)
      g_meter_no_summary++;
  }
  s = g_session; /* closed during the call: nothing to write to */
  if (s != NULL && (n > 0 || tm->spec.args != NULL))
    taskmeter_record(tm, s, args, PyVectorcall_NARGS(nargsf), kwnames, res,
                     buf, n);
  return res;
}

static PyObject *none_to_null(PyObject *o) {
  return o == NULL || o == Py_None ? NULL : Py_NewRef(o);
}

static PyObject *taskmeter_new(PyTypeObject *type, PyObject *args,
                               PyObject *kwargs) {
  static char *kwlist[] = {"func", "task",  "args",   "kwargs",
                           "deps", "names", "worker", NULL};
  PyObject *func, *task, *sargs = NULL, *skw = NULL, *deps = NULL;
  PyObject *names = NULL, *worker = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OOOOO:TaskMeter", kwlist,
                                   &func, &task, &sargs, &skw, &deps, &names,
                                   &worker))
    return NULL;
  if (!PyCallable_Check(func)) {
    PyErr_SetString(PyExc_TypeError, "TaskMeter needs a callable");
    return NULL;
  }
  if ((sargs != NULL && sargs != Py_None && !PyTuple_Check(sargs)) ||
      (skw != NULL && skw != Py_None && !PyDict_Check(skw)) ||
      (deps != NULL && deps != Py_None && !PyAnySet_Check(deps)) ||
      (names != NULL && names != Py_None && !PyTuple_Check(names)) ||
      (worker != NULL && worker != Py_None && !PyUnicode_Check(worker))) {
    PyErr_SetString(PyExc_TypeError,
                    "TaskMeter: args must be a tuple, kwargs a dict, deps a "
                    "set, names a tuple and worker a str");
    return NULL;
  }
  mida_id_t id;
  if (id_from_obj(task, &id) < 0)
    return NULL;
  TaskMeter *tm = (TaskMeter *)type->tp_alloc(type, 0);
  if (tm == NULL)
    return NULL;
  tm->vectorcall = taskmeter_vectorcall;
  tm->func = Py_NewRef(func);
  tm->id = id;
  tm->spec.args = none_to_null(sargs);
  tm->spec.kwargs = none_to_null(skw);
  tm->spec.deps = none_to_null(deps);
  tm->spec.names = none_to_null(names);
  tm->worker = none_to_null(worker);
  return (PyObject *)tm;
}

static int taskmeter_traverse(PyObject *self, visitproc visit, void *arg) {
  TaskMeter *tm = (TaskMeter *)self;
  Py_VISIT(tm->func);
  Py_VISIT(tm->spec.args);
  Py_VISIT(tm->spec.kwargs);
  Py_VISIT(tm->spec.deps);
  Py_VISIT(tm->spec.names);
  Py_VISIT(tm->worker);
  return 0;
}

static int taskmeter_clear(PyObject *self) {
  TaskMeter *tm = (TaskMeter *)self;
  Py_CLEAR(tm->func);
  Py_CLEAR(tm->spec.args);
  Py_CLEAR(tm->spec.kwargs);
  Py_CLEAR(tm->spec.deps);
  Py_CLEAR(tm->spec.names);
  Py_CLEAR(tm->worker);
  return 0;
}

static void taskmeter_dealloc(PyObject *self) {
  PyObject_GC_UnTrack(self);
  taskmeter_clear(self);
  Py_TYPE(self)->tp_free(self);
}

/* Pickles as TaskMeter(func, task, ...): a process executor measures
 * there. */
static PyObject *taskmeter_reduce(PyObject *self, PyObject *unused) {
  (void)unused;
  TaskMeter *tm = (TaskMeter *)self;
#define OR_NONE(o) ((o) != NULL ? (o) : Py_None)
  return Py_BuildValue("(O(Oy#OOOOO))", (PyObject *)Py_TYPE(self), tm->func,
                       (const char *)tm->id.bytes, (Py_ssize_t)16,
                       OR_NONE(tm->spec.args), OR_NONE(tm->spec.kwargs),
                       OR_NONE(tm->spec.deps), OR_NONE(tm->spec.names),
                       OR_NONE(tm->worker));
#undef OR_NONE
}

/* __name__ and friends come from the wrapped function (dask.utils.funcname,
 * logs). */
static PyObject *taskmeter_getattro(PyObject *self, PyObject *name) {
  PyObject *r = PyObject_GenericGetAttr(self, name);
  if (r != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError))
    return r;
  PyErr_Clear();
  return PyObject_GetAttr(((TaskMeter *)self)->func, name);
}

static PyObject *taskmeter_task(PyObject *self, void *unused) {
  (void)unused;
  return id_to_str(&((TaskMeter *)self)->id);
}

static PyMethodDef taskmeter_methods[] = {
    {"__reduce__", taskmeter_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef taskmeter_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(TaskMeter, func), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef taskmeter_getset[] = {
    {"task", taskmeter_task, NULL, "the id of the measured task", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject TaskMeterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mida._mida.TaskMeter",
    .tp_basicsize = sizeof(TaskMeter),
    .tp_dealloc = taskmeter_dealloc,
    .tp_vectorcall_offset = offsetof(TaskMeter, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_getattro = taskmeter_getattro,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
                Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "TaskMeter(func, task): calls func, recording the thread's "
              "resource use during the call as the telemetry of task.",
    .tp_traverse = taskmeter_traverse,
    .tp_clear = taskmeter_clear,
    .tp_methods = taskmeter_methods,
    .tp_members = taskmeter_members,
    .tp_getset = taskmeter_getset,
    .tp_new = taskmeter_new,
};

/* ---- workflows, data, metrics ------------------------------------------- */

/* JSON object text for an optional dict argument into w; returns the text,
 * NULL for None, or sets *bad for a non-dict. */
static const char *json_obj_arg(mida_py_json *w, PyObject *o, int *bad) {
  if (o == NULL || o == Py_None)
    return NULL;
  if (!PyDict_Check(o)) {
    *bad = 1;
    PyErr_SetString(PyExc_TypeError, "a dict was expected");
    return NULL;
  }
  mida_py_json_value(w, o, 0);
  if (w->len > 0 && w->p[0] != '{') { /* a dict past max_depth: summary */
    w->len = 0;
    mida_py_json_raw(w, "{}", 2);
  }
  return mida_py_json_end(w);
}

static PyObject *mod_workflow_begin(PyObject *m, PyObject *args,
                                    PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"name", "campaign", "metadata", "source",
                           "set_default", NULL};
  const char *name = NULL, *campaign = NULL, *source = NULL;
  PyObject *meta = Py_None;
  int set_default = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "z|zOzp", kwlist, &name,
                                   &campaign, &meta, &source, &set_default))
    return NULL;
  mida_session_t *s = session_or_raise();
  if (s == NULL)
    return NULL;
  mida_py_json w;
  mida_py_json_init(&w);
  int bad = 0;
  const char *md = json_obj_arg(&w, meta, &bad);
  if (bad) {
    mida_py_json_free(&w);
    return NULL;
  }
  mida_id_t prev = mida__shared_id_load(&s->workflow);
  mida_workflow_info_t info = {0};
  info.name = name;
  info.campaign = campaign;
  info.source = source;
  info.metadata = md;
  info.parent = mida_id_is_nil(&prev) ? NULL : &prev;
  mida_id_t id;
  int rc = mida_workflow_begin(s, &info, &id);
  mida_py_json_free(&w);
  if (rc != MIDA_OK)
    return raise_rc(rc);
  if (!set_default) {
    pthread_mutex_lock(&s->workflow_lock);
    mida__shared_id_store(&s->workflow, &prev);
    pthread_mutex_unlock(&s->workflow_lock);
  }
  PyObject *ids = id_to_str(&id);
  PyObject *prevs = mida_id_is_nil(&prev) ? Py_NewRef(Py_None)
                                          : id_to_str(&prev);
  return Py_BuildValue("(NN)", ids, prevs);
}

static PyObject *mod_workflow_end(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *ido, *prevo = Py_None;
  int status = MIDA_STATUS_FINISHED;
  if (!PyArg_ParseTuple(args, "O|iO", &ido, &status, &prevo))
    return NULL;
  mida_session_t *s = session_or_raise();
  mida_id_t id, prev = {{0}};
  if (s == NULL || id_from_obj(ido, &id) < 0 ||
      (prevo != Py_None && id_from_obj(prevo, &prev) < 0))
    return NULL;
  int rc = mida_workflow_end(s, &id, (mida_status_t)status);
  if (rc != MIDA_OK)
    return raise_rc(rc);
  /* The ended workflow stops being the default, unless another one took
   * its place meanwhile. */
  pthread_mutex_lock(&s->workflow_lock);
  mida_id_t cur = mida__shared_id_load(&s->workflow);
  if (memcmp(&cur, &id, sizeof id) == 0)
    mida__shared_id_store(&s->workflow, &prev);
  pthread_mutex_unlock(&s->workflow_lock);
  Py_RETURN_NONE;
}

/* The task an explicit call refers to: task= or the current one. */
static int target_task(PyObject *task, mida_id_t *out, int required) {
  if (task != NULL && task != Py_None)
    return id_from_obj(task, out) < 0 ? -1 : 1;
  if (current_task(out))
    return 1;
  if (required) {
    PyErr_SetString(g_error, "no current task: call this inside a "
                             "@mida.task function or pass task=");
    return -1;
  }
  return 0;
}

static PyObject *mod_metric(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"key", "value", "step", "task", NULL};
  const char *key;
  double value;
  PyObject *stepo = Py_None, *task = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "sd|OO", kwlist, &key, &value,
                                   &stepo, &task))
    return NULL;
  long long step = -1;
  if (stepo != Py_None) {
    step = PyLong_AsLongLong(stepo);
    if (step == -1 && PyErr_Occurred())
      return NULL;
    if (step < 0) {
      PyErr_SetString(PyExc_ValueError, "step must be >= 0");
      return NULL;
    }
  }
  mida_id_t t;
  if (target_task(task, &t, 1) < 0)
    return NULL;
  mida_session_t *s = session_for_capture();
  if (s == NULL)
    Py_RETURN_NONE;
  int rc = mida_metric(s, &t, key, step, 0, value);
  if (rc != MIDA_OK)
    return raise_rc(rc);
  Py_RETURN_NONE;
}

static PyObject *mod_data(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"uri", "role", "kind", "digest", "size", "name",
                           "metadata", "task", NULL};
  const char *uri, *role = "used", *kind = NULL, *digest = NULL, *name = NULL;
  long long size = -1;
  PyObject *meta = Py_None, *task = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "s|szzLzOO", kwlist, &uri, &role,
                                   &kind, &digest, &size, &name, &meta,
                                   &task))
    return NULL;
  mida_role_t r;
  if (strcmp(role, "used") == 0 || strcmp(role, "input") == 0)
    r = MIDA_USED;
  else if (strcmp(role, "generated") == 0 || strcmp(role, "output") == 0)
    r = MIDA_GENERATED;
  else {
    PyErr_Format(PyExc_ValueError,
                 "role must be 'used' or 'generated', not '%s'", role);
    return NULL;
  }
  mida_id_t t;
  int has = target_task(task, &t, 0);
  if (has < 0)
    return NULL;
  mida_py_json w;
  mida_py_json_init(&w);
  int bad = 0;
  const char *md = json_obj_arg(&w, meta, &bad);
  if (bad) {
    mida_py_json_free(&w);
    return NULL;
  }
  mida_session_t *s = session_for_capture();
  int rc = MIDA_OK;
  if (s != NULL) {
    mida_data_info_t d = {0};
    d.kind = kind;
    d.uri = uri;
    d.digest = digest;
    d.size = size;
    d.name = name;
    d.metadata = md;
    rc = mida_data(s, has ? &t : NULL, r, &d);
  }
  mida_py_json_free(&w);
  if (rc != MIDA_OK)
    return raise_rc(rc);
  Py_RETURN_NONE;
}

/* ---- raw records (the Dask plugins) -------------------------------------- */

static int is_json_tag(long tag) {
  return tag == MIDA_F_USED || tag == MIDA_F_GENERATED ||
         tag == MIDA_F_CUSTOM || tag == MIDA_F_METADATA ||
         tag == MIDA_F_TELEMETRY;
}

#define PUT_MAX_JSON 5

/* put(rectype, **fields): appends a record built from keyword fields named
 * as in src/core/record.h (id, workflow, activity, used, ...). Ids are str
 * or 16 bytes; JSON fields are dicts (captured in C) or JSON object text
 * (checked). Returns True if recorded, False if capture is off. */
static PyObject *mod_put(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  int type;
  if (!PyArg_ParseTuple(args, "i", &type))
    return NULL;
  if (type <= MIDA_REC_PAD || type >= MIDA_REC_TYPE_COUNT) {
    PyErr_Format(PyExc_ValueError, "unknown record type %d", type);
    return NULL;
  }
  mida_session_t *s = session_for_capture();
  if (s == NULL)
    Py_RETURN_FALSE;
  mida__rec rec;
  memset(&rec, 0, sizeof rec);
  rec.type = (uint16_t)type;
  mida_py_json js[PUT_MAX_JSON];
  int njs = 0;
  PyObject *ret = NULL;
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  while (kw != NULL && PyDict_Next(kw, &pos, &k, &v)) {
    if (v == Py_None)
      continue;
    PyObject *tago = PyDict_GetItemWithError(g_field_tags, k);
    if (tago == NULL) {
      if (!PyErr_Occurred())
        PyErr_Format(PyExc_TypeError, "unknown record field %R", k);
      goto out;
    }
    long tag = PyLong_AsLong(tago);
    switch (mida__field_kind((unsigned)tag)) {
    case MIDA_KIND_ID: {
      mida_id_t id;
      if (id_from_obj(v, &id) < 0)
        goto out;
      mida__rec_set_id(&rec, (unsigned)tag, &id);
      break;
    }
    case MIDA_KIND_I64: {
      long long n = PyLong_AsLongLong(v);
      if (n == -1 && PyErr_Occurred())
        goto out;
      mida__rec_set_i64(&rec, (unsigned)tag, n);
      break;
    }
    case MIDA_KIND_F64: {
      double d = PyFloat_AsDouble(v);
      if (d == -1.0 && PyErr_Occurred())
        goto out;
      mida__rec_set_f64(&rec, (unsigned)tag, d);
      break;
    }
    case MIDA_KIND_STR: {
      if (is_json_tag(tag) && !PyUnicode_Check(v)) {
        if (njs == PUT_MAX_JSON) {
          PyErr_SetString(PyExc_ValueError, "too many JSON fields");
          goto out;
        }
        mida_py_json *w = &js[njs++];
        mida_py_json_init(w);
        int bad = 0;
        const char *t = json_obj_arg(w, v, &bad);
        if (bad || t == NULL) {
          if (!bad)
            PyErr_NoMemory();
          goto out;
        }
        mida__rec_set_str(&rec, (unsigned)tag, w->p, w->len);
        break;
      }
      Py_ssize_t n;
      const char *t = PyUnicode_Check(v) ? PyUnicode_AsUTF8AndSize(v, &n)
                                         : NULL;
      if (t == NULL) {
        if (!PyErr_Occurred())
          PyErr_Format(PyExc_TypeError, "field %R must be a str", k);
        goto out;
      }
      size_t where = 0;
      if (is_json_tag(tag) &&
          mida__json_check(t, (size_t)n, true, &where) != MIDA_OK) {
        PyErr_Format(PyExc_ValueError,
                     "field %R is not a JSON object (error at byte %zu)", k,
                     where);
        goto out;
      }
      mida__rec_set_str(&rec, (unsigned)tag, t, (size_t)n);
      break;
    }
    default:
      PyErr_Format(PyExc_TypeError, "unknown record field %R", k);
      goto out;
    }
  }
  int rc = mida__session_put(s, &rec);
  if (rc != MIDA_OK) {
    g_capture_errors++;
    ret = Py_NewRef(Py_False);
  } else {
    ret = Py_NewRef(Py_True);
  }
out:
  for (int i = 0; i < njs; i++)
    mida_py_json_free(&js[i]);
  return ret;
}

static PyObject *mod_id_from_name(PyObject *m, PyObject *args) {
  (void)m;
  const char *ns, *name;
  if (!PyArg_ParseTuple(args, "ss", &ns, &name))
    return NULL;
  mida_id_t id = mida__id_from_name(ns, name);
  return id_to_str(&id);
}

static PyObject *mod_new_id(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  mida_id_t id = mida_id_new();
  return id_to_str(&id);
}

static PyObject *mod_now_ns(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  return PyLong_FromLongLong(mida_now_ns());
}

/* capture(value) -> JSON text of one value, as the decorator records it. */
static PyObject *mod_capture(PyObject *m, PyObject *v) {
  (void)m;
  mida_py_json w;
  mida_py_json_init(&w);
  mida_py_json_value(&w, v, 0);
  const char *t = mida_py_json_end(&w);
  PyObject *out = t != NULL ? PyUnicode_DecodeUTF8(t, (Py_ssize_t)w.len,
                                                   "replace")
                            : PyErr_NoMemory();
  mida_py_json_free(&w);
  return out;
}

static PyObject *mod_current_task(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  mida_id_t id;
  if (!current_task(&id))
    Py_RETURN_NONE;
  return id_to_str(&id);
}

static PyObject *mod_session_info(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  mida_session_t *s = session_get();
  if (s == NULL)
    return Py_BuildValue("{s:O,s:s}", "open", Py_False, "error",
                         g_open_error);
  mida_id_t wf = mida__shared_id_load(&s->workflow);
  PyObject *wfo = mida_id_is_nil(&wf) ? Py_NewRef(Py_None) : id_to_str(&wf);
  PyObject *camp = mida_id_is_nil(&s->campaign) ? Py_NewRef(Py_None)
                                                : id_to_str(&s->campaign);
  return Py_BuildValue("{s:O,s:s,s:s,s:O,s:N,s:N,s:s}", "open", Py_True,
                       "store", s->store_url, "spool", s->spool_dir,
                       "disabled", s->disabled ? Py_True : Py_False,
                       "workflow", wfo, "campaign", camp, "host",
                       mida__hostname());
}

/* ---- flush, close, stats, caps ------------------------------------------ */

static PyObject *mod_flush(PyObject *m, PyObject *args) {
  (void)m;
  double timeout = -1;
  if (!PyArg_ParseTuple(args, "|d", &timeout))
    return NULL;
  mida_session_t *s = g_session;
  if (s == NULL)
    Py_RETURN_TRUE;
  int ms = timeout < 0 ? -1 : (int)(timeout * 1000);
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mida_flush(s, ms);
  Py_END_ALLOW_THREADS
  if (rc == MIDA_ETIMEDOUT)
    Py_RETURN_FALSE;
  if (rc != MIDA_OK)
    return raise_rc(rc);
  Py_RETURN_TRUE;
}

static PyObject *mod_close(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  mida_session_t *s = g_session;
  g_session = NULL;
  g_open_failed = 0;
  if (s == NULL)
    Py_RETURN_NONE;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mida_close(s);
  Py_END_ALLOW_THREADS
  if (rc != MIDA_OK && rc != MIDA_ETIMEDOUT)
    return raise_rc(rc);
  Py_RETURN_NONE;
}

static PyObject *mod_stats(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  mida_stats_t st = {0};
  if (g_session != NULL)
    mida_stats_get(g_session, &st);
  return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "records",
                       (unsigned long long)st.records, "dropped",
                       (unsigned long long)st.dropped, "shipped",
                       (unsigned long long)st.shipped, "backlog_bytes",
                       (unsigned long long)st.backlog_bytes, "segments",
                       (unsigned long long)st.segments, "ship_errors",
                       (unsigned long long)st.ship_errors, "capture_errors",
                       g_capture_errors, "task_meter_calls", g_meter_calls,
                       "task_meter_no_summary", g_meter_no_summary);
}

static PyObject *caps_dict(void) {
  mida_py_caps *c = &mida_py_caps_now;
  return Py_BuildValue("{s:n,s:n,s:i,s:n,s:n}", "max_str", c->max_str,
                       "max_items", c->max_items, "max_depth", c->max_depth,
                       "max_repr", c->max_repr, "max_bytes",
                       (Py_ssize_t)c->max_bytes);
}

static PyObject *mod_configure(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"max_str", "max_items", "max_depth", "max_repr",
                           "max_bytes", NULL};
  mida_py_caps c = mida_py_caps_now;
  Py_ssize_t bytes = (Py_ssize_t)c.max_bytes;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$nninn", kwlist, &c.max_str,
                                   &c.max_items, &c.max_depth, &c.max_repr,
                                   &bytes))
    return NULL;
  if (c.max_str < 0 || c.max_items < 0 || c.max_depth < 0 ||
      c.max_repr < 0 || bytes < 0) {
    PyErr_SetString(PyExc_ValueError, "caps must be >= 0");
    return NULL;
  }
  if (c.max_depth > MIDA_PY_MAX_DEPTH) {
    PyErr_Format(PyExc_ValueError, "max_depth is at most %d",
                 MIDA_PY_MAX_DEPTH);
    return NULL;
  }
  c.max_bytes = (size_t)bytes;
  mida_py_caps_now = c;
  return caps_dict();
}

/* ---- queries ------------------------------------------------------------- */

typedef struct query_ctx {
  PyObject *rows; /* list of dicts */
  PyObject *keys; /* tuple of column names (str), made on the first row */
  int failed;     /* a Python error is set */
} query_ctx;

/* Text from the store as a Python value: integers and reals in SQLite's own
 * text form come back as int and float, everything else as str. */
static PyObject *cell_value(const char *t) {
  if (t == NULL)
    Py_RETURN_NONE;
  const char *p = t;
  if (*p == '-')
    p++;
  size_t digits = strspn(p, "0123456789");
  if (digits > 0 && digits <= 20 && p[digits] == '\0' &&
      !(p[0] == '0' && digits > 1))
    return PyLong_FromString(t, NULL, 10);
  if (digits > 0 && !(p[0] == '0' && digits > 1 && p[1] != '.') &&
      (p[digits] == '.' || p[digits] == 'e' || p[digits] == 'E')) {
    char *end = NULL;
    double d = PyOS_string_to_double(t, &end, NULL);
    if (end != NULL && *end == '\0' && !PyErr_Occurred())
      return PyFloat_FromDouble(d);
    PyErr_Clear();
  }
  return PyUnicode_DecodeUTF8(t, (Py_ssize_t)strlen(t), "replace");
}

static int query_row(void *vctx, int ncols, const char *const *names,
                     const char *const *values) {
  query_ctx *q = vctx;
  if (q->keys == NULL) {
    q->keys = PyTuple_New(ncols);
    if (q->keys == NULL)
      goto fail;
    for (int i = 0; i < ncols; i++) {
      PyObject *k = PyUnicode_FromString(names[i] ? names[i] : "?");
      if (k == NULL)
        goto fail;
      PyTuple_SET_ITEM(q->keys, i, k);
    }
  }
  PyObject *row = PyDict_New();
  if (row == NULL)
    goto fail;
  for (int i = 0; i < ncols; i++) {
    PyObject *v = cell_value(values[i]);
    if (v == NULL || PyDict_SetItem(row, PyTuple_GET_ITEM(q->keys, i), v)) {
      Py_XDECREF(v);
      Py_DECREF(row);
      goto fail;
    }
    Py_DECREF(v);
  }
  if (PyList_Append(q->rows, row) < 0) {
    Py_DECREF(row);
    goto fail;
  }
  Py_DECREF(row);
  return 0;
fail:
  q->failed = 1;
  return 1;
}

/* query(sql, params=()) -> list of dicts, read-only, after a flush of this
 * process's records. */
static PyObject *mod_query(PyObject *m, PyObject *args) {
  (void)m;
  const char *sql;
  PyObject *params = NULL;
  if (!PyArg_ParseTuple(args, "s|O", &sql, &params))
    return NULL;
  PyObject *seq = NULL;
  if (params != NULL && params != Py_None) {
    seq = PySequence_Fast(params, "params must be a sequence");
    if (seq == NULL)
      return NULL;
  }
  Py_ssize_t np = seq != NULL ? PySequence_Fast_GET_SIZE(seq) : 0;
  const char **pv = PyMem_Calloc((size_t)np + 1, sizeof *pv);
  PyObject *strs = PyList_New(0);
  PyObject *ret = NULL;
  mida__sink *sink = NULL;
  if (pv == NULL || strs == NULL) {
    PyErr_NoMemory();
    goto out;
  }
  for (Py_ssize_t i = 0; i < np; i++) {
    PyObject *o = PySequence_Fast_GET_ITEM(seq, i);
    PyObject *str = o == Py_None ? NULL : PyObject_Str(o);
    if (o != Py_None && (str == NULL || PyList_Append(strs, str) < 0)) {
      Py_XDECREF(str);
      goto out;
    }
    pv[i] = str != NULL ? PyUnicode_AsUTF8(str) : NULL;
    Py_XDECREF(str);
    if (o != Py_None && pv[i] == NULL)
      goto out;
  }
  mida_session_t *s = session_get();
  mida_config_t cfg;
  mida_config_init(&cfg);
  const char *url = s != NULL ? s->store_url : cfg.store;
  if (s != NULL && !s->disabled) {
    Py_BEGIN_ALLOW_THREADS
    (void)mida_flush(s, 10000);
    Py_END_ALLOW_THREADS
  }
  char err[512] = "";
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mida__sink_open(url, MIDA_SINK_READONLY | MIDA_SINK_NOCREATE, &sink,
                       err, sizeof err);
  Py_END_ALLOW_THREADS
  if (rc != MIDA_OK) {
    PyErr_Format(g_error, "cannot open the store %s: %s", url, err);
    goto out;
  }
  query_ctx q = {PyList_New(0), NULL, 0};
  if (q.rows == NULL)
    goto out;
  rc = mida__sink_query(sink, sql, pv, (int)np, query_row, &q);
  Py_XDECREF(q.keys);
  if (q.failed) {
    Py_DECREF(q.rows);
    goto out;
  }
  if (rc != MIDA_OK) {
    PyErr_Format(g_error, "%s: %s", mida_strerror(rc),
                 mida__sink_errmsg(sink));
    Py_DECREF(q.rows);
    goto out;
  }
  ret = q.rows;
out:
  if (sink != NULL)
    mida__sink_close(sink);
  PyMem_Free(pv);
  Py_XDECREF(strs);
  Py_XDECREF(seq);
  return ret;
}

/* ---- the module ---------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"workflow_begin", (PyCFunction)(void (*)(void))mod_workflow_begin,
     METH_VARARGS | METH_KEYWORDS,
     "workflow_begin(name, campaign=None, metadata=None, source=None, "
     "set_default=True) -> (id, previous default workflow)"},
    {"workflow_end", mod_workflow_end, METH_VARARGS,
     "workflow_end(id, status=FINISHED, previous=None)"},
    {"metric", (PyCFunction)(void (*)(void))mod_metric,
     METH_VARARGS | METH_KEYWORDS,
     "metric(key, value, step=None, task=None): one point of the current "
     "task's metric"},
    {"data", (PyCFunction)(void (*)(void))mod_data,
     METH_VARARGS | METH_KEYWORDS,
     "data(uri, role='used', kind=None, digest=None, size=-1, name=None, "
     "metadata=None, task=None)"},
    {"put", (PyCFunction)(void (*)(void))mod_put, METH_VARARGS | METH_KEYWORDS,
     "put(rectype, **fields) -> bool: a hand-built record"},
    {"id_from_name", mod_id_from_name, METH_VARARGS,
     "id_from_name(namespace, name) -> id, the same everywhere"},
    {"new_id", mod_new_id, METH_NOARGS, "a new time-ordered id"},
    {"now_ns", mod_now_ns, METH_NOARGS, "the time, ns since the epoch"},
    {"capture", mod_capture, METH_O, "capture(value) -> JSON text"},
    {"current_task", mod_current_task, METH_NOARGS,
     "the id of the current task, or None"},
    {"session_info", mod_session_info, METH_NOARGS,
     "the session's store, spool, workflow and campaign"},
    {"flush", mod_flush, METH_VARARGS,
     "flush(timeout=-1) -> bool: True when the store has every record"},
    {"close", mod_close, METH_NOARGS, "flushes and closes the session"},
    {"stats", mod_stats, METH_NOARGS, "the session's counters"},
    {"configure", (PyCFunction)(void (*)(void))mod_configure,
     METH_VARARGS | METH_KEYWORDS,
     "configure(max_str=, max_items=, max_depth=, max_repr=, max_bytes=)"},
    {"query", mod_query, METH_VARARGS,
     "query(sql, params=()) -> list of dicts (read-only)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mida._mida",
    .m_doc = "The C core of the mida Python package.",
    .m_size = -1,
    .m_methods = module_methods,
};

/* Applies MIDA_PY_MAX_* from the environment to the caps. */
static void caps_from_env(void) {
  static const struct {
    const char *env;
    int which;
  } vars[] = {{"MIDA_PY_MAX_STR", 0}, {"MIDA_PY_MAX_ITEMS", 1},
              {"MIDA_PY_MAX_DEPTH", 2}, {"MIDA_PY_MAX_REPR", 3},
              {"MIDA_PY_MAX_BYTES", 4}};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i].env);
    if (v == NULL || *v == '\0')
      continue;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (*end != '\0' || n < 0 || n > (1LL << 30))
      continue;
    switch (vars[i].which) {
    case 0: mida_py_caps_now.max_str = (Py_ssize_t)n; break;
    case 1: mida_py_caps_now.max_items = (Py_ssize_t)n; break;
    case 2:
      mida_py_caps_now.max_depth =
          n > MIDA_PY_MAX_DEPTH ? MIDA_PY_MAX_DEPTH : (int)n;
      break;
    case 3: mida_py_caps_now.max_repr = (Py_ssize_t)n; break;
    default: mida_py_caps_now.max_bytes = (size_t)n; break;
    }
  }
}

PyMODINIT_FUNC PyInit__mida(void) {
  if (PyType_Ready(&TaskFuncType) < 0 || PyType_Ready(&TaskMeterType) < 0)
    return NULL;
  PyObject *m = PyModule_Create(&module_def);
  if (m == NULL)
    return NULL;
  g_error = PyErr_NewExceptionWithDoc("mida.Error",
                                      "A mida call failed.",
                                      PyExc_RuntimeError, NULL);
  g_current = PyContextVar_New("mida_current_task", NULL);
  g_field_tags = PyDict_New();
  if (g_error == NULL || g_current == NULL || g_field_tags == NULL)
    goto fail;
  for (unsigned tag = 1; tag < MIDA_F_COUNT; tag++) {
    const char *name = mida__field_name(tag);
    PyObject *t = PyLong_FromUnsignedLong(tag);
    if (name == NULL || t == NULL ||
        PyDict_SetItemString(g_field_tags, name, t) < 0) {
      Py_XDECREF(t);
      goto fail;
    }
    Py_DECREF(t);
  }
  Py_INCREF(&TaskFuncType);
  if (PyModule_AddObject(m, "TaskFunc", (PyObject *)&TaskFuncType) < 0 ||
      PyModule_AddObjectRef(m, "TaskMeter", (PyObject *)&TaskMeterType) < 0 ||
      PyModule_AddObjectRef(m, "Error", g_error) < 0 ||
      PyModule_AddStringConstant(m, "version", mida_version()) < 0)
    goto fail;
  static const struct {
    const char *name;
    int value;
  } consts[] = {
      {"REC_CAMPAIGN", MIDA_REC_CAMPAIGN}, {"REC_WORKFLOW", MIDA_REC_WORKFLOW},
      {"REC_TASK", MIDA_REC_TASK}, {"REC_DATA", MIDA_REC_DATA},
      {"REC_DEP", MIDA_REC_DEP}, {"REC_METRIC", MIDA_REC_METRIC},
      {"REC_COUNTER", MIDA_REC_COUNTER},
      {"SUBMITTED", MIDA_STATUS_SUBMITTED}, {"RUNNING", MIDA_STATUS_RUNNING},
      {"FINISHED", MIDA_STATUS_FINISHED}, {"CANCELLED", MIDA_STATUS_CANCELLED},
      {"ERROR", MIDA_STATUS_ERROR},
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
    if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0)
      goto fail;
  caps_from_env();
  pthread_atfork(NULL, NULL, after_fork_child);
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}

/*
 * module.c -- the module mida._mida: its functions (workflows, data,
 * metrics, queries, flushing, tasks for the Dask plugins, caps) and
 * its initialisation. The Python package `mida` (mida/__init__.py) shapes
 * the user's API around them.
 *
 * Like the rest of the extension it uses the public C API only
 * (include/mida.h): the Dask plugins record tasks whose ids they derive
 * themselves with task_begin/task_update, and mida.query goes through
 * mida_query(), the store's read-only query path. Nothing here prints.
 */
#include "ext.h"
#include "value.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- workflows, data, metrics ------------------------------------------- */

/* JSON object text for an optional dict argument (named what, for the
 * message) into w; returns the text, NULL for None, or sets *bad for a
 * non-dict. */
static const char *json_obj_arg(mida_py_json *w, PyObject *o,
                                const char *what, int *bad) {
  if (o == NULL || o == Py_None)
    return NULL;
  if (!PyDict_Check(o)) {
    *bad = 1;
    PyErr_Format(mida_py_arg_type_error,
                 "%s must be a dict (or None), not %.100s", what,
                 Py_TYPE(o)->tp_name);
    return NULL;
  }
  mida_py_json_value(w, o, 0);
  if (w->len > 0 && w->p[0] != '{') { /* a dict past max_depth: summary */
    w->len = 0;
    mida_py_json_raw(w, "{}", 2);
  }
  return mida_py_json_end(w);
}

/* workflow_begin(name, campaign=None, metadata=None, source=None,
 * set_default=True) -> (id, token). The workflow's parent is this
 * context's workflow, or the session's default. With set_default (a
 * `with mida.workflow` block), it becomes this context's workflow and the
 * session's default, and token is for workflow_end; else token is None. */
static PyObject *mod_workflow_begin(PyObject *m, PyObject *args,
                                    PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"name", "campaign", "metadata", "source",
                           "set_default", NULL};
  const char *name = NULL, *campaign = NULL, *source = NULL;
  PyObject *nameo, *campaigno = Py_None, *meta = Py_None, *sourceo = Py_None;
  int set_default = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOOp", kwlist, &nameo,
                                   &campaigno, &meta, &sourceo, &set_default))
    return NULL;
  if (mida_py_text_arg(nameo, "the workflow's name", 1, &name) < 0 ||
      mida_py_text_arg(campaigno, "campaign", 1, &campaign) < 0 ||
      mida_py_text_arg(sourceo, "source", 1, &source) < 0)
    return NULL;
  mida_session_t *s = mida_py_session_or_raise();
  if (s == NULL && PyErr_Occurred())
    return NULL;
  mida_py_json w;
  mida_py_json_init(&w);
  int bad = 0;
  const char *md = json_obj_arg(&w, meta, "metadata", &bad);
  if (bad) {
    mida_py_json_free(&w);
    return NULL;
  }
  mida_session_info_t si = {0};
  if (s != NULL)
    (void)mida_session_info_get(s, &si);
  mida_id_t parent = si.workflow; /* the default, unless the context says */
  (void)mida_py_current_workflow(&parent);
  mida_id_t id;
  int rc = MIDA_OK;
  if (s == NULL) { /* nothing is recorded: an id all the same */
    id = mida_id_new();
  } else {
    mida_workflow_info_t info = {0};
    info.name = name;
    info.campaign = campaign;
    info.source = source;
    info.metadata = md;
    info.parent = mida_id_is_nil(&parent) ? NULL : &parent;
    info.keep_default = 1; /* made the default by mida_py_workflow_enter */
    rc = mida_workflow_begin(s, &info, &id);
  }
  mida_py_json_free(&w);
  if (rc != MIDA_OK && mida_py_record_failed(rc) < 0)
    return NULL;
  PyObject *tok = set_default ? mida_py_workflow_enter(s, &id, &si.workflow)
                              : Py_NewRef(Py_None);
  if (tok == NULL)
    return NULL;
  return Py_BuildValue("(NN)", mida_py_id_to_str(&id), tok);
}

/* exception_status(exc) -> the status a task or workflow that exc ended
 * ends with (mida_py_exception_status). */
static PyObject *mod_exception_status(PyObject *m, PyObject *exc) {
  (void)m;
  return PyLong_FromLong(
      mida_py_exception_status((PyObject *)Py_TYPE(exc), exc));
}

/* workflow_end(id, status=FINISHED, token=None): the workflow's end; with
 * workflow_begin's token, the end of its block too. */
static PyObject *mod_workflow_end(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *ido, *tok = Py_None;
  int status = MIDA_STATUS_FINISHED;
  if (!PyArg_ParseTuple(args, "O|iO", &ido, &status, &tok))
    return NULL;
  mida_session_t *s = mida_py_session_or_raise();
  mida_id_t id;
  if ((s == NULL && PyErr_Occurred()) || mida_py_id_from_obj(ido, &id) < 0)
    return NULL;
  if (tok != Py_None && !PyContextToken_CheckExact(tok)) {
    PyErr_SetString(mida_py_arg_type_error,
                    "workflow_end: token must be workflow_begin's");
    return NULL;
  }
  /* The block ends first: a failed record must not leave it open. */
  if (mida_py_workflow_leave(s, &id, tok) < 0)
    return NULL;
  if (s == NULL)
    Py_RETURN_NONE;
  int rc = mida_workflow_end(s, &id, (mida_status_t)status);
  if (rc != MIDA_OK && mida_py_record_failed(rc) < 0)
    return NULL;
  /* Not a block's (mida.dask's): if it is the default, none is. */
  (void)mida_workflow_set_default(s, NULL, &id);
  Py_RETURN_NONE;
}

/* The task an explicit call refers to: task= or the current one. */
static int target_task(PyObject *task, mida_id_t *out, int required) {
  if (task != NULL && task != Py_None)
    return mida_py_id_from_obj(task, out) < 0 ? -1 : 1;
  if (mida_py_current_task(out))
    return 1;
  if (required) {
    PyErr_SetString(mida_py_error, "no current task: call this inside a "
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
  PyObject *keyo, *valueo, *stepo = Py_None, *task = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO", kwlist, &keyo, &valueo,
                                   &stepo, &task))
    return NULL;
  if (mida_py_text_arg(keyo, "key", 0, &key) < 0 ||
      mida_py_float_arg(valueo, "value", &value) < 0)
    return NULL;
  long long step = MIDA_NO_STEP; /* None: a point without a step */
  if (stepo != Py_None) {
    if (mida_py_int64_arg(stepo, "step", &step) < 0)
      return NULL;
    if (step == MIDA_NO_STEP) {
      PyErr_SetString(mida_py_arg_error,
                      "step must be above -2**63 (None: no step)");
      return NULL;
    }
  }
  mida_id_t t;
  if (target_task(task, &t, 1) < 0)
    return NULL;
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    Py_RETURN_NONE;
  int rc = mida_metric(s, &t, key, step, 0, value);
  if (rc != MIDA_OK && mida_py_record_failed(rc) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* The bytes of a data URI, as `mida run` records a file's name: a str as
 * UTF-8, but for the lone surrogates by which os.fsdecode keeps the bytes
 * of a file name that is not UTF-8, which become those bytes again
 * (surrogateescape; any other lone surrogate is replaced); bytes (the
 * os.fspath of a bytes path) as they are. Returns a new reference that
 * holds *out; NULL with mida.ArgumentTypeError (not text) or
 * mida.ArgumentError (a NUL) set. */
static PyObject *uri_bytes(PyObject *o, const char **out) {
  PyObject *hold = NULL;
  Py_ssize_t len = 0;
  if (PyUnicode_Check(o)) {
    *out = PyUnicode_AsUTF8AndSize(o, &len);
    if (*out != NULL) {
      Py_INCREF(o);
      hold = o;
    } else {
      PyErr_Clear();
      hold = PyUnicode_AsEncodedString(o, "utf-8", "surrogateescape");
      if (hold == NULL) {
        PyErr_Clear();
        hold = PyUnicode_AsEncodedString(o, "utf-8", "replace");
      }
      if (hold == NULL)
        return NULL;
      *out = PyBytes_AS_STRING(hold);
      len = PyBytes_GET_SIZE(hold);
    }
  } else if (PyBytes_Check(o)) {
    Py_INCREF(o);
    hold = o;
    *out = PyBytes_AS_STRING(hold);
    len = PyBytes_GET_SIZE(hold);
  } else {
    PyErr_Format(mida_py_arg_type_error,
                 "uri must be a str or a path, not %.80s",
                 Py_TYPE(o)->tp_name);
    return NULL;
  }
  if (strlen(*out) != (size_t)len) {
    Py_DECREF(hold);
    PyErr_SetString(mida_py_arg_error, "uri holds a NUL character");
    return NULL;
  }
  return hold;
}

/* mida.data once its URI is bytes: the role read, the data recorded. */
static PyObject *record_data(const char *uri, const char *role,
                             const char *kind, const char *digest,
                             long long size, const char *name, PyObject *meta,
                             PyObject *task) {
  mida_role_t r;
  if (strcmp(role, "used") == 0 || strcmp(role, "input") == 0)
    r = MIDA_USED;
  else if (strcmp(role, "generated") == 0 || strcmp(role, "output") == 0)
    r = MIDA_GENERATED;
  else {
    PyErr_Format(mida_py_arg_error,
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
  const char *md = json_obj_arg(&w, meta, "metadata", &bad);
  if (bad) {
    mida_py_json_free(&w);
    return NULL;
  }
  mida_session_t *s = mida_py_session_for_capture();
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
  if (rc != MIDA_OK && mida_py_record_failed(rc) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *mod_data(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"uri", "role", "kind", "digest", "size", "name",
                           "metadata", "task", NULL};
  const char *uri, *role = "used", *kind = NULL, *digest = NULL, *name = NULL;
  long long size = -1;
  PyObject *urio, *roleo = NULL, *kindo = Py_None, *digesto = Py_None;
  PyObject *sizeo = NULL, *nameo = Py_None, *meta = Py_None, *task = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOOOOOO", kwlist, &urio,
                                   &roleo, &kindo, &digesto, &sizeo, &nameo,
                                   &meta, &task))
    return NULL;
  if ((roleo != NULL && mida_py_text_arg(roleo, "role", 0, &role) < 0) ||
      mida_py_text_arg(kindo, "kind", 1, &kind) < 0 ||
      mida_py_text_arg(digesto, "digest", 1, &digest) < 0 ||
      (sizeo != NULL && mida_py_int64_arg(sizeo, "size", &size) < 0) ||
      mida_py_text_arg(nameo, "name", 1, &name) < 0)
    return NULL;
  PyObject *uri_hold = uri_bytes(urio, &uri);
  if (uri_hold == NULL)
    return NULL;
  PyObject *done = record_data(uri, role, kind, digest, size, name, meta,
                               task);
  Py_DECREF(uri_hold);
  return done;
}

/* ---- tasks whose ids the caller derives (the Dask plugins) -------------- */

/* JSON text for an optional argument (named what): a dict (captured in C
 * into w) or JSON object text (checked by libmida); NULL for None.
 * Returns 0, or -1 with an exception set. */
static int json_field(mida_py_json *w, PyObject *o, const char *what,
                      const char **out) {
  *out = NULL;
  if (o == NULL || o == Py_None)
    return 0;
  if (PyUnicode_Check(o)) {
    *out = PyUnicode_AsUTF8(o);
    return *out != NULL ? 0 : -1;
  }
  int bad = 0;
  *out = json_obj_arg(w, o, what, &bad);
  if (bad)
    return -1;
  if (*out == NULL) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

/* True if rc is MIDA_OK; else False, the failure counted (or mida.Error
 * raised, see mida_py_record_failed). */
static PyObject *recorded(int rc) {
  if (rc == MIDA_OK)
    Py_RETURN_TRUE;
  if (mida_py_record_failed(rc) < 0)
    return NULL;
  Py_RETURN_FALSE;
}

/* task_begin(id, activity=None, workflow=None, parent=None, status=RUNNING,
 * submitted=0, source_key=None, used=None, custom=None) -> bool: the begin
 * (or, with status=SUBMITTED, the submission) of a task whose id the
 * caller chose. False when capture is off or the record failed (counted).
 */
static PyObject *mod_task_begin(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"id",        "activity",   "workflow",
                           "parent",    "status",     "submitted",
                           "source_key", "used",      "custom",
                           NULL};
  PyObject *ido, *wfo = Py_None, *parento = Py_None, *usedo = Py_None;
  PyObject *customo = Py_None;
  const char *activity = NULL, *key = NULL;
  int status = MIDA_STATUS_RUNNING;
  long long submitted = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|zOOiLzOO", kwlist, &ido,
                                   &activity, &wfo, &parento, &status,
                                   &submitted, &key, &usedo, &customo))
    return NULL;
  mida_id_t id, wf, parent;
  if (mida_py_id_from_obj(ido, &id) < 0 ||
      (wfo != Py_None && mida_py_id_from_obj(wfo, &wf) < 0) ||
      (parento != Py_None && mida_py_id_from_obj(parento, &parent) < 0))
    return NULL;
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    Py_RETURN_FALSE;
  mida_py_json wu, wc;
  mida_py_json_init(&wu);
  mida_py_json_init(&wc);
  mida_task_info_t info = {0};
  PyObject *ret = NULL;
  if (json_field(&wu, usedo, "used", &info.used) == 0 &&
      json_field(&wc, customo, "custom", &info.custom) == 0) {
    info.id = &id;
    info.activity = activity;
    info.workflow = wfo != Py_None ? &wf : NULL;
    info.parent = parento != Py_None ? &parent : NULL;
    info.status = (mida_status_t)status;
    info.submitted_ns = submitted;
    info.source_key = key;
    mida_id_t out;
    ret = recorded(mida_task_begin(s, &info, &out));
  }
  mida_py_json_free(&wu);
  mida_py_json_free(&wc);
  return ret;
}

/* task_update(id, status=0, started=None, ended=None, used=None,
 * generated=None, custom=None, error=None, worker=None, pid=0) -> bool:
 * what became known of a task outside its begin and end. */
static PyObject *mod_task_update(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"id",     "status",    "started", "ended",
                           "used",   "generated", "custom",  "error",
                           "worker", "pid",       NULL};
  PyObject *ido, *usedo = Py_None, *geno = Py_None, *customo = Py_None;
  PyObject *startedo = Py_None, *endedo = Py_None;
  PyObject *erroro = Py_None;
  int status = 0;
  long long pid = 0;
  mida_task_update_t u = {0};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|iOOOOOOzL", kwlist, &ido,
                                   &status, &startedo, &endedo, &usedo,
                                   &geno, &customo, &erroro, &u.worker,
                                   &pid))
    return NULL;
  if (erroro != Py_None && !PyUnicode_Check(erroro)) {
    PyErr_Format(mida_py_arg_type_error, "error must be a str or None, "
                 "not %.100s", Py_TYPE(erroro)->tp_name);
    return NULL;
  }
  mida_id_t id;
  if (mida_py_id_from_obj(ido, &id) < 0)
    return NULL;
  if (startedo != Py_None) {
    u.started_ns = PyLong_AsLongLong(startedo);
    if (u.started_ns == -1 && PyErr_Occurred())
      return NULL;
  }
  if (endedo != Py_None) {
    u.ended_ns = PyLong_AsLongLong(endedo);
    if (u.ended_ns == -1 && PyErr_Occurred())
      return NULL;
  }
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    Py_RETURN_FALSE;
  /* Dask's text of a task's exception: the program's, whatever it holds. */
  PyObject *error_held = NULL;
  if (erroro != Py_None &&
      (error_held = mida_py_error_utf8(erroro, &u.error)) == NULL)
    return PyErr_NoMemory();
  u.status = (mida_status_t)status;
  u.pid = pid;
  mida_py_json wu, wg, wc;
  mida_py_json_init(&wu);
  mida_py_json_init(&wg);
  mida_py_json_init(&wc);
  PyObject *ret = NULL;
  if (json_field(&wu, usedo, "used", &u.used) == 0 &&
      json_field(&wg, geno, "generated", &u.generated) == 0 &&
      json_field(&wc, customo, "custom", &u.custom) == 0)
    ret = recorded(mida_task_update(s, &id, &u));
  mida_py_json_free(&wu);
  mida_py_json_free(&wg);
  mida_py_json_free(&wc);
  Py_XDECREF(error_held);
  return ret;
}

/* task_run(run, task, status=0, started=0, ended=0, worker=None,
 * error=None) -> bool: (part of) one execution of a task (mida_task_run):
 * the same run id at its start and at its end. */
static PyObject *mod_task_run(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"run",   "task",   "status", "started",
                           "ended", "worker", "error",  NULL};
  PyObject *runo, *tasko;
  int status = 0;
  long long started = 0, ended = 0;
  mida_task_run_t r = {0};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|iLLzz", kwlist, &runo, &tasko,
                                   &status, &started, &ended, &r.worker,
                                   &r.error))
    return NULL;
  mida_id_t run, task;
  if (mida_py_id_from_obj(runo, &run) < 0 ||
      mida_py_id_from_obj(tasko, &task) < 0)
    return NULL;
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    Py_RETURN_FALSE;
  r.task = &task;
  r.status = (mida_status_t)status;
  r.started_ns = started;
  r.ended_ns = ended;
  return recorded(mida_task_run(s, &run, &r));
}

/* task_dep(task, upstream) -> bool: task depends on upstream. */
static PyObject *mod_task_dep(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *to, *uo;
  if (!PyArg_ParseTuple(args, "OO", &to, &uo))
    return NULL;
  mida_id_t t, up;
  if (mida_py_id_from_obj(to, &t) < 0 || mida_py_id_from_obj(uo, &up) < 0)
    return NULL;
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    Py_RETURN_FALSE;
  return recorded(mida_task_dep(s, &t, &up));
}

/* counter(key, value) -> bool: a named counter of this process. */
static PyObject *mod_counter(PyObject *m, PyObject *args) {
  (void)m;
  const char *key;
  long long value;
  if (!PyArg_ParseTuple(args, "sL", &key, &value))
    return NULL;
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    Py_RETURN_FALSE;
  return recorded(mida_counter(s, key, value));
}

static PyObject *mod_id_from_name(PyObject *m, PyObject *args) {
  (void)m;
  const char *ns, *name;
  if (!PyArg_ParseTuple(args, "ss", &ns, &name))
    return NULL;
  mida_id_t id = mida_id_from_name(ns, name);
  return mida_py_id_to_str(&id);
}

static PyObject *mod_new_id(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  mida_id_t id = mida_id_new();
  return mida_py_id_to_str(&id);
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
  if (!mida_py_current_task(&id))
    Py_RETURN_NONE;
  return mida_py_id_to_str(&id);
}

/* _ship_default(ms) -> bool: the ship interval of this process's session
 * when MIDA_SHIP_MS does not say (a session already open keeps its own:
 * returns False then). */
static PyObject *mod_ship_default(PyObject *m, PyObject *arg) {
  (void)m;
  unsigned long ms = PyLong_AsUnsignedLong(arg);
  if (ms == (unsigned long)-1 && PyErr_Occurred())
    return NULL;
  if (ms > 60000) {
    PyErr_SetString(mida_py_arg_error, "ship interval is at most 60000 ms");
    return NULL;
  }
  mida_py_ship_ms_default = (unsigned)ms;
  return PyBool_FromLong(mida_py_session == NULL);
}

static PyObject *mod_session_info(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  mida_session_t *s = mida_py_session_get();
  if (s == NULL)
    return Py_BuildValue("{s:O,s:s}", "open", Py_False, "error",
                         mida_py_session_error());
  mida_session_info_t si;
  (void)mida_session_info_get(s, &si);
  (void)mida_py_current_workflow(&si.workflow); /* this context's block's */
  PyObject *wfo = mida_id_is_nil(&si.workflow)
                      ? Py_NewRef(Py_None)
                      : mida_py_id_to_str(&si.workflow);
  PyObject *camp = mida_id_is_nil(&si.campaign)
                       ? Py_NewRef(Py_None)
                       : mida_py_id_to_str(&si.campaign);
  /* The store as it may be shown: the URL without its password. */
  return Py_BuildValue("{s:O,s:s,s:s,s:O,s:N,s:N,s:s,s:I}", "open", Py_True,
                       "store", si.store_shown, "spool", si.spool,
                       "disabled", si.disabled ? Py_True : Py_False,
                       "workflow", wfo, "campaign", camp, "host", si.host,
                       "ship_ms", mida_py_ship_ms);
}

/* ---- flush, close, stats, caps ------------------------------------------ */

/* flush(timeout=-1): the timeout in seconds, as docs/python.md writes it
 * (a keyword too); negative, or past what an int of milliseconds holds:
 * no limit. */
static PyObject *mod_flush(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"timeout", NULL};
  double timeout = -1;
  PyObject *timeouto = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &timeouto))
    return NULL;
  if (timeouto != NULL &&
      mida_py_float_arg(timeouto, "timeout", &timeout) < 0)
    return NULL;
  if (isnan(timeout)) {
    PyErr_SetString(mida_py_arg_error,
                    "timeout must be a number of seconds (negative: none)");
    return NULL;
  }
  mida_session_t *s = mida_py_session;
  if (s == NULL) /* True only if nothing was there to record */
    return PyBool_FromLong(mida_py_capture_errors == 0);
  int ms =
      timeout < 0 || timeout * 1000 >= INT_MAX ? -1 : (int)(timeout * 1000);
  mida_py_capture_errors_record(s);
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mida_flush(s, ms);
  Py_END_ALLOW_THREADS
      /* Not everything shipped: False, or mida.Error when strict. */
      if (rc != MIDA_OK && rc != MIDA_ETIMEDOUT &&
          mida_py_strict) return mida_py_raise_rc(rc);
  return PyBool_FromLong(rc == MIDA_OK);
}

static PyObject *mod_close(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  int rc = mida_py_session_close();
  /* What the store did not take stays in the spool for the next session
   * or `mida recover`: an error only when strict, else a warning that
   * names the spool (until 2026-12 it was said nowhere, and a producer
   * that ended during a broker outage left its records without a word). */
  if (rc != MIDA_OK && rc != MIDA_ETIMEDOUT && mida_py_strict)
    return mida_py_raise_rc(rc);
  mida_py_session_close_warn(rc);
  Py_RETURN_NONE;
}

static PyObject *mod_stats(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  mida_stats_t st = {0};
  if (mida_py_session != NULL)
    mida_stats_get(mida_py_session, &st);
  return Py_BuildValue(
      "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "records",
      (unsigned long long)st.records, "dropped", (unsigned long long)st.dropped,
      "shipped", (unsigned long long)st.shipped, "backlog_bytes",
      (unsigned long long)st.backlog_bytes, "segments",
      (unsigned long long)st.segments, "ship_errors",
      (unsigned long long)st.ship_errors, "spool_full",
      (unsigned long long)st.spool_full, "refused",
      (unsigned long long)st.refused, "capture_errors", mida_py_capture_errors,
      "task_meter_calls", mida_py_meter_calls, "task_meter_no_summary",
      mida_py_meter_no_summary);
}

static PyObject *caps_dict(void) {
  mida_py_caps *c = &mida_py_caps_now;
  return Py_BuildValue("{s:n,s:n,s:i,s:n,s:n}", "max_str", c->max_str,
                       "max_items", c->max_items, "max_depth", c->max_depth,
                       "max_repr", c->max_repr, "max_bytes",
                       (Py_ssize_t)c->max_bytes);
}

/* One cap of mida.configure (named what): o, if given, into *cap, checked
 * to be within 0..most. Returns 0, or -1 with an ArgumentError or
 * ArgumentTypeError set. */
static int cap_arg(PyObject *o, const char *what, long long most,
                   long long *cap) {
  if (o == NULL)
    return 0;
  long long v;
  if (mida_py_int64_arg(o, what, &v) < 0)
    return -1;
  if (v < 0) {
    PyErr_Format(mida_py_arg_error, "%s must be >= 0, not %lld", what, v);
    return -1;
  }
  if (v > most) {
    PyErr_Format(mida_py_arg_error, "%s is at most %lld, not %lld", what,
                 most, v);
    return -1;
  }
  *cap = v;
  return 0;
}

static PyObject *mod_configure(PyObject *m, PyObject *args, PyObject *kw) {
  (void)m;
  static char *kwlist[] = {"max_str", "max_items", "max_depth", "max_repr",
                           "max_bytes", NULL};
  mida_py_caps c = mida_py_caps_now;
  PyObject *o[5] = {NULL, NULL, NULL, NULL, NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOOOO", kwlist, &o[0], &o[1],
                                   &o[2], &o[3], &o[4]))
    return NULL;
  long long v[5] = {c.max_str, c.max_items, c.max_depth, c.max_repr,
                    (long long)c.max_bytes};
  for (int i = 0; i < 5; i++) {
    long long most = i == 2 ? MIDA_PY_MAX_DEPTH : PY_SSIZE_T_MAX;
    if (cap_arg(o[i], kwlist[i], most, &v[i]) < 0)
      return NULL;
  }
  c.max_str = (Py_ssize_t)v[0];
  c.max_items = (Py_ssize_t)v[1];
  c.max_depth = (int)v[2];
  c.max_repr = (Py_ssize_t)v[3];
  c.max_bytes = (size_t)v[4];
  mida_py_caps_now = c;
  return caps_dict();
}

/* ---- queries ------------------------------------------------------------- */

/* A query runs without the GIL, so that other threads run and Ctrl-C is
 * seen: its row and stop callbacks take the GIL back while they run. */
/* The most rows mida.query() keeps by default (max_rows). */
#define QUERY_MAX_ROWS 1000000

typedef struct query_ctx {
  PyObject *rows; /* list of dicts */
  PyObject *keys; /* tuple of column names (str), from the columns' call */
  Py_ssize_t max_rows; /* the most rows kept; 0: no bound */
  int failed;     /* a Python error is set */
  PyThreadState *thread; /* saved while the GIL is released */
} query_ctx;

/* Whether t is a store's text of an infinite or NaN REAL: SQLite's Inf
 * and -Inf, PostgreSQL's Infinity, -Infinity and NaN (SQLite keeps no
 * NaN). Sets *d to that value. */
static int non_finite(const char *t, double *d) {
  const char *p = t[0] == '-' ? t + 1 : t;
  if (strcmp(p, "Inf") == 0 || strcmp(p, "Infinity") == 0) {
    *d = t[0] == '-' ? -Py_HUGE_VAL : Py_HUGE_VAL;
    return 1;
  }
  if (strcmp(t, "NaN") == 0) {
    *d = Py_NAN;
    return 1;
  }
  return 0;
}

/* Text from the store as a Python value: integers and reals in the store's
 * own text form (infinities and NaN included) come back as int and float,
 * everything else as str. */
static PyObject *cell_value(const char *t) {
  if (t == NULL)
    Py_RETURN_NONE;
  double inf_or_nan;
  if (non_finite(t, &inf_or_nan))
    return PyFloat_FromDouble(inf_or_nan);
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

/* Whether key is one of the keys made so far (taken, a set) or the name of
 * a column after column c; 1, 0, or -1 with an error set. */
static int key_taken(PyObject *taken, int c, int ncols,
                     const char *const *names, PyObject *key) {
  int in = PySet_Contains(taken, key);
  for (int i = c + 1; in == 0 && i < ncols; i++)
    in = PyUnicode_CompareWithASCIIString(key, names[i] ? names[i] : "?") ==
         0;
  return in;
}

/* The key of column c, whose name an earlier column has: name_2, name_3,
 * ... the first that no column has, the rule of `mida query --json`
 * (src/cli/output.c), so that a join's two `id` columns are two keys,
 * not one holding the second's values. New reference, or NULL. */
static PyObject *unique_key(PyObject *taken, int c, int ncols,
                            const char *const *names, PyObject *name) {
  for (int n = 2;; n++) {
    PyObject *key = PyUnicode_FromFormat("%U_%d", name, n);
    int in = key != NULL ? key_taken(taken, c, ncols, names, key) : -1;
    if (in == 0)
      return key;
    Py_XDECREF(key);
    if (in < 0)
      return NULL;
  }
}

/* q->keys from the result's column names, each a key of its own; 0, or -1
 * with an error set. */
static int make_keys(query_ctx *q, int ncols, const char *const *names) {
  PyObject *taken = PySet_New(NULL);
  q->keys = PyTuple_New(ncols);
  if (q->keys == NULL || taken == NULL) {
    Py_XDECREF(taken);
    return -1;
  }
  for (int i = 0; i < ncols; i++) {
    PyObject *k = PyUnicode_FromString(names[i] ? names[i] : "?");
    int in = k != NULL ? PySet_Contains(taken, k) : -1;
    if (in == 1) {
      PyObject *u = unique_key(taken, i, ncols, names, k);
      Py_DECREF(k);
      k = u;
    }
    if (k == NULL || in < 0 || PySet_Add(taken, k) < 0) {
      Py_XDECREF(k);
      Py_DECREF(taken);
      return -1;
    }
    PyTuple_SET_ITEM(q->keys, i, k);
  }
  Py_DECREF(taken);
  return 0;
}

/* The result's columns (mida_columns_fn), before its rows. */
static int query_columns(void *vctx, int ncols, const char *const *names) {
  query_ctx *q = vctx;
  PyEval_RestoreThread(q->thread);
  if (q->keys == NULL && make_keys(q, ncols, names) < 0)
    q->failed = 1;
  q->thread = PyEval_SaveThread();
  return q->failed;
}

static int query_row_locked(query_ctx *q, int ncols, const char *const *names,
                            const char *const *values) {
  /* The rows are kept in this process's memory, which the query guard's
   * bounds (time, temporary space) do not cover: a statement making rows
   * without end (a recursive CTE) took 4.8 GB before its 30 s were up. */
  if (q->max_rows > 0 && PyList_GET_SIZE(q->rows) >= q->max_rows) {
    PyErr_Format(mida_py_error,
                 "the result has more than %zd rows (max_rows): narrow the "
                 "query, or raise max_rows (None: no bound)",
                 q->max_rows);
    goto fail;
  }
  if (q->keys == NULL && make_keys(q, ncols, names) < 0)
    goto fail;
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

static int query_row(void *vctx, int ncols, const char *const *names,
                     const char *const *values) {
  query_ctx *q = vctx;
  PyEval_RestoreThread(q->thread);
  int stop = query_row_locked(q, ncols, names, values);
  if (!stop && PyErr_CheckSignals() != 0) /* a long result's Ctrl-C */
    stop = q->failed = 1;
  q->thread = PyEval_SaveThread();
  return stop;
}

/* Runs the Python signal handlers (KeyboardInterrupt on SIGINT); stops the
 * query when one raised. */
static int query_stop(void *vctx) {
  query_ctx *q = vctx;
  PyEval_RestoreThread(q->thread);
  if (PyErr_CheckSignals() != 0)
    q->failed = 1;
  q->thread = PyEval_SaveThread();
  return q->failed;
}

/* How long mida.query waits for this process's records to reach the
 * store: FLUSH_FIRST_MS, then, if the store took no failed attempt in it
 * (it is slow or busy, not down), up to FLUSH_MORE_MS more. A store that
 * is down fails the query anyway: waiting the whole flush for it only
 * held a steering loop 10 s a query. */
#define FLUSH_FIRST_MS 1000
#define FLUSH_MORE_MS 9000

static void flush_for_query(mida_session_t *s) {
  mida_stats_t before = {0}, after = {0};
  mida_stats_get(s, &before);
  if (mida_flush(s, FLUSH_FIRST_MS) == MIDA_OK)
    return;
  mida_stats_get(s, &after);
  if (after.ship_errors == before.ship_errors)
    (void)mida_flush(s, FLUSH_MORE_MS);
}

/* Flushes s (if not NULL, nor disabled) for a query, its info into *si. */
static void flush_session(mida_session_t *s, mida_session_info_t *si) {
  if (s == NULL || mida_session_info_get(s, si) != MIDA_OK || si->disabled)
    return;
  Py_BEGIN_ALLOW_THREADS
  flush_for_query(s);
  Py_END_ALLOW_THREADS
}

/* The session whose records a query is to see first: this process's, if
 * it has recorded anything (or opened one); else one is opened only when
 * processes that ended left journals in the store's spool (a
 * multiprocessing worker ends with os._exit and ships nothing: its
 * parent's query ships them, through the session's flush). A process that
 * only reads opens none: no journal, no sampler writing its telemetry into
 * the store, no spool made beside a store it may not write. NULL: none. */
static mida_session_t *session_for_query(void) {
  if (mida_py_session != NULL)
    return mida_py_session;
  mida_config_t cfg;
  mida_config_init(&cfg);
  uint64_t orphans = 0;
  if (cfg.disabled ||
      mida_spool_orphans(cfg.store, &orphans) != MIDA_OK || orphans == 0)
    return NULL;
  return mida_py_session_get();
}

/* The ABCs a real number that is no float may be an instance of:
 * numbers.Real (Fraction, NumPy's float32 and float16) and
 * decimal.Decimal (a numbers.Number only), imported on first use. */
static PyObject *real_types;

/* 'r' when o is such a real number, 0 when not, -1 with an exception set
 * when the check failed. */
static char real_kind(PyObject *o) {
  if (real_types == NULL) {
    PyObject *numbers = PyImport_ImportModule("numbers");
    PyObject *decimal = numbers != NULL ? PyImport_ImportModule("decimal")
                                        : NULL;
    PyObject *real = numbers != NULL ? PyObject_GetAttrString(numbers, "Real")
                                     : NULL;
    PyObject *dec = decimal != NULL ? PyObject_GetAttrString(decimal, "Decimal")
                                    : NULL;
    if (real != NULL && dec != NULL)
      real_types = PyTuple_Pack(2, real, dec);
    Py_XDECREF(numbers);
    Py_XDECREF(decimal);
    Py_XDECREF(real);
    Py_XDECREF(dec);
    if (real_types == NULL)
      return -1;
  }
  int is = PyObject_IsInstance(o, real_types);
  return is < 0 ? -1 : is ? 'r' : 0;
}

/* The text of real number o as the double it is nearest to (a Decimal's
 * or a Fraction's digits past a double's are not kept: the store holds
 * numbers as doubles, and a value compared as text matched nothing). A
 * NaN or an infinity is bound as a double too; a value that float()
 * refuses (a signalling NaN) raises mida.ArgumentError. */
static PyObject *real_text(PyObject *o, const char *what, char *kind) {
  PyObject *f = PyNumber_Float(o);
  if (f == NULL) {
    mida_py_arg_raise_from(mida_py_arg_error, "%s: %.100s is no float",
                           what, Py_TYPE(o)->tp_name);
    return NULL;
  }
  char *t = PyOS_double_to_string(PyFloat_AS_DOUBLE(f), 'r', 0, 0, NULL);
  Py_DECREF(f);
  if (t == NULL)
    return PyErr_NoMemory();
  *kind = 'r';
  PyObject *str = PyUnicode_FromString(t);
  PyMem_Free(t);
  return str;
}

/* Query parameter o, the i-th (from 0), as text into *text (held by the
 * new reference returned) and its kind (mida_query_kinds): an int (a bool
 * as 1 or 0; what has __index__, a NumPy integer, alike) 'i', a float 'r'
 * (the double's repr, which reads back to the same double; a Decimal, a
 * Fraction, a NumPy float32 as the nearest double), anything else
 * 't', its str(). A number is bound as a number, so that it equals the
 * one a JSON document holds on SQLite too (json_extract(used, '$.lr') =
 * ?1). bytes are refused: their str() is
 * "b'...'", never what was meant. NULL with mida.ArgumentError (text that
 * is not UTF-8, a NUL character, which would have cut the text short) or
 * mida.ArgumentTypeError (bytes, a str() that raised) set. */
static PyObject *param_text(PyObject *o, Py_ssize_t i, char *kind,
                            const char **text) {
  PyObject *str = NULL;
  char what[48];
  snprintf(what, sizeof what, "params[%zd]", i);
  if (PyLong_Check(o) || PyIndex_Check(o)) { /* a NumPy integer too */
    PyObject *n = PyNumber_Index(o);
    int overflow = 0;
    long long v = n != NULL ? PyLong_AsLongLongAndOverflow(n, &overflow) : -1;
    Py_XDECREF(n);
    if (v == -1 && PyErr_Occurred())
      return NULL;
    if (!overflow) {
      *kind = 'i';
      str = PyUnicode_FromFormat("%lld", v);
    }
  } else if (PyFloat_Check(o)) {
    /* The double's own text: a subclass's repr is not one (NumPy 2's
     * float64 is "np.float64(0.5)", which was bound as that text). */
    char *t = PyOS_double_to_string(PyFloat_AS_DOUBLE(o), 'r', 0, 0, NULL);
    if (t == NULL)
      return PyErr_NoMemory();
    *kind = 'r';
    str = PyUnicode_FromString(t);
    PyMem_Free(t);
  } else if (!PyUnicode_Check(o) && (*kind = real_kind(o)) != 0) {
    if (*kind < 0)
      return NULL;
    str = real_text(o, what, kind);
    if (str == NULL)
      return NULL;
  } else if (PyBytes_Check(o) || PyByteArray_Check(o)) {
    PyErr_Format(mida_py_arg_type_error,
                 "%s is %.50s: pass a str (decode it), mida binds no bytes",
                 what, Py_TYPE(o)->tp_name);
    return NULL;
  }
  if (str == NULL && !PyErr_Occurred()) {
    *kind = 't';
    str = PyObject_Str(o);
    if (str == NULL && PyErr_ExceptionMatches(PyExc_Exception) &&
        !PyErr_ExceptionMatches(PyExc_MemoryError)) {
      mida_py_arg_raise_from(mida_py_arg_type_error,
                             "%s: str() of a %.100s raised", what,
                             Py_TYPE(o)->tp_name);
      return NULL;
    }
  }
  if (str == NULL)
    return NULL;
  if (mida_py_text_arg(str, what, 0, text) < 0)
    Py_CLEAR(str);
  return str;
}

/* query(sql, params=(), max_rows=QUERY_MAX_ROWS, columns=False) -> list
 * of dicts (with columns: (the column names as a list, the rows)),
 * read-only, after a flush of this process's records; a result of more
 * than max_rows rows (None: no bound) raises mida.Error. */
static PyObject *mod_query(PyObject *m, PyObject *args) {
  (void)m;
  const char *sql;
  PyObject *sqlo, *params = NULL, *max_rows = NULL;
  int with_columns = 0;
  if (!PyArg_ParseTuple(args, "O|OOp", &sqlo, &params, &max_rows,
                        &with_columns) ||
      mida_py_text_arg(sqlo, "sql", 0, &sql) < 0)
    return NULL;
  Py_ssize_t bound = QUERY_MAX_ROWS;
  if (max_rows == Py_None) {
    bound = 0;
  } else if (max_rows != NULL) {
    long long rows;
    if (mida_py_int64_arg(max_rows, "max_rows", &rows) < 0)
      return NULL;
    if (rows < 1) {
      PyErr_SetString(mida_py_arg_error,
                      "max_rows must be a positive number, or None");
      return NULL;
    }
    /* More rows than memory holds: no bound that matters. */
    bound = rows > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)rows;
  }
  PyObject *seq = NULL;
  if (params != NULL && params != Py_None) {
    /* A str is a sequence (of its characters), a dict an iterable (of its
     * keys): either would bind something else than what was meant. */
    if (PyUnicode_Check(params) || PyBytes_Check(params) ||
        PyByteArray_Check(params) || PyMemoryView_Check(params)) {
      PyErr_Format(mida_py_arg_type_error,
                   "params must be a list or tuple of values, not %s (a "
                   "single value is [value])",
                   Py_TYPE(params)->tp_name);
      return NULL;
    }
    if (!PyList_Check(params) && !PyTuple_Check(params) &&
        (PyDict_Check(params) || PyObject_HasAttrString(params, "keys"))) {
      PyErr_Format(mida_py_arg_type_error,
                   "params must be a list or tuple of values, bound to ?1, "
                   "?2, ... in order; named parameters (a %s) are not "
                   "supported, since PostgreSQL stores bind by position "
                   "only",
                   Py_TYPE(params)->tp_name);
      return NULL;
    }
    seq = PySequence_Fast(params, "params must be a sequence");
    if (seq == NULL) {
      if (PyErr_ExceptionMatches(PyExc_TypeError))
        mida_py_arg_raise_from(mida_py_arg_type_error,
                               "params must be a list or tuple of values, "
                               "not %.100s",
                               Py_TYPE(params)->tp_name);
      return NULL;
    }
  }
  Py_ssize_t np = seq != NULL ? PySequence_Fast_GET_SIZE(seq) : 0;
  const char **pv = PyMem_Calloc((size_t)np + 1, sizeof *pv);
  char *kinds = PyMem_Calloc((size_t)np + 1, 1);
  PyObject *strs = PyList_New(0);
  PyObject *ret = NULL, *names = NULL;
  if (pv == NULL || kinds == NULL || strs == NULL) {
    PyErr_NoMemory();
    goto out;
  }
  for (Py_ssize_t i = 0; i < np; i++) {
    PyObject *o = PySequence_Fast_GET_ITEM(seq, i);
    if (o == Py_None)
      continue; /* NULL */
    PyObject *str = param_text(o, i, &kinds[i], &pv[i]);
    if (str == NULL || PyList_Append(strs, str) < 0) {
      Py_XDECREF(str);
      goto out;
    }
    Py_DECREF(str); /* strs holds it */
  }
  /* This process's records first, so that they are visible. */
  mida_session_t *s = session_for_query();
  mida_session_info_t si = {0};
  flush_session(s, &si);
  query_ctx q = {PyList_New(0), NULL, bound, 0, NULL};
  if (q.rows == NULL)
    goto out;
  char err[512] = "";
  q.thread = PyEval_SaveThread();
  int rc = mida_query_kinds(si.store, sql, pv, kinds, (int)np, query_columns,
                            query_row, query_stop, &q, err, sizeof err);
  PyEval_RestoreThread(q.thread);
  /* A store not made yet is made by the session of a process that records
   * into it: a query before its first record opens that session, and sees
   * the new store empty, rather than fail (no row came: nothing to undo). */
  if (rc == MIDA_ENOTFOUND && s == NULL && !q.failed &&
      (s = mida_py_session_get()) != NULL) {
    flush_session(s, &si);
    err[0] = '\0';
    q.thread = PyEval_SaveThread();
    rc = mida_query_kinds(si.store, sql, pv, kinds, (int)np, query_columns,
                          query_row, query_stop, &q, err, sizeof err);
    PyEval_RestoreThread(q.thread);
  }
  /* The column names, asked for: a result without rows has them too. */
  if (with_columns && !q.failed &&
      (names = q.keys != NULL ? PySequence_List(q.keys) : PyList_New(0)) ==
          NULL)
    q.failed = 1;
  Py_XDECREF(q.keys);
  if (q.failed) {
    Py_DECREF(q.rows);
    goto out;
  }
  if (rc != MIDA_OK) {
    PyErr_Format(mida_py_error, "%s: %s", mida_strerror(rc), err);
    Py_DECREF(q.rows);
    goto out;
  }
  /* A note with the rows: the shipping of a run was not waited out, or
   * the store's role has no temporary-space bound (mida_query). */
  if (err[0] != '\0' && PyErr_WarnEx(PyExc_RuntimeWarning, err, 1) < 0) {
    Py_DECREF(q.rows);
    goto out;
  }
  if (names == NULL) {
    ret = q.rows;
  } else {
    ret = PyTuple_Pack(2, names, q.rows);
    Py_DECREF(q.rows);
  }
out:
  Py_XDECREF(names);
  PyMem_Free(pv);
  PyMem_Free(kinds);
  Py_XDECREF(strs);
  Py_XDECREF(seq);
  return ret;
}

/* ---- the module ---------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"workflow_begin", (PyCFunction)(void (*)(void))mod_workflow_begin,
     METH_VARARGS | METH_KEYWORDS,
     "workflow_begin(name, campaign=None, metadata=None, source=None, "
     "set_default=True) -> (id, token): with set_default, the workflow of "
     "this context until workflow_end(id, status, token)"},
    {"exception_status", mod_exception_status, METH_O,
     "exception_status(exc) -> the status a block that exc ended ends with"},
    {"workflow_end", mod_workflow_end, METH_VARARGS,
     "workflow_end(id, status=FINISHED, token=None)"},
    {"metric", (PyCFunction)(void (*)(void))mod_metric,
     METH_VARARGS | METH_KEYWORDS,
     "metric(key, value, step=None, task=None): one point of the current "
     "task's metric"},
    {"data", (PyCFunction)(void (*)(void))mod_data,
     METH_VARARGS | METH_KEYWORDS,
     "data(uri, role='used', kind=None, digest=None, size=-1, name=None, "
     "metadata=None, task=None)"},
    {"task_begin", (PyCFunction)(void (*)(void))mod_task_begin,
     METH_VARARGS | METH_KEYWORDS,
     "task_begin(id, activity=None, workflow=None, parent=None, "
     "status=RUNNING, submitted=0, source_key=None, used=None, custom=None)"
     " -> bool: a task whose id the caller chose"},
    {"task_update", (PyCFunction)(void (*)(void))mod_task_update,
     METH_VARARGS | METH_KEYWORDS,
     "task_update(id, status=0, started=None, ended=None, used=None, "
     "generated=None, custom=None, error=None, worker=None, pid=0) -> bool"},
    {"task_run", (PyCFunction)(void (*)(void))mod_task_run,
     METH_VARARGS | METH_KEYWORDS,
     "task_run(run, task, status=0, started=0, ended=0, worker=None, "
     "error=None): an execution of a task"},
    {"task_dep", mod_task_dep, METH_VARARGS,
     "task_dep(task, upstream) -> bool: task depends on upstream"},
    {"counter", mod_counter, METH_VARARGS,
     "counter(key, value) -> bool: a counter of this process (mida stats)"},
    {"id_from_name", mod_id_from_name, METH_VARARGS,
     "id_from_name(namespace, name) -> id, the same everywhere"},
    {"new_id", mod_new_id, METH_NOARGS, "a new time-ordered id"},
    {"now_ns", mod_now_ns, METH_NOARGS, "the time, ns since the epoch"},
    {"capture", mod_capture, METH_O, "capture(value) -> JSON text"},
    {"current_task", mod_current_task, METH_NOARGS,
     "the id of the current task, or None"},
    {"_ship_default", mod_ship_default, METH_O,
     "_ship_default(ms): the ship interval when MIDA_SHIP_MS is unset"},
    {"session_info", mod_session_info, METH_NOARGS,
     "the session's store, spool, workflow and campaign"},
    {"flush", (PyCFunction)(void (*)(void))mod_flush,
     METH_VARARGS | METH_KEYWORDS,
     "flush(timeout=-1) -> bool: True when the store has every record "
     "within timeout seconds (negative: no limit)"},
    {"close", mod_close, METH_NOARGS, "flushes and closes the session"},
    {"stats", mod_stats, METH_NOARGS, "the session's counters"},
    {"configure", (PyCFunction)(void (*)(void))mod_configure,
     METH_VARARGS | METH_KEYWORDS,
     "configure(max_str=, max_items=, max_depth=, max_repr=, max_bytes=)"},
    {"query", mod_query, METH_VARARGS,
     "query(sql, params=(), max_rows=1000000, columns=False) -> list of "
     "dicts (read-only); with columns, (column names, rows)"},
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
  if (PyType_Ready(&mida_py_TaskFuncType) < 0 ||
      PyType_Ready(&mida_py_TaskMeterType) < 0 ||
      PyType_Ready(&mida_py_DaskSchedulerHooksType) < 0 ||
      PyType_Ready(&mida_py_DaskWorkerHooksType) < 0 ||
      mida_py_dask_hooks_init() < 0)
    return NULL;
  PyObject *m = PyModule_Create(&module_def);
  if (m == NULL)
    return NULL;
  mida_py_error = PyErr_NewExceptionWithDoc(
      "mida.Error", "A mida call failed.", PyExc_RuntimeError, NULL);
  if (mida_py_error == NULL || mida_py_args_init(m) < 0 ||
      mida_py_session_init() < 0)
    goto fail;
  Py_INCREF(&mida_py_TaskFuncType);
  if (PyModule_AddObject(m, "TaskFunc", (PyObject *)&mida_py_TaskFuncType) <
          0 ||
      PyModule_AddObjectRef(m, "TaskMeter",
                            (PyObject *)&mida_py_TaskMeterType) < 0 ||
      PyModule_AddObjectRef(m, "DaskSchedulerHooks",
                            (PyObject *)&mida_py_DaskSchedulerHooksType) < 0 ||
      PyModule_AddObjectRef(m, "DaskWorkerHooks",
                            (PyObject *)&mida_py_DaskWorkerHooksType) < 0 ||
      PyModule_AddObjectRef(m, "Error", mida_py_error) < 0 ||
      PyModule_AddStringConstant(m, "version", mida_version()) < 0)
    goto fail;
  static const struct {
    const char *name;
    int value;
  } consts[] = {
      {"SUBMITTED", MIDA_STATUS_SUBMITTED},
      {"RUNNING", MIDA_STATUS_RUNNING},
      {"FINISHED", MIDA_STATUS_FINISHED},
      {"CANCELLED", MIDA_STATUS_CANCELLED},
      {"ERROR", MIDA_STATUS_ERROR},
      {"LOST", MIDA_STATUS_LOST},
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
    if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0)
      goto fail;
  caps_from_env();
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}

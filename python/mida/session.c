/*
 * session.c -- the process's session, seen from Python: one per process,
 * opened lazily from the MIDA_* environment on first use, closed by
 * mida.__init__'s atexit hook; after fork() the child opens its own (a
 * journal and a shipper thread do not survive fork). Also the ids as
 * Python sees them and the "current task", a context variable, so that
 * nested tasks (also across await) get their parent and mida.metric()
 * knows its task; and the "current workflow" of `with mida.workflow`
 * blocks, a context variable too, so that blocks in threads and asyncio
 * tasks keep their tasks apart (see mida_py_workflow_enter).
 */
#include "ext.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the process's session ---------------------------------------------- */

mida_session_t *mida_py_session;
int mida_py_disabled;
int mida_py_telemetry_task;
unsigned long long mida_py_capture_errors;
PyObject *mida_py_error;
static int g_open_failed;        /* 1 after a failed open: do not retry */
static char g_open_error[512];   /* why it failed */
static mida_id_t g_inherited_wf; /* workflow of the parent before fork */
static int g_record_warned;      /* 1 once a failed record was warned of */
static char g_closed_spool[4096]; /* the spool of the session closed last */
int mida_py_strict;
static PyObject *g_current;      /* ContextVar: the current task (bytes) */
static PyObject *g_workflow;     /* ContextVar: the current workflow (bytes)
                                    of `with mida.workflow` blocks */
static int g_workflow_used;      /* 1 once g_workflow was set in any
                                    context: until then no context has it,
                                    and a task need not look it up */
static PyObject *g_open_wfs;     /* list of bytes: the blocks' workflows
                                    still open, in the order they began */
static mida_id_t g_wf_base;      /* the default before the first of them */
unsigned mida_py_ship_ms_default; /* 0, or the ship interval to open with
                                     when MIDA_SHIP_MS is not set */
unsigned mida_py_ship_ms;         /* the open session's ship interval */

static void after_fork_child(void) {
  /* The parent's session belongs to the parent: its shipper thread is gone
   * here. Remember the default workflow and open a new session lazily. */
  mida_session_info_t info;
  if (mida_py_session != NULL &&
      mida_session_info_get(mida_py_session, &info) == MIDA_OK)
    g_inherited_wf = info.workflow;
  mida_py_session = NULL;
  g_open_failed = 0;
  /* The parent's failures are the parent's: counted into the store under
   * the child's pid too, `mida stats` would add them up twice. */
  mida_py_capture_errors = 0;
}

mida_session_t *mida_py_session_get(void) {
  if (mida_py_session != NULL || g_open_failed)
    return mida_py_session;
  mida_config_t cfg;
  mida_config_init(&cfg);
  const char *ship_ms = getenv("MIDA_SHIP_MS");
  if (mida_py_ship_ms_default != 0 && (ship_ms == NULL || *ship_ms == '\0'))
    cfg.ship_interval_ms = mida_py_ship_ms_default;
  mida_session_t *s = NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mida_open(&cfg, &s, g_open_error, sizeof g_open_error);
  Py_END_ALLOW_THREADS
  mida_py_strict = cfg.strict != 0;
  if (rc != MIDA_OK) {
    g_open_failed = 1;
    PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                     "mida: cannot open the store (%s); nothing is recorded",
                     g_open_error);
    PyErr_Clear(); /* a warning turned into an error must not escape */
    return NULL;
  }
  if (g_open_error[0] != '\0') {
    /* Open, but recording less than it could (a store that is down, a
     * spool without room): said once, and the program goes on. */
    PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "mida: %s", g_open_error);
    PyErr_Clear();
  }
  if (!mida_id_is_nil(&g_inherited_wf) && cfg.workflow == NULL)
    (void)mida_workflow_set_default(s, &g_inherited_wf, NULL);
  mida_session_info_t info;
  (void)mida_session_info_get(s, &info);
  mida_py_disabled = info.disabled;
  mida_py_telemetry_task = info.telemetry_task;
  mida_py_ship_ms = cfg.ship_interval_ms;
  mida_py_session = s;
  return s;
}

mida_session_t *mida_py_session_or_raise(void) {
  mida_session_t *s = mida_py_session_get();
  if (s == NULL && !PyErr_Occurred()) {
    if (mida_py_strict)
      PyErr_Format(mida_py_error, "no mida session: %s", g_open_error);
    else
      mida_py_capture_errors++; /* said once, by the open's warning */
  }
  return s;
}

PyObject *mida_py_raise_rc(int rc) {
  /* What the caller passed was wrong: a mida.Error that is a ValueError. */
  PyObject *cls = rc == MIDA_EINVAL || rc == MIDA_EJSON ? mida_py_arg_error
                                                        : mida_py_error;
  PyErr_Format(cls, "%s: %s", mida_strerror(rc),
               mida_errmsg(mida_py_session));
  return NULL;
}

int mida_py_record_failed(int rc) {
  if (mida_py_strict || rc == MIDA_EINVAL || rc == MIDA_EJSON) {
    mida_py_raise_rc(rc);
    return -1;
  }
  mida_py_capture_errors++;
  if (!g_record_warned) {
    g_record_warned = 1;
    PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                     "mida: a record could not be made (%s: %s); such "
                     "records are counted in mida.stats()['capture_errors'] "
                     "and the program goes on",
                     mida_strerror(rc), mida_errmsg(mida_py_session));
    PyErr_Clear();
  }
  return 0;
}

/* ---- ids ---------------------------------------------------------------- */

PyObject *mida_py_id_to_str(const mida_id_t *id) {
  char buf[MIDA_ID_STRLEN];
  mida_id_format(id, buf);
  return PyUnicode_FromStringAndSize(buf, MIDA_ID_STRLEN - 1);
}

int mida_py_id_from_obj(PyObject *o, mida_id_t *out) {
  if (PyBytes_Check(o) && PyBytes_GET_SIZE(o) == 16) {
    memcpy(out->bytes, PyBytes_AS_STRING(o), 16);
    return 0;
  }
  if (!PyUnicode_Check(o)) {
    PyErr_Format(mida_py_arg_type_error,
                 "a mida id is a str (or 16 bytes), not %.100s",
                 Py_TYPE(o)->tp_name);
    return -1;
  }
  const char *s = PyUnicode_AsUTF8(o);
  if (s == NULL || mida_id_parse(s, out) != MIDA_OK) {
    PyErr_Clear();
    PyErr_Format(mida_py_arg_error, "not a mida id: %R", o);
    return -1;
  }
  return 0;
}

/* A TaskMeter's task (and its workflow) while it runs on this thread,
 * when the thread's context had no current task or workflow of its own
 * (a Dask worker's executor thread): a store to thread-local memory
 * instead of the set and reset of two context variables (~200 ns each, a
 * Dask task). The context variables, which a @mida.task or a `with
 * mida.workflow` block inside the task sets, come first. */
static _Thread_local struct meter_now {
  mida_id_t task;     /* the task */
  mida_id_t workflow; /* its workflow, or nil */
  int on;             /* a meter runs on this thread */
} t_meter;
static int g_meters_running; /* meters in t_meter, all threads: while none
                                is, t_meter (a call of __tls_get_addr in a
                                loaded module) is not read */

int mida_py_current_task(mida_id_t *out) {
  PyObject *v = NULL;
  if (PyContextVar_Get(g_current, NULL, &v) < 0) {
    PyErr_Clear();
    return 0;
  }
  if (v == NULL) { /* none of the context's: a TaskMeter's, if one runs */
    if (g_meters_running == 0 || !t_meter.on)
      return 0;
    *out = t_meter.task;
    return 1;
  }
  int ok = PyBytes_Check(v) && PyBytes_GET_SIZE(v) == 16;
  if (ok)
    memcpy(out->bytes, PyBytes_AS_STRING(v), 16);
  Py_DECREF(v);
  return ok;
}

static PyObject *var_push(PyObject *var, const mida_id_t *id) {
  PyObject *b = PyBytes_FromStringAndSize((const char *)id->bytes, 16);
  if (b == NULL) {
    PyErr_Clear();
    return NULL;
  }
  PyObject *tok = PyContextVar_Set(var, b);
  Py_DECREF(b);
  if (tok == NULL)
    PyErr_Clear();
  return tok;
}

static void var_pop(PyObject *var, PyObject *tok) {
  if (tok == NULL)
    return;
  if (PyErr_Occurred() == NULL) { /* a call that returned */
    if (PyContextVar_Reset(var, tok) < 0)
      PyErr_Clear();
    Py_DECREF(tok);
    return;
  }
  /* Called with the user's exception set: keep it. */
  mida_py_saved_exc e = mida_py_exc_take();
  if (PyContextVar_Reset(var, tok) < 0)
    PyErr_Clear();
  mida_py_exc_put_back(e);
  Py_DECREF(tok);
}

PyObject *mida_py_current_push(const mida_id_t *id) {
  return var_push(g_current, id);
}

void mida_py_current_pop(PyObject *tok) { var_pop(g_current, tok); }

void mida_py_meter_enter(const mida_id_t *task, const mida_id_t *workflow,
                         mida_py_meter_scope *sc) {
  PyObject *v = NULL, *w = NULL;
  int set = (PyContextVar_Get(g_current, NULL, &v) == 0 && v != NULL) ||
            (g_workflow_used &&
             PyContextVar_Get(g_workflow, NULL, &w) == 0 && w != NULL);
  Py_XDECREF(v);
  Py_XDECREF(w);
  PyErr_Clear();
  sc->tok = sc->wtok = NULL;
  sc->fast = !set;
  sc->on = t_meter.on;
  sc->task = t_meter.task;
  sc->workflow = t_meter.workflow;
  if (!set) {
    t_meter.task = *task;
    memset(&t_meter.workflow, 0, sizeof t_meter.workflow);
    if (workflow != NULL)
      t_meter.workflow = *workflow;
    t_meter.on = 1;
    g_meters_running++;
    return;
  }
  /* Inside a task or a block already (a meter called from a decorated
   * function): the context variables, which come first, say it. */
  sc->tok = var_push(g_current, task);
  if (workflow != NULL) {
    g_workflow_used = 1;
    sc->wtok = var_push(g_workflow, workflow);
  }
}

void mida_py_meter_leave(mida_py_meter_scope *sc) {
  var_pop(g_workflow, sc->wtok);
  var_pop(g_current, sc->tok);
  if (sc->fast)
    g_meters_running--;
  t_meter.on = sc->on;
  t_meter.task = sc->task;
  t_meter.workflow = sc->workflow;
}

int mida_py_current_workflow(mida_id_t *out) {
  PyObject *v = NULL;
  if (g_workflow_used && PyContextVar_Get(g_workflow, NULL, &v) < 0) {
    PyErr_Clear();
    return 0;
  }
  if (v == NULL) {
    if (g_meters_running > 0 && t_meter.on &&
        !mida_id_is_nil(&t_meter.workflow)) {
      *out = t_meter.workflow;
      return 1;
    }
    return 0;
  }
  int ok = PyBytes_Check(v) && PyBytes_GET_SIZE(v) == 16;
  if (ok)
    memcpy(out->bytes, PyBytes_AS_STRING(v), 16);
  Py_DECREF(v);
  return ok;
}

/* The blocks' workflows: the context variable says which one a task of
 * this thread or asyncio task belongs to; a thread started without the
 * context (threading.Thread copies none) has none set and its tasks get
 * the session's default workflow, which is kept as the last block still
 * open in the order they began (g_open_wfs), or, when none is, the default
 * from before the first (g_wf_base: MIDA_WORKFLOW, the parent's after a
 * fork). A block that ends leaves the list wherever it is in it, so blocks
 * that end out of order never leave an ended workflow the default. */
PyObject *mida_py_workflow_enter(mida_session_t *s, const mida_id_t *id,
                                 const mida_id_t *before) {
  PyObject *b = PyBytes_FromStringAndSize((const char *)id->bytes, 16);
  if (b == NULL)
    return NULL;
  if (PyList_GET_SIZE(g_open_wfs) == 0)
    g_wf_base = *before;
  if (PyList_Append(g_open_wfs, b) < 0) {
    Py_DECREF(b);
    return NULL;
  }
  if (s != NULL)
    (void)mida_workflow_set_default(s, id, NULL);
  g_workflow_used = 1;
  PyObject *tok = PyContextVar_Set(g_workflow, b);
  Py_DECREF(b);
  return tok;
}

int mida_py_workflow_leave(mida_session_t *s, const mida_id_t *id,
                           PyObject *tok) {
  if (tok != NULL && tok != Py_None &&
      PyContextVar_Reset(g_workflow, tok) < 0) {
    /* Left in another context than it was entered in: that context's
     * workflow is left as it is. */
    PyErr_Clear();
  }
  Py_ssize_t n = PyList_GET_SIZE(g_open_wfs);
  Py_ssize_t i = n - 1;
  for (; i >= 0; i--) {
    PyObject *b = PyList_GET_ITEM(g_open_wfs, i);
    if (memcmp(PyBytes_AS_STRING(b), id->bytes, 16) == 0)
      break;
  }
  if (i < 0)
    return 0;
  if (PySequence_DelItem(g_open_wfs, i) < 0)
    return -1;
  n--;
  mida_id_t next = g_wf_base;
  if (n > 0)
    memcpy(next.bytes, PyBytes_AS_STRING(PyList_GET_ITEM(g_open_wfs, n - 1)),
           16);
  /* Only if it is the default: one that began later stays the default. */
  if (s != NULL)
    (void)mida_workflow_set_default(s, &next, id);
  return 0;
}

const char *mida_py_session_error(void) { return g_open_error; }

void mida_py_capture_errors_record(mida_session_t *s) {
  if (s != NULL && mida_py_capture_errors > 0)
    (void)mida_counter(s, "python.capture_errors",
                       (int64_t)mida_py_capture_errors);
}

int mida_py_session_close(void) {
  mida_session_t *s = mida_py_session;
  mida_py_session = NULL;
  g_open_failed = 0;
  if (s == NULL)
    return MIDA_OK;
  mida_py_capture_errors_record(s);
  mida_session_info_t info;
  g_closed_spool[0] = '\0';
  if (mida_session_info_get(s, &info) == MIDA_OK && info.spool != NULL)
    snprintf(g_closed_spool, sizeof g_closed_spool, "%s", info.spool);
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = mida_close(s);
  Py_END_ALLOW_THREADS
  return rc;
}

void mida_py_session_close_warn(int rc) {
  if (rc == MIDA_OK)
    return;
  /* A broker's ACL or the store refused records: dropped or left out,
   * and counted; the message says so. */
  if (rc == MIDA_EDENIED || rc == MIDA_EREFUSED)
    PyErr_WarnFormat(PyExc_RuntimeWarning, 1, "mida: at close: %s",
                     mida_errmsg(NULL));
  else
    PyErr_WarnFormat(PyExc_RuntimeWarning, 1,
                     "mida: the store did not take every record before the "
                     "session closed (%s: %s); the rest stays in the spool "
                     "%s, for the next process that uses it or `mida "
                     "recover --spool %s`",
                     mida_strerror(rc), mida_errmsg(NULL), g_closed_spool,
                     g_closed_spool);
  PyErr_Clear(); /* a warning turned into an error must not escape */
}

int mida_py_session_init(void) {
  g_current = PyContextVar_New("mida_current_task", NULL);
  g_workflow = PyContextVar_New("mida_workflow", NULL);
  g_open_wfs = PyList_New(0);
  if (g_current == NULL || g_workflow == NULL || g_open_wfs == NULL)
    return -1;
  pthread_atfork(NULL, NULL, after_fork_child);
  return 0;
}

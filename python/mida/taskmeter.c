/*
 * taskmeter.c -- the `TaskMeter` type, which the Dask worker plugin
 * (mida/dask.py) puts around a task when it starts executing on a worker:
 * on the thread that runs the task, in C, off the worker's event loop, it
 * records the execution as a run of the task (mida_task_run: its start
 * before the call, its end, outcome and resource use after it), and the
 * task's arguments and result as an update of the task (mida_task_update).
 */
#include "ext.h"
#include "dask_args.h"
#include "value.h"

#include <stdio.h>
#include <string.h>

/* ---- TaskMeter: one execution of a Dask task ----------------------------- */

/* The Dask worker plugin sees a task start and end on the worker's
 * event-loop thread, which is not the thread that runs it; it puts a
 * TaskMeter around the task instead, so that the work happens on the
 * executing thread:
 *
 *   - around a graph node (dask 2024.12 and later: node=True), the meter
 *     replaces the task's run spec; the worker calls it with the data of
 *     the task's dependencies, and it calls the node with them. The
 *     arguments come from the node itself (dask_args.h);
 *   - around a function (the (func, args, kwargs) run specs of older
 *     Dask), the meter replaces the function and receives the actual
 *     arguments; the plugin hands over the run spec's argument objects and
 *     dependency keys (args=...), so that references stay references.
 *
 * Each call is one run: a RUNNING run record (start, worker) before the
 * call, so that a worker killed during the task leaves its start; after it
 * the run's end (FINISHED, or ERROR with the exception's text, or
 * CANCELLED when Dask's Reschedule moves the task elsewhere), with the
 * per-task telemetry taken around the call; then, when the meter knows the
 * spec, the task's `used` (arguments) and `generated` ({"return":
 * result}). While the function runs, the task is the current task of the
 * executing thread (and its workflow the current workflow), as a
 * @mida.task's is: mida.metric and mida.current_task() see it, and a
 * @mida.task called inside gets it as parent. Times are this host's
 * clock, as for every other record of it (its telemetry samples
 * included): Dask's own task times add its estimate of the scheduler's
 * clock offset, which a busy host can make wrong by seconds. The call's
 * arguments, result and exception pass through untouched. */
typedef struct TaskMeter {
  PyObject_HEAD
  vectorcallfunc vectorcall; /* taskmeter_vectorcall */
  PyObject *func;            /* the wrapped callable (function or node) */
  int node;                  /* 1: func is a graph node */
  mida_id_t id;              /* the task the runs belong to */
  mida_id_t workflow;        /* its workflow (nil: unknown) */
  mida_py_dask_spec spec;    /* function mode: the run spec (spec.args
                                NULL: runs only, no used/generated) */
  PyObject *worker;          /* worker address (str), or NULL */
} TaskMeter;

unsigned long long mida_py_meter_calls;
unsigned long long mida_py_meter_no_summary;

/* Whether the meter records the task's arguments and result. */
static int knows_spec(const TaskMeter *tm) {
  return tm->node || tm->spec.args != NULL;
}

static void count_failure(int rc) {
  if (rc != MIDA_OK)
    mida_py_capture_errors++; /* a pure C call: no exception to raise */
}

/* The text "Type: message" of the exception now set (which it leaves set),
 * into buf; returns buf. *status is the run's outcome: CANCELLED for
 * Dask's Reschedule (the worker hands the task to another one, as a P2P
 * shuffle does), ERROR for anything else. */
static const char *exception_text(char *buf, size_t cap,
                                  mida_status_t *status) {
  mida_py_saved_exc exc = mida_py_exc_take();
  PyObject *value = exc.value;
#if PY_VERSION_HEX < 0x030C0000
  if (exc.type != NULL) {
    PyErr_NormalizeException(&exc.type, &exc.value, &exc.tb);
    value = exc.value;
  }
#endif
  const char *type = value != NULL ? Py_TYPE(value)->tp_name : "?";
  const char *dot = strrchr(type, '.');
  *status = strcmp(dot != NULL ? dot + 1 : type, "Reschedule") == 0
                ? MIDA_STATUS_CANCELLED
                : MIDA_STATUS_ERROR;
  PyObject *msg = value != NULL ? PyObject_Str(value) : NULL;
  PyErr_Clear();
  const char *text = NULL;
  PyObject *held = msg != NULL ? mida_py_error_utf8(msg, &text) : NULL;
  if (text != NULL && text[0] != '\0')
    snprintf(buf, cap, "%s: %s", dot != NULL ? dot + 1 : type, text);
  else
    snprintf(buf, cap, "%s", dot != NULL ? dot + 1 : type);
  Py_XDECREF(held);
  Py_XDECREF(msg);
  PyErr_Clear();
  mida_py_exc_put_back(exc);
  return buf;
}

/* The task's update for a call that returned res (NULL: raised, with the
 * exception set, which it leaves as it was): its arguments and result. */
static void taskmeter_record(TaskMeter *tm, mida_session_t *s,
                             PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames, PyObject *res) {
  mida_task_update_t u = {0};
  mida_py_json used, gen;
  mida_py_json_init(&used);
  mida_py_json_init(&gen);
  mida_py_saved_exc exc = mida_py_exc_take(); /* the call's, if it raised */
  if (tm->node)
    mida_py_dask_node_used(&used, tm->func, tm->spec.names);
  else
    mida_py_dask_used(&used, &tm->spec, tm->func, args, nargs, kwnames);
  u.used = mida_py_json_end(&used);
  if (res != NULL) {
    mida_py_json_raw(&gen, "{\"return\":", 10);
    mida_py_json_value(&gen, res, 1);
    mida_py_json_raw(&gen, "}", 1);
    u.generated = mida_py_json_end(&gen);
  }
  PyErr_Clear();
  mida_py_exc_put_back(exc);
  int rc = mida_task_update(s, &tm->id, &u);
  if (rc == MIDA_ETOOBIG || rc == MIDA_EJSON) {
    /* Arguments or result too large for a record: keep the rest. */
    u.used = "{\"_mida\":\"arguments too large to record\"}";
    if (res != NULL)
      u.generated = "{\"_mida\":\"result too large to record\"}";
    rc = mida_task_update(s, &tm->id, &u);
  }
  count_failure(rc);
  mida_py_json_free(&used);
  mida_py_json_free(&gen);
}

static PyObject *taskmeter_vectorcall(PyObject *self, PyObject *const *args,
                                      size_t nargsf, PyObject *kwnames) {
  TaskMeter *tm = (TaskMeter *)self;
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    return PyObject_Vectorcall(tm->func, args, nargsf, kwnames);
  int level = mida_py_telemetry_task;
  mida_id_t run = mida_id_new();
  mida_task_run_t r = {.task = &tm->id,
                       .status = MIDA_STATUS_RUNNING,
                       .started_ns = mida_now_ns()};
  r.worker = tm->worker != NULL ? PyUnicode_AsUTF8(tm->worker) : NULL;
  if (r.worker == NULL)
    PyErr_Clear();
  count_failure(mida_task_run(s, &run, &r));
  /* Under `mida run`, the files the task opens are its own. */
  mida_task_enter(&tm->id);
  if (level > 0)
    mida_task_usage_begin(s, &tm->id);
  mida_py_meter_scope scope;
  mida_py_meter_enter(&tm->id,
                      mida_id_is_nil(&tm->workflow) ? NULL : &tm->workflow,
                      &scope);
  PyObject *res = PyObject_Vectorcall(tm->func, args, nargsf, kwnames);
  mida_py_meter_leave(&scope);
  mida_task_leave(&tm->id);
  s = mida_py_session; /* closed during the call: nothing to write to */
  if (s == NULL)
    return res;
  r.ended_ns = mida_now_ns();
  char tel[MIDA_TASK_USAGE_MAX];
  if (level > 0) {
    size_t n = mida_task_usage_end(s, &tm->id, tel, sizeof tel);
    mida_py_meter_calls++;
    if (n == 0)
      mida_py_meter_no_summary++;
    r.telemetry = n > 0 ? tel : NULL;
  }
  char err[1024];
  r.status = MIDA_STATUS_FINISHED;
  r.error = res != NULL ? NULL : exception_text(err, sizeof err, &r.status);
  count_failure(mida_task_run(s, &run, &r));
  if (knows_spec(tm))
    taskmeter_record(tm, s, args, PyVectorcall_NARGS(nargsf), kwnames, res);
  return res;
}

static PyObject *none_to_null(PyObject *o) {
  return o == NULL || o == Py_None ? NULL : Py_NewRef(o);
}

static PyObject *taskmeter_new(PyTypeObject *type, PyObject *args,
                               PyObject *kwargs) {
  static char *kwlist[] = {"func",  "task",   "args", "kwargs",   "deps",
                           "names", "worker", "node", "workflow", NULL};
  PyObject *func, *task, *sargs = NULL, *skw = NULL, *deps = NULL;
  PyObject *names = NULL, *worker = NULL, *wfo = NULL;
  int node = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OOOOOpO:TaskMeter",
                                   kwlist, &func, &task, &sargs, &skw, &deps,
                                   &names, &worker, &node, &wfo))
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
  mida_id_t id, wf = {{0}};
  if (mida_py_id_from_obj(task, &id) < 0 ||
      (wfo != NULL && wfo != Py_None && mida_py_id_from_obj(wfo, &wf) < 0))
    return NULL;
  TaskMeter *tm = (TaskMeter *)type->tp_alloc(type, 0);
  if (tm == NULL)
    return NULL;
  tm->vectorcall = taskmeter_vectorcall;
  tm->func = Py_NewRef(func);
  tm->node = node;
  tm->id = id;
  tm->workflow = wf;
  tm->spec.args = none_to_null(sargs);
  tm->spec.kwargs = none_to_null(skw);
  tm->spec.deps = none_to_null(deps);
  tm->spec.names = none_to_null(names);
  tm->worker = none_to_null(worker);
  return (PyObject *)tm;
}

int mida_py_taskmeter_id(PyObject *o, mida_id_t *out) {
  if (Py_TYPE(o) != &mida_py_TaskMeterType)
    return 0;
  *out = ((TaskMeter *)o)->id;
  return 1;
}

PyObject *mida_py_taskmeter_for_node(PyObject *node, const mida_id_t *task,
                                     const mida_id_t *workflow,
                                     PyObject *worker) {
  TaskMeter *tm =
      (TaskMeter *)mida_py_TaskMeterType.tp_alloc(&mida_py_TaskMeterType, 0);
  if (tm == NULL)
    return NULL;
  tm->vectorcall = taskmeter_vectorcall;
  tm->func = Py_NewRef(node);
  tm->node = 1;
  tm->id = *task;
  if (workflow != NULL)
    tm->workflow = *workflow;
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
  PyObject *wf = mida_id_is_nil(&tm->workflow)
                     ? Py_NewRef(Py_None)
                     : PyBytes_FromStringAndSize(
                           (const char *)tm->workflow.bytes, 16);
  if (wf == NULL)
    return NULL;
#define OR_NONE(o) ((o) != NULL ? (o) : Py_None)
  return Py_BuildValue("(O(Oy#OOOOOON))", (PyObject *)Py_TYPE(self),
                       tm->func, (const char *)tm->id.bytes, (Py_ssize_t)16,
                       OR_NONE(tm->spec.args), OR_NONE(tm->spec.kwargs),
                       OR_NONE(tm->spec.deps), OR_NONE(tm->spec.names),
                       OR_NONE(tm->worker), tm->node ? Py_True : Py_False,
                       wf);
#undef OR_NONE
}

/* __name__, key, dependencies and the like come from the wrapped function
 * or node (dask.utils.funcname, the worker's logs). */
static PyObject *taskmeter_getattro(PyObject *self, PyObject *name) {
  PyObject *r = PyObject_GenericGetAttr(self, name);
  if (r != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError))
    return r;
  PyErr_Clear();
  return PyObject_GetAttr(((TaskMeter *)self)->func, name);
}

static PyObject *taskmeter_repr(PyObject *self) {
  return PyObject_Repr(((TaskMeter *)self)->func);
}

static PyObject *taskmeter_task(PyObject *self, void *unused) {
  (void)unused;
  return mida_py_id_to_str(&((TaskMeter *)self)->id);
}

/* A node's is_coro (the worker asks before it runs the task); a coroutine
 * function is never wrapped, so a function's is False. The name is made
 * once (the GIL orders its first use), not a new str each time. */
static PyObject *taskmeter_is_coro(PyObject *self, void *unused) {
  (void)unused;
  static PyObject *name;
  TaskMeter *tm = (TaskMeter *)self;
  if (!tm->node)
    Py_RETURN_FALSE;
  return mida_py_attr(tm->func, &name, "is_coro");
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
    {"is_coro", taskmeter_is_coro, NULL, "whether the node is a coroutine",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject mida_py_TaskMeterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mida._mida.TaskMeter",
    .tp_basicsize = sizeof(TaskMeter),
    .tp_dealloc = taskmeter_dealloc,
    .tp_vectorcall_offset = offsetof(TaskMeter, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_repr = taskmeter_repr,
    .tp_getattro = taskmeter_getattro,
    .tp_flags =
        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "TaskMeter(func, task, args=None, kwargs=None, deps=None, "
              "names=None, worker=None, node=False, workflow=None): calls "
              "func (a function, or with node=True a Dask graph node), "
              "recording each call as a run of task, with its resource use "
              "and, when the spec is known, the task's arguments and "
              "result; task (and workflow) are current during the call.",
    .tp_traverse = taskmeter_traverse,
    .tp_clear = taskmeter_clear,
    .tp_methods = taskmeter_methods,
    .tp_members = taskmeter_members,
    .tp_getset = taskmeter_getset,
    .tp_new = taskmeter_new,
};

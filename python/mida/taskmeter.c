/*
 * taskmeter.c -- the `TaskMeter` type, which the Dask worker plugin
 * (mida/dask.py) puts around a task's function on the worker: it takes the
 * per-task telemetry snapshots (mida_task_usage_begin/end) around the
 * call on the thread that runs it and records the summary, with the call's
 * arguments and result when the plugin handed over the run spec, as an
 * update of the task (mida_task_update).
 */
#include "ext.h"
#include "dask_args.h"
#include "value.h"

#include <string.h>
#include <unistd.h>

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

unsigned long long mida_py_meter_calls;
unsigned long long mida_py_meter_no_summary;

/* The update of the task for a metered call that returned res (NULL:
 * raised, with the exception set, which it leaves as it was). */
static void taskmeter_record(TaskMeter *tm, mida_session_t *s,
                             PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames, PyObject *res,
                             const char *telemetry) {
  mida_task_update_t u = {.telemetry = telemetry};
  mida_py_json used, gen;
  mida_py_json_init(&used);
  mida_py_json_init(&gen);
  if (tm->spec.args != NULL) {
    /* the call's exception, if it raised */
    mida_py_saved_exc exc = mida_py_exc_take();
    mida_py_dask_used(&used, &tm->spec, tm->func, args, nargs, kwnames);
    u.used = mida_py_json_end(&used);
    if (res != NULL) {
      mida_py_json_raw(&gen, "{\"return\":", 10);
      mida_py_json_value(&gen, res, 1);
      mida_py_json_raw(&gen, "}", 1);
      u.generated = mida_py_json_end(&gen);
    }
    u.worker = tm->worker != NULL ? PyUnicode_AsUTF8(tm->worker) : NULL;
    u.pid = (int64_t)getpid();
    PyErr_Clear();
    mida_py_exc_put_back(exc);
  }
  int rc = mida_task_update(s, &tm->id, &u);
  if ((rc == MIDA_ETOOBIG || rc == MIDA_EJSON) && tm->spec.args != NULL) {
    /* Arguments or result too large for a record: keep the rest. */
    u.used = "{\"_mida\":\"arguments too large to record\"}";
    if (res != NULL)
      u.generated = "{\"_mida\":\"result too large to record\"}";
    rc = mida_task_update(s, &tm->id, &u);
  }
  if (rc != MIDA_OK)
    mida_py_capture_errors++; /* a pure C call: the exception, if any, stays */
  mida_py_json_free(&used);
  mida_py_json_free(&gen);
}

static PyObject *taskmeter_vectorcall(PyObject *self, PyObject *const *args,
                                      size_t nargsf, PyObject *kwnames) {
  TaskMeter *tm = (TaskMeter *)self;
  mida_session_t *s = mida_py_session_for_capture();
  int level = s != NULL ? mida_py_telemetry_task : 0;
  if (s == NULL)
    return PyObject_Vectorcall(tm->func, args, nargsf, kwnames);
  /* Under `mida run`, the files the task opens are its own. */
  mida_task_enter(&tm->id);
  if (level <= 0 && tm->spec.args == NULL) {
    PyObject *r = PyObject_Vectorcall(tm->func, args, nargsf, kwnames);
    mida_task_leave(&tm->id);
    return r;
  }
  if (level > 0)
    mida_task_usage_begin(s, &tm->id);
  PyObject *res = PyObject_Vectorcall(tm->func, args, nargsf, kwnames);
  mida_task_leave(&tm->id);
  s = mida_py_session; /* closed during the call: nothing to write to */
  char buf[MIDA_TASK_USAGE_MAX];
  size_t n = 0;
  if (level > 0 && s != NULL) {
    n = mida_task_usage_end(s, &tm->id, buf, sizeof buf);
    mida_py_meter_calls++;
    if (n == 0)
      mida_py_meter_no_summary++;
  }
  if (s != NULL && (n > 0 || tm->spec.args != NULL))
    taskmeter_record(tm, s, args, PyVectorcall_NARGS(nargsf), kwnames, res,
                     n > 0 ? buf : NULL);
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
  if (mida_py_id_from_obj(task, &id) < 0)
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
  return mida_py_id_to_str(&((TaskMeter *)self)->id);
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

PyTypeObject mida_py_TaskMeterType = {
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

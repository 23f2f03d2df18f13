/*
 * dask_hooks.c -- the transition hooks of mida.dask's plugins, in C: the
 * types _mida.DaskSchedulerHooks and _mida.DaskWorkerHooks, which
 * MidaSchedulerPlugin and MidaWorkerPlugin (mida/dask.py) subclass.
 *
 * Dask calls a plugin's transition() for every transition of every key:
 * the scheduler ~5 times a task, with keyword arguments (stimulus_id, and
 * at an end the worker, nbytes, typename, startstops, ...), and each
 * worker ~6 times a task. As Python methods the hooks cost the scheduler
 * ~16,000 instructions a task and a worker ~22,000 (bench_dask_hooks.py
 * under callgrind), most of them the calls themselves: a frame, a kwargs
 * dict, the arguments of the _mida functions parsed back out of tuples
 * and dicts. Here transition() is a METH_FASTCALL | METH_KEYWORDS method:
 * the transitions a plugin ignores (most of them) leave after a string
 * comparison, without a frame or a dict, and the ones that record go
 * straight to libmida (mida_task_update), with their custom fields
 * written as JSON here.
 *
 * The plugins' state stays in the Python objects' attributes (tasks,
 * workflows, ends_on_workers, ...; see dask.py), which these hooks read
 * by name: the objects pickle as before (observe() sends them to the
 * scheduler and the workers), tests and subclasses see and set the same
 * attributes, and the types have no fields of their own. What is rare --
 * an erred key, a workflow's end, a run spec that cannot take the fast
 * meter, an unmetered run -- stays in Python, in dask.py's methods, which
 * the hooks call.
 */
#include "ext.h"
#include "value.h"

/* getattr(o, name, <absent>): 1 and *out a new reference, 0 and *out NULL
 * when o has no such attribute (no AttributeError made and cleared), -1
 * with an exception set. Public from Python 3.13, private before. */
#if PY_VERSION_HEX >= 0x030D0000
#define optional_attr PyObject_GetOptionalAttr
#else
#define optional_attr _PyObject_LookupAttr
#endif

/* Names the hooks use, interned once (mida_py_dask_hooks_init). */
static struct {
  PyObject *memory, *erred, *forgotten, *processing, *executing, *long_running,
      *error, *released; /* states */
  PyObject *key, *start, *finish, *worker, *nbytes, *typename_, *startstops,
      *exception_text, *traceback_text; /* keyword arguments */
  PyObject *action, *compute, *get;     /* a startstops entry */
  PyObject *tasks, *workflows, *ends_on_workers, *per_client, *namespace_,
      *state, *run_spec, *annotations, *mida_task, *is_coro, *func, *code,
      *address, *metered, *unmetered, *announced, *typenames, *type;
  PyObject *m_end_workflow, *m_erred, *m_executing, *m_end_unmetered,
      *m_announce, *m_typename; /* dask.py's methods for the rare paths */
} s_;

int mida_py_dask_hooks_init(void) {
  static const struct {
    PyObject **slot;
    const char *text;
  } names[] = {
      {&s_.memory, "memory"},
      {&s_.erred, "erred"},
      {&s_.forgotten, "forgotten"},
      {&s_.processing, "processing"},
      {&s_.executing, "executing"},
      {&s_.long_running, "long-running"},
      {&s_.error, "error"},
      {&s_.released, "released"},
      {&s_.key, "key"},
      {&s_.start, "start"},
      {&s_.finish, "finish"},
      {&s_.worker, "worker"},
      {&s_.nbytes, "nbytes"},
      {&s_.typename_, "typename"},
      {&s_.startstops, "startstops"},
      {&s_.exception_text, "exception_text"},
      {&s_.traceback_text, "traceback_text"},
      {&s_.action, "action"},
      {&s_.compute, "compute"},
      {&s_.get, "get"},
      {&s_.tasks, "tasks"},
      {&s_.workflows, "workflows"},
      {&s_.ends_on_workers, "ends_on_workers"},
      {&s_.per_client, "per_client"},
      {&s_.namespace_, "namespace"},
      {&s_.state, "state"},
      {&s_.run_spec, "run_spec"},
      {&s_.annotations, "annotations"},
      {&s_.mida_task, "mida_task"},
      {&s_.is_coro, "is_coro"},
      {&s_.func, "func"},
      {&s_.code, "__code__"},
      {&s_.address, "address"},
      {&s_.metered, "metered"},
      {&s_.unmetered, "unmetered"},
      {&s_.announced, "announced"},
      {&s_.typenames, "typenames"},
      {&s_.type, "type"},
      {&s_.m_end_workflow, "_end_workflow"},
      {&s_.m_erred, "_erred"},
      {&s_.m_executing, "_executing"},
      {&s_.m_end_unmetered, "_end_unmetered"},
      {&s_.m_announce, "_announce"},
      {&s_.m_typename, "_typename"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    *names[i].slot = PyUnicode_InternFromString(names[i].text);
    if (*names[i].slot == NULL)
      return -1;
  }
  return 0;
}

/* ---- shared helpers ------------------------------------------------------ */

/* Whether state (a str from Dask) is the interned name: Dask's states are
 * literals in its code, interned as ours are, so the pointers match; a
 * str built at run time is compared by value. */
static int is_state(PyObject *state, PyObject *name) {
  if (state == name)
    return 1;
  return PyUnicode_Check(state) &&
         PyUnicode_GET_LENGTH(state) == PyUnicode_GET_LENGTH(name) &&
         PyUnicode_Compare(state, name) == 0;
}

/* The value of keyword argument name in a vectorcall (kwnames after the
 * nargs positional ones), borrowed; NULL if not passed. */
static PyObject *kwarg(PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames, PyObject *name) {
  if (kwnames == NULL)
    return NULL;
  Py_ssize_t n = PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t i = 0; i < n; i++)
    if (PyTuple_GET_ITEM(kwnames, i) == name)
      return args[nargs + i];
  for (Py_ssize_t i = 0; i < n; i++) /* names built at run time */
    if (is_state(PyTuple_GET_ITEM(kwnames, i), name))
      return args[nargs + i];
  return NULL;
}

/* key, start and finish of a transition call: positional as Dask passes
 * them, or by keyword. Returns 0, or -1 with TypeError set. */
static int transition_args(PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames, PyObject **key, PyObject **start,
                           PyObject **finish) {
  PyObject *const names[3] = {s_.key, s_.start, s_.finish};
  PyObject **out[3] = {key, start, finish};
  for (Py_ssize_t i = 0; i < 3; i++) {
    *out[i] = i < nargs ? args[i] : kwarg(args, nargs, kwnames, names[i]);
    if (*out[i] == NULL) {
      PyErr_Format(PyExc_TypeError, "transition() missing argument '%U'",
                   names[i]);
      return -1;
    }
  }
  return 0;
}

/* mapping.get(key) as a new reference, None included; NULL with an
 * exception set if the lookup failed. A dict (what the plugins and Dask
 * keep) is read directly. */
static PyObject *mapping_get(PyObject *mapping, PyObject *key) {
  if (PyDict_CheckExact(mapping)) {
    PyObject *v = PyDict_GetItemWithError(mapping, key);
    if (v == NULL)
      return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    return Py_NewRef(v);
  }
  return PyObject_CallMethodOneArg(mapping, s_.get, key);
}

/* The value of a Dask key in a mapping of keys (the plugin's, the
 * worker's tasks), as mapping_get; None for a key that cannot be hashed,
 * which is no key of Dask's. */
static PyObject *key_get(PyObject *mapping, PyObject *key) {
  PyObject *v = mapping_get(mapping, key);
  if (v == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
    PyErr_Clear();
    v = Py_NewRef(Py_None);
  }
  return v;
}

/* Whether key is in container: 1, 0, or -1 with an exception set. A key
 * that cannot be hashed is in no dict or set of ours: 0. */
static int contains(PyObject *container, PyObject *key) {
  int in = PySequence_Contains(container, key);
  if (in < 0 && PyErr_ExceptionMatches(PyExc_TypeError)) {
    PyErr_Clear();
    return 0;
  }
  return in;
}

/* self.<name> is truthy: 1, 0, or -1 with an exception set. */
static int attr_true(PyObject *self, PyObject *name) {
  PyObject *v = PyObject_GetAttr(self, name);
  if (v == NULL)
    return -1;
  int t = PyObject_IsTrue(v);
  Py_DECREF(v);
  return t;
}

/* Records a status and custom fields of the task whose id (str) is tid,
 * as _mida.task_update(tid, status, custom=...) does; known: the id
 * parsed already, or NULL. custom: JSON object text or NULL. Returns 0,
 * or -1 with an exception set. */
static int record_update(PyObject *tid, const mida_id_t *known, int status,
                         const char *custom) {
  mida_id_t id;
  if (known != NULL)
    id = *known;
  else if (mida_py_id_from_obj(tid, &id) < 0)
    return -1;
  mida_session_t *s = mida_py_session_for_capture();
  if (s == NULL)
    return 0;
  mida_task_update_t u = {0};
  u.status = (mida_status_t)status;
  u.custom = custom;
  int rc = mida_task_update(s, &id, &u);
  return rc == MIDA_OK ? 0 : mida_py_record_failed(rc);
}

/* Records the end of a key (status: FINISHED, or 0 when the worker's run
 * says it) with its custom fields {"nbytes": nbytes, "typename":
 * typename}, each left out when NULL, the typename also when empty.
 * Returns 0, or -1 with an exception set. */
static int record_end(PyObject *tid, const mida_id_t *known, int status,
                      PyObject *nbytes, PyObject *typename_) {
  int named = 0;
  if (typename_ != NULL) {
    named = PyObject_IsTrue(typename_);
    if (named < 0)
      return -1;
  }
  mida_py_json w;
  mida_py_json_init(&w);
  mida_py_json_raw(&w, "{", 1);
  if (nbytes != NULL) {
    mida_py_json_raw(&w, "\"nbytes\":", 9);
    mida_py_json_value(&w, nbytes, 1);
  }
  if (named) {
    if (nbytes != NULL)
      mida_py_json_raw(&w, ",", 1);
    mida_py_json_raw(&w, "\"typename\":", 11);
    mida_py_json_value(&w, typename_, 1);
  }
  mida_py_json_raw(&w, "}", 1);
  const char *custom = mida_py_json_end(&w);
  int rc;
  if (custom == NULL) {
    PyErr_NoMemory();
    rc = -1;
  } else {
    rc = record_update(tid, known, status, custom);
  }
  mida_py_json_free(&w);
  return rc;
}

/* ---- the scheduler: DaskSchedulerHooks ----------------------------------- */

/* Whether a task's startstops (as a worker reports them) include its
 * computation, as dask.py's _computed(): a worker that got the key's data
 * from another one reports only the transfer. 1, 0, or -1. */
static int computed(PyObject *startstops) {
  if (startstops == NULL || startstops == Py_None)
    return 0;
  PyObject *it = PyObject_GetIter(startstops);
  if (it == NULL)
    return -1;
  int found = 0;
  PyObject *ss;
  while (found == 0 && (ss = PyIter_Next(it)) != NULL) {
    PyObject *action = mapping_get(ss, s_.action);
    Py_DECREF(ss);
    if (action == NULL) {
      found = -1;
      break;
    }
    found = action == s_.compute
                ? 1
                : PyObject_RichCompareBool(action, s_.compute, Py_EQ);
    Py_DECREF(action);
  }
  Py_DECREF(it);
  if (found == 0 && PyErr_Occurred())
    return -1;
  return found;
}

/* One key of workflow wf no longer pending, as dask.py's _one_done() did:
 * its state [pending keys, erred?] counted down, and the workflow ended
 * (self._end_workflow, in Python: once per workflow) when none is left,
 * except per client. Returns 0, or -1 with an exception set. */
static int one_done(PyObject *self, PyObject *wf, int erred) {
  PyObject *workflows = PyObject_GetAttr(self, s_.workflows);
  if (workflows == NULL)
    return -1;
  PyObject *state = mapping_get(workflows, wf);
  Py_DECREF(workflows);
  if (state == NULL)
    return -1;
  int rc = 0;
  if (state == Py_None)
    goto out;
  if (!PyList_Check(state) || PyList_GET_SIZE(state) < 2) {
    PyErr_SetString(PyExc_TypeError,
                    "a workflow's state is a list [pending, erred]");
    rc = -1;
    goto out;
  }
  long long pending = PyLong_AsLongLong(PyList_GET_ITEM(state, 0));
  if (pending == -1 && PyErr_Occurred()) {
    rc = -1;
    goto out;
  }
  pending--;
  PyObject *left = PyLong_FromLongLong(pending);
  if (left == NULL || PyList_SetItem(state, 0, left) < 0) {
    rc = -1;
    goto out;
  }
  if (erred && PyList_SetItem(state, 1, Py_NewRef(Py_True)) < 0) {
    rc = -1;
    goto out;
  }
  if (pending <= 0) {
    int per_client = attr_true(self, s_.per_client);
    if (per_client < 0) {
      rc = -1;
      goto out;
    }
    if (!per_client) {
      PyObject *r = PyObject_CallMethodOneArg(self, s_.m_end_workflow, wf);
      if (r == NULL)
        rc = -1;
      Py_XDECREF(r);
    }
  }
out:
  Py_DECREF(state);
  return rc;
}

/* The end of key in memory, computed by the worker in kwargs "worker":
 * nothing when that worker records the ends itself (RECORDS_ENDS) and
 * computed it (the startstops say so): its shipper writes the task's row
 * anyway, and a write from here as well would cost the store a second,
 * separate one (~12 us a task). Else FINISHED with nbytes and typename.
 * Returns 0, or -1 with an exception set. */
static int sched_memory(PyObject *self, PyObject *tid, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames) {
  PyObject *worker = kwarg(args, nargs, kwnames, s_.worker);
  PyObject *eow = PyObject_GetAttr(self, s_.ends_on_workers);
  if (eow == NULL)
    return -1;
  int theirs = contains(eow, worker != NULL ? worker : Py_None);
  Py_DECREF(eow);
  if (theirs > 0)
    theirs = computed(kwarg(args, nargs, kwnames, s_.startstops));
  if (theirs != 0)
    return theirs < 0 ? -1 : 0;
  return record_end(tid, NULL, MIDA_STATUS_FINISHED,
                    kwarg(args, nargs, kwnames, s_.nbytes),
                    kwarg(args, nargs, kwnames, s_.typename_));
}

/* The end of a key the scheduler recorded, rec = self.tasks[key] = [task
 * id tid, workflow id wf, ended?] (sched_end holds tid and wf), at finish
 * (memory, erred or forgotten). Returns 0, or -1 with an exception set. */
static int sched_end_of(PyObject *self, PyObject *tasks, PyObject *rec,
                        PyObject *tid, PyObject *wf, PyObject *key,
                        PyObject *start, int finish, PyObject *const *args,
                        Py_ssize_t nargs, PyObject *kwnames) {
  int ended = PyObject_IsTrue(PyList_GET_ITEM(rec, 2));
  if (ended < 0)
    return -1;
  if (finish == 'f') {
    if (PyDict_CheckExact(tasks) ? PyDict_DelItem(tasks, key)
                                 : PyObject_DelItem(tasks, key))
      return -1;
    if (ended) /* a key computed again, or scattered data */
      return 0;
    /* Released before it ended: cancelled. */
    if (record_update(tid, NULL, MIDA_STATUS_CANCELLED, NULL) < 0)
      return -1;
    return one_done(self, wf, 0);
  }
  if (ended || (finish == 'm' && !is_state(start, s_.processing)))
    return 0;
  if (PyList_SetItem(rec, 2, Py_NewRef(Py_True)) < 0)
    return -1;
  if (finish == 'm') {
    if (sched_memory(self, tid, args, nargs, kwnames) < 0)
      return -1;
    return one_done(self, wf, 0);
  }
  /* Erred, rarely: the error text (its own, or the upstream key to blame)
   * is made by dask.py's _erred. */
  PyObject *text = kwarg(args, nargs, kwnames, s_.exception_text);
  PyObject *tb = kwarg(args, nargs, kwnames, s_.traceback_text);
  text = text != NULL ? text : Py_None;
  tb = tb != NULL ? tb : Py_None;
  PyObject *cargs[] = {self, key, start, tid, text, tb};
  PyObject *r = PyObject_VectorcallMethod(s_.m_erred, cargs, 6, NULL);
  if (r == NULL)
    return -1;
  Py_DECREF(r);
  return one_done(self, wf, 1);
}

static int sched_end(PyObject *self, PyObject *tasks, PyObject *rec,
                     PyObject *key, PyObject *start, int finish,
                     PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames) {
  if (!PyList_Check(rec) || PyList_GET_SIZE(rec) < 3) {
    PyErr_SetString(PyExc_TypeError,
                    "a key's record is a list [task, workflow, ended]");
    return -1;
  }
  /* Held, not borrowed from rec: what runs in between (a startstops
   * entry's get, a subclass's _erred) may change rec or drop the ids. */
  PyObject *tid = Py_NewRef(PyList_GET_ITEM(rec, 0));
  PyObject *wf = Py_NewRef(PyList_GET_ITEM(rec, 1));
  int rc = sched_end_of(self, tasks, rec, tid, wf, key, start, finish, args,
                        nargs, kwnames);
  Py_DECREF(tid);
  Py_DECREF(wf);
  return rc;
}

/* transition(key, start, finish, *args, **kwargs): the scheduler's hook.
 * Only ends count (memory, erred, forgotten) of keys the plugin knows
 * (self.tasks); any other argument is accepted and ignored. */
static PyObject *sched_transition(PyObject *self, PyObject *const *args,
                                  Py_ssize_t nargsf, PyObject *kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  PyObject *key, *start, *finish;
  if (transition_args(args, nargs, kwnames, &key, &start, &finish) < 0)
    return NULL;
  int which = is_state(finish, s_.memory)      ? 'm'
              : is_state(finish, s_.erred)     ? 'e'
              : is_state(finish, s_.forgotten) ? 'f'
                                               : 0;
  if (which == 0)
    Py_RETURN_NONE;
  PyObject *tasks = PyObject_GetAttr(self, s_.tasks);
  if (tasks == NULL)
    return NULL;
  PyObject *rec = key_get(tasks, key);
  int rc = rec != NULL ? 0 : -1;
  if (rec != NULL && rec != Py_None)
    rc = sched_end(self, tasks, rec, key, start, which, args, nargs, kwnames);
  Py_XDECREF(rec);
  Py_DECREF(tasks);
  if (rc < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyMethodDef sched_methods[] = {
    {"transition", (PyCFunction)(void (*)(void))sched_transition,
     METH_FASTCALL | METH_KEYWORDS,
     "transition(key, start, finish, *args, **kwargs): the scheduler's "
     "hook for every transition of every key; records the end of the "
     "keys the plugin knows."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject mida_py_DaskSchedulerHooksType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mida._mida.DaskSchedulerHooks",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The transition hook of mida.dask.MidaSchedulerPlugin, in C.",
    .tp_methods = sched_methods,
    .tp_new = PyType_GenericNew,
};

/* ---- the worker: DaskWorkerHooks ----------------------------------------- */

/* self.worker.state.tasks.get(key): a new reference, None if the worker
 * has no such task, or NULL with an exception set. */
static PyObject *worker_task(PyObject *self, PyObject *key) {
  PyObject *worker = PyObject_GetAttr(self, s_.worker);
  if (worker == NULL)
    return NULL;
  PyObject *state = PyObject_GetAttr(worker, s_.state);
  Py_DECREF(worker);
  if (state == NULL)
    return NULL;
  PyObject *tasks = PyObject_GetAttr(state, s_.tasks);
  Py_DECREF(state);
  if (tasks == NULL)
    return NULL;
  PyObject *ts = key_get(tasks, key);
  Py_DECREF(tasks);
  return ts;
}

/* The task id the scheduler put in ts's annotations (a new reference),
 * None if it put none, or NULL with an exception set. */
static PyObject *annotated_id(PyObject *ts) {
  PyObject *ann = PyObject_GetAttr(ts, s_.annotations);
  if (ann == NULL)
    return NULL;
  PyObject *tid;
  int some = PyObject_IsTrue(ann);
  if (some < 0)
    tid = NULL;
  else if (some == 0)
    tid = Py_NewRef(Py_None);
  else
    tid = mapping_get(ann, s_.mida_task);
  Py_DECREF(ann);
  return tid;
}

/* The fast meter of a task about to execute: its run spec a graph node
 * (dask 2024.12 and later) of a plain function (one with a code object,
 * not a coroutine function), and its id in the annotations. Then ts's run
 * spec becomes the node in a TaskMeter, counted in self.metered; returns
 * 1. Returns 0 where the task does not fit (dask.py's _executing does the
 * rest), -1 with an exception set. */
static int meter_node(PyObject *self, PyObject *ts, PyObject *spec) {
  if (Py_TYPE(spec) == &mida_py_TaskMeterType) /* run again */
    return 0;
  PyObject *coro = NULL, *func = NULL, *code = NULL, *tid = NULL;
  PyObject *address = NULL, *meter = NULL, *n = NULL, *n1 = NULL;
  int rc = 0;
  if (optional_attr(spec, s_.is_coro, &coro) < 0)
    goto fail;
  if (coro != Py_False) /* a tuple spec, or async def: dask.py's */
    goto out;
  if (optional_attr(spec, s_.func, &func) < 0)
    goto fail;
  /* A callable without a code object needs its parameter names from
   * inspect.signature (dask.py's _names); a node without func (an Alias,
   * a DataNode) needs none. */
  if (func != NULL) {
    if (optional_attr(func, s_.code, &code) < 0)
      goto fail;
    if (code == NULL)
      goto out;
  }
  tid = annotated_id(ts);
  if (tid == NULL)
    goto fail;
  mida_id_t id;
  if (tid == Py_None || !PyUnicode_Check(tid) ||
      mida_py_id_from_obj(tid, &id) < 0) {
    PyErr_Clear(); /* no id of the scheduler's, or a bad one: dask.py's */
    goto out;
  }
  address = PyObject_GetAttr(self, s_.address);
  if (address == NULL)
    goto fail;
  if (address != Py_None && !PyUnicode_Check(address))
    goto out;
  meter = mida_py_taskmeter_for_node(spec, &id, address);
  if (meter == NULL || PyObject_SetAttr(ts, s_.run_spec, meter) < 0)
    goto fail;
  n = PyObject_GetAttr(self, s_.metered);
  if (n == NULL)
    goto fail;
  long long metered = PyLong_AsLongLong(n);
  if (metered == -1 && PyErr_Occurred())
    goto fail;
  n1 = PyLong_FromLongLong(metered + 1);
  if (n1 == NULL || PyObject_SetAttr(self, s_.metered, n1) < 0)
    goto fail;
  rc = 1;
  goto out;
fail:
  rc = -1;
out:
  Py_XDECREF(coro);
  Py_XDECREF(func);
  Py_XDECREF(code);
  Py_XDECREF(tid);
  Py_XDECREF(address);
  Py_XDECREF(meter);
  Py_XDECREF(n);
  Py_XDECREF(n1);
  return rc;
}

/* A task starts executing: it is put inside a TaskMeter (meter_node), or
 * dask.py's _executing(key, ts) meters it otherwise or records its run
 * unmetered. Returns 0, or -1 with an exception set. */
static int worker_executing(PyObject *self, PyObject *key) {
  PyObject *ns = PyObject_GetAttr(self, s_.namespace_);
  if (ns == NULL)
    return -1;
  int known = ns != Py_None;
  Py_DECREF(ns);
  if (!known) /* before setup: no scheduler to name the ids */
    return 0;
  PyObject *ts = worker_task(self, key);
  if (ts == NULL)
    return -1;
  int rc = 0;
  PyObject *spec = NULL;
  if (ts == Py_None)
    goto out;
  spec = PyObject_GetAttr(ts, s_.run_spec);
  if (spec == NULL) {
    rc = -1;
    goto out;
  }
  if (spec == Py_None)
    goto out;
  rc = meter_node(self, ts, spec);
  if (rc < 0) { /* as dask.py's _meter: a spec that fails is not metered */
    if (!PyErr_ExceptionMatches(PyExc_Exception))
      goto out;
    PyErr_Clear();
    rc = 0;
  }
  if (rc == 0) {
    PyObject *cargs[] = {self, key, ts};
    PyObject *r = PyObject_VectorcallMethod(s_.m_executing, cargs, 3, NULL);
    rc = r != NULL ? 0 : -1;
    Py_XDECREF(r);
  } else {
    rc = 0;
  }
out:
  Py_XDECREF(spec);
  Py_DECREF(ts);
  return rc;
}

/* Dask's name of type typ (dask.utils.typename), from self.typenames, or
 * else dask.py's _typename, which caches it. A new reference, or NULL
 * with an exception set. */
static PyObject *type_name(PyObject *self, PyObject *typ) {
  PyObject *names = PyObject_GetAttr(self, s_.typenames);
  if (names == NULL)
    return NULL;
  PyObject *name = mapping_get(names, typ);
  Py_DECREF(names);
  if (name == NULL) {
    if (!PyErr_ExceptionMatches(PyExc_TypeError))
      return NULL;
    PyErr_Clear(); /* a type that cannot be hashed */
  }
  if (name != NULL && name != Py_None)
    return name;
  Py_XDECREF(name);
  return PyObject_CallMethodOneArg(self, s_.m_typename, typ);
}

/* Whether the task's run was recorded here: its run spec in a TaskMeter
 * (a node, or an older tuple spec's function), or its key unmetered. 1,
 * 0, or -1 with an exception set. */
static int ran_here(PyObject *self, PyObject *key, PyObject *spec) {
  if (Py_TYPE(spec) == &mida_py_TaskMeterType)
    return 1;
  if (PyTuple_CheckExact(spec) && PyTuple_GET_SIZE(spec) == 3 &&
      Py_TYPE(PyTuple_GET_ITEM(spec, 0)) == &mida_py_TaskMeterType)
    return 1;
  PyObject *unmetered = PyObject_GetAttr(self, s_.unmetered);
  if (unmetered == NULL)
    return -1;
  int in = contains(unmetered, key);
  Py_DECREF(unmetered);
  return in;
}

/* _ended(key): the end of a task this worker computed, which the
 * scheduler would record otherwise: its nbytes and typename (custom), and
 * FINISHED where no run of it was recorded here (its run summary says so
 * otherwise). Recorded here, it lands in the write of the task's row that
 * this worker's shipper makes anyway (the run's summary); the scheduler
 * leaves it to workers that said so (RECORDS_ENDS), which this one does
 * (dask.py's _announce) when it first ends a task of a scheduler with
 * mida (the annotation). Returns 0, or -1 with an exception set. */
static int worker_ended(PyObject *self, PyObject *key) {
  PyObject *ts = worker_task(self, key);
  if (ts == NULL)
    return -1;
  PyObject *tid = NULL, *announced = NULL, *typ = NULL, *name = NULL;
  PyObject *spec = NULL, *nbytes = NULL;
  int rc = 0;
  if (ts == Py_None)
    goto out;
  tid = annotated_id(ts);
  if (tid == NULL)
    goto fail;
  if (tid == Py_None) /* no scheduler plugin: nothing of the key's end */
    goto out;
  announced = PyObject_GetAttr(self, s_.announced);
  if (announced == NULL)
    goto fail;
  if (announced == Py_None) {
    PyObject *r = PyObject_CallMethodNoArgs(self, s_.m_announce);
    if (r == NULL)
      goto fail;
    Py_DECREF(r);
  }
  typ = PyObject_GetAttr(ts, s_.type);
  if (typ == NULL || (name = type_name(self, typ)) == NULL)
    goto fail;
  spec = PyObject_GetAttr(ts, s_.run_spec);
  if (spec == NULL)
    goto fail;
  int here = ran_here(self, key, spec);
  if (here < 0)
    goto fail;
  nbytes = PyObject_GetAttr(ts, s_.nbytes);
  if (nbytes == NULL)
    goto fail;
  /* A meter made for this run holds the id parsed (~900 instructions a
   * parse): the annotation's, from which it was made. */
  mida_id_t metered;
  int known = mida_py_taskmeter_id(spec, &metered);
  rc = record_end(tid, known ? &metered : NULL, here ? 0 : MIDA_STATUS_FINISHED,
                  nbytes, name != Py_None ? name : NULL);
  goto out;
fail:
  rc = -1;
out:
  Py_DECREF(ts);
  Py_XDECREF(tid);
  Py_XDECREF(announced);
  Py_XDECREF(typ);
  Py_XDECREF(name);
  Py_XDECREF(spec);
  Py_XDECREF(nbytes);
  return rc;
}

static PyObject *worker_ended_method(PyObject *self, PyObject *key) {
  if (worker_ended(self, key) < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* The end of an unmetered run of key, if it had one (dask.py's
 * _end_unmetered, in Python: counted, rare). Returns 0, or -1. */
static int worker_end_unmetered(PyObject *self, PyObject *key,
                                PyObject *finish) {
  PyObject *unmetered = PyObject_GetAttr(self, s_.unmetered);
  if (unmetered == NULL)
    return -1;
  /* Empty, as it is unless runs went unmetered: no hashing of the key. */
  int in = PyDict_CheckExact(unmetered) && PyDict_GET_SIZE(unmetered) == 0
               ? 0
               : contains(unmetered, key);
  Py_DECREF(unmetered);
  if (in <= 0)
    return in;
  PyObject *cargs[] = {self, key, finish};
  PyObject *r = PyObject_VectorcallMethod(s_.m_end_unmetered, cargs, 3, NULL);
  int rc = r != NULL ? 0 : -1;
  Py_XDECREF(r);
  return rc;
}

/* transition(key, start, finish, **kwargs): the worker's hook. A task
 * that starts executing gets its meter; one that goes to memory from
 * executing its end (_ended); an unmetered run ends at memory, error or
 * released. Every other transition leaves at once. */
static PyObject *worker_transition(PyObject *self, PyObject *const *args,
                                   Py_ssize_t nargsf, PyObject *kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  PyObject *key, *start, *finish;
  if (transition_args(args, nargs, kwnames, &key, &start, &finish) < 0)
    return NULL;
  int rc = 0;
  if (is_state(finish, s_.executing)) {
    rc = worker_executing(self, key);
  } else if (is_state(finish, s_.memory)) {
    if (is_state(start, s_.executing) || is_state(start, s_.long_running))
      rc = worker_ended(self, key);
    if (rc == 0)
      rc = worker_end_unmetered(self, key, finish);
  } else if (is_state(finish, s_.error) || is_state(finish, s_.released)) {
    rc = worker_end_unmetered(self, key, finish);
  }
  if (rc < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyMethodDef worker_methods[] = {
    {"transition", (PyCFunction)(void (*)(void))worker_transition,
     METH_FASTCALL | METH_KEYWORDS,
     "transition(key, start, finish, **kwargs): the worker's hook for "
     "every transition of every task; meters the tasks that start "
     "executing and records the ends of those computed here."},
    {"_ended", worker_ended_method, METH_O,
     "_ended(key): records the end of a task this worker computed (its "
     "nbytes and typename, and FINISHED if no run of it was recorded "
     "here), which the scheduler then leaves to it (RECORDS_ENDS)."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject mida_py_DaskWorkerHooksType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mida._mida.DaskWorkerHooks",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The transition hook of mida.dask.MidaWorkerPlugin, in C.",
    .tp_methods = worker_methods,
    .tp_new = PyType_GenericNew,
};

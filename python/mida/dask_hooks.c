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
 * written as JSON here. The scheduler's update_graph, once per graph,
 * hands its new keys to _drop_data here, which leaves out data (scattered,
 * or computed before the plugin saw it), and the rest to _begin_keys,
 * which ids and records them (with _by_priority's sorted tuples as they
 * are: ~5,000 fewer instructions a key than the loops in Python).
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

/* An exception held aside while cleanup that may raise its own runs
 * (error_hold), then raised again (error_raise). From Python 3.12 it is
 * one object (PyErr_Fetch and PyErr_Restore are deprecated there);
 * before, its type, value and traceback. */
#if PY_VERSION_HEX >= 0x030C0000
typedef struct {
  PyObject *exception; /* the exception, a new reference */
} held_error;

static void error_hold(held_error *held) {
  held->exception = PyErr_GetRaisedException();
}

static void error_raise(held_error *held) {
  PyErr_SetRaisedException(held->exception);
}
#else
typedef struct {
  PyObject *type, *value, *traceback; /* as PyErr_Fetch gives them */
} held_error;

static void error_hold(held_error *held) {
  PyErr_Fetch(&held->type, &held->value, &held->traceback);
}

static void error_raise(held_error *held) {
  PyErr_Restore(held->type, held->value, held->traceback);
}
#endif

/* Names the hooks use, interned once (mida_py_dask_hooks_init). */
static struct {
  PyObject *memory, *erred, *forgotten, *processing, *executing, *long_running,
      *error, *released; /* states */
  PyObject *key, *start, *finish, *worker, *nbytes, *typename_, *startstops,
      *exception_text, *traceback_text; /* keyword arguments */
  PyObject *action, *compute, *get, *stop; /* a startstops entry */
  PyObject *tasks, *workflows, *ends_on_workers, *per_client, *namespace_,
      *state, *run_spec, *annotations, *mida_task, *mida_workflow,
      *is_coro, *func, *code,
      *address, *metered, *unmetered, *announced, *typenames, *type;
  PyObject *prefix, *name, *dependencies,
      *state_slot; /* a scheduler's TaskState */
  /* dask.py's methods, for the rare paths */
  PyObject *end_workflow_method, *erred_method, *executing_method,
      *end_unmetered_method, *announce_method, *typename_method;
} interned;

int mida_py_dask_hooks_init(void) {
  static const struct {
    PyObject **slot;
    const char *text;
  } names[] = {
      {&interned.memory, "memory"},
      {&interned.erred, "erred"},
      {&interned.forgotten, "forgotten"},
      {&interned.processing, "processing"},
      {&interned.executing, "executing"},
      {&interned.long_running, "long-running"},
      {&interned.error, "error"},
      {&interned.released, "released"},
      {&interned.key, "key"},
      {&interned.start, "start"},
      {&interned.finish, "finish"},
      {&interned.worker, "worker"},
      {&interned.nbytes, "nbytes"},
      {&interned.typename_, "typename"},
      {&interned.startstops, "startstops"},
      {&interned.exception_text, "exception_text"},
      {&interned.traceback_text, "traceback_text"},
      {&interned.action, "action"},
      {&interned.compute, "compute"},
      {&interned.get, "get"},
      {&interned.stop, "stop"},
      {&interned.tasks, "tasks"},
      {&interned.workflows, "workflows"},
      {&interned.ends_on_workers, "ends_on_workers"},
      {&interned.per_client, "per_client"},
      {&interned.namespace_, "namespace"},
      {&interned.state, "state"},
      {&interned.run_spec, "run_spec"},
      {&interned.annotations, "annotations"},
      {&interned.mida_task, "mida_task"},
      {&interned.mida_workflow, "mida_workflow"},
      {&interned.is_coro, "is_coro"},
      {&interned.func, "func"},
      {&interned.code, "__code__"},
      {&interned.address, "address"},
      {&interned.metered, "metered"},
      {&interned.unmetered, "unmetered"},
      {&interned.announced, "announced"},
      {&interned.typenames, "typenames"},
      {&interned.type, "type"},
      {&interned.prefix, "prefix"},
      {&interned.name, "name"},
      {&interned.dependencies, "dependencies"},
      {&interned.state_slot, "_state"},
      {&interned.end_workflow_method, "_end_workflow"},
      {&interned.erred_method, "_erred"},
      {&interned.executing_method, "_executing"},
      {&interned.end_unmetered_method, "_end_unmetered"},
      {&interned.announce_method, "_announce"},
      {&interned.typename_method, "_typename"},
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

/* Dask's "long-running" (a worker's state, of a task that seceded), as
 * Dask's code passes it, or NULL until first seen: not our interned
 * name. CPython interns only the str constants that look like names
 * ("memory", "executing", ...), so this literal in Dask's code is an
 * object of its own (one per module) and never matches ours by address.
 * Holding on to the first exact str equal to it that comes (a reference
 * kept for the process's life) makes the next ones match by address as
 * the other states do, instead of comparing 12 characters each time. */
static PyObject *long_running_seen;

/* Whether state is "long-running": is_state, but by address for Dask's
 * own str as well. */
static int is_long_running(PyObject *state) {
  if (state == interned.long_running || state == long_running_seen)
    return 1;
  if (!is_state(state, interned.long_running))
    return 0;
  if (PyUnicode_CheckExact(state))
    Py_XSETREF(long_running_seen, Py_NewRef(state));
  return 1;
}

/* The value of keyword argument name in a vectorcall (kwnames after the
 * nargs positional ones), borrowed; NULL if not passed. */
static PyObject *keyword_arg(PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames, PyObject *name) {
  if (kwnames == NULL)
    return NULL;
  Py_ssize_t count = PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t i = 0; i < count; i++)
    if (PyTuple_GET_ITEM(kwnames, i) == name)
      return args[nargs + i];
  for (Py_ssize_t i = 0; i < count; i++) /* names built at run time */
    if (is_state(PyTuple_GET_ITEM(kwnames, i), name))
      return args[nargs + i];
  return NULL;
}

/* key, start and finish of a transition call with fewer than three
 * positional arguments: the rest by keyword (transition_args). */
static int transition_args_by_keyword(PyObject *const *args, Py_ssize_t nargs,
                                      PyObject *kwnames, PyObject **key,
                                      PyObject **start, PyObject **finish) {
  PyObject *const names[3] = {interned.key, interned.start, interned.finish};
  PyObject **out[3] = {key, start, finish};
  for (Py_ssize_t i = 0; i < 3; i++) {
    *out[i] = i < nargs ? args[i] : keyword_arg(args, nargs, kwnames, names[i]);
    if (*out[i] == NULL) {
      PyErr_Format(PyExc_TypeError, "transition() missing argument '%U'",
                   names[i]);
      return -1;
    }
  }
  return 0;
}

/* key, start and finish of a transition call: positional as Dask passes
 * them (taken at once: this is inline in the hooks), or by keyword.
 * Returns 0, or -1 with TypeError set. */
static inline int transition_args(PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames, PyObject **key,
                                  PyObject **start, PyObject **finish) {
  if (nargs < 3)
    return transition_args_by_keyword(args, nargs, kwnames, key, start, finish);
  *key = args[0];
  *start = args[1];
  *finish = args[2];
  return 0;
}

/* Refuses what the worker's hook, transition(key, start, finish,
 * **kwargs) like WorkerPlugin.transition, would refuse in Python: more
 * than three positional arguments, or key, start or finish given by
 * position and by keyword. (The scheduler's takes *args, as
 * SchedulerPlugin.transition.) Not called for Dask's worker's calls
 * (three positional arguments, no keywords). Returns 0, or -1 with
 * TypeError set. */
static int worker_args_check(PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames) {
  if (nargs > 3) {
    PyErr_Format(PyExc_TypeError,
                 "transition() takes 3 positional arguments but %zd were "
                 "given",
                 nargs);
    return -1;
  }
  if (kwnames == NULL)
    return 0;
  PyObject *const names[3] = {interned.key, interned.start, interned.finish};
  for (Py_ssize_t i = 0; i < nargs; i++) {
    if (keyword_arg(args, nargs, kwnames, names[i]) != NULL) {
      PyErr_Format(PyExc_TypeError,
                   "transition() got multiple values for argument '%U'",
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
    PyObject *value = PyDict_GetItemWithError(mapping, key);
    if (value == NULL)
      return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    return Py_NewRef(value);
  }
  return PyObject_CallMethodOneArg(mapping, interned.get, key);
}

/* The value of a Dask key in a mapping of keys (the plugin's, the
 * worker's tasks), as mapping_get; None for a key that cannot be hashed,
 * which is no key of Dask's. */
static PyObject *key_get(PyObject *mapping, PyObject *key) {
  PyObject *value = mapping_get(mapping, key);
  if (value == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
    PyErr_Clear();
    value = Py_NewRef(Py_None);
  }
  return value;
}

/* Whether key is in container: 1, 0, or -1 with an exception set. A key
 * that cannot be hashed is in no dict or set of ours: 0. */
static int contains(PyObject *container, PyObject *key) {
  int found = PySequence_Contains(container, key);
  if (found < 0 && PyErr_ExceptionMatches(PyExc_TypeError)) {
    PyErr_Clear();
    return 0;
  }
  return found;
}

/* self.<name> is truthy: 1, 0, or -1 with an exception set. */
static int attr_true(PyObject *self, PyObject *name) {
  PyObject *value = PyObject_GetAttr(self, name);
  if (value == NULL)
    return -1;
  int truth = PyObject_IsTrue(value);
  Py_DECREF(value);
  return truth;
}

/* A record's outcome rc: 0 if it was kept, or counted as failed; -1 with
 * an exception set where failures raise (mida_py_record_failed). */
static int kept_or_counted(int rc) {
  return rc == MIDA_OK ? 0 : (mida_py_record_failed(rc) < 0 ? -1 : 0);
}

/* Records a status, start and end times, worker and custom fields of the
 * task whose id (str) is task_id, as _mida.task_update(task_id, status,
 * ended=..., custom=...) does; known: the id parsed already, or NULL.
 * started_ns, ended_ns: ns since the epoch, or 0 for none. worker, custom
 * (JSON object text): NULL for none. Returns 0, or -1 with an exception
 * set. */
static int record_update_span(PyObject *task_id, const mida_id_t *known,
                              int status, int64_t started_ns,
                              int64_t ended_ns, const char *worker,
                              const char *custom) {
  mida_id_t id;
  if (known != NULL)
    id = *known;
  else if (mida_py_id_from_obj(task_id, &id) < 0)
    return -1;
  mida_session_t *session = mida_py_session_for_capture();
  if (session == NULL)
    return 0;
  mida_task_update_t update = {0};
  update.status = (mida_status_t)status;
  update.started_ns = started_ns;
  update.ended_ns = ended_ns;
  update.worker = worker;
  update.custom = custom;
  int rc = mida_task_update(session, &id, &update);
  return kept_or_counted(rc);
}

static int record_update(PyObject *task_id, const mida_id_t *known, int status,
                         int64_t ended_ns, const char *custom) {
  return record_update_span(task_id, known, status, 0, ended_ns, NULL, custom);
}

/* Where and when a key ran, as the scheduler hears it from the worker
 * (sched_memory); a field unknown is 0 or NULL. */
typedef struct ran_span {
  int64_t started_ns, ended_ns; /* its "compute" startstop */
  const char *worker;           /* the worker's address (borrowed) */
} ran_span;

/* Records the end of a key (status: FINISHED, or 0 when the worker's run
 * says it) with its custom fields {"nbytes": nbytes, "typename":
 * typename}, each left out when NULL, the typename also when empty, and
 * where and when it ran (ran, or NULL). Returns 0, or -1 with an
 * exception set. */
static int record_end(PyObject *task_id, const mida_id_t *known, int status,
                      PyObject *nbytes, PyObject *typename_,
                      const ran_span *ran) {
  int named = 0;
  if (typename_ != NULL) {
    named = PyObject_IsTrue(typename_);
    if (named < 0)
      return -1;
  }
  mida_py_json json;
  mida_py_json_init(&json);
  mida_py_json_raw(&json, "{", 1);
  if (nbytes != NULL) {
    mida_py_json_raw(&json, "\"nbytes\":", 9);
    mida_py_json_value(&json, nbytes, 1);
  }
  if (named) {
    if (nbytes != NULL)
      mida_py_json_raw(&json, ",", 1);
    mida_py_json_raw(&json, "\"typename\":", 11);
    mida_py_json_value(&json, typename_, 1);
  }
  mida_py_json_raw(&json, "}", 1);
  const char *custom = mida_py_json_end(&json);
  int rc;
  if (custom == NULL) {
    PyErr_NoMemory();
    rc = -1;
  } else {
    rc = ran != NULL ? record_update_span(task_id, known, status,
                                          ran->started_ns, ran->ended_ns,
                                          ran->worker, custom)
                     : record_update(task_id, known, status, 0, custom);
  }
  mida_py_json_free(&json);
  return rc;
}

/* ---- the scheduler: DaskSchedulerHooks ----------------------------------- */

/* The ends of a key that the scheduler's hook records. */
enum sched_end {
  SCHED_END_MEMORY,    /* computed (or its data scattered) */
  SCHED_END_ERRED,     /* its task, or one upstream, raised */
  SCHED_END_FORGOTTEN, /* released for good, ended or not */
};

/* The number value of entry[name] in ns (a time in seconds since the
 * epoch, as Dask's startstops give it), or 0 when it is none. */
static int64_t seconds_ns(PyObject *entry, PyObject *name) {
  PyObject *v = mapping_get(entry, name);
  if (v == NULL) {
    PyErr_Clear();
    return 0;
  }
  double t = PyFloat_Check(v) || PyLong_Check(v) ? PyFloat_AsDouble(v) : 0;
  Py_DECREF(v);
  if (PyErr_Occurred()) {
    PyErr_Clear();
    return 0;
  }
  return t > 0 && t < 9.2e9 ? (int64_t)(t * 1e9) : 0;
}

/* Whether a task's startstops (as a worker reports them) include its
 * computation, as dask.py's _computed(): a worker that got the key's data
 * from another one reports only the transfer. 1, 0, or -1 with an
 * exception set. Where one is found and ran is not NULL, its start and
 * stop go into ran. */
static int computed(PyObject *startstops, ran_span *ran) {
  if (startstops == NULL || startstops == Py_None)
    return 0;
  PyObject *entries = PyObject_GetIter(startstops);
  if (entries == NULL)
    return -1;
  int found = 0;
  while (found == 0) {
    PyObject *entry = PyIter_Next(entries);
    if (entry == NULL)
      break;
    PyObject *action = mapping_get(entry, interned.action);
    if (action == NULL) {
      Py_DECREF(entry);
      found = -1;
      break;
    }
    found = action == interned.compute
                ? 1
                : PyObject_RichCompareBool(action, interned.compute, Py_EQ);
    Py_DECREF(action);
    if (found > 0 && ran != NULL) {
      ran->started_ns = seconds_ns(entry, interned.start);
      ran->ended_ns = seconds_ns(entry, interned.stop);
    }
    Py_DECREF(entry);
  }
  Py_DECREF(entries);
  if (found == 0 && PyErr_Occurred())
    return -1;
  return found;
}

/* One key of the workflow whose id is workflow_id no longer pending, as
 * dask.py's _one_done() did: its state [pending keys, erred?] counted
 * down, and the workflow ended (self._end_workflow, in Python: once per
 * workflow) when none is left, except per client. Returns 0, or -1 with
 * an exception set. */
static int one_done(PyObject *self, PyObject *workflow_id, int erred) {
  PyObject *workflows = PyObject_GetAttr(self, interned.workflows);
  if (workflows == NULL)
    return -1;
  PyObject *state = mapping_get(workflows, workflow_id);
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
    int per_client = attr_true(self, interned.per_client);
    if (per_client < 0) {
      rc = -1;
      goto out;
    }
    if (!per_client) {
      PyObject *result = PyObject_CallMethodOneArg(
          self, interned.end_workflow_method, workflow_id);
      if (result == NULL)
        rc = -1;
      Py_XDECREF(result);
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
static int sched_memory(PyObject *self, PyObject *task_id,
                        PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames) {
  PyObject *worker = keyword_arg(args, nargs, kwnames, interned.worker);
  PyObject *ends_on_workers = PyObject_GetAttr(self, interned.ends_on_workers);
  if (ends_on_workers == NULL)
    return -1;
  int theirs = contains(ends_on_workers, worker != NULL ? worker : Py_None);
  Py_DECREF(ends_on_workers);
  if (theirs > 0)
    theirs = computed(keyword_arg(args, nargs, kwnames, interned.startstops),
                      NULL);
  if (theirs != 0)
    return theirs < 0 ? -1 : 0;
  /* No worker's run will say where and when it ran (a worker without the
   * plugin, or before it said RECORDS_ENDS): the scheduler's own word. */
  ran_span ran = {0, 0, NULL};
  if (computed(keyword_arg(args, nargs, kwnames, interned.startstops),
               &ran) < 0)
    return -1;
  if (worker != NULL && PyUnicode_Check(worker))
    ran.worker = PyUnicode_AsUTF8(worker);
  if (ran.worker == NULL)
    PyErr_Clear();
  return record_end(task_id, NULL, MIDA_STATUS_FINISHED,
                    keyword_arg(args, nargs, kwnames, interned.nbytes),
                    keyword_arg(args, nargs, kwnames, interned.typename_),
                    &ran);
}

/* The end of a key the scheduler recorded, record = self.tasks[key] =
 * [task id, workflow id, ended?] (sched_end holds task_id and workflow_id,
 * its first two items), at end (memory, erred or forgotten). Returns 0,
 * or -1 with an exception set. */
static int sched_end_of(PyObject *self, PyObject *tasks, PyObject *record,
                        PyObject *task_id, PyObject *workflow_id, PyObject *key,
                        PyObject *start, enum sched_end end,
                        PyObject *const *args, Py_ssize_t nargs,
                        PyObject *kwnames) {
  int ended = PyObject_IsTrue(PyList_GET_ITEM(record, 2));
  if (ended < 0)
    return -1;
  if (end == SCHED_END_FORGOTTEN) {
    int deleted = PyDict_CheckExact(tasks) ? PyDict_DelItem(tasks, key)
                                           : PyObject_DelItem(tasks, key);
    if (deleted < 0)
      return -1;
    if (ended) /* a key computed again, or scattered data */
      return 0;
    /* Released before it ended: cancelled, now. A status that is an end
     * has an end time; one that never ran has no start (and so no
     * duration), and one that ran has runs, whose summary gives the row
     * its start and end and leaves this end aside (merge.h, from_runs). */
    if (record_update(task_id, NULL, MIDA_STATUS_CANCELLED, mida_now_ns(),
                      NULL) < 0)
      return -1;
    return one_done(self, workflow_id, 0);
  }
  if (ended ||
      (end == SCHED_END_MEMORY && !is_state(start, interned.processing)))
    return 0;
  if (PyList_SetItem(record, 2, Py_NewRef(Py_True)) < 0)
    return -1;
  if (end == SCHED_END_MEMORY) {
    if (sched_memory(self, task_id, args, nargs, kwnames) < 0)
      return -1;
    return one_done(self, workflow_id, 0);
  }
  /* Erred, rarely: the error text (its own, or the upstream key to blame)
   * is made by dask.py's _erred. */
  PyObject *exception_text =
      keyword_arg(args, nargs, kwnames, interned.exception_text);
  PyObject *traceback_text =
      keyword_arg(args, nargs, kwnames, interned.traceback_text);
  PyObject *call_args[] = {
      self,
      key,
      start,
      task_id,
      exception_text != NULL ? exception_text : Py_None,
      traceback_text != NULL ? traceback_text : Py_None,
  };
  PyObject *result =
      PyObject_VectorcallMethod(interned.erred_method, call_args, 6, NULL);
  if (result == NULL)
    return -1;
  Py_DECREF(result);
  return one_done(self, workflow_id, 1);
}

static int sched_end(PyObject *self, PyObject *tasks, PyObject *record,
                     PyObject *key, PyObject *start, enum sched_end end,
                     PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames) {
  if (!PyList_Check(record) || PyList_GET_SIZE(record) < 3) {
    PyErr_SetString(PyExc_TypeError,
                    "a key's record is a list [task, workflow, ended]");
    return -1;
  }
  /* Held, not borrowed from record: what runs in between (a startstops
   * entry's get, a subclass's _erred) may change it or drop the ids. */
  PyObject *task_id = Py_NewRef(PyList_GET_ITEM(record, 0));
  PyObject *workflow_id = Py_NewRef(PyList_GET_ITEM(record, 1));
  int rc = sched_end_of(self, tasks, record, task_id, workflow_id, key, start,
                        end, args, nargs, kwnames);
  Py_DECREF(task_id);
  Py_DECREF(workflow_id);
  return rc;
}

/* transition(key, start, finish, *args, **kwargs): the scheduler's hook.
 * Only ends count (memory, erred, forgotten) of keys the plugin knows
 * (self.tasks); any other argument is accepted and ignored, as the *args
 * and **kwargs of SchedulerPlugin.transition (and of the Python hook
 * before this one, whose key, start and finish were positional-only:
 * given by keyword as well, they are among the ignored). */
static PyObject *sched_transition(PyObject *self, PyObject *const *args,
                                  Py_ssize_t nargsf, PyObject *kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  PyObject *key, *start, *finish;
  if (transition_args(args, nargs, kwnames, &key, &start, &finish) < 0)
    return NULL;
  enum sched_end end;
  if (is_state(finish, interned.memory))
    end = SCHED_END_MEMORY;
  else if (is_state(finish, interned.erred))
    end = SCHED_END_ERRED;
  else if (is_state(finish, interned.forgotten))
    end = SCHED_END_FORGOTTEN;
  else
    Py_RETURN_NONE;
  PyObject *tasks = PyObject_GetAttr(self, interned.tasks);
  if (tasks == NULL)
    return NULL;
  PyObject *record = key_get(tasks, key);
  int rc = record != NULL ? 0 : -1;
  if (record != NULL && record != Py_None)
    rc = sched_end(self, tasks, record, key, start, end, args, nargs, kwnames);
  Py_XDECREF(record);
  Py_DECREF(tasks);
  if (rc < 0)
    return NULL;
  Py_RETURN_NONE;
}

/* ---- the scheduler: a graph's new keys ---------------------------------- */

/* Pass 1 of begin_keys for (priority, key, ts) = pair: a new time-ordered
 * id, kept as *out; tasks[key] = [id text, workflow_id, False];
 * ts.annotations a new dict with the id under ANNOTATION and the workflow's
 * under "mida_workflow" (a copy: the annotations may be shared with other
 * tasks). Returns 0, or -1 with an
 * exception set. */
static int key_take_id(PyObject *tasks, PyObject *pair, PyObject *workflow_id,
                       mida_id_t *out) {
  if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 3) {
    PyErr_SetString(PyExc_TypeError,
                    "a new key is a tuple (priority, key, TaskState)");
    return -1;
  }
  PyObject *key = PyTuple_GET_ITEM(pair, 1);
  PyObject *ts = PyTuple_GET_ITEM(pair, 2);
  *out = mida_id_new();
  PyObject *text = mida_py_id_to_str(out);
  if (text == NULL)
    return -1;
  int rc = -1;
  PyObject *record = PyList_New(3);
  PyObject *ann = NULL, *fresh = NULL;
  if (record == NULL)
    goto out;
  PyList_SET_ITEM(record, 0, Py_NewRef(text));
  PyList_SET_ITEM(record, 1, Py_NewRef(workflow_id));
  PyList_SET_ITEM(record, 2, Py_NewRef(Py_False));
  if (PyObject_SetItem(tasks, key, record) < 0)
    goto out;
  ann = PyObject_GetAttr(ts, interned.annotations);
  if (ann == NULL)
    goto out;
  int some = ann == Py_None ? 0 : PyObject_IsTrue(ann);
  if (some < 0)
    goto out;
  fresh = PyDict_New();
  if (fresh == NULL || (some && PyDict_Update(fresh, ann) < 0) ||
      PyDict_SetItem(fresh, interned.mida_task, text) < 0 ||
      PyDict_SetItem(fresh, interned.mida_workflow, workflow_id) < 0 ||
      PyObject_SetAttr(ts, interned.annotations, fresh) < 0)
    goto out;
  rc = 0;
out:
  Py_XDECREF(fresh);
  Py_XDECREF(ann);
  Py_XDECREF(record);
  Py_DECREF(text);
  return rc;
}

/* The text of ts.prefix.name into *text (NULL for None), *held the
 * reference to keep while it is used. Returns 0, or -1 with an exception
 * set. */
static int prefix_name(PyObject *ts, const char **text, PyObject **held) {
  PyObject *prefix = PyObject_GetAttr(ts, interned.prefix);
  if (prefix == NULL)
    return -1;
  *held = PyObject_GetAttr(prefix, interned.name);
  Py_DECREF(prefix);
  *text = NULL;
  if (*held == NULL)
    return -1;
  if (*held == Py_None)
    return 0;
  if (!PyUnicode_Check(*held)) {
    PyErr_SetString(PyExc_TypeError, "a task prefix's name is a str");
    return -1;
  }
  *text = PyUnicode_AsUTF8(*held);
  return *text != NULL ? 0 : -1;
}

/* Appends text[0..n) to w percent-encoded: every byte but RFC 3986's
 * unreserved characters (letters, digits, "-", ".", "_", "~") as %XX, so
 * that a key of any text ("('x', 0)", "my data/1") makes one path
 * segment of a URI. */
static void uri_segment(mida_py_json *w, const char *text, size_t n) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)text[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      mida_py_json_raw(w, text + i, 1);
    } else {
      char escaped[3] = {'%', hex[c >> 4], hex[c & 15]};
      mida_py_json_raw(w, escaped, 3);
    }
  }
}

/* The bytes of dep, a scheduler's TaskState, as the scheduler knows them
 * (its nbytes), or -1 when it does not. Never fails. */
static int64_t known_nbytes(PyObject *dep) {
  PyObject *nbytes;
  if (optional_attr(dep, interned.nbytes, &nbytes) < 0 || nbytes == NULL) {
    PyErr_Clear();
    return -1;
  }
  long long n = PyLong_Check(nbytes) ? PyLong_AsLongLong(nbytes) : -1;
  Py_DECREF(nbytes);
  if (n < 0) {
    PyErr_Clear(); /* not an int, or one past int64: unknown */
    return -1;
  }
  return (int64_t)n;
}

/* A dependency of the task whose id is *task on what no task of the
 * plugin's made -- data scattered by a client (client.scatter, a
 * published dataset's), or a result computed before the plugin saw its
 * key (is_graph_task): dep_key's value, recorded as data used by the
 * task, kind "object", uri dask://<namespace>/<key> (both
 * percent-encoded: uri_segment), size the scheduler's nbytes of dep, name
 * the key as text, as the task's `used` holds it ({"ref": key}). The
 * data's identity is its uri: one data row per scattered key, however
 * many tasks use it. Returns 0, or -1 with an exception set. */
static int key_used_data(mida_session_t *s, const char *namespace_,
                         PyObject *dep_key, PyObject *dep,
                         const mida_id_t *task) {
  PyObject *text = PyObject_Str(dep_key);
  if (text == NULL)
    return -1;
  Py_ssize_t len;
  const char *key = PyUnicode_AsUTF8AndSize(text, &len);
  if (key == NULL) {
    Py_DECREF(text);
    return -1;
  }
  mida_py_json uri;
  mida_py_json_init(&uri);
  mida_py_json_raw(&uri, "dask://", 7);
  uri_segment(&uri, namespace_, strlen(namespace_));
  mida_py_json_raw(&uri, "/", 1);
  uri_segment(&uri, key, (size_t)len);
  int rc;
  mida_data_info_t data = {0};
  data.uri = mida_py_json_end(&uri);
  if (data.uri == NULL) {
    PyErr_NoMemory();
    rc = -1;
  } else {
    data.kind = "object";
    data.size = known_nbytes(dep);
    data.name = key;
    rc = kept_or_counted(mida_data(s, task, MIDA_USED, &data));
  }
  mida_py_json_free(&uri);
  Py_DECREF(text);
  return rc;
}

/* A dependency of the task whose id is *task on dep, a TaskState of the
 * scheduler: on dep's task if the plugin knows dep's key (tasks: [id
 * text, ...]), else on dep's value as data (key_used_data). Returns 0,
 * or -1 with an exception set. */
static int key_dep(mida_session_t *s, PyObject *tasks, const char *namespace_,
                   PyObject *dep, const mida_id_t *task) {
  PyObject *dep_key = PyObject_GetAttr(dep, interned.key);
  if (dep_key == NULL)
    return -1;
  PyObject *up = key_get(tasks, dep_key);
  int rc = -1;
  if (up == NULL)
    goto out;
  if (up == Py_None) {
    rc = key_used_data(s, namespace_, dep_key, dep, task);
  } else {
    PyObject *up_id = PySequence_GetItem(up, 0);
    mida_id_t upstream;
    rc = up_id == NULL || mida_py_id_from_obj(up_id, &upstream) < 0 ? -1 : 0;
    Py_XDECREF(up_id);
    if (rc == 0)
      rc = kept_or_counted(mida_task_dep(s, task, &upstream));
  }
  Py_DECREF(up);
out:
  Py_DECREF(dep_key);
  return rc;
}

/* Pass 2 of begin_keys for (priority, key, ts) = pair, whose id is *id:
 * its submission (SUBMITTED at now, activity ts.prefix.name, source key
 * str(key)), a dependency on each of ts.dependencies that the plugin
 * knows, and the others' values as data used (key_dep; namespace_: the
 * scheduler's id). Returns 0, or -1 with an exception set. */
static int key_submit(mida_session_t *s, PyObject *tasks,
                      const char *namespace_, PyObject *pair,
                      const mida_id_t *id, const mida_id_t *workflow,
                      const mida_id_t *parent, int64_t now) {
  PyObject *key = PyTuple_GET_ITEM(pair, 1);
  PyObject *ts = PyTuple_GET_ITEM(pair, 2);
  PyObject *activity = NULL, *source = NULL, *deps = NULL;
  int rc = -1;
  mida_task_info_t info = {0};
  if (prefix_name(ts, &info.activity, &activity) < 0)
    goto out;
  source = PyObject_Str(key);
  if (source == NULL || (info.source_key = PyUnicode_AsUTF8(source)) == NULL)
    goto out;
  info.id = id;
  info.workflow = workflow;
  info.parent = parent;
  info.status = MIDA_STATUS_SUBMITTED;
  info.submitted_ns = now;
  mida_id_t begun;
  if (kept_or_counted(mida_task_begin(s, &info, &begun)) < 0)
    goto out;
  PyObject *set = PyObject_GetAttr(ts, interned.dependencies);
  if (set == NULL)
    goto out;
  deps = PyObject_GetIter(set);
  Py_DECREF(set);
  if (deps == NULL)
    goto out;
  PyObject *dep;
  while ((dep = PyIter_Next(deps)) != NULL) {
    int r = key_dep(s, tasks, namespace_, dep, id);
    Py_DECREF(dep);
    if (r < 0)
      goto out;
  }
  rc = PyErr_Occurred() ? -1 : 0;
out:
  Py_XDECREF(deps);
  Py_XDECREF(source);
  Py_XDECREF(activity);
  return rc;
}

/* Where an object slot (__slots__) of one type's instances lies, found
 * once for that type (slot_of): read there, a slot costs a load instead
 * of a getattr (~100-200 instructions: the type's lookup, the
 * descriptor's call), which is_graph_task would make twice for every new
 * key of every graph. */
typedef struct {
  PyTypeObject *type; /* the type it was found for, held; NULL: none yet */
  Py_ssize_t offset;  /* of the slot in an instance; -1: no such slot */
} slot_place;

/* The slot name of o into *value, borrowed, NULL where it is unset (as
 * getattr's AttributeError): 1; 0 where o's type has no such object slot
 * read by the generic getattr (the caller then asks getattr); -1 with an
 * exception set. place caches where the slot lies for o's type. */
static int slot_of(slot_place *place, PyObject *o, PyObject *name,
                   PyObject **value) {
  PyTypeObject *type = Py_TYPE(o);
  if (place->type != type) {
    Py_ssize_t offset = -1;
    if (type->tp_getattro == PyObject_GenericGetAttr) {
      /* What getattr finds first in the type's MRO: a member descriptor
       * (a data descriptor: an instance's __dict__ cannot shadow it). */
      PyObject *found = PyObject_GetAttr((PyObject *)type, name);
      if (found == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
          return -1;
        PyErr_Clear();
      } else if (Py_IS_TYPE(found, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)found)->d_member->type ==
                     T_OBJECT_EX) {
        offset = ((PyMemberDescrObject *)found)->d_member->offset;
      }
      Py_XDECREF(found);
    }
    Py_XSETREF(place->type, (PyTypeObject *)Py_NewRef(type));
    place->offset = offset;
  }
  if (place->offset < 0)
    return 0;
  *value = *(PyObject **)((char *)o + place->offset);
  return 1;
}

/* getattr(o, name, <absent>) as optional_attr, but a slot read where it
 * lies (slot_of): 1 and *value a new reference, 0 and *value NULL when
 * absent, -1 with an exception set. */
static int slot_or_attr(slot_place *place, PyObject *o, PyObject *name,
                        PyObject **value) {
  int found = slot_of(place, o, name, value);
  if (found == 0)
    return optional_attr(o, name, value);
  if (found > 0) {
    Py_XINCREF(*value);
    return *value != NULL;
  }
  return -1;
}

/* Whether ts, the scheduler's TaskState of a key that a graph names and
 * the plugin does not know, is a task that the graph runs: 1, 0, or -1
 * with an exception set. Not one: pure data, which has no run spec (what
 * client.scatter placed, a published dataset's: Dask tells it apart so
 * too), and a key that is in memory or erred already (its task ran
 * before the plugin saw it). Neither ever runs, so neither ends: as a
 * task each would stay SUBMITTED until Dask forgot it, then be
 * CANCELLED. The tasks that use them record them as data (key_dep). The
 * state is read from the slot behind Dask's `state` property (no Python
 * frame), or from the property where there is no such slot; a TaskState
 * without either, or without a run_spec, is a task. Both slots read where
 * they lie (slot_of): ~40 instructions a key, not ~420. */
static int is_graph_task(PyObject *ts) {
  static slot_place run_spec_place, state_place;
  PyObject *value;
  if (slot_or_attr(&run_spec_place, ts, interned.run_spec, &value) < 0)
    return -1;
  int task = value != Py_None;
  Py_XDECREF(value);
  if (!task)
    return 0;
  int found = slot_or_attr(&state_place, ts, interned.state_slot, &value);
  if (found == 0)
    found = optional_attr(ts, interned.state, &value);
  if (found < 0)
    return -1;
  if (value != NULL)
    task = !is_state(value, interned.memory) &&
           !is_state(value, interned.erred);
  Py_XDECREF(value);
  return task;
}

/* _drop_data(pairs) -> list: those of a graph's new keys, pairs =
 * [(priority, key, TaskState)] as dask.py's _by_priority gives them,
 * that are tasks the graph runs (is_graph_task), in their order: pairs
 * itself when all are (most graphs: no copy), else a new list. Once per
 * graph, before the keys are counted into a workflow and begun
 * (_begin_keys), so that data opens no workflow, is no task and holds no
 * workflow open. */
static PyObject *sched_drop_data(PyObject *self, PyObject *pairs) {
  (void)self;
  if (!PyList_Check(pairs)) {
    PyErr_SetString(PyExc_TypeError, "_drop_data(pairs: list)");
    return NULL;
  }
  PyObject *kept = NULL; /* made at the first pair dropped */
  /* Each pair held while it is used, and the list's length read at each
   * step: a TaskState's state property may run code that changes it. */
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pairs); i++) {
    PyObject *pair = Py_NewRef(PyList_GET_ITEM(pairs, i));
    int task = -1;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 3)
      PyErr_SetString(PyExc_TypeError,
                      "a new key is a tuple (priority, key, TaskState)");
    else
      task = is_graph_task(PyTuple_GET_ITEM(pair, 2));
    if (task == 0 && kept == NULL) {
      kept = PyList_GetSlice(pairs, 0, i);
      if (kept == NULL)
        task = -1;
    } else if (task == 1 && kept != NULL && PyList_Append(kept, pair) < 0) {
      task = -1;
    }
    Py_DECREF(pair);
    if (task < 0) {
      Py_XDECREF(kept);
      return NULL;
    }
  }
  return kept != NULL ? kept : Py_NewRef(pairs);
}

/* _begin_keys(pairs, workflow_id, parent_id) -> None: the new keys of a
 * graph, pairs = [(priority, key, TaskState)] in the order Dask runs them
 * (dask.py's _by_priority), each given a new time-ordered id, known in
 * self.tasks and carried to the workers in its annotations, then
 * recorded as SUBMITTED in the workflow, with its dependencies on the
 * keys the plugin knows (so those among pairs too: every id is taken
 * before any is recorded) and the values of the others as data used
 * (key_dep: pairs holds tasks only, _drop_data's). In C: as Python
 * loops, with the ids parsed back out of their text for each record, the
 * scheduler's hooks were ~17,500 instructions a task, and now ~12,500
 * (bench_dask_ir.py --hooks), of which this ~4,400. */
static PyObject *sched_begin_keys(PyObject *self, PyObject *const *args,
                                  Py_ssize_t nargs) {
  if (nargs != 3 || !PyList_Check(args[0])) {
    PyErr_SetString(PyExc_TypeError,
                    "_begin_keys(pairs: list, workflow_id, parent_id)");
    return NULL;
  }
  PyObject *pairs = args[0], *workflow_id = args[1];
  mida_id_t workflow, parent;
  if (mida_py_id_from_obj(workflow_id, &workflow) < 0 ||
      (args[2] != Py_None && mida_py_id_from_obj(args[2], &parent) < 0))
    return NULL;
  Py_ssize_t n = PyList_GET_SIZE(pairs);
  mida_id_t *ids = PyMem_Malloc(sizeof *ids * (size_t)(n > 0 ? n : 1));
  if (ids == NULL)
    return PyErr_NoMemory();
  PyObject *tasks = PyObject_GetAttr(self, interned.tasks);
  int rc = tasks != NULL ? 0 : -1;
  /* Each pair held while it is used, and the list's length read at each
   * step: a key's __hash__ or __str__ may run code that changes it. */
  Py_ssize_t taken = 0;
  for (; rc == 0 && taken < n && taken < PyList_GET_SIZE(pairs); taken++) {
    PyObject *pair = Py_NewRef(PyList_GET_ITEM(pairs, taken));
    rc = key_take_id(tasks, pair, workflow_id, &ids[taken]);
    Py_DECREF(pair);
  }
  /* Capture off: the keys are known and carry their ids, and nothing is
   * recorded. */
  mida_session_t *s = rc == 0 ? mida_py_session_for_capture() : NULL;
  const mida_id_t *parent_id = args[2] != Py_None ? &parent : NULL;
  const int64_t now = mida_now_ns();
  /* The scheduler's id, which names the data in the URIs (key_dep). */
  PyObject *namespace_ = NULL;
  const char *ns = "";
  if (s != NULL && rc == 0) {
    namespace_ = PyObject_GetAttr(self, interned.namespace_);
    if (namespace_ == NULL)
      rc = -1;
    else if (PyUnicode_Check(namespace_) &&
             (ns = PyUnicode_AsUTF8(namespace_)) == NULL)
      rc = -1;
  }
  for (Py_ssize_t i = 0;
       s != NULL && rc == 0 && i < taken && i < PyList_GET_SIZE(pairs); i++) {
    PyObject *pair = Py_NewRef(PyList_GET_ITEM(pairs, i));
    rc = key_submit(s, tasks, ns, pair, &ids[i], &workflow, parent_id, now);
    Py_DECREF(pair);
  }
  Py_XDECREF(namespace_);
  Py_XDECREF(tasks);
  PyMem_Free(ids);
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
    {"_drop_data", sched_drop_data, METH_O,
     "_drop_data(pairs) -> list: those of a graph's new keys "
     "[(priority, key, TaskState)] that are tasks it runs, not data "
     "(scattered, or in memory or erred already)."},
    {"_begin_keys", (PyCFunction)(void (*)(void))sched_begin_keys,
     METH_FASTCALL,
     "_begin_keys(pairs, workflow_id, parent_id): a graph's new keys, "
     "[(priority, key, TaskState)] in the order Dask runs them: each "
     "given an id (self.tasks, its annotations), then recorded as "
     "SUBMITTED with its dependencies."},
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

/* self.worker.state.tasks.get(key), Dask's TaskState of key on this
 * worker: a new reference, None if the worker has no such task, or NULL
 * with an exception set. */
static PyObject *worker_task(PyObject *self, PyObject *key) {
  PyObject *worker = PyObject_GetAttr(self, interned.worker);
  if (worker == NULL)
    return NULL;
  PyObject *state = PyObject_GetAttr(worker, interned.state);
  Py_DECREF(worker);
  if (state == NULL)
    return NULL;
  PyObject *tasks = PyObject_GetAttr(state, interned.tasks);
  Py_DECREF(state);
  if (tasks == NULL)
    return NULL;
  PyObject *task_state = key_get(tasks, key);
  Py_DECREF(tasks);
  return task_state;
}

/* The task id the scheduler put in task_state's annotations (a new
 * reference), None if it put none, or NULL with an exception set; with
 * wf, its workflow's id into *wf (nil when none is there or it is not an
 * id). */
static PyObject *annotated_id(PyObject *task_state, mida_id_t *wf) {
  if (wf != NULL)
    memset(wf, 0, sizeof *wf);
  PyObject *annotations = PyObject_GetAttr(task_state, interned.annotations);
  if (annotations == NULL)
    return NULL;
  PyObject *task_id;
  int annotated = PyObject_IsTrue(annotations);
  if (annotated < 0)
    task_id = NULL;
  else if (annotated == 0)
    task_id = Py_NewRef(Py_None);
  else
    task_id = mapping_get(annotations, interned.mida_task);
  PyObject *wfo = wf != NULL && task_id != NULL && task_id != Py_None
                      ? mapping_get(annotations, interned.mida_workflow)
                      : NULL;
  if (wfo != NULL && wfo != Py_None &&
      (!PyUnicode_Check(wfo) || mida_py_id_from_obj(wfo, wf) < 0)) {
    PyErr_Clear(); /* a task without its workflow: the session's */
    memset(wf, 0, sizeof *wf);
  }
  if (wfo == NULL && PyErr_Occurred() && task_id != NULL)
    PyErr_Clear();
  Py_XDECREF(wfo);
  Py_DECREF(annotations);
  return task_id;
}

/* The fast meter of a task about to execute: its run spec a graph node
 * (dask 2024.12 and later) of a plain function (one with a code object,
 * not a coroutine function), and its id in the annotations. Then
 * task_state's run spec becomes the node in a TaskMeter, counted in
 * self.metered; returns 1. Returns 0 where the task does not fit
 * (dask.py's _executing does the rest), -1 with an exception set. */
static int meter_node(PyObject *self, PyObject *task_state, PyObject *spec) {
  if (Py_TYPE(spec) == &mida_py_TaskMeterType) /* run again */
    return 0;
  PyObject *is_coro = NULL, *func = NULL, *code = NULL, *task_id = NULL;
  PyObject *address = NULL, *meter = NULL, *metered_before = NULL;
  PyObject *metered_after = NULL;
  int rc = 0;
  if (optional_attr(spec, interned.is_coro, &is_coro) < 0)
    goto fail;
  if (is_coro != Py_False) /* a tuple spec, or async def: dask.py's */
    goto out;
  if (optional_attr(spec, interned.func, &func) < 0)
    goto fail;
  /* A callable without a code object needs its parameter names from
   * inspect.signature (dask.py's _names); a node without func (an Alias,
   * a DataNode) needs none. */
  if (func != NULL) {
    if (optional_attr(func, interned.code, &code) < 0)
      goto fail;
    if (code == NULL)
      goto out;
  }
  mida_id_t id, wf;
  task_id = annotated_id(task_state, &wf);
  if (task_id == NULL)
    goto fail;
  if (task_id == Py_None || !PyUnicode_Check(task_id) ||
      mida_py_id_from_obj(task_id, &id) < 0) {
    PyErr_Clear(); /* no id of the scheduler's, or a bad one: dask.py's */
    goto out;
  }
  address = PyObject_GetAttr(self, interned.address);
  if (address == NULL)
    goto fail;
  if (address != Py_None && !PyUnicode_Check(address))
    goto out;
  meter = mida_py_taskmeter_for_node(
      spec, &id, mida_id_is_nil(&wf) ? NULL : &wf, address);
  if (meter == NULL ||
      PyObject_SetAttr(task_state, interned.run_spec, meter) < 0)
    goto fail;
  metered_before = PyObject_GetAttr(self, interned.metered);
  if (metered_before == NULL)
    goto fail;
  long long metered = PyLong_AsLongLong(metered_before);
  if (metered == -1 && PyErr_Occurred())
    goto fail;
  metered_after = PyLong_FromLongLong(metered + 1);
  if (metered_after == NULL ||
      PyObject_SetAttr(self, interned.metered, metered_after) < 0)
    goto fail;
  rc = 1;
  goto out;
fail:
  rc = -1;
out:
  Py_XDECREF(is_coro);
  Py_XDECREF(func);
  Py_XDECREF(code);
  Py_XDECREF(task_id);
  Py_XDECREF(address);
  Py_XDECREF(meter);
  Py_XDECREF(metered_before);
  Py_XDECREF(metered_after);
  return rc;
}

/* A task starts executing: it is put inside a TaskMeter (meter_node), or
 * dask.py's _executing(key, ts) meters it otherwise or records its run
 * unmetered. Returns 0, or -1 with an exception set. */
static int worker_executing(PyObject *self, PyObject *key) {
  PyObject *namespace_ = PyObject_GetAttr(self, interned.namespace_);
  if (namespace_ == NULL)
    return -1;
  int known = namespace_ != Py_None;
  Py_DECREF(namespace_);
  if (!known) /* before setup: no scheduler to name the ids */
    return 0;
  PyObject *task_state = worker_task(self, key);
  if (task_state == NULL)
    return -1;
  int rc = 0;
  PyObject *spec = NULL;
  if (task_state == Py_None)
    goto out;
  spec = PyObject_GetAttr(task_state, interned.run_spec);
  if (spec == NULL) {
    rc = -1;
    goto out;
  }
  if (spec == Py_None)
    goto out;
  rc = meter_node(self, task_state, spec);
  if (rc < 0) { /* as dask.py's _meter: a spec that fails is not metered */
    if (!PyErr_ExceptionMatches(PyExc_Exception))
      goto out;
    PyErr_Clear();
    rc = 0;
  }
  if (rc == 0) {
    PyObject *call_args[] = {self, key, task_state};
    PyObject *result = PyObject_VectorcallMethod(interned.executing_method,
                                                 call_args, 3, NULL);
    rc = result != NULL ? 0 : -1;
    Py_XDECREF(result);
  } else {
    rc = 0;
  }
out:
  Py_XDECREF(spec);
  Py_DECREF(task_state);
  return rc;
}

/* Dask's name of type result_type (dask.utils.typename), from
 * self.typenames, or else dask.py's _typename, which caches it. A new
 * reference, or NULL with an exception set. */
static PyObject *type_name(PyObject *self, PyObject *result_type) {
  PyObject *names = PyObject_GetAttr(self, interned.typenames);
  if (names == NULL)
    return NULL;
  PyObject *name = mapping_get(names, result_type);
  Py_DECREF(names);
  if (name == NULL) {
    if (!PyErr_ExceptionMatches(PyExc_TypeError))
      return NULL;
    PyErr_Clear(); /* a type that cannot be hashed */
  }
  if (name != NULL && name != Py_None)
    return name;
  Py_XDECREF(name);
  return PyObject_CallMethodOneArg(self, interned.typename_method, result_type);
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
  PyObject *unmetered = PyObject_GetAttr(self, interned.unmetered);
  if (unmetered == NULL)
    return -1;
  int found = contains(unmetered, key);
  Py_DECREF(unmetered);
  return found;
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
  PyObject *task_state = worker_task(self, key);
  if (task_state == NULL)
    return -1;
  PyObject *task_id = NULL, *announced = NULL, *result_type = NULL;
  PyObject *result_typename = NULL, *spec = NULL, *nbytes = NULL;
  int rc = 0;
  if (task_state == Py_None)
    goto out;
  task_id = annotated_id(task_state, NULL);
  if (task_id == NULL)
    goto fail;
  if (task_id == Py_None) /* no scheduler plugin: nothing of the key's end */
    goto out;
  announced = PyObject_GetAttr(self, interned.announced);
  if (announced == NULL)
    goto fail;
  if (announced == Py_None) {
    PyObject *result =
        PyObject_CallMethodNoArgs(self, interned.announce_method);
    if (result == NULL)
      goto fail;
    Py_DECREF(result);
  }
  result_type = PyObject_GetAttr(task_state, interned.type);
  if (result_type == NULL)
    goto fail;
  result_typename = type_name(self, result_type);
  if (result_typename == NULL)
    goto fail;
  spec = PyObject_GetAttr(task_state, interned.run_spec);
  if (spec == NULL)
    goto fail;
  int here = ran_here(self, key, spec);
  if (here < 0)
    goto fail;
  nbytes = PyObject_GetAttr(task_state, interned.nbytes);
  if (nbytes == NULL)
    goto fail;
  /* A meter made for this run holds the id parsed (~900 instructions a
   * parse): the annotation's, from which it was made. */
  mida_id_t metered;
  int known = mida_py_taskmeter_id(spec, &metered);
  rc = record_end(task_id, known ? &metered : NULL,
                  here ? 0 : MIDA_STATUS_FINISHED, nbytes,
                  result_typename != Py_None ? result_typename : NULL, NULL);
  goto out;
fail:
  rc = -1;
out:
  Py_DECREF(task_state);
  Py_XDECREF(task_id);
  Py_XDECREF(announced);
  Py_XDECREF(result_type);
  Py_XDECREF(result_typename);
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
  PyObject *unmetered = PyObject_GetAttr(self, interned.unmetered);
  if (unmetered == NULL)
    return -1;
  /* Empty, as it is unless runs went unmetered: no hashing of the key. */
  int found = PyDict_CheckExact(unmetered) && PyDict_GET_SIZE(unmetered) == 0
                  ? 0
                  : contains(unmetered, key);
  Py_DECREF(unmetered);
  if (found <= 0)
    return found;
  PyObject *call_args[] = {self, key, finish};
  PyObject *result = PyObject_VectorcallMethod(interned.end_unmetered_method,
                                               call_args, 3, NULL);
  int rc = result != NULL ? 0 : -1;
  Py_XDECREF(result);
  return rc;
}

/* transition(key, start, finish, **kwargs): the worker's hook, which
 * refuses other positional arguments as Python would. A task that starts
 * executing gets its meter; one that goes to memory from executing its
 * end (_ended); an unmetered run ends at memory, error or released. Every
 * other transition leaves at once. */
static PyObject *worker_transition(PyObject *self, PyObject *const *args,
                                   Py_ssize_t nargsf, PyObject *kwnames) {
  Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  PyObject *key, *start, *finish;
  if (nargs == 3 && kwnames == NULL) { /* as Dask's worker calls it */
    key = args[0];
    start = args[1];
    finish = args[2];
  } else if (worker_args_check(args, nargs, kwnames) < 0 ||
             transition_args(args, nargs, kwnames, &key, &start, &finish) < 0) {
    return NULL;
  }
  int rc = 0;
  if (is_state(finish, interned.executing)) {
    rc = worker_executing(self, key);
  } else if (is_state(finish, interned.memory)) {
    if (is_state(start, interned.executing) || is_long_running(start))
      rc = worker_ended(self, key);
    if (rc == 0) {
      rc = worker_end_unmetered(self, key, finish);
    } else {
      /* The run ends even if the task's end failed (as in a finally), and
       * the end's exception is the one raised: one that the run's end
       * raises too goes to sys.unraisablehook. */
      held_error ended_error;
      error_hold(&ended_error);
      if (worker_end_unmetered(self, key, finish) < 0)
        PyErr_WriteUnraisable(interned.end_unmetered_method);
      error_raise(&ended_error);
    }
  } else if (is_state(finish, interned.error) ||
             is_state(finish, interned.released)) {
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

/*
 * dask_args.h -- the `used` object of a Dask task, written in C on the
 * thread that runs it.
 *
 * The worker plugin (mida/dask.py) puts a TaskMeter around a task's
 * function when the task starts executing and hands it the task's run spec
 * (its argument objects before Dask resolved them, and the keys it depends
 * on). When the function is called, the actual arguments arrive; this file
 * writes them as JSON by parameter name, with the rule that an argument
 * that was a reference to another key in the run spec is recorded as that
 * reference ({"ref": key}), never as a copy of the other task's result:
 *
 *   - a TaskRef or Alias in the spec      -> {"ref": "<key>"};
 *   - a nested graph node (Task, List, Dict, Tuple, Set, NestedContainer)
 *                                         -> {"graph": "<type>",
 *                                             "refs": [sorted keys]};
 *   - (tuple run specs of older Dask) a spec argument that is one of the
 *     task's dependency keys              -> {"ref": "<key>"};
 *   - anything else                       -> the actual argument, as the
 *                                            decorator records values.
 *
 * Parameter names come from the function's code object (positional
 * parameters), or from a names tuple the plugin computed for callables
 * without one; past them, arguments are "arg<i>". Keyword arguments keep
 * their keyword.
 */
#ifndef MIDA_PY_DASK_ARGS_H
#define MIDA_PY_DASK_ARGS_H

#include "value.h"

/* What the plugin knew of a task's run spec when it started executing. */
typedef struct mida_py_dask_spec {
  PyObject *names;  /* tuple of str, or NULL: from func's code object */
  PyObject *args;   /* tuple: the spec's positional argument objects */
  PyObject *kwargs; /* dict of the spec's keyword argument objects, or NULL */
  PyObject *deps;   /* set of the task's dependency keys, or NULL */
} mida_py_dask_spec;

/* Writes the `used` JSON object of a call of func with the actual
 * arguments (args[0..nargs) and the keywords named by kwnames after them,
 * as in vectorcall). Leaves no exception set; a set exception on entry is
 * the caller's to save. */
void mida_py_dask_used(mida_py_json *w, const mida_py_dask_spec *spec,
                       PyObject *func, PyObject *const *args,
                       Py_ssize_t nargs, PyObject *kwnames);

/* Writes the `used` JSON object of a Dask graph node (dask 2024.12 and
 * later) from the node alone, since a node's literal arguments are the
 * actual ones and its references are recorded as references:
 *
 *   - Task (and subclasses such as P2PBarrierTask): its arguments by
 *     parameter name, as above (names: as for mida_py_dask_used); a fused
 *     task's inner graph (a dict of nodes) as {"graph": "subgraph",
 *     "keys": [its keys]};
 *   - Alias                               -> {"target": {"ref": "<key>"}};
 *   - DataNode (a literal)                -> {} (its value is the result);
 *   - List, Dict, Tuple, Set, NestedContainer
 *                                         -> {"items": {"graph": "<type>",
 *                                             "refs": [sorted keys]}}.
 *
 * Leaves no exception set. */
void mida_py_dask_node_used(mida_py_json *w, PyObject *node, PyObject *names);

#endif

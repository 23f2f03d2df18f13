/*
 * dask_args.c -- the `used` object of a Dask task (see dask_args.h).
 */
#include "dask_args.h"

#include <stdio.h>
#include <string.h>

/* The names of the attributes read here, interned on first use
 * (mida_py_attr): a metered call of a plain function looks up four of
 * them (func, args, kwargs, co_varnames). */
static PyObject *func_name, *args_name, *kwargs_name, *code_name,
    *varnames_name, *target_name, *key_name, *dependencies_name;

/* Appends str(o) as a JSON string ("?" if str() fails). */
static void put_str_of(mida_py_json *w, PyObject *o) {
  PyObject *s = PyUnicode_Check(o) ? Py_NewRef(o) : PyObject_Str(o);
  Py_ssize_t n = 0;
  const char *t = s != NULL ? PyUnicode_AsUTF8AndSize(s, &n) : NULL;
  if (t == NULL) {
    PyErr_Clear();
    t = "?";
    n = 1;
  }
  mida_py_json_string(w, t, (size_t)n);
  Py_XDECREF(s);
}

static void put_ref(mida_py_json *w, PyObject *key) {
  mida_py_json_raw(w, "{\"ref\":", 7);
  put_str_of(w, key);
  mida_py_json_raw(w, "}", 1);
}

static int is_graph_node(const char *tn) {
  static const char *const nodes[] = {"Task", "List",  "Dict",
                                      "Tuple", "Set", "NestedContainer"};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
    if (strcmp(tn, nodes[i]) == 0)
      return 1;
  return 0;
}

/* {"graph": type, "refs": [the node's dependency keys, sorted]}. */
static void put_graph(mida_py_json *w, const char *tn, PyObject *node) {
  mida_py_json_raw(w, "{\"graph\":", 9);
  mida_py_json_string(w, tn, strlen(tn));
  mida_py_json_raw(w, ",\"refs\":[", 9);
  PyObject *deps = mida_py_attr(node, &dependencies_name, "dependencies");
  PyObject *it = deps != NULL ? PyObject_GetIter(deps) : NULL;
  PyObject *keys = it != NULL ? PyList_New(0) : NULL;
  PyObject *k;
  while (keys != NULL && (k = PyIter_Next(it)) != NULL) {
    PyObject *s = PyObject_Str(k);
    if (s == NULL || PyList_Append(keys, s) < 0)
      PyErr_Clear();
    Py_XDECREF(s);
    Py_DECREF(k);
  }
  if (keys != NULL && PyList_Sort(keys) == 0) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
      if (i > 0)
        mida_py_json_raw(w, ",", 1);
      put_str_of(w, PyList_GET_ITEM(keys, i));
    }
  }
  PyErr_Clear();
  Py_XDECREF(keys);
  Py_XDECREF(it);
  Py_XDECREF(deps);
  mida_py_json_raw(w, "]}", 2);
}

/* Whether a dict is a graph (its values graph nodes), as the inner graph
 * of a task that dask fused from several (_execute_subgraph). */
static int is_subgraph(PyObject *d) {
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  if (PyDict_GET_SIZE(d) == 0 || !PyDict_Next(d, &pos, &k, &v))
    return 0;
  const char *tn = Py_TYPE(v)->tp_name;
  return is_graph_node(tn) || strcmp(tn, "DataNode") == 0 ||
         strcmp(tn, "Alias") == 0;
}

/* {"graph": "subgraph", "keys": [its keys, sorted]}: what a fused task
 * computes inside, not the task objects themselves. */
static void put_subgraph(mida_py_json *w, PyObject *d) {
  static const char head[] = "{\"graph\":\"subgraph\",\"keys\":[";
  mida_py_json_raw(w, head, sizeof head - 1);
  PyObject *keys = PyList_New(0);
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  while (keys != NULL && PyDict_Next(d, &pos, &k, &v)) {
    PyObject *str = PyObject_Str(k);
    if (str == NULL || PyList_Append(keys, str) < 0)
      PyErr_Clear();
    Py_XDECREF(str);
  }
  if (keys != NULL && PyList_Sort(keys) == 0) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
      if (i > 0)
        mida_py_json_raw(w, ",", 1);
      put_str_of(w, PyList_GET_ITEM(keys, i));
    }
  }
  PyErr_Clear();
  Py_XDECREF(keys);
  mida_py_json_raw(w, "]}", 2);
}

/* Writes the argument whose run-spec object was spec_val (NULL: unknown)
 * and whose actual value is value. */
static void put_arg_value(mida_py_json *w, PyObject *spec_val, PyObject *value,
                          PyObject *deps) {
  if (spec_val != NULL) {
    const char *tn = Py_TYPE(spec_val)->tp_name;
    if (strcmp(tn, "TaskRef") == 0 || strcmp(tn, "Alias") == 0) {
      PyObject *key = mida_py_attr(spec_val, &key_name, "key");
      PyErr_Clear();
      put_ref(w, key != NULL ? key : spec_val);
      Py_XDECREF(key);
      return;
    }
    if (is_graph_node(tn)) {
      put_graph(w, tn, spec_val);
      return;
    }
    if (PyDict_CheckExact(spec_val) && is_subgraph(spec_val)) {
      put_subgraph(w, spec_val);
      return;
    }
    if (deps != NULL && (PyUnicode_Check(spec_val) || PyTuple_Check(spec_val) ||
                         PyBytes_Check(spec_val))) {
      int in = PySet_Contains(deps, spec_val);
      if (in < 0)
        PyErr_Clear();
      if (in == 1) {
        put_ref(w, spec_val);
        return;
      }
    }
  }
  mida_py_json_value(w, value, 1);
}

/* The names of func's positional parameters, as a new tuple, or NULL. */
static PyObject *positional_names(PyObject *func, Py_ssize_t *count) {
  *count = 0;
  PyObject *code = PyFunction_Check(func)
                       ? Py_NewRef(PyFunction_GET_CODE(func))
                       : mida_py_attr(func, &code_name, "__code__");
  if (code == NULL || !PyCode_Check(code)) {
    PyErr_Clear();
    Py_XDECREF(code);
    return NULL;
  }
  PyObject *names = mida_py_attr(code, &varnames_name, "co_varnames");
  if (names == NULL || !PyTuple_Check(names)) {
    PyErr_Clear();
    Py_XDECREF(names);
    Py_DECREF(code);
    return NULL;
  }
  Py_ssize_t argc = ((PyCodeObject *)code)->co_argcount;
  Py_DECREF(code);
  *count = argc < PyTuple_GET_SIZE(names) ? argc : PyTuple_GET_SIZE(names);
  return names;
}

static void put_index_key(mida_py_json *w, Py_ssize_t i) {
  char key[32];
  int n = snprintf(key, sizeof key, "\"arg%zd\":", i);
  mida_py_json_raw(w, key, (size_t)n);
}

void mida_py_dask_used(mida_py_json *w, const mida_py_dask_spec *spec,
                       PyObject *func, PyObject *const *args,
                       Py_ssize_t nargs, PyObject *kwnames) {
  Py_ssize_t nnames = 0;
  PyObject *names = NULL;
  if (spec->names != NULL && PyTuple_Check(spec->names)) {
    names = Py_NewRef(spec->names);
    nnames = PyTuple_GET_SIZE(names);
  } else {
    names = positional_names(func, &nnames);
  }
  PyObject *sargs =
      spec->args != NULL && PyTuple_Check(spec->args) ? spec->args : NULL;
  Py_ssize_t nsargs = sargs != NULL ? PyTuple_GET_SIZE(sargs) : 0;
  mida_py_json_raw(w, "{", 1);
  for (Py_ssize_t i = 0; i < nargs; i++) {
    if (i > 0)
      mida_py_json_raw(w, ",", 1);
    if (i < nnames)
      mida_py_json_key(w, PyTuple_GET_ITEM(names, i));
    else
      put_index_key(w, i);
    put_arg_value(w, i < nsargs ? PyTuple_GET_ITEM(sargs, i) : NULL, args[i],
                  spec->deps);
  }
  Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
  PyObject *skw =
      spec->kwargs != NULL && PyDict_Check(spec->kwargs) ? spec->kwargs : NULL;
  for (Py_ssize_t i = 0; i < nkw; i++) {
    if (nargs + i > 0)
      mida_py_json_raw(w, ",", 1);
    PyObject *name = PyTuple_GET_ITEM(kwnames, i);
    mida_py_json_key(w, name);
    PyObject *sv = skw != NULL ? PyDict_GetItemWithError(skw, name) : NULL;
    put_arg_value(w, sv, args[nargs + i], spec->deps);
  }
  mida_py_json_raw(w, "}", 1);
  Py_XDECREF(names);
  PyErr_Clear();
}

/* The arguments of a Task node: its spec's arguments by parameter name
 * (spec value = actual value but for references, which stay references). */
static void put_task_args(mida_py_json *w, PyObject *node, PyObject *names) {
  PyObject *func = mida_py_attr(node, &func_name, "func");
  PyObject *args = mida_py_attr(node, &args_name, "args");
  PyObject *kwargs = mida_py_attr(node, &kwargs_name, "kwargs");
  PyErr_Clear();
  mida_py_dask_spec spec = {
      .names = names,
      .args = args != NULL && PyTuple_Check(args) ? args : NULL,
      .kwargs = kwargs != NULL && PyDict_Check(kwargs) ? kwargs : NULL};
  Py_ssize_t nargs = spec.args != NULL ? PyTuple_GET_SIZE(spec.args) : 0;
  PyObject *kwnames = NULL;
  PyObject **all = NULL;
  Py_ssize_t nkw = spec.kwargs != NULL ? PyDict_GET_SIZE(spec.kwargs) : 0;
  if (nkw > 0) {
    kwnames = PyTuple_New(nkw);
    all = PyMem_Malloc((size_t)(nargs + nkw) * sizeof *all);
  }
  if (nkw > 0 && (kwnames == NULL || all == NULL)) {
    PyErr_Clear();
    nkw = 0; /* out of memory: the positional arguments only */
  }
  if (nkw > 0) {
    for (Py_ssize_t i = 0; i < nargs; i++)
      all[i] = PyTuple_GET_ITEM(spec.args, i);
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(spec.kwargs, &pos, &k, &v) && i < nkw) {
      PyTuple_SET_ITEM(kwnames, i, Py_NewRef(k));
      all[nargs + i++] = v;
    }
  }
  PyObject *const *argv =
      nkw > 0 ? all
              : (spec.args != NULL ? &PyTuple_GET_ITEM(spec.args, 0) : NULL);
  mida_py_dask_used(w, &spec, func != NULL ? func : Py_None, argv, nargs,
                    nkw > 0 ? kwnames : NULL);
  PyMem_Free(all);
  Py_XDECREF(kwnames);
  Py_XDECREF(func);
  Py_XDECREF(args);
  Py_XDECREF(kwargs);
}

void mida_py_dask_node_used(mida_py_json *w, PyObject *node, PyObject *names) {
  const char *tn = Py_TYPE(node)->tp_name;
  if (strcmp(tn, "Alias") == 0) {
    PyObject *target = mida_py_attr(node, &target_name, "target");
    PyErr_Clear();
    mida_py_json_raw(w, "{\"target\":", 10);
    put_ref(w, target != NULL ? target : node);
    mida_py_json_raw(w, "}", 1);
    Py_XDECREF(target);
  } else if (strcmp(tn, "DataNode") == 0) {
    mida_py_json_raw(w, "{}", 2);
  } else if (strcmp(tn, "Task") != 0 && is_graph_node(tn)) {
    mida_py_json_raw(w, "{\"items\":", 9);
    put_graph(w, tn, node);
    mida_py_json_raw(w, "}", 1);
  } else {
    put_task_args(w, node, names);
  }
  PyErr_Clear();
}

/*
 * ext.h -- what the C files of the extension module mida._mida share
 * (internal to python/mida/).
 *
 * The extension is split by concern:
 *   session.c    the process's session (opened lazily, reopened after
 *                fork), ids, the current task (a context variable), errors;
 *   taskfunc.c   the TaskFunc type that @mida.task returns;
 *   taskmeter.c  the TaskMeter type that the Dask worker plugin puts around
 *                a task's function;
 *   dask_hooks.c the C bases of the Dask plugins, whose transition hooks
 *                run for every transition of every key;
 *   module.c     the module's functions and its initialisation;
 *   args.c       the public API's arguments, read and checked, and the
 *                exceptions a bad one raises (mida.ArgumentError, ...);
 *   errtext.c    an error's text (an exception's message) as the C string
 *                libmida records, whatever characters it holds;
 * and value.c (Python values as JSON) and dask_args.c (a Dask run spec's
 * arguments by parameter name) beside them.
 *
 * The extension uses libmida's public API only (include/mida.h) and links
 * libmida.so, so that a process that loads it and a C library that uses
 * mida share one libmida (one sampler, one journal per session).
 *
 * Everything here runs with the GIL held, which is what serializes the
 * globals below.
 */
#ifndef MIDA_PY_EXT_H
#define MIDA_PY_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "mida.h"

/* ---- session.c ----------------------------------------------------------- */

extern mida_session_t *mida_py_session; /* open session, or NULL */
extern int mida_py_disabled;            /* the session records nothing */
extern int mida_py_telemetry_task;      /* its per-task telemetry level */
extern unsigned long long mida_py_capture_errors; /* records not made */
extern PyObject *mida_py_error;         /* mida.Error */

/* Creates the current-task context variable and registers the fork
 * handler; once, from the module's initialisation. Returns 0 or -1 with an
 * exception set. */
int mida_py_session_init(void);

/* The shipper's interval for a session opened while MIDA_SHIP_MS is unset
 * (0: the library's default); set by _mida._ship_default() (mida.dask: a
 * Dask process ships in bigger, fewer transactions). */
extern unsigned mida_py_ship_ms_default;
extern unsigned mida_py_ship_ms; /* the open session's, as it was opened */

/* The session, opened on first use; NULL when the store cannot be opened
 * (then capture is off for this process and mida.session_info() says
 * why). */
mida_session_t *mida_py_session_get(void);

/* The session for a capture call: NULL if nothing is to be recorded. A
 * record that is not made because no session could be opened is counted
 * in capture_errors (mida.flush then says False); one that capture off
 * (MIDA_DISABLE=1) leaves out is not. */
static inline mida_session_t *mida_py_session_for_capture(void) {
  mida_session_t *s =
      mida_py_session != NULL ? mida_py_session : mida_py_session_get();
  if (s == NULL) {
    mida_py_capture_errors++; /* said once, by the open's warning */
    return NULL;
  }
  return mida_py_disabled ? NULL : s;
}

/* MIDA_STRICT=1: failures to record raise mida.Error (else they are
 * counted in capture_errors, warned of once, and the program goes on). */
extern int mida_py_strict;

/* The session for an explicit API call; NULL if none could be opened: with
 * mida.Error raised when strict, else with no exception (counted). */
mida_session_t *mida_py_session_or_raise(void);

/* A record that could not be made (rc): raises mida.Error and returns -1
 * when strict or when the caller passed something wrong (MIDA_EINVAL,
 * MIDA_EJSON); else counts it, warns once, and returns 0. */
int mida_py_record_failed(int rc);

/* Why the session could not be opened ("" if it could). */
const char *mida_py_session_error(void);

/* Records capture_errors, if any, into the store of s as the counter
 * python.capture_errors (this process's running total, which `mida stats`
 * shows), so that records the binding could not make are counted where
 * they would have been. Nothing to fail: a counter not made is not. */
void mida_py_capture_errors_record(mida_session_t *s);

/* Closes the process's session after a flush and recording capture_errors
 * (the next call opens a new one). Returns mida_close's code; MIDA_OK if
 * none was open. */
int mida_py_session_close(void);

/* Says, as one RuntimeWarning, what mida_py_session_close's code rc means
 * when it is not MIDA_OK: records refused (dropped and counted), or left
 * in the spool, which it names, for the next process or `mida recover`.
 * Clears a warning turned into an error: never raises. */
void mida_py_session_close_warn(int rc);

/* Raises mida.Error for rc with the session's message (mida.ArgumentError,
 * which is one, for MIDA_EINVAL and MIDA_EJSON: what the caller passed was
 * wrong); returns NULL. */
PyObject *mida_py_raise_rc(int rc);

PyObject *mida_py_id_to_str(const mida_id_t *id);

/* Parses a str id (or 16 bytes) into *out. Returns 0, or -1 with
 * mida.ArgumentTypeError (neither) or mida.ArgumentError (not an id)
 * set. */
int mida_py_id_from_obj(PyObject *o, mida_id_t *out);

/* The status that exception ev, of type et (NULL: none known), ends a task
 * or workflow with (taskfunc.c): a SystemExit as its exit code reads, so
 * that `sys.exit(0)` is FINISHED and `sys.exit(1)` ERROR; another Exception
 * ERROR; KeyboardInterrupt, CancelledError and the rest CANCELLED. */
mida_status_t mida_py_exception_status(PyObject *et, PyObject *ev);

/* The current task from the context variable; 1 if there is one. */
int mida_py_current_task(mida_id_t *out);

/* The current workflow of this context (a `with mida.workflow` block's);
 * 1 if there is one, 0 if the session's default applies. */
int mida_py_current_workflow(mida_id_t *out);

/* A `with mida.workflow` block begins workflow id (s: its session, or NULL
 * when nothing is recorded; before: the session's default until now, nil
 * if none): id becomes this context's workflow and the session's default.
 * Returns the context variable's token for mida_py_workflow_leave, or
 * NULL with an exception set. */
PyObject *mida_py_workflow_enter(mida_session_t *s, const mida_id_t *id,
                                 const mida_id_t *before);

/* The block of workflow id ends: resets this context's workflow with tok
 * (Py_None or NULL: none), and the session's default to the last block
 * still open (or the default from before the first) if id was it.
 * Returns 0, or -1 with an exception set. */
int mida_py_workflow_leave(mida_session_t *s, const mida_id_t *id,
                           PyObject *tok);

/* Makes id the current task; returns the token to reset with, or NULL. */
PyObject *mida_py_current_push(const mida_id_t *id);

/* Resets the current task with tok (NULL: nothing), keeping any exception
 * that is set; takes tok's reference. */
void mida_py_current_pop(PyObject *tok);

/* What mida_py_meter_enter changed, for mida_py_meter_leave. */
typedef struct mida_py_meter_scope {
  PyObject *tok, *wtok;         /* context variables' tokens, or NULL */
  mida_id_t task, workflow;     /* the thread's meter before */
  int on;                       /* ... whether there was one */
  int fast;                     /* 1: this one went into t_meter */
} mida_py_meter_scope;

/* A TaskMeter's call of its task begins on this thread: task (and
 * workflow, NULL if unknown) become the current task and workflow, as for
 * a @mida.task (mida_py_current_task, mida_py_current_workflow), until
 * mida_py_meter_leave(sc). Nothing to fail: at worst nothing is current. */
void mida_py_meter_enter(const mida_id_t *task, const mida_id_t *workflow,
                         mida_py_meter_scope *sc);
void mida_py_meter_leave(mida_py_meter_scope *sc);

/* The exception now set, taken and put back whole: PyErr_Fetch is
 * deprecated from Python 3.12 on, PyErr_GetRaisedException new in it. */
typedef struct mida_py_saved_exc {
  PyObject *type, *value, *tb;
} mida_py_saved_exc;

static inline mida_py_saved_exc mida_py_exc_take(void) {
  mida_py_saved_exc e = {NULL, NULL, NULL};
#if PY_VERSION_HEX >= 0x030C0000
  e.value = PyErr_GetRaisedException();
#else
  PyErr_Fetch(&e.type, &e.value, &e.tb);
#endif
  return e;
}

static inline void mida_py_exc_put_back(mida_py_saved_exc e) {
#if PY_VERSION_HEX >= 0x030C0000
  PyErr_SetRaisedException(e.value);
#else
  PyErr_Restore(e.type, e.value, e.tb);
#endif
}

/* ---- args.c -------------------------------------------------------------- */

extern PyObject *mida_py_arg_error;      /* mida.ArgumentError: a mida.Error
                                            and a ValueError */
extern PyObject *mida_py_arg_type_error; /* mida.ArgumentTypeError: a
                                            mida.Error and a TypeError */

/* Creates the two argument exceptions (after mida_py_error) and adds them
 * to module; once, from the module's initialisation. Returns 0 or -1 with
 * an exception set. */
int mida_py_args_init(PyObject *module);

/* Raises cls (one of the two above) with the message fmt (as
 * PyUnicode_FromFormat's), the exception now set, if any, as its
 * __cause__. Returns -1. */
int mida_py_arg_raise_from(PyObject *cls, const char *fmt, ...);

/* The UTF-8 text of argument o, named what in messages, into *out (valid
 * as long as o lives); None gives NULL when nullable. Returns 0, or -1
 * with mida.ArgumentTypeError (not a str) or mida.ArgumentError (a lone
 * surrogate, a NUL character) set. */
int mida_py_text_arg(PyObject *o, const char *what, int nullable,
                     const char **out);

/* Argument o, named what, as a double: a float, an int, or what has
 * __float__. Returns 0, or -1 with mida.ArgumentTypeError (not a number)
 * or mida.ArgumentError (an int too large for a float) set. */
int mida_py_float_arg(PyObject *o, const char *what, double *out);

/* Argument o, named what, as a 64-bit integer: an int or what has
 * __index__ (not a float). Returns 0, or -1 with mida.ArgumentTypeError
 * (not an integer) or mida.ArgumentError (beyond 64 bits) set. */
int mida_py_int64_arg(PyObject *o, const char *what, long long *out);

/* ---- errtext.c ----------------------------------------------------------- */

/* The UTF-8 text of str text for an error record, into *out (valid as long
 * as the returned reference lives): a lone surrogate written \udcff, a NUL
 * \x00, as repr() writes them, so that none of it is lost. Returns a new
 * reference that holds *out, or NULL (out of memory; no exception left
 * set). */
PyObject *mida_py_error_utf8(PyObject *text, const char **out);

/* ---- taskfunc.c, taskmeter.c --------------------------------------------- */

extern PyTypeObject mida_py_TaskFuncType;
extern PyTypeObject mida_py_TaskMeterType;
extern unsigned long long mida_py_meter_calls;      /* calls measured */
extern unsigned long long mida_py_meter_no_summary; /* ... without summary */

/* A TaskMeter around a Dask graph node (dask 2024.12 and later) whose
 * function has a code object, as TaskMeter(node, task, None, None, None,
 * None, worker, True, workflow) makes it, without the constructor's
 * argument parsing: for the worker hook (dask_hooks.c). worker: a str or
 * None; workflow: the task's workflow, or NULL if unknown. Returns a new
 * reference, or NULL with an exception set. */
PyObject *mida_py_taskmeter_for_node(PyObject *node, const mida_id_t *task,
                                     const mida_id_t *workflow,
                                     PyObject *worker);

/* If o is a TaskMeter, its task's id into *out and 1; else 0. */
int mida_py_taskmeter_id(PyObject *o, mida_id_t *out);

/* ---- dask_hooks.c -------------------------------------------------------- */

/* The C bases of mida.dask's plugins: their per-transition hooks. */
extern PyTypeObject mida_py_DaskSchedulerHooksType;
extern PyTypeObject mida_py_DaskWorkerHooksType;

/* Interns the names the hooks use; once, from the module's
 * initialisation. Returns 0 or -1 with an exception set. */
int mida_py_dask_hooks_init(void);

#endif /* MIDA_PY_EXT_H */

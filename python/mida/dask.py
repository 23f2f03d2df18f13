"""Zero-code observation of Dask (distributed) computations.

Load it as a preload, and every graph the scheduler receives is recorded:

    DASK_DISTRIBUTED__SCHEDULER__PRELOAD=mida.dask
    DASK_DISTRIBUTED__WORKER__PRELOAD=mida.dask
    dask scheduler --preload mida.dask / dask worker --preload mida.dask

(`mida run -- python script.py` sets both variables), or explicitly with
``mida.dask.observe(client)``.

What is recorded:

- scheduler (MidaSchedulerPlugin): each computation of a client becomes a
  workflow (source "dask"): a graph submission opens one, and submissions
  that come while it still has unfinished keys join it (client.submit in a
  loop is one computation); MIDA_DASK_WORKFLOW=graph makes one workflow per
  graph submission, MIDA_DASK_WORKFLOW=client one per client; each key a
  task (source_key = the key, activity = its prefix, SUBMITTED with its
  submission time); the graph's dependencies task_dep rows; the end of
  each key its status -- FINISHED, ERROR (its own exception and traceback
  text, or the upstream key that erred), or CANCELLED (released before it
  ended) -- with the start and end of its computation (startstops),
  worker, nbytes, typename and the number of attempts (a key that runs
  again after its worker died counts one more attempt; it stays one
  task);
- worker (MidaWorkerPlugin): when a task starts executing, its function
  is put inside a _mida.TaskMeter, a C wrapper that does the worker's part
  on the thread that runs the task, off the worker's event loop: the
  arguments, by parameter name, with the run spec's references to other
  keys recorded as {"ref": key}, never copied -> used; the result, as the
  decorator records values (scalars exactly, arrays and frames as
  summaries) -> generated; and the task's resource use (thread CPU time,
  peak RSS, context switches, I/O blocks; see docs/telemetry.md) ->
  telemetry. A run spec that cannot be wrapped (a coroutine function, an
  unknown shape) is recorded from the worker's event loop instead (its
  arguments from the run spec, its result from the worker's data), without
  telemetry, and counted (the counter dask.telemetry_skipped, and the
  plugin's `skipped`).

Both sides derive a task's id from the scheduler's id and the key, so their
records merge into one row without talking to each other.
"""

import inspect
import os

from . import _mida

__all__ = ["dask_setup", "dask_teardown", "observe", "MidaSchedulerPlugin",
           "MidaWorkerPlugin"]

try:
    from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin
except ImportError:  # without distributed the module still imports
    SchedulerPlugin = WorkerPlugin = object

_task_begin = _mida.task_begin
_task_update = _mida.task_update
_task_dep = _mida.task_dep
_id_from_name = _mida.id_from_name
_TaskMeter = _mida.TaskMeter


_SCHED_FINISH = frozenset(("memory", "erred", "released", "forgotten"))
_PLAIN = frozenset((int, float, str, bool, type(None)))


def task_id(namespace, key):
    """The id of a Dask key's task: the same on scheduler and workers."""
    return _id_from_name("dask", namespace + "/" + str(key))


def _key_prefix(key):
    try:
        from dask.utils import key_split
        return key_split(key)
    except Exception:
        return str(key)


class MidaSchedulerPlugin(SchedulerPlugin):
    """Records graphs, keys, dependencies and states on the scheduler."""

    name = "mida-scheduler"

    def __init__(self, scheduler=None, per_client=None, **kwargs):
        self.scheduler = None
        self.namespace = None
        if per_client is None:
            mode = os.environ.get("MIDA_DASK_WORKFLOW", "computation")
        else:
            mode = "client" if per_client else "graph"
        self.mode = mode
        self.per_client = mode == "client"
        self.tasks = {}      # key -> [task id, workflow id, attempts]
        self.workflows = {}  # workflow id -> [pending keys, erred?]
        self.client_wf = {}  # client id -> workflow id (per_client mode)
        self.parent = os.environ.get("MIDA_PARENT_TASK") or None
        if scheduler is not None:
            self._attach(scheduler)

    def _attach(self, scheduler):
        self.scheduler = scheduler
        self.namespace = str(scheduler.id)

    async def start(self, scheduler=None, **kwargs):
        if scheduler is not None and self.scheduler is None:
            self._attach(scheduler)

    def _workflow(self, client):
        wf = self.client_wf.get(client)
        if wf is not None and (self.per_client or (
                self.mode != "graph" and wf in self.workflows)):
            return wf
        wf, _ = _mida.workflow_begin("dask " + str(client), None,
                                     {"client": str(client),
                                      "scheduler": self.namespace},
                                     "dask", False)
        self.workflows[wf] = [0, False]
        self.client_wf[client] = wf
        return wf

    def update_graph(self, scheduler, *args, client=None, keys=None,
                     tasks=None, **kwargs):
        if self.scheduler is None:
            self._attach(scheduler)
        stasks = scheduler.tasks
        if tasks is None:
            tasks = list(keys or ())
        new = [k for k in tasks if k not in self.tasks]
        if not new:
            return
        wf = self._workflow(client)
        state = self.workflows[wf]
        ns = self.namespace
        now = _mida.now_ns()
        known = self.tasks
        for key in new:
            ts = stasks.get(key)
            if ts is None:
                continue
            tid = task_id(ns, key)
            known[key] = [tid, wf, 1, False]  # id, workflow, attempts, done
            state[0] += 1
            _task_begin(tid, ts.prefix.name, wf, self.parent,
                        _mida.SUBMITTED, now, str(key))
            for dep in ts.dependencies:
                _task_dep(tid, task_id(ns, dep.key))

    def transition(self, key, start, finish, *args, **kwargs):
        # Called for every transition of every key: leave fast.
        if finish not in _SCHED_FINISH:
            return
        rec = self.tasks.get(key)
        if rec is None:
            return
        if finish == "forgotten":
            del self.tasks[key]
            if not rec[3]:  # released before it ended: cancelled
                _task_update(rec[0], _mida.CANCELLED, ended=_mida.now_ns())
                self._one_done(rec[1], False)
            return
        if start != "processing" and finish != "erred":
            return  # e.g. scattered data, or a release after memory
        if finish == "released":  # its worker died: it will run again
            rec[2] += 1
            return
        if rec[3]:
            return
        rec[3] = True
        tid, wf, attempts = rec[0], rec[1], rec[2]
        started = ended = None
        for ss in kwargs.get("startstops") or ():
            if ss.get("action") == "compute":
                started = int(ss["start"] * 1e9)
                ended = int(ss["stop"] * 1e9)
        custom = {"attempts": attempts}
        if "nbytes" in kwargs:
            custom["nbytes"] = kwargs["nbytes"]
        if kwargs.get("typename"):
            custom["typename"] = kwargs["typename"]
        if finish == "memory":
            _task_update(tid, _mida.FINISHED, started,
                         ended or _mida.now_ns(), custom=custom,
                         worker=kwargs.get("worker"))
        else:
            text = kwargs.get("exception_text") or ""
            tb = kwargs.get("traceback_text") or ""
            if not text and start != "processing":
                ts = self.scheduler.tasks.get(key) if self.scheduler else None
                blame = getattr(ts, "exception_blame", None)
                text = "an upstream task erred: %s" % (
                    blame.key if blame is not None else "?")
            _task_update(tid, _mida.ERROR, started, ended or _mida.now_ns(),
                         custom=custom, worker=kwargs.get("worker"),
                         error=(text + "\n" + tb).strip() or "erred")
        self._one_done(wf, finish == "erred")

    def _one_done(self, wf, erred):
        state = self.workflows.get(wf)
        if state is not None:
            state[0] -= 1
            if erred:
                state[1] = True
            if state[0] <= 0 and not self.per_client:
                self._end_workflow(wf)

    def _end_workflow(self, wf):
        state = self.workflows.pop(wf, None)
        if state is None:
            return
        status = _mida.ERROR if state[1] else _mida.FINISHED
        try:
            _mida.workflow_end(wf, status, None)
        except _mida.Error:
            pass

    def remove_client(self, scheduler=None, client=None, **kwargs):
        wf = self.client_wf.pop(client, None)
        if wf is not None:
            self._end_workflow(wf)

    async def close(self, **kwargs):
        for wf in list(self.workflows):
            self._end_workflow(wf)
        _mida.flush(10.0)


def _ref(value, deps):
    """An argument of a run spec as recorded: references stay references."""
    t = type(value)
    if t in _PLAIN and not (deps and t is str and value in deps):
        return value
    cls = t.__name__
    if cls == "TaskRef" or cls == "Alias":
        return {"ref": str(getattr(value, "key", value))}
    if cls == "DataNode":
        return value.value
    if cls in ("Task", "List", "Dict", "Tuple", "Set", "NestedContainer"):
        refs = getattr(value, "dependencies", ())
        return {"graph": cls, "refs": sorted(str(k) for k in refs)}
    if deps:
        try:
            if value in deps:
                return {"ref": str(value)}
        except TypeError:
            pass
    return value


class MidaWorkerPlugin(WorkerPlugin):
    """Records each task's arguments and result on the worker."""

    name = "mida-worker"

    def __init__(self, **kwargs):
        self.worker = None
        self.namespace = None
        self.signatures = {}
        self.address = None
        self.metered = 0   # tasks whose function got a TaskMeter
        self.skipped = 0   # tasks that could not get one (counted)
        self.in_meter = set()  # keys executing inside a TaskMeter

    async def setup(self, worker=None, **kwargs):
        self.worker = worker
        self.address = str(worker.address)
        try:  # once per worker: the scheduler's id names our task ids
            ident = await worker.scheduler.identity()
            self.namespace = str(ident["id"])
        except Exception:
            self.namespace = None

    def teardown(self, worker=None, **kwargs):
        if self.skipped:
            try:
                _mida.counter("dask.telemetry_skipped", self.skipped)
            except Exception:
                pass
        _mida.flush(10.0)

    def _meter(self, key, ts):
        """Puts a TaskMeter around the function of the task about to run.
        On the executing thread, in C, it measures the task's resource use
        and records its arguments (references to other keys as such, from
        the run spec handed over here) and its result. Returns True if the
        task is metered that way."""
        spec = ts.run_spec
        func = getattr(spec, "func", None)
        if func is not None and type(spec).__name__ == "Task":
            if type(func) is _TaskMeter:
                return True  # run again, or a run spec shared in-process
            coro = getattr(spec, "is_coro", None)  # cached by Task
            if coro is None:
                coro = inspect.iscoroutinefunction(func)
            if coro:  # async def: its CPU time would be the event loop's
                self.skipped += 1
                return False
            args, kwargs, deps = spec.args, spec.kwargs, None
            wrap = lambda meter: setattr(spec, "func", meter)  # noqa: E731
        elif (type(spec) is tuple and len(spec) == 3 and callable(spec[0])
              and not inspect.iscoroutinefunction(spec[0])):
            func, args, kwargs = spec  # older distributed
            if type(func) is _TaskMeter:
                return True
            deps = {d.key for d in ts.dependencies}
            wrap = lambda meter: setattr(  # noqa: E731
                ts, "run_spec", (meter, spec[1], spec[2]))
        else:
            self.skipped += 1
            return False
        names = None
        if getattr(func, "__code__", None) is None:
            names = tuple(self._names(func))
        wrap(_TaskMeter(func, task_id(self.namespace, key),
                        args=args if type(args) is tuple else tuple(args),
                        kwargs=(kwargs if type(kwargs) is dict
                                else dict(kwargs or {})),
                        deps=deps, names=names, worker=self.address))
        self.metered += 1
        return True

    def _names(self, func):
        """The positional parameter names of func. From its code object
        when it has one: cheap, and right for functions that arrive
        pickled by value (a new object per task, which no cache keyed by
        the function would ever hit); inspect.signature, cached, else."""
        code = getattr(func, "__code__", None)
        if code is not None:
            return code.co_varnames[:code.co_argcount]
        names = self.signatures.get(func)
        if names is None:
            try:
                params = inspect.signature(func).parameters.values()
                names = [p.name for p in params
                         if p.kind in (p.POSITIONAL_ONLY,
                                       p.POSITIONAL_OR_KEYWORD)]
            except (TypeError, ValueError):
                names = []
            if len(self.signatures) >= 4096:  # bounded: funcs may be
                self.signatures.clear()       # made per task (partials)
            try:
                self.signatures[func] = names
            except TypeError:
                pass
        return names

    def _used(self, spec, deps):
        func = getattr(spec, "func", None)
        if func is not None:
            args, kwargs = spec.args, spec.kwargs
        elif isinstance(spec, tuple) and len(spec) == 3 and callable(spec[0]):
            func, args, kwargs = spec  # older distributed
        else:
            return None
        if type(func) is _TaskMeter:
            func = func.__wrapped__
        names = self._names(func)
        used = {}
        for i, a in enumerate(args):
            used[names[i] if i < len(names) else "arg%d" % i] = _ref(a, deps)
        for k, v in (kwargs or {}).items():
            used[str(k)] = _ref(v, deps)
        return used

    def transition(self, key, start, finish, **kwargs):
        # Called for every transition of every task: leave fast.
        if finish == "executing":
            if self.namespace is None:
                return
            ts = self.worker.state.tasks.get(key)
            if ts is not None and ts.run_spec is not None:
                try:
                    if self._meter(key, ts):
                        self.in_meter.add(key)
                except Exception:
                    self.skipped += 1
            return
        if start != "executing" or self.namespace is None:
            return
        if key in self.in_meter:  # its TaskMeter recorded it
            self.in_meter.discard(key)
            return
        if finish == "memory" or finish == "error":
            self._record(key, finish)

    def _record(self, key, finish):
        """Records a task that ran without a TaskMeter: its arguments from
        the run spec and its result from the worker's data."""
        worker = self.worker
        ts = worker.state.tasks.get(key)
        if ts is None:
            return
        try:
            deps = {d.key for d in ts.dependencies}
            used = self._used(ts.run_spec, deps)
        except Exception:
            used = None
        generated = None
        if finish == "memory":
            try:
                generated = {"return": worker.data[key]}
            except Exception:
                pass
        try:
            _task_update(task_id(self.namespace, key), used=used,
                         generated=generated, worker=str(worker.address),
                         pid=os.getpid())
        except Exception:
            pass


async def dask_setup(service=None, *args, **kwargs):
    """Preload entry point, for the scheduler and for workers."""
    try:
        from distributed import Scheduler, Worker
    except ImportError:
        return
    if isinstance(service, Scheduler):
        if "mida-scheduler" not in service.plugins:
            service.add_plugin(MidaSchedulerPlugin(service),
                               name="mida-scheduler")
    elif isinstance(service, Worker):
        if "mida-worker" not in service.plugins:
            await service.plugin_add(plugin=MidaWorkerPlugin(),
                                     name="mida-worker")


def dask_teardown(service=None, *args, **kwargs):
    _mida.flush(10.0)


def observe(client):
    """Observes the computations of an existing client (the explicit
    alternative to the preloads): installs the scheduler and worker
    plugins through the client. mida must be importable by the scheduler
    and the workers."""
    client.register_plugin(MidaSchedulerPlugin())
    client.register_plugin(MidaWorkerPlugin())
    return client

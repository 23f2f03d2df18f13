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
  submission time), a new one each time the key is submitted anew after
  Dask forgot it; the graph's dependencies task_dep rows; a key that is
  data, not a task (scattered: no run spec; or in memory or erred before
  the plugin saw it), no task, but data used (dask://<scheduler id>/<key>,
  its nbytes) by each task that depends on it; the end of each
  key its status -- FINISHED (with nbytes and typename), ERROR (its own
  exception and traceback text, or the upstream key that erred), or
  CANCELLED (released before it ended); an ERROR or CANCELLED with the
  time the scheduler saw it as its end, which a key that never ran keeps
  (with no start, so no duration; a key that ran has its run's times).
  The scheduler hands each task's id to the workers in the task's
  annotations ("mida_task"). A key computed by a worker that has said it
  records the ends itself (RECORDS_ENDS) is FINISHED from that worker's
  records instead (below); one computed by a worker without the plugin
  gets its start and end from the worker's "compute" startstop, and the
  worker's address, as the scheduler hears them.
- worker (MidaWorkerPlugin): when a task starts executing, it is put
  inside a _mida.TaskMeter, which does the worker's part on the thread
  that runs the task, in C, off the worker's event loop: every execution
  is a run of the task (start, end, worker, outcome FINISHED or ERROR with
  the exception, and its resource use: thread CPU time, peak RSS, context
  switches, I/O blocks; see docs/telemetry.md), the run's start recorded
  before the task runs, so that a worker killed meanwhile leaves it; the
  arguments, by parameter name, with the run spec's references to other
  keys recorded as {"ref": key}, never copied -> used; the result, as the
  decorator records values (scalars exactly, arrays and frames as
  summaries) -> generated. The store makes the task's row the summary of
  its runs: attempts (the runs the workers report, whatever the scheduler
  saw), and the start, end, worker and telemetry of the latest run. A run
  spec that cannot be metered (a coroutine function, an unknown shape) is
  recorded from the worker's event loop instead (its run's start and end,
  its arguments from the run spec, its result from the worker's data),
  without telemetry, and counted (the counter dask.telemetry_skipped, and
  the plugin's `skipped`). When a task it computed goes to memory, the
  worker records its nbytes and typename (and FINISHED, if no run of it
  was recorded here), and the first time, tells the scheduler that it
  does (RECORDS_ENDS); from then on the scheduler records nothing at the
  end of the keys that worker computes.

The scheduler gives each submission of a key a new time-ordered id, in
the order of Dask's priorities (the order the keys will run in), so that
the store appends, and the later writes of a task's row (its run, its end)
land on the last pages of the store's indexes rather than at random places
in them; it hands the id to the workers in the annotation; a worker that
gets no annotation (no scheduler plugin) derives one from the scheduler's
id and the key.

Cost. The hooks that run per transition -- both plugins' `transition`, and
the worker's `_ended` -- are C (_mida.DaskSchedulerHooks and
_mida.DaskWorkerHooks, which the plugins subclass; dask_hooks.c): a
transition they ignore returns after a string comparison, with no Python
frame and no dict of its keyword arguments; a key's end and a task's meter
go straight to libmida; only what is rare (an error's text, a workflow's
end, a run spec the C hook cannot meter, an unmetered run) comes back to
the Python methods here. The recording itself is C too (the TaskMeter on
the executing thread, the records into the journal). Most of what capture
costs a Dask run is the store's side: each process's shipper writes its
records to the store, and most of that is paid per transaction (its
commit writes every page it changed, the rightmost pages of the task
table and its indexes, to the WAL, and the checkpoint copies them back):
a small batch costs nearly as much as a big one; and a task's row written
by two processes (the scheduler its end, the worker its run) costs two
separate writes, each re-reading pages the other changed: hence the ends
recorded by the workers, into the row write their runs make anyway (the
scheduler's shipper ~0.19 -> ~0.08 s CPU per 10,000 tasks). A Dask
process therefore ships every DASK_SHIP_MS (500 ms) unless MIDA_SHIP_MS
says otherwise: fewer, bigger transactions, in which the records of one
task fold into one row write. A task's end reaches the store up to that
much later; with the dashboard's 200 ms poll, still within DESIGN.md's 1 s
from a task's end to an open dashboard.
"""

import asyncio
import inspect
import os
from operator import itemgetter

from . import _mida

__all__ = ["dask_setup", "dask_teardown", "observe", "MidaSchedulerPlugin",
           "MidaWorkerPlugin"]

try:
    from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin
except ImportError:  # without distributed the module still imports
    SchedulerPlugin = WorkerPlugin = object

_task_update = _mida.task_update
_task_run = _mida.task_run
_id_from_name = _mida.id_from_name
_new_id = _mida.new_id
_now_ns = _mida.now_ns
_TaskMeter = _mida.TaskMeter

#: The annotation that carries a task's id from the scheduler to workers.
ANNOTATION = "mida_task"
WORKFLOW_ANNOTATION = "mida_workflow"  # the task's workflow, beside it


def _workflow_of(ts):
    """The workflow id the scheduler put in a worker TaskState's
    annotations, or None."""
    ann = ts.annotations
    return ann.get(WORKFLOW_ANNOTATION) if ann else None

#: The scheduler's handler by which a worker says that it records the end
#: of the tasks it runs (nbytes, typename), which the scheduler then leaves
#: to it.
RECORDS_ENDS = "mida_worker_records_ends"

#: The ship interval of a Dask process's session, ms (MIDA_SHIP_MS wins).
DASK_SHIP_MS = 500

_PLAIN = frozenset((int, float, str, bool, type(None)))


def task_id(namespace, key, graph=None):
    """The id of a Dask key's task: the key as submitted by graph number
    `graph` of the scheduler whose id is `namespace` (None: the id of a
    key whose submission is unknown, as workers use without the
    scheduler's annotation)."""
    if graph is None:
        return _id_from_name("dask", namespace + "/" + str(key))
    return _id_from_name("dask", "%s/%d/%s" % (namespace, graph, key))


_first = itemgetter(0)


def _by_priority(keys, stasks):
    """(priority, key, TaskState) of those of keys the scheduler knows, in
    the order Dask will run them (its priority), so that the ids given in
    that order follow the execution: the workers' and the scheduler's
    later writes to a task's row then land on the last pages of the
    store's indexes, a few pages per batch, instead of on pages all over
    them (the scheduler hands update_graph its keys as a set, in hash
    order). In the order of keys if the priorities do not compare. The
    sort key is C (itemgetter): a Python function per key cost two frames
    a task; and the tuples sorted are what _begin_keys takes, not copied
    into new ones."""
    known = []
    for key in keys:
        ts = stasks.get(key)
        if ts is not None:
            known.append((ts.priority or (), key, ts))
    try:
        known.sort(key=_first)
    except TypeError:
        pass
    return known


def _exception_text(exc):
    """"Type: message" of an exception the scheduler keeps (pickled bytes
    or distributed's Serialized), or "" when there is none or it cannot
    be read back."""
    if exc is None:
        return ""
    try:
        from distributed.protocol import deserialize, pickle
        if isinstance(exc, (bytes, bytearray, memoryview)):
            exc = pickle.loads(exc)
        elif hasattr(exc, "header") and hasattr(exc, "frames"):
            exc = deserialize(exc.header, exc.frames)
        if not isinstance(exc, BaseException):
            return ""
        return "%s: %s" % (type(exc).__name__, exc)
    except Exception:
        return ""


def _text_of_repr(text):
    """"Type: message" of the repr of an exception that Dask sends an erred
    key's transition ("ZeroDivisionError('x')" is "ZeroDivisionError: x",
    as str() of the exception makes its message), where its arguments are
    literals; else the text as it is."""
    import ast
    import re
    m = re.fullmatch(r"([A-Za-z_][\w.]*)\((.*)\)", text[:20000], re.S)
    if m is None:
        return text
    try:
        args = ast.literal_eval("(%s,)" % m.group(2)) if m.group(2) else ()
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    # As str() says it: a KeyError's key as its repr, ('k' is "'k'").
    one = repr if m.group(1).endswith("KeyError") else str
    message = one(args[0]) if len(args) == 1 else str(args) if args else ""
    return "%s: %s" % (m.group(1), message) if message else m.group(1)


class MidaSchedulerPlugin(_mida.DaskSchedulerHooks, SchedulerPlugin):
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
        self.tasks = {}      # key -> [task id, workflow id, ended?]
        self.workflows = {}  # workflow id -> [pending keys, erred?]
        self.client_wf = {}  # client id -> workflow id (per_client mode)
        self.graphs = 0      # graph submissions seen
        self.parent = os.environ.get("MIDA_PARENT_TASK") or None
        self.ends_on_workers = set()  # addresses: see RECORDS_ENDS
        if scheduler is not None:
            self._attach(scheduler)

    def _attach(self, scheduler):
        self.scheduler = scheduler
        self.namespace = str(scheduler.id)
        handlers = getattr(scheduler, "handlers", None)
        if handlers is not None:
            handlers[RECORDS_ENDS] = self._worker_records_ends
        _mida._ship_default(DASK_SHIP_MS)
        _mida.session_info()  # open the session now, not in a transition

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
        known = self.tasks
        new = [k for k in tasks if k not in known]
        if not new:
            return
        # The graph names data too: what client.scatter placed (a key
        # without a run spec), and keys computed before the plugin saw
        # them (in memory or erred already). Not tasks: none runs or ends.
        # Left out here, in C, they open no workflow and are no task; the
        # tasks that use them record them as data used (_begin_keys).
        fresh = self._drop_data(_by_priority(new, stasks))
        if not fresh:
            return
        wf = self._workflow(client)
        state = self.workflows[wf]
        self.graphs += 1
        state[0] += len(fresh)
        # Each key a new time-ordered id (appended to the store's indexes),
        # known in self.tasks as [id, workflow id, ended?] and put in a new
        # dict of its annotations (they may be shared elsewhere), for the
        # workers; then its SUBMITTED record, its dependencies on the keys
        # known, and the values of the others (data) as data used, named
        # dask://<scheduler id>/<key>. In C: _mida.DaskSchedulerHooks.
        self._begin_keys(fresh, wf, self.parent)

    def _worker_records_ends(self, address=None, **kwargs):
        """RECORDS_ENDS: the worker at address records the end of the tasks
        it computes (MidaWorkerPlugin._ended)."""
        workers = getattr(self.scheduler, "workers", None)
        if address is not None and (workers is None or address in workers):
            self.ends_on_workers.add(address)  # pruned in remove_worker

    # transition(key, start, finish, *args, **kwargs), called for every
    # transition of every key, is _mida.DaskSchedulerHooks's, in C
    # (dask_hooks.c): it leaves at once unless a key the plugin knows ends
    # (memory, erred, forgotten), records FINISHED with nbytes and typename
    # (none where the key's worker records it: RECORDS_ENDS) or CANCELLED
    # itself, counts the key off its workflow, and calls the methods below
    # for what is rare.

    def _erred(self, key, start, tid, text, tb):
        """The ERROR of a key: its own exception and traceback texts, the
        exception the scheduler made for it without a text (KilledWorker:
        every worker that ran it died), or the upstream key that erred and
        made it err."""
        text = text or ""
        tb = tb or ""
        ts = None
        if self.scheduler is not None:
            ts = self.scheduler.tasks.get(key)
            # "Type: message", as its runs and @mida.task say it, rather
            # than Dask's repr ("ValueError('bad input')"), where the
            # scheduler keeps the exception; else Dask's text.
            text = (_exception_text(getattr(ts, "exception", None)) or
                    _text_of_repr(text))
        if not text and start != "processing":
            blame = getattr(ts, "exception_blame", None)
            text = "an upstream task erred: %s" % (
                blame.key if blame is not None else "?")
        # Ended now: a key erred by an upstream one never ran, and its row
        # has no other end (a key that ran gets its run's, which wins).
        _task_update(tid, _mida.ERROR, ended=_now_ns(),
                     error=(text + "\n" + tb).strip() or "erred")

    def _end_workflow(self, wf):
        state = self.workflows.pop(wf, None)
        if state is None:
            return
        status = _mida.ERROR if state[1] else _mida.FINISHED
        try:
            _mida.workflow_end(wf, status, None)
        except _mida.Error:
            pass

    def remove_worker(self, scheduler=None, worker=None, **kwargs):
        self.ends_on_workers.discard(worker)

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


class MidaWorkerPlugin(_mida.DaskWorkerHooks, WorkerPlugin):
    """Records each execution of a task, its arguments and its result on
    the worker.

    Its transition hook is C (_mida.DaskWorkerHooks): the end of a task
    computed here is recorded by the C _ended directly, so a subclass
    that overrides _ended changes what `plugin._ended(key)` does, not what
    the hook does; override transition to change that."""

    name = "mida-worker"

    def __init__(self, **kwargs):
        self.worker = None
        self.namespace = None
        self.signatures = {}
        self.address = None
        self.metered = 0   # executions that got a TaskMeter
        self.skipped = 0   # executions that could not get one (counted)
        self.unmetered = {}  # key -> (task id, run id, start) of those
        self.typenames = {}  # type -> Dask's name of it (dask.utils.typename)
        self.announced = None  # RECORDS_ENDS sent (its asyncio task)

    async def setup(self, worker=None, **kwargs):
        self.worker = worker
        self.address = str(worker.address)
        _mida._ship_default(DASK_SHIP_MS)
        _mida.session_info()  # open the session now, not in the first task
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

    def _task_id(self, key, ts):
        ann = ts.annotations
        tid = ann.get(ANNOTATION) if ann else None
        return tid if tid is not None else task_id(self.namespace, key)

    def _meter(self, key, ts, tid):
        """Puts a TaskMeter around the task about to run: on the executing
        thread, in C, it records the execution as a run of the task, with
        its resource use, and the task's arguments and result. Returns True
        if the task is metered that way."""
        spec = ts.run_spec
        if type(spec) is _TaskMeter:  # run again: a new meter, a new run
            spec = spec.__wrapped__
        coro = getattr(spec, "is_coro", None)
        if coro is not None:  # a graph node (dask 2024.12 and later)
            if coro:  # async def: its CPU time would be the event loop's
                return False
            func = getattr(spec, "func", None)
            names = None
            if func is not None and getattr(func, "__code__", None) is None:
                names = tuple(self._names(func))
            # Positional (func, task, args, kwargs, deps, names, worker,
            # node): keywords cost the constructor's parser ~0.6 us.
            ts.run_spec = _TaskMeter(spec, tid, None, None, None, names,
                                     self.address, True, _workflow_of(ts))
            return True
        if type(spec) is tuple and len(spec) == 3 and callable(spec[0]):
            func, args, kwargs = spec  # dask 2024.11 and older
            if type(func) is _TaskMeter:
                func = func.__wrapped__
            if inspect.iscoroutinefunction(func):
                return False
            names = None
            if getattr(func, "__code__", None) is None:
                names = tuple(self._names(func))
            ts.run_spec = (_TaskMeter(
                func, tid, args=args if type(args) is tuple else tuple(args),
                kwargs=(kwargs if type(kwargs) is dict
                        else dict(kwargs or {})),
                deps={d.key for d in ts.dependencies}, names=names,
                worker=self.address, workflow=_workflow_of(ts)), args,
                kwargs)
            return True
        return False

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
        if type(spec) is _TaskMeter:
            spec = spec.__wrapped__
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

    # transition(key, start, finish, **kwargs), called for every
    # transition of every task, and _ended(key), the end of a task
    # computed here, are _mida.DaskWorkerHooks's, in C (dask_hooks.c): a
    # task whose run spec is a graph node of a plain function gets its
    # TaskMeter there, one that ends in memory its nbytes and typename;
    # what is rare comes to the methods below.

    def _executing(self, key, ts):
        """A task about to execute that the C hook could not meter itself
        (an older tuple run spec, a callable without a code object, a task
        run again, no annotation): metered here, or its run recorded
        unmetered."""
        tid = self._task_id(key, ts)
        try:
            if self._meter(key, ts, tid):
                self.metered += 1
                return
        except Exception:
            pass
        self._begin_unmetered(key, tid)

    def _typename(self, typ):
        try:
            from dask.utils import typename
            name = typename(typ)
        except Exception:
            name = getattr(typ, "__name__", None)
        if len(self.typenames) >= 1024:  # bounded: types may be made
            self.typenames.clear()       # at run time
        try:
            self.typenames[typ] = name
        except TypeError:
            pass
        return name

    def _announce(self):
        """Tells the scheduler that this worker records the end of the tasks
        it computes (RECORDS_ENDS), once, without waiting: until the
        scheduler has it, both record those ends, which merge alike."""
        async def tell():
            try:
                await getattr(self.worker.scheduler, RECORDS_ENDS)(
                    address=self.address)
            except Exception:
                pass
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a test calling the hooks)
            self.announced = False
            return
        self.announced = loop.create_task(tell())

    def _begin_unmetered(self, key, tid):
        """The start of a run that no TaskMeter records (counted)."""
        self.skipped += 1
        run = _new_id()
        started = _now_ns()
        self.unmetered[key] = (tid, run, started)
        _task_run(run, tid, _mida.RUNNING, started, worker=self.address)

    def _end_unmetered(self, key, finish):
        """The end of such a run, with the task's arguments from the run
        spec and its result from the worker's data."""
        tid, run, started = self.unmetered.pop(key)
        worker = self.worker
        ended = _now_ns()
        _task_run(run, tid, _mida.ERROR if finish == "error"
                  else _mida.FINISHED, started, ended, worker=self.address)
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
            _task_update(tid, used=used, generated=generated)
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

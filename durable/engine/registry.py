"""The @workflow and @activity decorators and the registry of definitions by stable name."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar, overload

from durable.engine import parallel
from durable.engine.cron import Schedule
from durable.engine.retry import DEFAULT_RETRY, RetryPolicy
from durable.exceptions import DefinitionError, InvalidArgument, WorkflowNotFound

P = ParamSpec("P")
SINGLETON_MODES = ("queue", "skip", "replace")
RATE = re.compile(r"^\s*([0-9]+)\s*/\s*([smh])\s*$")
PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: object) -> tuple[int, float] | None:
    """A rate limit ("N/s", "N/m" or "N/h") as (N, seconds per period); None when malformed."""
    if not isinstance(text, str):
        return None
    found = RATE.match(text)
    if found is None:
        return None
    return int(found.group(1)), PERIODS[found.group(2)]


R = TypeVar("R")


@dataclass(eq=False)
class WorkflowDefinition(Generic[P, R]):
    """A registered workflow; call it only through `durable.start`, or directly in a unit test."""

    name: str
    fn: Callable[..., R]
    on_event: str | None = None
    pause_after_errors: int | None = None
    schedules: tuple[Schedule, ...] = ()
    queue: str | None = None  # its queue (SPEC 14); None: "default"
    singleton: str | None = None  # one at a time per business key: "queue", "skip" or "replace"

    def __call__(self, ctx: Any, *args: Any, **kwargs: Any) -> R:
        return self.fn(ctx, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<workflow {self.name}>"

    def call_shape(self) -> str:
        """How it is called, without annotations: "three_steps(ctx, n, nap=0.3)"."""
        params = list(inspect.signature(self.fn).parameters.values())[1:]
        shown = ", ".join(str(p.replace(annotation=inspect.Parameter.empty)) for p in params)
        return f"{self.name}(ctx, {shown})"

    def misfit(self, args: list | tuple, kwargs: dict[str, Any]) -> str | None:
        """Why these inputs do not fit the function ("missing a required argument: 'n'"), or None."""
        try:
            inspect.signature(self.fn).bind(None, *args, **kwargs)
        except TypeError as exc:
            return str(exc)
        return None

    def check_arguments(self, args: list | tuple, kwargs: dict[str, Any]) -> None:
        """Refuse inputs the function cannot take, rather than start an instance bound to fail.

        Raises:
            InvalidArgument: the arguments do not fit the function's signature.
        """
        why = self.misfit(args, kwargs)
        if why is not None:
            raise InvalidArgument(f"The arguments do not fit {self.call_shape()}: {why}.")


@dataclass(eq=False)
class ActivityDefinition(Generic[P, R]):
    """A registered activity; a workflow calls it as `activity(ctx, *args, **kwargs)`."""

    name: str
    fn: Callable[..., R]
    retry: RetryPolicy = DEFAULT_RETRY
    transactional: bool = True
    compensation: ActivityDefinition | None = None
    concurrency: int | None = None  # at most this many executions at once, across all workers
    rate: str | None = None  # at most "N/s", "N/m" or "N/h" starts, across all workers

    @property
    def limited(self) -> bool:
        return self.concurrency is not None or self.rate is not None

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        return parse_rate(self.rate) if self.rate is not None else None

    def __call__(self, ctx: Any, *args: Any, **kwargs: Any) -> R:
        call = getattr(ctx, "_call_activity", None)
        if call is None:
            raise DefinitionError(
                f"Activity '{self.name}' was called with {type(ctx).__name__}; call it from a workflow "
                f"as {self.name}(ctx, ...) with the workflow's context."
            )
        return call(self, args, kwargs)

    def start(self, ctx: Any, *args: Any, **kwargs: Any) -> Any:
        """Schedule the activity to run on any worker and return a StepHandle at once; wait for
        it with `ctx.gather(...)` or `ctx.first(...)`. Each runs with its own retries (and, when
        transactional, its own transaction) and is recorded at its own history position.

        Raises:
            InvalidArgument: more than 1,000 parallel steps would be running, not yet gathered.
            EncodingError: an argument cannot be stored as JSON.
        """
        if not hasattr(ctx, "_open_steps"):
            raise DefinitionError(
                f"Activity '{self.name}' was started with {type(ctx).__name__}; start it from a workflow "
                f"as {self.name}.start(ctx, ...) with the workflow's context."
            )
        return parallel.start(ctx, self, args, kwargs)

    def __repr__(self) -> str:
        return f"<activity {self.name}>"


class Registry:
    """Definitions by name; one process-wide instance, `registry`."""

    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDefinition] = {}
        self.activities: dict[str, ActivityDefinition] = {}
        self.hooks: dict[str, Any] = {}  # name -> durable.engine.hooks.HookDefinition

    def add(self, table: dict[str, Any], kind: str, definition: Any) -> None:
        existing = table.get(definition.name)
        if existing is not None and _origin(existing.fn) != _origin(definition.fn):
            raise DefinitionError(
                f"Two {kind}s are named '{definition.name}': {_origin(existing.fn)} and "
                f"{_origin(definition.fn)}. Give one of them another name with name=..."
            )
        table[definition.name] = definition

    def schedules(self) -> dict[str, tuple[WorkflowDefinition, Schedule]]:
        """The code's schedules by name, with their workflow."""
        return {s.name or "": (wf, s) for wf in self.workflows.values() for s in wf.schedules}

    def workflow(self, name: str) -> WorkflowDefinition:
        try:
            return self.workflows[name]
        except KeyError:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise WorkflowNotFound(
                f"No workflow named '{name}' is registered (known: {known}). Define it in a "
                "`workflows` module of an installed app or list its module in DURABLE_WORKFLOW_MODULES."
            ) from None

    def hooks_for(self, trigger: str, workflow_name: str) -> list[str]:
        """The names of the hooks that run after `trigger` happens to an instance of `workflow_name`."""
        return [h.name for h in self.hooks.values() if h.applies(trigger, workflow_name)]

    def starters(self, event_type: str) -> list[WorkflowDefinition]:
        return [wf for wf in self.workflows.values() if wf.on_event == event_type]


registry = Registry()


def _origin(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _check_function(fn: Any, kind: str) -> None:
    if not inspect.isfunction(fn):
        raise DefinitionError(f"@durable.{kind} decorates a plain function, not {fn!r}.")
    if fn.__name__ == "<lambda>":
        raise DefinitionError(f"@durable.{kind} cannot decorate a lambda: it has no stable name. Use def.")
    if "<locals>" in fn.__qualname__:
        raise DefinitionError(
            f"{kind} '{fn.__qualname__}' is defined inside a function; define it at module level "
            "so every worker process can find it by name."
        )
    if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
        raise DefinitionError(f"{kind} '{fn.__qualname__}' must be a plain def, not async or a generator.")
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise DefinitionError(f"{kind} '{fn.__qualname__}' must take the context as its first argument.")


def _check_name(name: Any, kind: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 200 or name != name.strip():
        raise DefinitionError(f"A {kind} name must be a non-empty string of at most 200 characters, not {name!r}.")
    return name


def _schedules(given: Any, workflow_name: str) -> tuple[Schedule, ...]:
    """The workflow's schedules, each named (the workflow's name, then "-2", "-3"...), names free."""
    if given is None:
        return ()
    items = given if isinstance(given, list | tuple) else [given]
    named: list[Schedule] = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, str):
            item = Schedule(cron=item)
        elif not isinstance(item, Schedule):
            raise DefinitionError(f"schedule takes a cron string or a durable.Schedule, not {item!r}.")
        if item.name is None:
            item = dataclasses.replace(item, name=workflow_name if number == 1 else f"{workflow_name}-{number}")
        named.append(item)
    taken = {name: wf for name, (wf, _) in registry.schedules().items() if wf.name != workflow_name}
    seen: set[str] = set()
    for item in named:
        name = item.name or ""
        if name in seen or name in taken:
            owner = taken[name].name if name in taken else workflow_name
            raise DefinitionError(f"Two schedules are named '{name}' (workflow '{owner}'); give one name=...")
        seen.add(name)
    return tuple(named)


@overload
def workflow(fn: Callable[P, R], /) -> WorkflowDefinition[P, R]: ...
@overload
def workflow(
    *,
    name: str | None = None,
    on_event: str | None = None,
    pause_after_errors: int | None = None,
    schedule: str | Schedule | list[str | Schedule] | None = None,
    queue: str | None = None,
    singleton: str | None = None,
) -> Callable[[Callable[P, R]], WorkflowDefinition[P, R]]: ...


def workflow(
    fn: Callable | None = None,
    /,
    *,
    name: str | None = None,
    on_event: str | None = None,
    pause_after_errors: int | None = None,
    schedule: str | Schedule | list[str | Schedule] | None = None,
    queue: str | None = None,
    singleton: str | None = None,
) -> Any:
    """Register a function as a durable workflow.

    Args:
        fn: `def f(ctx: WorkflowContext, *args, **kwargs)`, when used without parentheses.
        name: the stable name stored with each instance; defaults to the function's __name__.
        on_event: a CloudEvent type; each such event starts an instance, called as `f(ctx, event)`.
        pause_after_errors: pause the instance (instead of failing it) once this many attempts in
            a row have failed.
        schedule: start it by itself: a cron string, a durable.Schedule, or a list of them
            (written into the schedules table when `durable_worker` starts).
        queue: the queue of DURABLE_QUEUES its instances run in (their limits); "default" when None.
        singleton: one instance at a time per business key, for starts that give one: "queue"
            waits for the running one, "skip" returns the running one's handle, "replace"
            cancels it (with its compensations) and starts the new one.

    Returns:
        The WorkflowDefinition, callable like the function.

    Raises:
        DefinitionError: the function is a lambda or nested, the name is taken, or a schedule
            is invalid or its name taken.
    """
    if on_event is not None and (not isinstance(on_event, str) or not on_event):
        raise DefinitionError(f"on_event must be a CloudEvent type string, not {on_event!r}.")
    if pause_after_errors is not None and (not isinstance(pause_after_errors, int) or pause_after_errors < 1):
        raise DefinitionError(f"pause_after_errors must be a positive int, not {pause_after_errors!r}.")
    if queue is not None and (not isinstance(queue, str) or not queue or len(queue) > 100):
        raise DefinitionError(f"queue must be the name of a queue of DURABLE_QUEUES, not {queue!r}.")
    if singleton is not None and singleton not in SINGLETON_MODES:
        raise DefinitionError(f"singleton must be one of {', '.join(SINGLETON_MODES)}, not {singleton!r}.")
    if singleton == "queue" and queue is not None:
        raise DefinitionError(
            'singleton="queue" keeps a line of its own per business key; for a queue with limits, give that '
            'queue "per_key": 1 in DURABLE_QUEUES instead.'
        )

    def wrap(f: Callable) -> WorkflowDefinition:
        _check_function(f, "workflow")
        definition: WorkflowDefinition = WorkflowDefinition(
            name=_check_name(name or f.__name__, "workflow"),
            fn=f,
            on_event=on_event,
            pause_after_errors=pause_after_errors,
            queue=queue,
            singleton=singleton,
        )
        definition.schedules = _schedules(schedule, definition.name)
        for item in definition.schedules:
            why = definition.misfit(item.args, item.kwargs)
            if why is not None:
                raise DefinitionError(
                    f"Schedule '{item.name}': its inputs do not fit {definition.call_shape()}: {why}."
                )
        functools.update_wrapper(definition, f)  # type: ignore[arg-type]
        registry.add(registry.workflows, "workflow", definition)
        return definition

    return wrap(fn) if fn is not None else wrap


@overload
def activity(fn: Callable[P, R], /) -> ActivityDefinition[P, R]: ...
@overload
def activity(
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    transactional: bool = True,
    compensation: ActivityDefinition | None = None,
    concurrency: int | None = None,
    rate: str | None = None,
) -> Callable[[Callable[P, R]], ActivityDefinition[P, R]]: ...


def activity(
    fn: Callable | None = None,
    /,
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    transactional: bool = True,
    compensation: ActivityDefinition | None = None,
    concurrency: int | None = None,
    rate: str | None = None,
) -> Any:
    """Register a function as an activity: a step whose result is recorded and never re-run.

    Args:
        fn: `def a(ctx: ActivityContext, *args, **kwargs)`, when used without parentheses.
        name: the stable name recorded in the history; defaults to the function's __name__.
        retry: the RetryPolicy for failed attempts (default: 3 attempts, 1 s then 2 s apart).
        transactional: run the body in the transaction that records its result, so its ORM
            writes happen exactly once; False for HTTP calls and other outside effects.
        compensation: an activity that undoes this one: armed (recorded) once this one completes,
            run as `compensation(ctx, *same args)` if the saga unwinds (an uncaught error, a
            cancel, `ctx.compensate()`).
        concurrency: at most this many executions at once across every worker; an attempt that
            finds no free slot releases its worker and tries again shortly (like a retry backoff).
        rate: at most this many starts per period across every worker: "N/s", "N/m" or "N/h".

    Returns:
        The ActivityDefinition, called from a workflow as `a(ctx, *args, **kwargs)`.

    Raises:
        DefinitionError: bad arguments, a lambda, a nested function, or a taken name.
    """
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise DefinitionError(f"retry must be a durable.RetryPolicy, not {retry!r}.")
    if compensation is not None and not isinstance(compensation, ActivityDefinition):
        raise DefinitionError("compensation must be another @durable.activity.")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise DefinitionError(f"concurrency must be a whole number of at least 1, not {concurrency!r}.")
    if rate is not None and parse_rate(rate) is None:
        raise DefinitionError(f'rate must be "N/s", "N/m" or "N/h" (e.g. "10/s"), not {rate!r}.')

    def wrap(f: Callable) -> ActivityDefinition:
        _check_function(f, "activity")
        definition: ActivityDefinition = ActivityDefinition(
            name=_check_name(name or f.__name__, "activity"),
            fn=f,
            retry=retry or DEFAULT_RETRY,
            transactional=bool(transactional),
            compensation=compensation,
            concurrency=concurrency,
            rate=rate,
        )
        functools.update_wrapper(definition, f)  # type: ignore[arg-type]
        registry.add(registry.activities, "activity", definition)
        return definition

    return wrap(fn) if fn is not None else wrap

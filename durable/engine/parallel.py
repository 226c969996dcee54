"""Parallel steps and first of several: activity.start, ctx.gather, ctx.first, ctx.timer, ctx.event.

A started activity takes the next history position at once, as a `parallel` step that any
worker runs under its own lease; the workflow goes on. `gather` records nothing: once every
handle's step has ended the results are in the history, so a replay returns the same values.
`first` takes a position of its own for its decision, which the storage records exactly once
(an event, the timer or a step's end, whichever comes first, under the instance lock).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from durable.engine import activities, codec
from durable.engine.types import FirstSpec, NewStep, ReceivedEvent, Step, StepKind, StepStatus, WaitSpec
from durable.exceptions import InvalidArgument, NonDeterminismError

if TYPE_CHECKING:
    from durable.engine.context import WorkflowContext

# Parallel steps started and not yet gathered (or passed to first) in one execution.
MAX_PARALLEL = 1000
ENDED = frozenset({StepStatus.COMPLETED, StepStatus.FAILED})


@runtime_checkable
class Joinable(Protocol):
    """What gather() and first() accept besides timers and events: something an instance started
    that ends once, recorded at its own history position (a StepHandle; a ChildHandle too)."""

    # The instance that started it (a child's handle: the parent), and the position of its step.
    owner_id: str
    position: int

    def ended(self, step: Step | None) -> bool:
        """Whether the recorded step at its position (None: not recorded yet) has ended."""
        ...

    def value(self, ctx: WorkflowContext, step: Step) -> Any:
        """The result of the ended step, or raise its error (ActivityError for an activity)."""
        ...

    def words(self) -> str:
        """What it is, for the viewer: "activity 'charge'"."""
        ...


@dataclass(frozen=True)
class StepHandle:
    """A parallel activity that `activity.start` scheduled; pass it to ctx.gather or ctx.first."""

    instance_id: str
    position: int
    name: str

    def ended(self, step: Step | None) -> bool:
        return step is not None and step.kind == StepKind.PARALLEL and step.status in ENDED

    def value(self, ctx: WorkflowContext, step: Step) -> Any:
        if step.status == StepStatus.FAILED:
            raise activities.activity_error(ctx.instance_id, self.name, step.error or {}, step.attempt)
        return codec.decode(step.result)

    @property
    def owner_id(self) -> str:
        return self.instance_id

    def words(self) -> str:
        return f"activity '{self.name}'"


@dataclass(frozen=True)
class TimerItem:
    """`ctx.timer(seconds)`: wins a ctx.first when that long has passed; its value is None."""

    seconds: float

    def words(self) -> str:
        return f"{_span(self.seconds)} timer"


@dataclass(frozen=True)
class EventItem:
    """`ctx.event(type, match, subject)`: wins a ctx.first with the ReceivedEvent that arrives."""

    types: tuple[str, ...]
    match: dict[str, Any]
    subject: str | None

    def words(self) -> str:
        return " or ".join(self.types)


def start(ctx: WorkflowContext, definition: Any, args: tuple, kwargs: dict) -> StepHandle:
    """Record a parallel step for `definition` (any worker runs it) and return its handle at once."""
    if len(ctx._open_steps) >= MAX_PARALLEL:
        raise InvalidArgument(
            f"{ctx._where(ctx.position)}: activity '{definition.name}' would be parallel step "
            f"{MAX_PARALLEL + 1} not yet gathered; at most {MAX_PARALLEL} run at once in one instance. "
            "Gather some before starting more, or split the work over child workflows."
        )
    position, step = ctx._next(StepKind.PARALLEL, definition.name)
    ctx._open_steps.add(position)
    handle = StepHandle(ctx.instance_id, position, definition.name)
    if step is not None:
        return handle
    where = f"{ctx._where(position)} input of activity '{definition.name}'"
    tree = codec.encode({"args": list(args), "kwargs": kwargs}, where=where)
    new = NewStep(
        position=position,
        kind=StepKind.PARALLEL,
        name=definition.name,
        status=StepStatus.STARTED,
        input=tree,
        extra={"due_at": ctx._backend.clock()},
    )
    ctx._call(ctx._backend.record, new)
    return handle


def gather(ctx: WorkflowContext, handles: tuple[Any, ...]) -> list[Any]:
    """Wait durably until every handle has ended; their results in order, or the first error."""
    if ctx._halt is not None:
        raise ctx._halt
    for handle in handles:
        _check_joinable(ctx, handle, "gather")
        ctx._open_steps.discard(handle.position)
    steps = [ctx._history.get(handle.position) for handle in handles]
    pending = [h for h, step in zip(handles, steps, strict=True) if not h.ended(step)]
    if pending:
        children = sum(1 for h in pending if not isinstance(h, StepHandle))
        ctx._call(ctx._backend.wait_steps, [h.position for h in pending], children)
        ctx._suspend()
    results, error = [], None
    for handle, step in zip(handles, steps, strict=True):
        assert step is not None
        try:
            results.append(handle.value(ctx, step))
        except Exception as exc:
            error = error or exc
    if error is not None:
        raise error
    return results


def first(ctx: WorkflowContext, items: tuple[Any, ...]) -> tuple[int, Any]:
    """Wait durably for the first item to finish; (its index, its value)."""
    if not items:
        raise InvalidArgument(
            f"{ctx._where(ctx.position)}: first() needs one or more step handles, ctx.timer(...) or ctx.event(...)."
        )
    seen: set[str] = set()
    for item in items:
        if isinstance(item, TimerItem):
            continue
        if isinstance(item, EventItem):
            twice = seen.intersection(item.types)
            if twice:
                raise InvalidArgument(
                    f"{ctx._where(ctx.position)}: first() waits for event type {sorted(twice)[0]!r} twice; "
                    "give it once, with the match that covers both."
                )
            seen.update(item.types)
            continue
        _check_joinable(ctx, item, "first")
    words = describe(items)
    position, step = ctx._next(StepKind.FIRST, words[:200])
    for item in items:
        if isinstance(item, Joinable):
            ctx._open_steps.discard(item.position)
    if step is None:
        step = _decide(ctx, position, words, items)
    if step is None:
        ctx._suspend()
        raise AssertionError("unreachable: _suspend raises")
    index = (step.result or {}).get("index")
    if not isinstance(index, int) or not 0 <= index < len(items):
        ctx._halt = NonDeterminismError(
            f"{ctx._where(position)}: the history says item {index} of first() won, but the code passed "
            f"{len(items)}. Check that the workflow is deterministic."
        )
        raise ctx._halt
    item = items[index]
    if isinstance(item, TimerItem):
        return index, None
    if isinstance(item, EventItem):
        return index, ReceivedEvent.from_record(step.result["event"])
    won = ctx._history.get(item.position)
    if won is None:
        # Decided in this very run from a step the history already held.
        raise AssertionError("first() decided for a step that is not in the history")
    return index, item.value(ctx, won)


def _decide(ctx: WorkflowContext, position: int, words: str, items: tuple[Any, ...]) -> Step | None:
    """Record the decision now if a handle had ended already; else ask the storage to wait."""
    name = words[:200]
    for index, item in enumerate(items):
        if isinstance(item, Joinable) and item.ended(ctx._history.get(item.position)):
            decided = Step(position, StepKind.FIRST, name, result={"index": index})
            ctx._call(
                ctx._backend.record, NewStep(position=position, kind=StepKind.FIRST, name=name, result=decided.result)
            )
            return decided
    now = ctx._backend.clock()
    timers = [(item.seconds, i) for i, item in enumerate(items) if isinstance(item, TimerItem)]
    earliest = min(timers) if timers else None
    events = []
    for index, item in enumerate(items):
        if isinstance(item, EventItem):
            match = codec.encode(item.match, where=f"{ctx._where(position)} first() event match")
            spec = WaitSpec(position, name, list(item.types), match, item.subject, None, branch=index)
            events.append((index, spec))
    first = FirstSpec(
        position=position,
        name=name,
        events=events,
        timer_index=None if earliest is None else earliest[1],
        timer_at=None if earliest is None else now + dt.timedelta(seconds=earliest[0]),
        steps={item.position: i for i, item in enumerate(items) if isinstance(item, Joinable)},
        words=words,
    )
    return ctx._call(ctx._backend.wait_first, first)


def _check_joinable(ctx: WorkflowContext, handle: Any, what: str) -> None:
    if not isinstance(handle, Joinable):
        raise InvalidArgument(
            f"{ctx._where(ctx.position)}: {what}() takes handles from activity.start(ctx, ...) and "
            f"ctx.start_child(...){', ctx.timer(...) and ctx.event(...)' if what == 'first' else ''}, not {handle!r}."
        )
    if handle.owner_id != ctx.instance_id:
        raise InvalidArgument(
            f"{ctx._where(ctx.position)}: {what}() got the handle of step {handle.position} of instance "
            f"{handle.owner_id}; an instance waits only for its own steps and children."
        )


def describe(items: tuple[Any, ...]) -> str:
    """What a first waits for, in words: "approval.decision, or 24h timer, whichever first"."""
    parts = [item.words() for item in items]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + f", or {parts[-1]}, whichever first"


def _span(seconds: float) -> str:
    """'24h', '90m', '2d', '1.5s': whole units, hours up to two days (as people say "24h")."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= max(size, 172800 if unit == "d" else 0) and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"

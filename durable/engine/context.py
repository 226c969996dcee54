"""WorkflowContext and ActivityContext: each step takes the next history position or replays it."""

from __future__ import annotations

import datetime as dt
import random as _random
import uuid as _uuid
from collections.abc import Callable, Iterable
from typing import Any

from durable.engine import activities, codec, composition, parallel, saga, versioning
from durable.engine.arguments import event_filter, to_seconds
from durable.engine.storage import Backend
from durable.engine.types import (
    NewStep,
    ReceivedEvent,
    Step,
    StepKind,
    StepStatus,
    TimerPurpose,
    WaitSpec,
)
from durable.exceptions import (
    Halt,
    InvalidArgument,
    NonDeterminismError,
    Suspend,
    WaitTimeout,
)


class WorkflowContext:
    """The handle a workflow function receives; every method is a recorded, replayed step."""

    def __init__(
        self,
        *,
        instance_id: str,
        workflow_name: str,
        history: Iterable[Step],
        backend: Backend,
        business_key: str | None = None,
        scheduled_at: dt.datetime | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.workflow_name = workflow_name
        # What the instance is about, as `start` stored it (a string; a model instance as
        # "<app_label>.<model>:<pk>"), or None. Fixed for the instance's life, so replay-safe.
        self.business_key = business_key
        # The slot (aware, UTC) when a schedule started the instance, else None; fixed, so replay-safe.
        self.scheduled_at = scheduled_at
        self._history = {step.position: step for step in history}
        self._recorded = len(self._history)
        self._backend = backend
        self._position = 0
        self._halt: BaseException | None = None
        # What ctx.patched decided for each change id in this execution (versioning.patched).
        self._patches: dict[str, bool] = {}
        # Positions of parallel steps started and not yet gathered (durable.engine.parallel).
        self._open_steps: set[int] = set()
        self.saga = saga.Saga(self)

    @property
    def is_replaying(self) -> bool:
        """True while the workflow re-executes steps that the history already holds."""
        return self._position < self._recorded

    @property
    def position(self) -> int:
        """The history position the next step will take."""
        return self._position

    @property
    def recorded(self) -> int:
        """How many steps the history held when the run began."""
        return self._recorded

    @property
    def halt(self) -> BaseException | None:
        """The suspension, halt or non-determinism that ended the run, even if user code swallowed it."""
        return self._halt

    def _where(self, position: int) -> str:
        return f"Instance {self.instance_id} step {position}"

    def _next(self, kind: str, name: str) -> tuple[int, Step | None]:
        if self._halt is not None:
            raise self._halt
        position = self._position
        self._position += 1
        step = self._history.get(position)
        if step is not None and (step.kind != kind or step.name != name):
            self._halt = NonDeterminismError(
                f"{self._where(position)}: history has {step.kind} '{step.name}' but the code called "
                f"{kind} '{name}'. Check that the workflow is deterministic; deploy code that "
                "replays the recorded steps, then resume the instance."
            )
            raise self._halt
        return position, step

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Halt as halt:
            self._halt = halt
            raise

    def _suspend(self) -> None:
        self._halt = Suspend()
        raise self._halt

    def _record_local(self, kind: str, name: str, value: Any) -> Any:
        position, step = self._next(kind, name)
        if step is not None:
            return codec.decode(step.result)
        tree = codec.encode(value, where=f"{self._where(position)} {kind} '{name}'")
        self._call(self._backend.record, NewStep(position=position, kind=kind, name=name, result=tree))
        return codec.decode(tree)

    # Deterministic sources -------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The current time (aware, UTC), recorded on first execution and replayed after."""
        return self._record_local(StepKind.NOW, StepKind.NOW, self._backend.clock())

    def uuid4(self) -> _uuid.UUID:
        """A random UUID, recorded on first execution and replayed after."""
        return self._record_local(StepKind.UUID4, StepKind.UUID4, _uuid.uuid4())

    def random(self) -> float:
        """A random float in [0, 1), recorded on first execution and replayed after."""
        return self._record_local(StepKind.RANDOM, StepKind.RANDOM, _random.random())

    # Published values and events ---------------------------------------------------------

    def set_event(self, key: str, value: Any) -> None:
        """Publish a durable key/value that outside code reads with `durable.get_event`.

        Args:
            key: the key, at most 200 characters; a later set_event of the same key replaces it.
            value: a JSON-encodable value.
        """
        if not isinstance(key, str) or not key or len(key) > 200:
            raise InvalidArgument(f"set_event key must be a non-empty str of at most 200 characters, not {key!r}.")
        self._record_local(StepKind.SET_EVENT, key, value)

    def send_event(self, event_type: str, source: str, data: Any = None, *, subject: str | None = None) -> str:
        """Send a CloudEvent from the workflow, stored once and delivered after the step commits.

        Returns:
            The event id, the same on every replay.
        """
        if not isinstance(event_type, str) or not event_type or not isinstance(source, str) or not source:
            raise InvalidArgument("send_event needs a non-empty event_type and source.")
        position, step = self._next(StepKind.SEND_EVENT, event_type)
        if step is not None:
            return step.result["id"]
        # Random, and recorded with the step: replays return the same id, nobody can guess it.
        event_id = str(_uuid.uuid4())
        record = {
            "id": event_id,
            "type": event_type,
            "source": source,
            "subject": subject,
            "data": codec.encode(data, where=f"{self._where(position)} send_event data"),
        }
        self._call(
            self._backend.record, NewStep(position=position, kind=StepKind.SEND_EVENT, name=event_type, result=record)
        )
        return event_id

    # Timers ------------------------------------------------------------------------------

    def sleep(self, duration: float | dt.timedelta, *, label: str | None = None) -> None:
        """Wait `duration` (seconds or a timedelta) durably; the worker is released meanwhile.

        `label` names the wait in the viewer ("cooling-off period"); it is not part of the history.
        """
        seconds = to_seconds(duration, "sleep duration")
        self._sleep_step(lambda now: now + dt.timedelta(seconds=seconds), versioning.label(label, "sleep"))

    def sleep_until(self, when: dt.datetime, *, label: str | None = None) -> None:
        """Wait until an aware datetime durably; the worker is released meanwhile (`label`: see sleep)."""
        if not isinstance(when, dt.datetime) or when.tzinfo is None:
            raise InvalidArgument(f"sleep_until needs an aware datetime, not {when!r}.")
        self._sleep_step(lambda now: when, versioning.label(label, "sleep_until"))

    def _sleep_step(self, due: Callable[[dt.datetime], dt.datetime], label: str | None) -> None:
        position, step = self._next(StepKind.SLEEP, StepKind.SLEEP)
        if step is not None:
            return
        now = self._backend.clock()
        due_at = due(now)
        if due_at <= now:
            self._call(self._backend.record, NewStep(position=position, kind=StepKind.SLEEP, name=StepKind.SLEEP))
            return
        self._call(self._backend.suspend_timer, position, TimerPurpose.SLEEP, StepKind.SLEEP, due_at, label=label)
        self._suspend()

    # Events ------------------------------------------------------------------------------

    def wait_event(
        self,
        event_type: str | list[str] | tuple[str, ...],
        *,
        match: dict[str, Any] | None = None,
        subject: str | None = None,
        timeout: float | dt.timedelta | None = None,
        label: str | None = None,
    ) -> ReceivedEvent:
        """Wait durably for a CloudEvent; the worker is released meanwhile.

        Args:
            event_type: a type, or a list of types to take the first of.
            match: data fields (dotted paths) the event must equal, e.g. {"order_id": "o-1"}.
            subject: the CloudEvents subject the event must have.
            timeout: seconds or a timedelta; None waits for ever.
            label: names the wait in the viewer ("manager approval"); not part of the history.

        Returns:
            The ReceivedEvent, the first in arrival order that matches.

        Raises:
            WaitTimeout: no matching event arrived within `timeout`.
        """
        types = event_filter("wait_event", event_type, match, subject)
        seconds = None if timeout is None else to_seconds(timeout, "wait_event timeout")
        label = versioning.label(label, "wait_event")
        name = ",".join(types)
        position, step = self._next(StepKind.WAIT_EVENT, name)
        if step is None:
            match_tree = codec.encode(match or {}, where=f"{self._where(position)} wait_event match")
            now = self._backend.clock()
            spec = WaitSpec(
                position=position,
                name=name,
                types=types,
                match=match_tree,
                subject=subject,
                timeout_at=None if seconds is None else now + dt.timedelta(seconds=seconds),
                label=label,
            )
            step = self._call(self._backend.wait_event, spec)
            if step is None:
                self._suspend()
        if step.status == StepStatus.TIMED_OUT:
            raise WaitTimeout(f"{self._where(position)}: no {name} event arrived within the timeout.")
        return ReceivedEvent.from_record(step.result)

    # Parallel steps and first of several (durable.engine.parallel) ---------------------------

    def gather(self, *handles: parallel.Joinable) -> list[Any]:
        """Wait durably until every handle (from `activity.start(ctx, ...)` or `ctx.start_child`)
        has ended; the worker is released meanwhile and the instance wakes once, when the last
        one ends.

        Returns:
            Their results, in the order of `handles`.

        Raises:
            ActivityError, ChildFailed, ChildCancelled: the first of them (in order) that failed,
                once all have ended.
            InvalidArgument: a handle is not a step or child handle, or belongs to another instance.
        """
        return parallel.gather(self, handles)

    def first(self, *items: Any) -> tuple[int, Any]:
        """Wait durably for the first of several to finish: step handles, child handles,
        `ctx.timer(...)`, `ctx.event(...)`. Decided once: the other timers and waits are
        withdrawn; a running activity or child is left to finish, its result recorded but unused.

        Returns:
            (index, value): the winner's index in `items`, and its result (an activity's or a
            child's result, the ReceivedEvent, None for a timer).

        Raises:
            ActivityError, ChildFailed, ChildCancelled: the first to finish failed.
            InvalidArgument: no items, a handle of another instance, an event type given twice.
        """
        return parallel.first(self, items)

    def timer(self, duration: float | dt.timedelta) -> parallel.TimerItem:
        """A timer for ctx.first: it wins once `duration` (seconds or a timedelta) has passed."""
        return parallel.TimerItem(to_seconds(duration, "timer duration"))

    def event(
        self,
        event_type: str | list[str] | tuple[str, ...],
        match: dict[str, Any] | None = None,
        subject: str | None = None,
    ) -> parallel.EventItem:
        """An event for ctx.first, matched as by `wait_event` (type or types, match, subject)."""
        types = event_filter("event()", event_type, match, subject)
        return parallel.EventItem(tuple(types), dict(match or {}), subject)

    # Versioning and the viewer (durable.engine.versioning) ------------------------------------

    def patched(self, change_id: str) -> bool:
        """Whether this execution runs the new code of a change to a running workflow.

        True for an instance that reaches this point with the new code (a "patch" marker is
        recorded here, and replays as True); False while replaying a history recorded before the
        change (nothing is recorded: the old branch replays what the old code did).

        Args:
            change_id: names the change, e.g. "send-receipt-by-sms"; at most 200 characters.

        Raises:
            InvalidArgument: the id is empty or not a str (nothing is recorded).
        """
        return versioning.patched(self, change_id)

    def deprecate_patch(self, change_id: str) -> None:
        """Mark where `patched(change_id)` was, once no instance recorded before the change is left:
        the new code always runs; the markers that instances recorded meanwhile replay.

        Raises:
            InvalidArgument: the id is empty or not a str.
        """
        versioning.deprecate_patch(self, change_id)

    def set_details(self, text: str) -> None:
        """Say what the instance is doing now ("waiting for 2 of 3 approvals"), shown on its row and
        page; the latest one stands. Not a step: replays write nothing. "" clears it.

        Args:
            text: at most 500 characters.

        Raises:
            InvalidArgument: not a str, or too long.
        """
        versioning.set_details(self, text)

    # Composition (durable.engine.composition) ------------------------------------------------

    def start_child(
        self,
        workflow: Any,
        /,
        *args: Any,
        instance_id: str | None = None,
        business_key: Any = None,
        detached: bool = False,
        **kwargs: Any,
    ) -> composition.ChildHandle:
        """Start a child workflow instance as a recorded step; it runs on any worker.

        Args:
            workflow: the decorated workflow or its registered name.
            *args: its positional inputs (JSON-encodable).
            instance_id: the child's id; "<this instance's id>/<this step's position>" by default.
            business_key: what the child is about (see durable.start).
            detached: True leaves the child running when this instance is cancelled.
            **kwargs: its keyword inputs.

        Returns:
            A ChildHandle; `handle.result()` waits for the child durably.

        Raises:
            WorkflowNotFound: no workflow has that name (nothing is started or recorded).
            InvalidArgument: the instance id is malformed, or belongs to an instance that is not
                this step's child (nothing is started or recorded).
            EncodingError: an input cannot be stored as JSON.
        """
        return composition.start_child(
            self, workflow, args, kwargs, instance_id=instance_id, business_key=business_key, detached=detached
        )

    def run_child(
        self,
        workflow: Any,
        /,
        *args: Any,
        instance_id: str | None = None,
        business_key: Any = None,
        detached: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Start a child workflow and wait for its result: `start_child(...).result()`.

        Raises:
            ChildFailed: the child failed (its `error` holds the child's error).
            ChildCancelled: the child was cancelled.
        """
        handle = self.start_child(
            workflow, *args, instance_id=instance_id, business_key=business_key, detached=detached, **kwargs
        )
        return handle.result()

    def continue_as_new(self, *args: Any, **kwargs: Any) -> None:
        """End this run and start the instance again from the top with new inputs and an empty
        history (the earlier runs' steps are kept for the viewer). Never returns.

        Raises:
            EncodingError: an input cannot be stored as JSON.
        """
        composition.continue_as_new(self, args, kwargs)

    # Sagas ------------------------------------------------------------------------------

    def add_compensation(self, undo: Any, /, *args: Any, **kwargs: Any) -> None:
        """Arm a compensation explicitly: `undo(ctx, *args, **kwargs)` runs if the saga unwinds.

        Armed compensations run newest first when the workflow raises an uncaught exception, when
        the instance is cancelled (unless with compensate=False), or at `compensate()`.

        Args:
            undo: an @durable.activity.
            *args: its positional arguments (JSON-encodable).
            **kwargs: its keyword arguments (JSON-encodable).

        Raises:
            DefinitionError: `undo` is not an activity.
            EncodingError: an argument cannot be stored as JSON.
        """
        self.saga.arm(undo, args, kwargs, None)

    def compensate(self) -> None:
        """Run every armed compensation now, newest first, and return (for an `except` branch).

        Each is a recorded step with its own retries; the instance is `compensating` meanwhile.
        What is armed afterwards starts a new list.
        """
        self.saga.run(saga.EXPLICIT)

    # Activities --------------------------------------------------------------------------

    def _call_activity(self, definition: Any, args: tuple, kwargs: dict) -> Any:
        position = self._position
        value = activities.run_step(self, definition, args, kwargs)
        if definition.compensation is not None:
            self.saga.arm(definition.compensation, args, kwargs, (definition.name, position, value))
        return value

"""The time-skipping test environment: workflows run in the test process on a virtual clock."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import transaction
from django.test import TestCase

from durable import client, db, journal, testing, transitions
from durable.engine.arguments import to_seconds
from durable.engine.registry import ActivityDefinition, WorkflowDefinition, registry
from durable.exceptions import InvalidArgument, InvalidTransition
from durable.models import CLAIMABLE, TERMINAL, Status, WorkflowInstance

# Idle means nothing due at the virtual now: unlike run_until, no timer due soon is waited for.
NOTHING_LATER = dt.timedelta(0)


class WorkflowEnvironment:
    """Runs workflows in this process, on the test database, without a worker, on a virtual clock.

    It runs the engine production runs (the executor and the timer sweep, one pass at a time, as
    `run_until` does); only the clock is its own. While it is active, durable's clock
    (`durable.db.now()`, so `ctx.now()` and every stored time) runs ahead of the real one by
    whatever `advance` skipped, nothing is handed to a django-q2 worker, and mocked activities are
    in place. Leaving it restores the clock, the wake-ups and the activities.

    Inside a transaction that never commits (pytest-django's `db` fixture, a Django TestCase), the
    on-commit callbacks of each step (lifecycle signals) run at the end of that step, as they would
    after a commit; with real commits (`transactional_db`) they run by themselves.

    Example:
        with WorkflowEnvironment() as env:
            handle = env.start(order_payment, "o-1", Decimal("12.50"))
            env.advance(timedelta(minutes=5))
            assert env.result(handle)["status"] == "cancelled"
    """

    def __init__(self) -> None:
        self._active = False
        self._saved: tuple[dt.timedelta, Any] | None = None
        self._mocked: dict[ActivityDefinition, Callable[..., Any]] = {}
        self._each_pass: Callable[[], AbstractContextManager[object]] = nullcontext

    def __enter__(self) -> WorkflowEnvironment:
        if self._active:
            raise InvalidTransition("This WorkflowEnvironment is active already; make another one to nest.")
        # A worker woken by the test's starts and events would run them on the real clock, and a
        # django-q2 task left in the ORM broker would outlive the test: nothing is handed over.
        self._saved = (db.virtual_offset(), db._waker)  # the waker the app installed, to put back
        db.set_waker(None)
        alias = db.alias()
        if transaction.get_connection(alias).in_atomic_block:
            self._each_pass = lambda: TestCase.captureOnCommitCallbacks(using=alias, execute=True)
        else:
            self._each_pass = nullcontext
        self._active = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._active = False
        for definition, original in self._mocked.items():
            definition.fn = original
        self._mocked.clear()
        if self._saved is not None:
            offset, waker = self._saved
            db.set_virtual_offset(offset)
            db.set_waker(waker)
            self._saved = None

    # The client, inside the environment -------------------------------------------------------

    def start(self, workflow: WorkflowDefinition | str, /, *args: Any, **kwargs: Any) -> client.WorkflowHandle:
        """Start a workflow instance, as `durable.start` does (same arguments); it runs at the next
        `run_until_idle`, `advance` or `result`.

        Returns:
            The WorkflowHandle.
        """
        self._check_active()
        with self._each_pass():
            return client.start(workflow, *args, **kwargs)

    def send_event(self, event_type: str, source: str, data: Any = None, **kwargs: Any) -> client.Delivery:
        """Send a CloudEvent, as `durable.send_event` does (same arguments); the instances it
        resumes run at the next `run_until_idle`, `advance` or `result`.

        Returns:
            The Delivery: which instances it resumed or started.
        """
        self._check_active()
        with self._each_pass():
            return client.send_event(event_type, source, data, **kwargs)

    def now(self) -> dt.datetime:
        """The virtual time: what `ctx.now()` would record now."""
        return db.now()

    # Running --------------------------------------------------------------------------------

    def run_until_idle(self, *, timeout: float = 15.0) -> None:
        """Run every due instance and fire every due timer until nothing is due at the virtual now.

        A timer due later, however soon (a short sleep, a retry's backoff), waits for `advance`
        or `result`: nothing here waits on the real clock.

        Raises:
            TimeoutError: work was still due after `timeout` real seconds (a workflow that never
                waits, or an activity retried without end).
        """
        self._check_active()
        deadline = time.monotonic() + timeout
        while True:
            testing.run_pass(self._each_pass)
            if testing.settled(NOTHING_LATER):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Workflows were still due after {timeout:g} s of running them.")

    def advance(self, duration: float | dt.timedelta) -> None:
        """Move the virtual clock forward by `duration` (seconds or a timedelta).

        What is due now runs first; then the clock stops at each timer due within `duration`, in
        due order, fires it and runs what it wakes (which may set further timers, also fired if
        due within), and ends `duration` after it began. A 24-hour timeout takes no real time.

        Raises:
            InvalidArgument: `duration` is negative, not finite, or not a number or timedelta.
        """
        self._check_active()
        skip = dt.timedelta(seconds=_seconds(duration))
        self.run_until_idle()
        goal = db.virtual_offset() + skip  # the clock ends `duration` ahead of where it would be
        while (due := _next_due(now := db.now())) is not None and due <= now - db.virtual_offset() + goal:
            _skip_to(due)
            self.run_until_idle()
        db.set_virtual_offset(max(db.virtual_offset(), goal))
        self.run_until_idle()

    def result(self, handle: client.WorkflowHandle, *, timeout: float = 15.0) -> Any:
        """Run until the handle's instance ends, skipping the virtual clock to each next timer
        whenever nothing else is due; then return its result as `handle.result()` would.

        Raises:
            WorkflowFailed: the instance failed.
            WorkflowCancelled: it was cancelled.
            TimeoutError: it is paused, or waits for an event with no timer left to fire, or
                `timeout` real seconds passed.
        """
        self._check_active()
        deadline = time.monotonic() + timeout
        while True:
            self.run_until_idle(timeout=max(deadline - time.monotonic(), 0.0))
            row = transitions.get(handle.instance_id)
            if row.status in TERMINAL:
                return handle.result(timeout=0)
            if row.status == Status.PAUSED:
                raise TimeoutError(
                    f"Instance {handle.instance_id} is paused ({row.status_reason or 'no reason given'}); "
                    "it will not end by itself: resume it (durable.resume) or fix the cause."
                )
            due = _next_due(db.now())
            if due is None:
                raise TimeoutError(
                    f"Instance {handle.instance_id} is {row.status} and no timer is left to fire; "
                    f"send what it waits for ({row.waiting_for}) with env.send_event."
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"Instance {handle.instance_id} is still {row.status} after {timeout:g} s.")
            _skip_to(due)

    # Mocks ----------------------------------------------------------------------------------

    def mock_activity(self, activity: str | ActivityDefinition, fn: Callable[..., Any]) -> None:
        """Replace an activity's function while this environment is active (restored on exit).

        `fn` is called as the activity was, `fn(ctx, *args, **kwargs)` with its ActivityContext,
        and its return value (or exception) is recorded as the activity's, with the activity's
        own retry policy and transactional setting.

        Args:
            activity: the activity (the decorated function) or its registered name.
            fn: what runs in its place.

        Raises:
            InvalidArgument: no activity has that name, `activity` is not one, or `fn` is not callable.
        """
        self._check_active()
        definition = _activity(activity)
        if not callable(fn):
            raise InvalidArgument(f"mock_activity replaces '{definition.name}' with a callable, not {fn!r}.")
        self._mocked.setdefault(definition, definition.fn)
        definition.fn = fn

    def _check_active(self) -> None:
        if not self._active:
            raise InvalidTransition(
                "The WorkflowEnvironment is not active: use it as `with WorkflowEnvironment() as env:` "
                "(or the durable_env pytest fixture)."
            )


def _seconds(duration: object) -> float:
    seconds = to_seconds(duration, "advance's duration")  # type: ignore[arg-type]
    if math.isinf(seconds):
        raise InvalidArgument(f"advance moves the clock forward by a finite duration, not {duration!r}.")
    return seconds


def _activity(activity: object) -> ActivityDefinition:
    if isinstance(activity, ActivityDefinition):
        return activity
    if isinstance(activity, str):
        found = registry.activities.get(activity)
        if found is None:
            known = ", ".join(sorted(registry.activities)) or "none"
            raise InvalidArgument(f"No activity named '{activity}' is registered (known: {known}).")
        return found
    raise InvalidArgument(f"mock_activity takes an @durable.activity or its name, not {activity!r}.")


def _next_due(after: dt.datetime) -> dt.datetime | None:
    """The earliest moment after `after` when something is due: a timer, or an instance whose
    start (or rerun after a failed run) waits."""
    timer = journal.next_due()
    later = (
        WorkflowInstance.objects.filter(run_after__gt=after, status__in=CLAIMABLE)
        .order_by("run_after")
        .values_list("run_after", flat=True)
        .first()
    )
    dues = [d for d in (timer, later) if d is not None and d > after]
    return min(dues) if dues else None


def _skip_to(moment: dt.datetime) -> None:
    """Move the virtual clock so that it reads `moment` now (never backwards)."""
    ahead = moment - db.now()
    if ahead > dt.timedelta(0):
        db.set_virtual_offset(db.virtual_offset() + ahead)

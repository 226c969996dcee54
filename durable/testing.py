"""What users need for their own tests: run workflows in the test process, without a worker.

`run_until` runs them on the real clock; `WorkflowEnvironment` (and the pytest fixture
`durable_env`, from durable.pytest_plugin) on a virtual one.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from durable.environment import WorkflowEnvironment

__all__ = ["WorkflowEnvironment", "replay", "run_hooks", "run_until"]

# An instance at rest: it ended, or it was paused (by an operator, pause_after_errors or non-determinism).
AT_REST = frozenset({"completed", "failed", "cancelled", "paused"})
# A timer due this soon is part of settling: a short sleep or a retry's backoff is waited for.
SOON = dt.timedelta(seconds=1)
# How long one pass may run due instances before `until` is checked again.
PASS_SECONDS = 5.0
POLL_SECONDS = 0.01


class Handle(Protocol):
    """What `run_until` reads of a workflow handle (`durable.WorkflowHandle`)."""

    @property
    def instance_id(self) -> str: ...

    @property
    def status(self) -> str: ...


def run_until(
    until: Handle | Callable[[], object] | None = None,
    *,
    timeout: float = 15.0,
    each_pass: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> None:
    """Run workflows in this process, as a worker would, until `until` holds.

    Each pass claims and runs every due instance here, fires the timers that are due, and then
    checks `until`. Timers keep the real clock: a workflow sleeping 0.2 s resumes in a pass at
    least 0.2 s later.

    Args:
        until: a handle (until its instance ends or is paused), a predicate (until it returns a
            true value), or None (until settled: no instance is due and no timer is due within
            the next second).
        timeout: seconds to go on before giving up.
        each_pass: a factory of the context manager each pass runs inside. Inside a transaction
            that is never committed, such as pytest-django's `db` fixture's, on-commit callbacks
            (lifecycle signals, wake-ups) run only if it runs them: pass
            `lambda: django_capture_on_commit_callbacks(execute=True)` there. The default
            does nothing, which suits `transactional_db` and code outside tests.

    Raises:
        TimeoutError: `until` did not hold within `timeout` seconds.

    Example:
        handle = durable.start(order_payment, "o-1")
        run_until(lambda: handle.status == "waiting_for_event")
        durable.send_event("payment.completed", "/payments", {"order_id": "o-1"})
        run_until(handle)
        assert handle.result() == {"status": "paid"}
    """
    deadline = time.monotonic() + timeout
    while True:
        settled = _run_pass(each_pass, check_settled=until is None)
        if until is None:
            if settled:
                return
        elif callable(until):
            if until():
                return
        elif until.status in AT_REST:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"Workflows did not {_goal(until)} within {timeout:g} s.")
        time.sleep(POLL_SECONDS)


def _run_pass(each_pass: Callable[[], AbstractContextManager[object]], *, check_settled: bool) -> bool:
    """Run due instances and fire due timers once; returns whether all is settled (if asked)."""
    run_pass(each_pass)
    return check_settled and settled(SOON)


def run_pass(each_pass: Callable[[], AbstractContextManager[object]] = nullcontext) -> None:
    """One pass, as a worker would: claim and run every due instance, run the due parallel steps,
    then fire the due timers.

    What `run_until` and `WorkflowEnvironment` repeat; the one place this module reaches into the
    engine's internals, so tests run the executor production runs.
    """
    from durable import queues, timers
    from durable.run import executor, steps

    with each_pass():
        executor.run_due(max_seconds=PASS_SECONDS)
        steps.run_due(max_seconds=PASS_SECONDS)
        timers.fire_due()
        queues.look()  # what the timer loop does when a queue's rate window opens


def settled(soon: dt.timedelta = SOON) -> bool:
    """Whether no instance is due now and no timer (nor parallel step) is due within `soon`, on durable's clock."""
    from durable import db
    from durable.models import HistoryStep, Timer, WorkflowInstance

    moment = db.now()
    return not (
        WorkflowInstance.objects.claimable(moment).exists()
        or Timer.objects.filter(due_at__lte=moment + soon).exists()
        or HistoryStep.objects.filter(due_at__lte=moment + soon).exists()
    )


def _goal(until: Handle | Callable[[], object] | None) -> str:
    if until is None:
        return "settle (an instance or a timer was still due)"
    if callable(until):
        name = getattr(until, "__name__", "")
        return f"make {name if name.isidentifier() else 'the predicate'} true"
    return f"bring instance {until.instance_id} to an end or a pause (it is {until.status})"


def run_hooks(seconds: float = 15.0) -> int:
    """Run the durable hooks due now in this process, as a worker would, until none is due (or
    `seconds` pass); returns how many attempts ran. A failed attempt is due again after its
    backoff, so it is not retried within the same call unless its delay has passed by then.

    Example:
        durable.start(order_payment, "o-1")
        run_until()
        assert run_hooks() == 1
    """
    from durable import hooks

    return hooks.run_due("durable.testing", seconds=seconds)


def replay(history_or_file: object):
    """Replay a recorded history (an export dict, its JSON, a file path or an instance id) against the
    current code without running any step; returns the `durable.replay_check.Finding` when it matches.

    Raises:
        durable.replay_check.ReplayMismatch: a NonDeterminismError naming the step, recorded and called.
    """
    from durable import replay_export

    return replay_export.replay(history_or_file)


def __getattr__(name: str) -> Any:
    # The environment touches models, which need the app registry: load it on first use only.
    if name == "WorkflowEnvironment":
        from durable.environment import WorkflowEnvironment

        return WorkflowEnvironment
    raise AttributeError(f"module 'durable.testing' has no attribute {name!r}")

"""Restart from a step (SPEC 17): fork an instance into a new one that keeps its first steps and runs the rest anew.

`fork(original, n)` starts a new instance of the same workflow with the same input (and business
key, and ctx.scheduled_at) whose history is the original's positions 0..n-1, copied as recorded by
the journal; the worker replays those without running them and runs position n onward with the
code deployed now.
After a bug fix, only what the fix affects runs again.

What is copied, and what is not:
- each recorded step as the history holds it (result or error, its last attempt and its earlier
  failures); a step still in progress (retrying, or started when its worker stopped) is not a
  settled step to copy, so `n` must stop before it;
- a wait or a sleep that was resolved is a step like any other; one still open is no step at all
  (nothing of the original's waits, timers or deliveries is copied: the events the original
  received stay its own, the copied wait steps carry their records, and a wait at position n or
  later waits for events that arrive after the fork);
- the values its copied set_event steps published; the events its copied send_event steps sent
  are not sent again;
- the compensations a failure or a cancel ran at the end of the original are not copied: they
  undid a run the fork replaces, so `n` must stop before them.

The original may be completed, failed, cancelled or paused; an instance a worker may be running
(pending, running, waiting, compensating) is refused: pause it first. Each fork records where it
came from (`forked_from`, `fork_position`), and both instances' incident logs say it.
"""

from __future__ import annotations

import logging
from typing import Any

from durable import client, db, journal, leases, transitions
from durable.engine.registry import registry
from durable.engine.types import StepKind, StepStatus
from durable.exceptions import InstanceExists, InvalidArgument, InvalidPosition, InvalidTransition
from durable.models import HistoryStep, Status, WorkflowInstance, new_instance_id

logger = logging.getLogger(__name__)

FORKABLE = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.PAUSED})
SETTLED = frozenset({StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.TIMED_OUT})
# Tries of "<original>:fork-<n>" before a new id falls back to a uuid (forks made at the same moment).
NAMED_TRIES = 5


def fork(original_id: str, /, from_position: int, instance_id: str | None = None) -> client.WorkflowHandle:
    """Start a new instance that keeps the original's first `from_position` steps and runs on from there.

    Args:
        original_id: the instance to fork (completed, failed, cancelled or paused).
        from_position: the first position to run again; 0 runs it all again with the same input,
            the length of its history keeps every step.
        instance_id: the new instance's id; None for "<original>:fork-<n>" (n counting the
            original's forks; a uuid when that would be too long).

    Returns:
        The new instance's WorkflowHandle (`created` True). It runs on a worker once the current
        transaction commits.

    Raises:
        InstanceNotFound: no instance has `original_id`.
        InvalidArgument: `from_position` is not a whole number, or `instance_id` is malformed.
        InvalidPosition: (an InvalidArgument) `from_position` is past the history's end, or
            would keep a step still in progress or the compensations that undid the run.
        InvalidTransition: the original may be running (pause it first), or its data was erased.
        InstanceExists: `instance_id` is taken.
        WorkflowNotFound: the original's workflow is not in the code deployed now.
    """
    if isinstance(from_position, bool) or not isinstance(from_position, int) or from_position < 0:
        raise InvalidArgument(f"from_position must be a whole number of steps from 0, not {from_position!r}.")
    if instance_id is not None:
        client.check_instance_id(instance_id)
    with db.atomic():
        leases.lock_instances([original_id])
        original = transitions.get(original_id)
        _check_original(original)
        registry.workflow(original.workflow_name)
        _check_position(original, from_position)
        moment = db.now()
        # The slot of a scheduled original stays ctx.scheduled_at (the copied steps may have used it); the
        # fork belongs to no schedule, so schedule_name is not copied.
        origin: dict[str, Any] = {
            "forked_from": original.pk,
            "fork_position": from_position,
            "scheduled_at": original.scheduled_at,
        }
        # A named id taken meanwhile (a fork made at the same moment) falls back to a uuid.
        candidates = [instance_id] if instance_id is not None else [_free_id(original.pk), new_instance_id()]
        for new_id in candidates:
            if transitions.start(
                new_id, original.workflow_name, original.input, moment, original.business_key, **origin
            ):
                break
        else:
            raise InstanceExists(f"Instance {new_id} exists already; give the fork another id, or none for a new one.")
        copied = journal.copy_steps(original.pk, new_id, from_position)
        at = moment.isoformat()
        transitions.append_incident(original.pk, {"kind": "forked", "at": at, "fork": new_id, "from": from_position})
        transitions.append_incident(
            new_id, {"kind": "forked from", "at": at, "original": original.pk, "from": from_position}
        )
    db.request_run()
    logger.info(
        "instance forked",
        extra={"instance_id": new_id, "workflow": original.workflow_name, "original": original.pk, "copied": copied},
    )
    return client.WorkflowHandle(new_id, created=True)


def _check_original(original: WorkflowInstance) -> None:
    if original.status not in FORKABLE:
        raise InvalidTransition(
            f"Cannot fork instance {original.pk}: it is {original.status}, so a worker may be running it. "
            "Pause it (or wait for it to end), then fork it."
        )
    if original.erase_reason is not None:
        raise InvalidTransition(
            f"Cannot fork instance {original.pk}: its data was erased, so there is nothing to run again with."
        )


def _check_position(original: WorkflowInstance, from_position: int) -> None:
    """`from_position` is within the history and keeps only settled steps of the run itself."""
    rows = list(
        HistoryStep.objects.live()
        .filter(instance_id=original.pk)
        .order_by("position")
        .values_list("position", "kind", "status")
    )
    length = len(rows)
    if not 0 <= from_position <= length:
        raise InvalidPosition(
            f"Cannot fork instance {original.pk} from step {from_position}: its history has {length} step"
            f"{'s' if length != 1 else ''} (positions 0 to {length - 1}); give a from_position from 0 to {length}."
        )
    for index, (position, _, status) in enumerate(rows[:from_position]):
        if position != index:
            raise InvalidPosition(
                f"Cannot fork instance {original.pk} from step {from_position}: its history has no step {index}."
            )
        if status not in SETTLED:
            raise InvalidPosition(
                f"Cannot fork instance {original.pk} from step {from_position}: step {position} is still {status} "
                f"(not settled), so it cannot be copied. Fork from step {position} or earlier to run it again."
            )
    unwound = _unwinding_from(original, rows)
    if unwound is not None and from_position > unwound:
        raise InvalidPosition(
            f"Cannot fork instance {original.pk} from step {from_position}: steps {unwound} onward are the "
            f"compensations that ran when it {(original.compensation or {}).get('after')}, undoing the run a fork "
            f"replaces. Fork from step {unwound} or earlier."
        )


def _unwinding_from(original: WorkflowInstance, rows: list[tuple[int, str, str]]) -> int | None:
    """The first position of the compensations a failure or cancel ran at the end, if any."""
    if (original.compensation or {}).get("after") not in ("failed", "cancelled"):
        return None
    first = None
    for position, kind, _ in reversed(rows):
        if kind != StepKind.COMPENSATION:
            break
        first = position
    return first


def _free_id(original_id: str) -> str:
    """ "<original>:fork-<n>" for the next n not taken, or a uuid when that is too long or contested."""
    taken = WorkflowInstance.objects.filter(forked_from=original_id).count()
    for n in range(taken + 1, taken + 1 + NAMED_TRIES):
        candidate = f"{original_id}:fork-{n}"
        if len(candidate) > 200:
            break
        if not WorkflowInstance.objects.filter(pk=candidate).exists():
            return candidate
    return new_instance_id()

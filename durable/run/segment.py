"""Segments: one transaction spanning consecutive steps of a run, committed with the lease check.

Writing each step in its own transaction costs a BEGIN, a lease UPDATE and a COMMIT per step.
A segment keeps the new history rows in memory and writes them, with the lease check, in the
transaction that also holds the steps' transactional activity writes. A segment commits when
the run waits, ends, reaches a non-transactional activity (whose outside effect must not run
twice after a crash), or grows past its time or size budget.
"""

from __future__ import annotations

import time
from typing import Any

from durable import db, journal, leases, routing, transitions
from durable.engine.types import NewStep, StepKind

MAX_SECONDS = 0.25
MAX_STEPS = 200


class Segment:
    """The open transaction of one run, and the history it will write when it commits."""

    def __init__(
        self,
        instance_id: str,
        workflow_name: str,
        owner: str,
        lease: float,
        wake_seq: int,
        parent_id: str | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.parent_id = parent_id  # a child's: the run that ends it wakes the parent
        self.workflow_name = workflow_name
        self.owner = owner
        self.lease = lease
        self.wake_seq = wake_seq
        self.pending: list[NewStep] = []
        self.updates: dict[int, dict[str, Any]] = {}
        # Instance fields to set at the next commit, beside the lease check.
        self.changes: dict[str, Any] = {}
        # The instance's queue and business key (from the claim): its end admits the next in line.
        self.line: tuple[str, str | None] | None = None
        self._atomic: Any = None
        self._opened = 0.0

    @property
    def is_open(self) -> bool:
        return self._atomic is not None

    def open(self) -> None:
        if self._atomic is None:
            self._atomic = db.atomic()
            self._atomic.__enter__()
            self._opened = time.monotonic()

    def add(self, step: NewStep) -> None:
        self.pending.append(step)

    def update(self, position: int, **fields: Any) -> None:
        self.updates.setdefault(position, {}).update(fields)

    def over_budget(self) -> bool:
        return self.is_open and (time.monotonic() - self._opened > MAX_SECONDS or len(self.pending) >= MAX_STEPS)

    def commit(
        self,
        *,
        suspend: bool = False,
        transition: str | None = None,
        reason: str = "",
        archive_run: int | None = None,
        **changes: Any,
    ) -> None:
        """Write the pending history, prove the lease (and, to suspend, that nothing woke the
        instance meanwhile) while applying `changes` to it, then commit.

        With `transition` (a name of durable.transitions), the run ends with that status
        change instead, fenced by the same lease. With `archive_run`, the history written is
        kept as that run's and the next run starts empty (continue_as_new).

        Raises:
            LeaseLost: the instance was taken over; everything in the segment is rolled back.
            Rewind: it was woken during the run; everything in the segment is rolled back.
        """
        self.open()
        # Recording something is progress: only then does the run stop counting as failed.
        progress = bool(self.pending or self.updates or suspend or transition)
        applied = {**self.changes, **changes}
        if transition is not None:
            applied.pop("status", None)  # the transition says what the status becomes
        if not progress:
            applied.pop("failed_runs", None)
        try:
            # The lease first: once it is proved inside this transaction nobody else writes this
            # instance's history, so a conflict below is a fault, never a takeover.
            if transition is not None:
                transitions.apply(
                    self.instance_id,
                    transition,
                    reason,
                    held_by=self.owner,
                    workflow_name=self.workflow_name,
                    line=self.line,
                    parent=self.parent_id,
                    **applied,
                )
            else:
                leases.fence(
                    self.instance_id, self.owner, self.lease, wake_seq=self.wake_seq if suspend else None, **applied
                )
            seqs = journal.record_steps(self.instance_id, self.pending, self.updates)
            if archive_run is not None:
                journal.archive_run(self.instance_id, archive_run)
            if seqs:
                db.on_commit(lambda: [routing.deliver(seq) for seq in seqs])
            started = sum(1 for step in self.pending if step.kind == StepKind.PARALLEL)
            if started:
                # Workers take them once they are committed (durable.run.steps).
                db.request_steps(started)
        except BaseException as exc:
            self.rollback(exc)
            raise
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)
        self.pending.clear()
        self.updates.clear()
        self.changes = {} if progress else {k: v for k, v in self.changes.items() if k == "failed_runs"}

    def rollback(self, error: BaseException) -> None:
        """Undo the segment (when the run is abandoned or fails unexpectedly)."""
        atomic, self._atomic = self._atomic, None
        self.pending.clear()
        self.updates.clear()
        self.changes.clear()
        if atomic is not None:
            atomic.__exit__(type(error), error, error.__traceback__)

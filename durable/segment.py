"""Segments: one transaction spanning consecutive steps of a run, committed with the lease check.

Writing each step in its own transaction costs a BEGIN, a lease UPDATE and a COMMIT per step.
A segment keeps the new history rows in memory and writes them, with the lease check, in the
transaction that also holds the steps' transactional activity writes. A segment commits when
the run waits, ends, reaches a non-transactional activity (whose outside effect must not run
twice after a crash), or grows past its time or size budget.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import IntegrityError

from durable import routing, store
from durable.engine.types import NewStep
from durable.exceptions import LeaseLost

logger = logging.getLogger(__name__)

MAX_SECONDS = 0.25
MAX_STEPS = 200


class Segment:
    """The open transaction of one run, and the history it will write when it commits."""

    def __init__(self, instance_id: str, owner: str, lease: float, wake_seq: int) -> None:
        self.instance_id = instance_id
        self.owner = owner
        self.lease = lease
        self.wake_seq = wake_seq
        self.pending: list[NewStep] = []
        self.updates: dict[int, dict[str, Any]] = {}
        # Instance fields to set at the next commit, beside the lease check.
        self.changes: dict[str, Any] = {}
        self._atomic: Any = None
        self._opened = 0.0

    @property
    def is_open(self) -> bool:
        return self._atomic is not None

    def open(self) -> None:
        if self._atomic is None:
            self._atomic = store.atomic()
            self._atomic.__enter__()
            self._opened = time.monotonic()

    def add(self, step: NewStep) -> None:
        self.pending.append(step)

    def update(self, position: int, **fields: Any) -> None:
        self.updates.setdefault(position, {}).update(fields)

    def over_budget(self) -> bool:
        return self.is_open and (time.monotonic() - self._opened > MAX_SECONDS or len(self.pending) >= MAX_STEPS)

    def commit(self, *, suspend: bool = False, **changes: Any) -> None:
        """Write the pending history, prove the lease (and, to suspend, that nothing woke the
        instance meanwhile) while applying `changes` to it, then commit.

        Raises:
            LeaseLost: the instance was taken over; everything in the segment is rolled back.
            Rewind: it was woken during the run; everything in the segment is rolled back.
        """
        self.open()
        try:
            seqs = self._write()
            store.fence(
                self.instance_id,
                self.owner,
                self.lease,
                wake_seq=self.wake_seq if suspend else None,
                **{**self.changes, **changes},
            )
            if seqs:
                store.on_commit(lambda: [routing.deliver(seq) for seq in seqs])
        except BaseException as exc:
            self.rollback(exc)
            raise
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)
        self.pending.clear()
        self.updates.clear()
        self.changes.clear()

    def rollback(self, error: BaseException) -> None:
        """Undo the segment (when the run is abandoned or fails unexpectedly)."""
        atomic, self._atomic = self._atomic, None
        self.pending.clear()
        self.updates.clear()
        self.changes.clear()
        if atomic is not None:
            atomic.__exit__(type(error), error, error.__traceback__)

    def _write(self) -> list[int]:
        try:
            seqs = store.write_steps(self.instance_id, self.pending)
        except IntegrityError:
            # Another worker recorded one of these positions: it holds the instance now.
            raise LeaseLost() from None
        for position, fields in self.updates.items():
            store.update_step(self.instance_id, position, **fields)
        return seqs

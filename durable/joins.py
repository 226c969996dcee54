"""Joins: wake an instance whose gather or first a step's end (a parallel step, a child) decided."""

from __future__ import annotations

import datetime as dt

from durable import db, journal, leases
from durable.models import WorkflowInstance


def position_ended(instance_id: str, position: int, moment: dt.datetime) -> bool:
    """What the instance may wait for ended at `position` (a parallel step, or the start of a
    child that has now ended): wake it if its gather is complete or its first is decided by it;
    else make a run in progress rewind. Returns whether it woke. The caller holds the instance
    lock, in the transaction that recorded the end."""
    waiting = WorkflowInstance.objects.filter(pk=instance_id).values_list("waiting_for", flat=True).first() or {}
    kind = waiting.get("kind") if isinstance(waiting, dict) else None
    woke = False
    if kind == "steps" and position in waiting.get("positions", []):
        woke = journal.unended_steps(instance_id, waiting["positions"]) == 0
    elif kind == "first" and str(position) in waiting.get("steps", {}):
        index = waiting["steps"][str(position)]
        woke = journal.resolve_first(instance_id, waiting["position"], waiting["name"], index, moment)
    if woke:
        leases.wake([instance_id], moment, waiting_for=None)
        db.request_run()
    else:
        leases.nudge(instance_id)
    return woke

"""The schedules API (durable.schedules.*): create, pause, resume, trigger, delete, read; code schedules into rows."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from durable import db, notify, slots
from durable.engine import codec, cron
from durable.engine.registry import registry
from durable.exceptions import DurableError, InvalidArgument, ScheduleNotFound
from durable.models import Schedule, ScheduleSource

logger = logging.getLogger(__name__)

__all__ = ["ScheduleNotFound", "all", "create", "delete", "get", "pause", "resume", "sync_code", "trigger"]


def create(name: str, workflow: Any, *, cron: str, **options: Any) -> Schedule:
    """Create a runtime schedule; the worker fires it from its next slot.

    Args:
        name: unique; its runs get ids "<name>@<slot, ISO 8601 UTC>".
        workflow: the decorated workflow or its registered name.
        cron: five fields, or six with seconds first.
        **options: timezone, args, kwargs, overlap, catchup, catchup_window, as durable.Schedule takes.

    Returns:
        The stored Schedule row.

    Raises:
        InvalidArgument: a bad cron, timezone, option, name, a name taken, or inputs that do not
            fit the workflow (nothing is stored).
        WorkflowNotFound: no workflow has that name.
    """
    unknown = set(options) - {"timezone", "args", "kwargs", "overlap", "catchup", "catchup_window"}
    if unknown:
        raise InvalidArgument(f"Unknown schedule option(s): {', '.join(sorted(unknown))}.")
    wf_name = getattr(workflow, "name", workflow)
    definition = registry.workflow(wf_name)
    spec = _spec(name, cron, options)
    definition.check_arguments(list(spec.args), spec.kwargs)
    codec.encode({"args": list(spec.args), "kwargs": spec.kwargs}, where=f"input of schedule '{name}'")
    now = db.now()
    with db.atomic():
        if Schedule.objects.filter(name=name).exists():
            raise InvalidArgument(f"A schedule named {name!r} exists already; choose another name or delete it.")
        row = Schedule.objects.create(
            name=name,
            workflow_name=definition.name,
            source=ScheduleSource.RUNTIME,
            next_slot_at=cron_next(spec, now),
            created_at=now,
            updated_at=now,
            **_columns(spec),
        )
    _announce(row)
    logger.info("schedule created", extra={"schedule": name, "workflow_name": definition.name})
    return row


def _spec(name: str, expr: str, options: dict[str, Any]) -> cron.Schedule:
    try:
        return cron.Schedule(cron=expr, name=name, **options)
    except DurableError as exc:
        raise InvalidArgument(str(exc)) from None


def _columns(spec: cron.Schedule) -> dict[str, Any]:
    return {
        "cron": spec.cron,
        "timezone": spec.timezone,
        "args": list(spec.args),
        "kwargs": dict(spec.kwargs),
        "overlap": spec.overlap,
        "catchup": spec.catchup,
        "catchup_window": spec.window,
    }


def cron_next(spec: cron.Schedule | Schedule, now: dt.datetime) -> dt.datetime:
    return cron.next_slot(spec.cron, spec.timezone, now)


def get(name: str) -> Schedule:
    """The schedule row of that name.

    Raises:
        ScheduleNotFound: no schedule has that name.
    """
    row = Schedule.objects.filter(name=name).first()
    if row is None:
        raise ScheduleNotFound.of(name)
    return row


def all() -> list[Schedule]:  # noqa: A001 - SPEC names it durable.schedules.all()
    """Every schedule row, by name."""
    return list(Schedule.objects.order_by("name"))


def pause(name: str) -> Schedule:
    """Stop firing; slots while paused are not run later (resume picks up from the next slot).

    Raises:
        ScheduleNotFound: no schedule has that name.
    """
    return _set_paused(name, True)


def resume(name: str) -> Schedule:
    """Fire again from the next slot after now.

    Raises:
        ScheduleNotFound: no schedule has that name.
    """
    return _set_paused(name, False)


def _set_paused(name: str, paused: bool) -> Schedule:
    now = db.now()
    with db.atomic():
        row = _locked(name)
        row.paused = paused
        if not paused and row.retired_at is None:
            row.next_slot_at = cron_next(row, now)
        row.updated_at = now
        row.save(update_fields=["paused", "next_slot_at", "updated_at"])
    if not paused:
        _announce(row)
    logger.info("schedule %s", "paused" if paused else "resumed", extra={"schedule": name})
    return row


def trigger(name: str) -> str:
    """Start one run now, whatever the cron and overlap say (paused or not); return its instance id.

    Its id is "<name>@<now to the second>": a second trigger within the same second is that run.

    Raises:
        ScheduleNotFound: no schedule has that name.
        WorkflowNotFound: its workflow is no longer registered.
    """
    now = db.now()
    moment = now.replace(microsecond=0)
    with db.atomic():
        row = _locked(name)
        registry.workflow(row.workflow_name)
        slots.start_run(row, moment, now)
        row.updated_at = now
        row.save(update_fields=["last_slot_at", "last_instance_id", "updated_at"])
    logger.info("schedule triggered", extra={"schedule": name, "instance_id": row.last_instance_id})
    return str(row.last_instance_id)


def delete(name: str) -> None:
    """Delete a schedule; its runs stay (they keep its name). A code schedule comes back when
    durable_worker next starts while it is still in the code: pause it to stop it instead.

    Raises:
        ScheduleNotFound: no schedule has that name.
    """
    deleted, _ = Schedule.objects.filter(name=name).delete()
    if not deleted:
        raise ScheduleNotFound.of(name)
    logger.info("schedule deleted", extra={"schedule": name})


def _locked(name: str) -> Schedule:
    row = Schedule.objects.select_for_update().filter(name=name).first()
    if row is None:
        raise ScheduleNotFound.of(name)
    return row


def _announce(row: Schedule) -> None:
    """Wake timer loops when the new next slot comes before their next look."""
    if row.next_slot_at is not None and not row.paused:
        notify.timer_set(row.next_slot_at)


def sync_code() -> int:
    """Write the code's schedules into rows (durable_worker calls this as it starts); return how many.

    The code owns a code schedule's cron and options; the row keeps its paused state and
    history. A code row whose schedule left the code is retired (next_slot_at NULL, retired_at
    set) rather than deleted, and comes back, paused state kept, if the schedule returns.
    A runtime row of the same name is left alone and the code schedule skipped (logged).
    """
    now = db.now()
    code = registry.schedules()
    with db.atomic():
        existing = {row.name: row for row in Schedule.objects.select_for_update().filter(name__in=list(code))}
        for name, (definition, spec) in code.items():
            row = existing.get(name)
            if row is not None and row.source != ScheduleSource.CODE:
                logger.warning(
                    "a runtime schedule has this code schedule's name; the code one is skipped",
                    extra={"schedule": name, "workflow_name": definition.name},
                )
                continue
            columns = _columns(spec) | {"workflow_name": definition.name, "source": ScheduleSource.CODE}
            if row is None:
                first = cron_next(spec, now)
                Schedule.objects.create(name=name, next_slot_at=first, created_at=now, updated_at=now, **columns)
                continue
            moved = row.cron != spec.cron or row.timezone != spec.timezone
            changed = any(getattr(row, k) != v for k, v in columns.items()) or row.retired_at is not None
            if changed:
                for key, value in columns.items():
                    setattr(row, key, value)
                # A new cron starts from now; the same cron keeps its pending slot so downtime is caught up.
                if row.next_slot_at is None or row.retired_at is not None or moved:
                    row.next_slot_at = cron_next(spec, now)
                row.retired_at = None
                row.updated_at = now
                row.save()
        gone = Schedule.objects.filter(source=ScheduleSource.CODE, retired_at__isnull=True).exclude(name__in=list(code))
        gone.update(retired_at=now, next_slot_at=None, updated_at=now)
    return len(code)

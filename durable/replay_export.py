"""Recorded histories for the replay check: the export format, reading it back, and the database in batches."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from durable import bulk_filters, journal, replay_check
from durable.engine.types import Step
from durable.exceptions import InstanceNotFound, InvalidArgument, WorkflowNotFound
from durable.models import ACTIVE, HistoryStep, WorkflowInstance
from durable.replay_check import Finding, Recorded

FORMAT = "durable.history"
VERSION = 1
BATCH = 500
INSTANCE_FIELDS = (
    "id",
    "workflow_name",
    "status",
    "input",
    "result",
    "error",
    "business_key",
    "scheduled_at",
    "compensation",
    "erase_reason",
    "created_at",
)
STEP_KEYS = ("position", "kind", "name", "status", "result", "error", "attempt", "retry_at")


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def export(instance_id: str) -> dict[str, Any]:
    """An instance and its history as a JSON-ready dict, marked with the format and its version.

    Raises:
        InstanceNotFound: no instance has this id.
    """
    row = WorkflowInstance.objects.filter(pk=instance_id).values(*INSTANCE_FIELDS).first()
    if row is None:
        raise InstanceNotFound.of(instance_id)
    steps, _ = journal.load_history(instance_id)
    return _document(row, steps)


def _document(row: dict[str, Any], steps: list[Step]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "instance_id": row["id"],
        "workflow_name": row["workflow_name"],
        "status": row["status"],
        "input": row["input"],
        "result": row["result"],
        "error": row["error"],
        "business_key": row["business_key"],
        "scheduled_at": _iso(row["scheduled_at"]),
        "compensation": row["compensation"],
        "erased": row["erase_reason"] is not None,
        "created_at": _iso(row["created_at"]),
        "history": [
            {k: (_iso(v) if k == "retry_at" else v) for k, v in zip(STEP_KEYS, _fields(s), strict=True)} for s in steps
        ],
    }


def _fields(step: Step) -> tuple:
    return (step.position, step.kind, step.name, step.status, step.result, step.error, step.attempt, step.retry_at)


def _moment(value: Any, what: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{what} must be an ISO 8601 datetime or null, not {value!r}.") from None


def from_document(doc: Any, source: str = "the export") -> Recorded:
    """A Recorded history from an exported dict.

    Raises:
        InvalidArgument: `doc` is not a durable history export (foreign JSON), or a field is malformed.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidArgument(
            f'{source} is not a durable history export (it has no "format": "{FORMAT}" marker). '
            "Write one with `manage.py durable_export ID --output FILE`."
        )
    if doc.get("version") != VERSION:
        raise InvalidArgument(f"{source} is version {doc.get('version')!r} of {FORMAT}; this code reads {VERSION}.")
    for key, kind in (("instance_id", str), ("workflow_name", str), ("status", str), ("history", list)):
        if not isinstance(doc.get(key), kind):
            raise InvalidArgument(f"{source}: '{key}' must be a {kind.__name__}, not {doc.get(key)!r}.")
    given = doc.get("input")
    if given is not None and not (
        isinstance(given, dict)
        and isinstance(given.get("args", []), list)
        and isinstance(given.get("kwargs", {}), dict)
    ):
        raise InvalidArgument(f"{source}: 'input' must be an object with a list 'args' and an object 'kwargs'.")
    steps = []
    for index, raw in enumerate(doc["history"]):
        where = f"{source}: history[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("position"), int):
            raise InvalidArgument(f"{where} must be an object with an integer 'position'.")
        if not isinstance(raw.get("kind"), str) or not isinstance(raw.get("name"), str):
            raise InvalidArgument(f"{where} must have a string 'kind' and 'name'.")
        steps.append(
            Step(
                raw["position"],
                raw["kind"],
                raw["name"],
                raw.get("status") or "completed",
                raw.get("result"),
                raw.get("error"),
                raw.get("attempt") or 1,
                _moment(raw.get("retry_at"), f"{where} retry_at"),
            )
        )
    return Recorded(
        instance_id=doc["instance_id"],
        workflow_name=doc["workflow_name"],
        status=doc["status"],
        input=doc.get("input"),
        history=steps,
        business_key=doc.get("business_key"),
        scheduled_at=_moment(doc.get("scheduled_at"), f"{source}: scheduled_at"),
        compensation=doc.get("compensation"),
        erased=bool(doc.get("erased")),
        source=source if source != "the export" else None,
    )


def read_file(path: str | Path) -> Recorded:
    """A Recorded history from an exported JSON file.

    Raises:
        InvalidArgument: the file is missing, unreadable, not JSON, or not an export.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidArgument(f"{name}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{name}: cannot be read ({exc}).") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"{name} is not valid JSON ({exc}).") from None
    return from_document(doc, name)


def statuses(values: list[str] | None) -> list[str]:
    """--status values, repeated or comma-separated, with `active` for every status that has not ended.

    Raises:
        InvalidArgument: an unknown status.
    """
    wanted: set[str] = set()
    for name in (part.strip() for value in values or [] for part in value.split(",")):
        if name == "active":
            wanted |= set(ACTIVE)
        elif name:
            wanted.add(name)
    if wanted:
        bulk_filters.clean({"status": sorted(wanted)})  # refuses an unknown one
    return sorted(wanted)


def from_database(
    *, workflow: str | None = None, status: list[str] | None = None, batch: int = BATCH
) -> tuple[int, Iterator[Recorded]]:
    """How many instances match, and their histories in id order, loaded a batch at a time
    (one query for the instances, one for their steps)."""
    filters = bulk_filters.clean({"workflow": workflow, "status": status}, everything=True)
    rows = bulk_filters.matching(filters)
    return rows.count(), _batches(rows, batch)


def _batches(rows: Any, batch: int) -> Iterator[Recorded]:
    last = None
    while True:
        page = rows.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        instances = list(page.values(*INSTANCE_FIELDS)[:batch])
        if not instances:
            return
        last = instances[-1]["id"]
        steps: dict[str, list[Step]] = {row["id"]: [] for row in instances}
        fields = [f for f in journal.STEP_FIELDS if f != "failures"]
        found = HistoryStep.objects.live().filter(instance_id__in=list(steps)).order_by("instance_id", "position")
        for instance_id, *values in found.values_list("instance_id", *fields):
            steps[instance_id].append(Step(*values))
        for row in instances:
            yield Recorded(
                instance_id=row["id"],
                workflow_name=row["workflow_name"],
                status=row["status"],
                input=row["input"],
                history=steps[row["id"]],
                business_key=row["business_key"],
                scheduled_at=row["scheduled_at"],
                compensation=row["compensation"],
                erased=row["erase_reason"] is not None,
            )


def recorded_of(history_or_file: Any) -> Recorded:
    """What `durable.testing.replay` accepts: an exported dict, its JSON text, a file path, or an instance id."""
    if isinstance(history_or_file, dict):
        return from_document(history_or_file)
    if isinstance(history_or_file, Path):
        return read_file(history_or_file)
    if not isinstance(history_or_file, str) or not history_or_file.strip():
        raise InvalidArgument(
            f"replay needs an exported history (a dict, its JSON, a file path) or an instance id, "
            f"not {history_or_file!r}."
        )
    text = history_or_file.strip()
    if text.startswith("{"):
        try:
            return from_document(json.loads(text))
        except ValueError as exc:
            raise InvalidArgument(f"The history given is not valid JSON ({exc}).") from None
    if Path(text).is_file() or text.endswith(".json"):
        return read_file(text)
    row = WorkflowInstance.objects.filter(pk=text).values(*INSTANCE_FIELDS).first()
    if row is None:
        raise InstanceNotFound(f"No file and no instance is named {text!r}. Check the path or the instance id.")
    return from_document(_document(row, journal.load_history(text)[0]), f"instance {text}")


def replay(history_or_file: Any) -> Finding:
    """Replay a recorded history against the current code, as `durable_replay` does, inside a test.

    Raises:
        ReplayMismatch: the code no longer matches the history (a NonDeterminismError).
        WorkflowNotFound: the history's workflow is not registered.
        InvalidArgument: the input is not an exported history.
    """
    found = replay_check.check(recorded_of(history_or_file))
    if found.verdict == replay_check.UNKNOWN_WORKFLOW:
        raise WorkflowNotFound(f"Instance {found.instance_id}: {found.message}.")
    return replay_check.raise_for(found)

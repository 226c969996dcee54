"""durable_show: one workflow instance, its history as a table, its waits, timers and values."""

from __future__ import annotations

import json
import sys
from typing import Any

from durable import db, inspect, words
from durable.engine.types import StepKind, StepStatus
from durable.inspect import Status
from durable.management import format as fmt
from durable.management.base import DurableCommand

SUMMARY_WIDTH = 200
TRACEBACK_LINES = 8


class Command(DurableCommand):
    help = (
        "Show one workflow instance: status, input, result or error, what it waits for and its incident "
        "log; then its history as a table (position, kind, name, status, attempt, duration, result or "
        "error, recorded at), its current waits and timers, and the values it published with set_event. "
        "Long values are cut short; --full prints them whole."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("instance_id", metavar="ID", help="The workflow instance id.")
        parser.add_argument(
            "--full", action="store_true", help="Print values and tracebacks whole instead of cutting them short."
        )

    def run(self, **options: Any) -> None:
        view = inspect.instance(options["instance_id"], children=True)  # InstanceNotFound says "check the id"
        self.full, self.now = options["full"], db.now()
        self._summary(view)
        steps = len(view.history)
        self._section(
            f"History ({steps} step{'' if steps == 1 else 's'})",
            ("#", "KIND", "NAME", "STATUS", "ATTEMPT", "DURATION", "RESULT OR ERROR", "RECORDED AT"),
            [_step_row(step, view.summary.run > 1) for step in view.history],
        )
        self._section(
            "Waits",
            ("#", "NAME", "LABEL", "EVENT TYPE", "MATCH", "SUBJECT", "TIMES OUT"),
            [_wait_row(wait, self.now) for wait in view.waits],
        )
        self._section(
            "Timers",
            ("#", "PURPOSE", "NAME", "LABEL", "DUE"),
            [
                (fmt.NONE if t.position is None else t.position, t.purpose, t.name, t.label, _at(t.due_at, self.now))
                for t in view.timers
            ],
        )
        self._section(
            "Published values",
            ("KEY", "VALUE", "STEP", "UPDATED"),
            [(v.key, fmt.dumps(v.value), v.position, fmt.when(v.updated_at)) for v in view.values],
        )

    def _summary(self, view: inspect.InstanceView) -> None:
        row, width = view.summary, sys.maxsize if self.full else SUMMARY_WIDTH

        def field(label: str, value: str) -> None:
            self.stdout.write(f"{self.style.MIGRATE_LABEL(label.ljust(10))} {value}")

        field("Instance", row.instance_id)
        field("Workflow", row.workflow_name)
        field("Status", self._status(row.status))
        if row.business_key is not None:
            field("Key", fmt.shorten(row.business_key, width))
        if row.status_reason:
            field("Reason", fmt.shorten(row.status_reason, width))
        saga = words.compensation_words(row.compensation, row.status)
        if saga:
            field("Saga", saga)
        field("Waiting", fmt.waiting(row.waiting_for, self.now))
        if row.parent_id is not None:
            field("Parent", row.parent_id + (" (detached)" if row.detached else ""))
        for child in view.children:
            field(
                "Child",
                f"{child.instance_id} {child.workflow_name} {child.status}" + (" detached" if child.detached else ""),
            )
        if row.run > 1:
            field("Run", f"run {row.run} of {row.run} (the history below shows every run's steps)")
        if row.details:
            field("Details", fmt.shorten(row.details, width))
        if row.code_version is not None:
            field("Version", row.code_version)
        field("Input", fmt.shorten(_call(row.workflow_name, row.input), width))
        if row.status == Status.COMPLETED:
            field("Result", fmt.shorten(fmt.dumps(row.result), width))
        if row.error:
            field("Error", fmt.shorten(fmt.error_line(row.error), width))
            trace = (row.error.get("traceback") or "").rstrip().splitlines() if isinstance(row.error, dict) else []
            for line in trace if self.full else trace[-TRACEBACK_LINES:]:
                self.stdout.write(f"{'':10} {line}")
        field("Created", fmt.when(row.created_at))
        field("Updated", fmt.when(row.updated_at))
        field("Finished", fmt.when(row.finished_at))
        if row.erased_at is not None:
            field("Erased", fmt.when(row.erased_at) + (f" ({row.erase_reason})" if row.erase_reason else ""))
        self._section("Incidents", ("AT", "KIND", "DETAILS"), [_incident_row(i) for i in view.incidents])

    def _section(self, title: str, headers: tuple[str, ...], rows: list) -> None:
        self.stdout.write("")
        if not rows:
            self.stdout.write(f"{self.style.MIGRATE_HEADING(title)}: none")
            return
        self.stdout.write(self.style.MIGRATE_HEADING(title))
        self.write_table(headers, rows, sys.maxsize if self.full else fmt.CELL)

    def _status(self, status: str) -> str:
        if status == Status.COMPLETED:
            return self.style.SUCCESS(status)
        if status == Status.FAILED:
            return self.style.ERROR(status)
        if status in (Status.CANCELLED, Status.PAUSED, Status.COMPENSATING):
            return self.style.WARNING(status)
        return status


def _call(name: str, tree: dict | str | None) -> str:
    """The input as the call it makes: name(10, nap=0.5); the marker of an erased instance as it is."""
    if isinstance(tree, str):
        return tree
    tree = tree or {}
    args = [json.dumps(words.readable(a), ensure_ascii=False) for a in tree.get("args") or []]
    kwargs = [f"{k}={json.dumps(words.readable(v), ensure_ascii=False)}" for k, v in (tree.get("kwargs") or {}).items()]
    return f"{name}({', '.join(args + kwargs)})"


def _at(moment, now) -> str:
    return f"{fmt.when(moment)} ({fmt.until(moment, now)})" if moment else fmt.NONE


def _incident_row(incident: dict) -> tuple:
    # Sorted: PostgreSQL's jsonb does not keep the key order.
    details = ", ".join(
        f"{k}={v}" for k, v in sorted(incident.items()) if k not in ("at", "kind") and v not in ("", None)
    )
    return (fmt.when(incident.get("at")), incident.get("kind"), details)


def _wait_row(wait: inspect.WaitView, now) -> tuple:
    match = fmt.dumps(wait.match) if wait.match else None
    return (wait.position, wait.name, wait.label, wait.event_type, match, wait.subject, _at(wait.timeout_at, now))


def _step_row(step: inspect.StepView, runs: bool = False) -> tuple:
    return (
        f"{step.run}.{step.position}" if runs else step.position,  # run.position once it continued as new
        step.kind,
        step.name,
        step.status,
        step.attempt if step.kind in (StepKind.ACTIVITY, StepKind.COMPENSATION) else None,
        words.took(step.duration) if step.duration is not None else None,
        _outcome(step),
        fmt.when(step.recorded_at),
    )


def _outcome(step: inspect.StepView) -> str:
    """The step's result, error or last failed attempt, in one line."""
    if step.error:
        return fmt.error_line(step.error)
    if step.failures and step.status != "completed":
        return fmt.error_line(step.failures[-1])
    if step.status == StepStatus.TIMED_OUT:
        return "timed out"
    event = step.result
    if step.kind == StepKind.WAIT_EVENT and isinstance(event, dict) and "type" in event:
        data = f" data={fmt.dumps(event['data'])}" if event.get("data") is not None else ""
        return f"{event['type']} {event.get('id')} from {event.get('source')}{data}"
    return fmt.NONE if step.result is None else fmt.dumps(step.result)

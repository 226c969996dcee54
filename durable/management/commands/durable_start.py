"""durable_start: start a workflow instance from the shell, and optionally wait for its result."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.management.base import CommandError

from durable import client, db, health, words
from durable.engine import codec
from durable.engine.registry import WorkflowDefinition, registry
from durable.exceptions import WorkflowCancelled, WorkflowFailed
from durable.inspect import Status, summary
from durable.management import format as fmt
from durable.management.base import DurableCommand

PAUSE_CHECK = 1.0  # seconds between looks for a pause while --wait waits


class Command(DurableCommand):
    help = (
        "Start an instance of a registered workflow and print its instance id. A running worker "
        "(manage.py durable_worker) runs it. With --wait, wait until it ends and print its result as "
        "one line of JSON; the exit status is 1 when it failed, was cancelled, is paused or outlasted --timeout. "
        "With -v 0 only the id (and the result) are printed, for scripts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("workflow", help="The workflow's registered name (its function name unless it set name=).")
        parser.add_argument(
            "--input",
            metavar="JSON",
            help="The workflow's inputs as JSON: a list is the positional arguments ('[10, \"eur\"]'), an object "
            'the keyword arguments (\'{"order_id": "o-1"}\'), any other value the one positional argument '
            "('42'). Default: no arguments.",
        )
        parser.add_argument(
            "--id",
            dest="instance_id",
            metavar="ID",
            help="The instance id (up to 200 letters, digits and the characters ._:@+=-). An id that exists "
            "already is not started again; the command reports that instance. Default: a new uuid4.",
        )
        parser.add_argument(
            "--business-key",
            metavar="KEY",
            help="What the instance is about, e.g. order-42 or shop.order:42 (the form a model instance takes); "
            "any number of instances may share it. manage.py durable_list --business-key KEY lists them.",
        )
        parser.add_argument(
            "--start-in",
            type=float,
            metavar="SECONDS",
            help="Start this many seconds from now: the instance is pending until then.",
        )
        parser.add_argument(
            "--start-at",
            metavar="WHEN",
            help="Start at this time, ISO 8601 with a UTC offset (2026-12-24T08:00:00+01:00); pending until then.",
        )
        parser.add_argument(
            "--debounce",
            type=float,
            metavar="SECONDS",
            help="With --business-key: start after this much quiet for the workflow and key; a later call in "
            "the window replaces the input, pushes the start back and reports the same instance.",
        )
        parser.add_argument(
            "--debounce-max",
            type=float,
            metavar="SECONDS",
            help="With --debounce: the latest start, counted from the window's first call.",
        )
        parser.add_argument(
            "--queue", metavar="NAME", help="Run in this queue of DURABLE_QUEUES (default: the workflow's)."
        )
        parser.add_argument(
            "--priority",
            type=int,
            default=0,
            metavar="N",
            help="-100 to 100: higher starts first in the queue's line (default 0).",
        )
        parser.add_argument(
            "--wait", action="store_true", help="Wait for the instance to end, then print its result as JSON."
        )
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="SECONDS",
            help="With --wait: give up after this many seconds (the instance keeps running). Default: no limit.",
        )

    def run(self, **options: Any) -> None:
        text, instance_id = options["input"], options["instance_id"]
        wait, timeout, quiet = options["wait"], options["timeout"], options["verbosity"] == 0
        if timeout is not None and (not wait or timeout < 0):
            raise CommandError("--timeout takes a number of seconds >= 0, and only applies with --wait.")
        args, kwargs = _split(fmt.parse_json(text, "--input")) if text is not None else ([], {})
        definition = registry.workflow(options["workflow"])
        _check_fits(definition, args, kwargs)
        handle = client.start_with(
            definition,
            args,
            kwargs,
            instance_id=instance_id,
            business_key=options["business_key"],
            start_at=_aware(options["start_at"]),
            start_in=options["start_in"],
            debounce=options["debounce"],
            debounce_max=options["debounce_max"],
            queue=options["queue"],
            priority=options["priority"],
        )
        if quiet:
            self.stdout.write(handle.instance_id)
        elif not handle.created and options["debounce"] is not None:
            self.stdout.write(
                self.style.SUCCESS(f"Debounced {definition.name}: instance {handle.instance_id} {_starts(handle)}")
            )
        elif not handle.created:
            self.stdout.write(
                self.style.WARNING(
                    f"Instance {handle.instance_id} of {definition.name} exists already ({handle.status}); "
                    "it was not started again."
                )
            )
        else:
            said = _starts(handle)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Started {definition.name}: instance {handle.instance_id}" + (f" {said}" if said else "")
                )
            )
        if handle.created and not quiet and not health.worker_seen():
            self.stderr.write(
                self.style.WARNING(
                    "WARNING: (durable.W005) No durable_worker has been seen in the last minute, so the "
                    "instance waits until one runs.\n\tHINT: Start one with `python manage.py durable_worker`."
                )
            )
        if wait:
            self._wait(handle, timeout, quiet)

    def _wait(self, handle: client.WorkflowHandle, timeout: float | None, quiet: bool) -> None:
        if not quiet:
            self.stderr.write("Waiting for it to end (a worker must be running: manage.py durable_worker)...")
        try:
            value = _result(handle, timeout)
        except (WorkflowFailed, WorkflowCancelled) as exc:
            raise CommandError(f"{exc} (details: manage.py durable_show {handle.instance_id})") from exc
        except KeyboardInterrupt:
            raise CommandError(
                f"Stopped waiting; instance {handle.instance_id} is {handle.status} and keeps running.", returncode=130
            ) from None
        self.stdout.write(fmt.dumps(codec.encode(value)))


def _result(handle: client.WorkflowHandle, timeout: float | None) -> Any:
    """handle.result(timeout), in slices: a paused instance would keep it waiting for ever."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = PAUSE_CHECK if deadline is None else max(0.0, min(PAUSE_CHECK, deadline - time.monotonic()))
        try:
            return handle.result(left)
        except TimeoutError:
            pass
        row = summary(handle.instance_id)
        if row.status == Status.PAUSED:
            reason = f": {row.status_reason}" if row.status_reason else ""
            raise CommandError(
                f"Instance {row.instance_id} is paused{reason}. "
                f"Resume it with manage.py durable_resume {row.instance_id}."
            )
        if deadline is not None and time.monotonic() >= deadline:
            raise CommandError(
                f"Instance {row.instance_id} is still {row.status} after {timeout:g} s; it keeps running "
                f"(check it with manage.py durable_show {row.instance_id})."
            )


def _split(value: Any) -> tuple[list, dict]:
    """--input: a list is the positional arguments, an object the keywords, anything else one argument."""
    if isinstance(value, list):
        return value, {}
    if isinstance(value, dict):
        return [], value
    return [value], {}


def _check_fits(definition: WorkflowDefinition, args: list, kwargs: dict) -> None:
    """Refuse inputs the function cannot take, rather than start an instance bound to fail."""
    why = definition.misfit(args, kwargs)
    if why is not None:
        raise CommandError(f"--input does not fit {definition.call_shape()}: {why}.")


def _aware(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--start-at {text!r} is not an ISO 8601 date and time.") from None
    if moment.tzinfo is None:
        raise CommandError(f"--start-at {text!r} has no UTC offset: add Z or +01:00, a local time is ambiguous.")
    return moment


def _starts(handle: client.WorkflowHandle) -> str:
    """'(starts in 4m)' for a delayed instance, '' for one that starts now."""
    said = summary(handle.instance_id).waiting_for or {}
    if said.get("kind") != "start":
        return ""
    return f"({words.waiting_words(said, db.now())})"

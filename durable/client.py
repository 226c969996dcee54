"""The one service API: start, handles, send_event, cancel, pause, resume, retry, get_event."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from durable import business_keys, children, db, delays, leases, queues, routing, sagas, text, transitions
from durable.conf import settings
from durable.engine import codec
from durable.engine.arguments import to_seconds
from durable.engine.composition import INSTANCE_ID, check_instance_id  # noqa: F401 - the API and forks use them from here
from durable.engine.registry import WorkflowDefinition, registry
from durable.events import TARGET_EXTENSION, build
from durable.exceptions import (
    InstanceNotFound,
    InvalidArgument,
    InvalidTransition,
    WorkflowCancelled,
    WorkflowFailed,
)
from durable.models import TERMINAL, PublishedValue, Status, WorkflowInstance
from durable.notify.hub import hub

__all__ = [
    "Delivery",
    "WorkflowHandle",
    "cancel",
    "deliver",
    "deliver_many",
    "get_event",
    "get_handle",
    "instances_for",
    "pause",
    "resume",
    "retry",
    "send_event",
    "start",
]

UNSET = object()


@dataclass
class Delivery:
    """What `send_event` did with one event."""

    event_id: str
    duplicate: bool = False
    resumed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)


class WorkflowHandle:
    """A reference to one workflow instance; every property reads the database afresh."""

    def __init__(self, instance_id: str, *, created: bool = False) -> None:
        self.instance_id = instance_id
        self.created = created  # True when `start` inserted the instance rather than found it

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.instance_id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkflowHandle) and other.instance_id == self.instance_id

    def __hash__(self) -> int:
        return hash(self.instance_id)

    @property
    def status(self) -> str:
        """The instance's current status."""
        return transitions.get(self.instance_id).status

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the instance to end and return its result.

        Args:
            timeout: seconds to wait; None waits for ever.

        Raises:
            WorkflowFailed: the instance failed (its `error` holds type, message, traceback).
            WorkflowCancelled: the instance was cancelled.
            TimeoutError: it had not ended within `timeout`.
        """
        deadline = None if timeout is None else time.monotonic() + to_seconds(timeout, "timeout")
        while True:
            row = transitions.get(self.instance_id)
            if row.status == Status.COMPLETED:
                return codec.decode(row.result)
            if row.status == Status.FAILED:
                error = row.error if isinstance(row.error, dict) else {}  # a string once erased
                raise WorkflowFailed(
                    f"Instance {self.instance_id} ({row.workflow_name}) failed: "
                    f"{error.get('type', 'Error')}: {error.get('message', '')}",
                    error=error,
                )
            if row.status == Status.CANCELLED:
                raise WorkflowCancelled(
                    f"Instance {self.instance_id} ({row.workflow_name}) was cancelled"
                    + (f": {row.status_reason}" if row.status_reason else ".")
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"Instance {self.instance_id} is still {row.status} after {timeout} s; call result() again later."
                )
            # Polls: an instance's end sends no notification, which would cost every run a
            # statement and wake every listener of the database (SPEC asks get_event to be fast).
            time.sleep(_pause(deadline, float(settings.GET_EVENT_POLL)))

    def cancel(self, reason: str = "", *, compensate: bool = True) -> WorkflowInstance:
        """Cancel the instance; see `durable.cancel`."""
        return cancel(self.instance_id, reason, compensate=compensate)

    def get_event(self, key: str, timeout: float = 0, default: Any = None) -> Any:
        """A value the workflow published with set_event; see `durable.get_event`."""
        return get_event(self.instance_id, key, timeout=timeout, default=default)


def _pause(deadline: float | None, wait: float | None = None) -> float:
    """How long to wait before reading again: up to the deadline, and no longer than `wait`, or
    DURABLE_LISTEN_POLL with a listener up, or DURABLE_GET_EVENT_POLL without one."""
    if wait is None:
        wait = float(settings.LISTEN_POLL) if hub.healthy else float(settings.GET_EVENT_POLL)
    if deadline is not None:
        wait = max(0.0, min(wait, deadline - time.monotonic()))
    return wait


def start(
    workflow: WorkflowDefinition | str,
    /,
    *args: Any,
    instance_id: str | None = None,
    business_key: Any = None,
    start_at: dt.datetime | None = None,
    start_in: float | dt.timedelta | None = None,
    debounce: float | dt.timedelta | None = None,
    debounce_max: float | dt.timedelta | None = None,
    queue: str | None = None,
    priority: int = 0,
    **kwargs: Any,
) -> WorkflowHandle:
    """Start a workflow instance; it runs on a worker once the current transaction commits.

    Args:
        workflow: the decorated workflow or its registered name.
        *args: positional inputs (JSON, datetimes, Decimals, UUIDs, dataclasses).
        instance_id: a business id to make the start idempotent; a uuid4 by default.
        business_key: what the instance is about, shared by any number of instances: a string, or
            a saved model instance (stored as "<app_label>.<model>:<pk>"); None for none.
        start_at: an aware datetime: the instance stays `pending` until then.
        start_in: seconds or a timedelta from now, instead of `start_at`.
        debounce: seconds or a timedelta of quiet for this workflow and `business_key` before it
            starts: a later call inside the window replaces the inputs and pushes the start back,
            and gets the same handle.
        debounce_max: the latest start, counted from the window's first call (None: no cap).
        queue: the queue of DURABLE_QUEUES to run in (its limits); the workflow's own by default.
        priority: -100 to 100; in a queue's line, higher starts first, equal ones in start order.
        **kwargs: keyword inputs.

    Returns:
        The WorkflowHandle (`created` True when this call inserted it); for an id that exists
        already, the handle of that instance.

    Raises:
        WorkflowNotFound: no workflow has that name.
        InvalidArgument: the instance id, the business key or a start option is malformed,
            debounce lacks a business key, the queue is unknown or the priority outside
            -100..100 (nothing is stored).
        InvalidTransition: the id belongs to an instance of another workflow.
        EncodingError: an input cannot be stored as JSON.
    """
    return start_with(
        workflow,
        args,
        kwargs,
        instance_id=instance_id,
        business_key=business_key,
        start_at=start_at,
        start_in=start_in,
        debounce=debounce,
        debounce_max=debounce_max,
        queue=queue,
        priority=priority,
    )


def start_with(
    workflow: WorkflowDefinition | str,
    args: list | tuple,
    kwargs: dict[str, Any],
    *,
    instance_id: str | None = None,
    business_key: Any = None,
    check: bool = False,
    start_at: Any = None,
    start_in: Any = None,
    debounce: Any = None,
    debounce_max: Any = None,
    queue: Any = None,
    priority: Any = 0,
) -> WorkflowHandle:
    """`start` with the inputs as values (so a workflow argument may be named `instance_id` or
    `business_key`); with `check`, inputs that do not fit the function's signature are refused
    (InvalidArgument). An id that exists already returns that instance, its key unchanged."""
    name = workflow.name if isinstance(workflow, WorkflowDefinition) else workflow
    definition = registry.workflow(name)
    key = business_keys.to_key(business_key)
    queue = queues.check(queue if queue is not None else (definition.queue or queues.DEFAULT), priority)
    if check:
        definition.check_arguments(args, kwargs)
    if definition.singleton is not None and key is not None and debounce is None:
        with db.atomic():
            leases.lock_queue(f"singleton:{definition.name}:{key}")
            running = queues.singleton_running(definition, key)
            if running and definition.singleton == "skip":
                return WorkflowHandle(running[0])
            for other in running if definition.singleton == "replace" else []:
                sagas.cancel(other, f"Replaced by a new start of {definition.name} for {key!r}.")
            if definition.singleton == "queue":
                queue = queues.singleton_queue(definition.name)
            return _insert(definition, args, kwargs, instance_id, key, start_at, start_in, queue, priority)
    delays.start_time(start_at, start_in, db.now())  # refuses a bad start_at/start_in before anything else
    if debounce is not None or debounce_max is not None:
        if debounce is None:
            raise InvalidArgument("debounce_max caps a debounced start: give debounce as well.")
        quiet, most = delays.window(debounce, debounce_max, key)
        if start_at is not None or start_in is not None or instance_id is not None:
            raise InvalidArgument(
                "debounce takes neither start_at/start_in nor instance_id: the window sets the start and the id."
            )
        inputs = codec.encode({"args": list(args), "kwargs": kwargs}, where=f"input of workflow '{definition.name}'")
        assert key is not None  # window() refuses a debounce without one
        debounced_id, created = delays.debounced_start(
            definition.name, inputs, key, quiet, most, queue=queue, priority=priority
        )
        return WorkflowHandle(debounced_id, created=created)
    return _insert(definition, args, kwargs, instance_id, key, start_at, start_in, queue, priority)


def _insert(
    definition: WorkflowDefinition,
    args: list | tuple,
    kwargs: dict[str, Any],
    instance_id: str | None,
    key: str | None,
    start_at: Any,
    start_in: Any,
    queue: str,
    priority: int,
) -> WorkflowHandle:
    """Insert the instance (or find the one with its id): the end of every start but a debounced one."""
    moment = db.now()
    due = delays.start_time(start_at, start_in, moment)
    if instance_id is None:
        from durable.models import new_instance_id

        instance_id = new_instance_id()
    else:
        check_instance_id(instance_id)
    inputs = codec.encode({"args": list(args), "kwargs": kwargs}, where=f"input of workflow '{definition.name}'")
    said = transitions.start_summary(due) if due is not None else None
    if transitions.start(
        instance_id,
        definition.name,
        inputs,
        moment,
        key,
        start_at=due,
        waiting_for=said,
        queue=queue,
        priority=priority,
    ):
        if due is None:
            db.request_run()
        return WorkflowHandle(instance_id, created=True)
    existing = transitions.get(instance_id)
    if existing.workflow_name != definition.name:
        raise InvalidTransition(
            f"Instance {instance_id} already exists for workflow '{existing.workflow_name}', not "
            f"'{definition.name}'; choose another instance id."
        )
    return WorkflowHandle(instance_id)


instances_for = business_keys.instances_for


def cancel(instance_id: str, reason: str = "", *, compensate: bool = True) -> WorkflowInstance:
    """End a non-terminal instance: its waits and timers are withdrawn, later events ignored.

    Args:
        instance_id: the instance.
        reason: why, kept as its status reason.
        compensate: run its armed compensations first, newest first (status `compensating`
            meanwhile, `cancelled` with `compensated` after); False cancels at once and runs none.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it has ended already.
    """
    return operate(instance_id, "cancel", reason, compensate=compensate)


def pause(instance_id: str, reason: str = "") -> WorkflowInstance:
    """Stop an instance from running until `resume`; events and timers meanwhile are kept.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it has ended or is paused already.
    """
    return operate(instance_id, "pause", reason)


def resume(instance_id: str, reason: str = "") -> WorkflowInstance:
    """Let a paused instance run again; it replays and picks up what arrived meanwhile.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it is not paused.
    """
    return operate(instance_id, "resume", reason)


def retry(instance_id: str, reason: str = "") -> WorkflowInstance:
    """Run a failed instance again from its last recorded step; the failure stays in its timeline.

    Raises:
        InstanceNotFound: no instance has that id.
        InvalidTransition: it has not failed.
    """
    return operate(instance_id, "retry", reason)


def operate(instance_id: str, name: str, reason: str = "", *, compensate: bool = True) -> WorkflowInstance:
    """Apply the operation `name` (a key of durable.transitions.OPERATIONS) and return the instance;
    what the admin, the API and the commands call.

    Raises:
        InvalidArgument: the reason holds a control character (tabs and line breaks are kept).
    """
    why = text.problem(reason, free_text=True)
    if why:
        raise InvalidArgument(f"The reason cannot be stored: {why}.")
    if name == "cancel":
        children.cancel(instance_id, reason, compensate=compensate)
    else:
        transitions.apply(instance_id, name, reason)
    return transitions.get(instance_id)


def get_handle(instance_id: str) -> WorkflowHandle:
    """The handle of an existing instance.

    Raises:
        InstanceNotFound: no instance has that id.
    """
    if not WorkflowInstance.objects.filter(id=instance_id).exists():
        raise InstanceNotFound.of(instance_id)
    return WorkflowHandle(instance_id)


def send_event(
    event_type: str,
    source: str,
    data: Any = None,
    *,
    subject: str | None = None,
    id: str | None = None,  # noqa: A002 - the CloudEvents attribute name
    instance_id: str | None = None,
) -> Delivery:
    """Send a CloudEvent to waiting workflows (and start `on_event` workflows).

    Args:
        event_type: the CloudEvents type, e.g. "payment.completed".
        source: the CloudEvents source, e.g. "/payments".
        data: JSON data.
        subject: the CloudEvents subject.
        id: the event id; a repeat of the same (source, id) is acknowledged and not delivered.
        instance_id: deliver to this instance alone.

    Returns:
        The Delivery: which instances it resumed and started. Inside a transaction the
        delivery is part of it: visible at commit, undone by a rollback.

    Raises:
        InvalidEvent: the event is malformed.
        InstanceNotFound: `instance_id` does not exist.
        InvalidTransition: `instance_id` has ended (completed, failed or cancelled).
    """
    extensions = {TARGET_EXTENSION: instance_id} if instance_id is not None else None
    record = build(event_type, source, data, subject=subject, event_id=id, extensions=extensions)
    return deliver(record)


def deliver(record: dict[str, Any]) -> Delivery:
    """Store and route one validated event record (from `send_event` or the HTTP receiver)."""
    target = record.get("target")
    if target is not None:
        row = WorkflowInstance.objects.filter(id=target).values_list("status", flat=True).first()
        if row is None:
            raise InstanceNotFound(f"No workflow instance has id {target!r}; the event was not stored.")
        if row in TERMINAL:
            raise InvalidTransition(f"Instance {target} is {row}; it takes no more events. The event was not stored.")
    accepted = routing.send(record, target_id=target)
    return Delivery(
        event_id=record["id"],
        duplicate=accepted.duplicate,
        resumed=accepted.routed.resumed,
        started=accepted.routed.started,
    )


def deliver_many(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Deliver the events of one request together: if one is refused, none is stored."""
    if len(records) == 1:
        # One event needs no batch transaction around its own (nor its savepoint and second lock).
        delivery = deliver(records[0])
        return {"duplicates": int(delivery.duplicate), "resumed": delivery.resumed, "started": delivery.started}
    totals: dict[str, Any] = {"duplicates": 0, "resumed": [], "started": []}
    with db.atomic():
        # Every type's lock up front, in the one order every sender and waiter takes them.
        leases.lock_event_types(record["type"] for record in records)
        for record in records:
            delivery = deliver(record)
            totals["duplicates"] += delivery.duplicate
            totals["resumed"] += [i for i in delivery.resumed if i not in totals["resumed"]]
            totals["started"] += delivery.started
    return totals


def get_event(instance_id: str, key: str, timeout: float = 0, default: Any = None) -> Any:
    """Read a value the workflow published with `ctx.set_event` (DBOS GetEvent).

    Args:
        instance_id: the instance.
        key: the key it published.
        timeout: seconds to wait for the key to be set; 0 reads once.
        default: returned when the key is still unset at the end of the timeout.

    Raises:
        InstanceNotFound: no instance has that id.
    """
    value = wait_for_value(instance_id, key, to_seconds(timeout, "timeout"))
    return default if value is UNSET else value


def wait_for_value(instance_id: str, key: str, timeout: float, *, hold_connection: bool = True) -> Any:
    """The value, or UNSET, waiting up to `timeout` seconds; with `hold_connection` False no
    database connection is held while it waits (the HTTP long-poll)."""
    value = _read_value(instance_id, key, final=timeout <= 0)
    if value is not _PENDING:
        return value
    deadline = time.monotonic() + timeout
    with hub.watch(instance_id) as watch:
        while True:
            # Read again once watching: a value set before the watch began is not announced.
            value = _read_value(instance_id, key, final=time.monotonic() >= deadline)
            if value is not _PENDING:
                return value
            if not hold_connection and not db.in_transaction():
                db.release_connection()
            while True:
                messages = watch.wait(_pause(deadline))
                for message in messages:
                    if message.get("k") == key and "v" in message:
                        return codec.decode(message["v"])
                # Values of other keys say nothing about this one; anything else, read again.
                if not messages or any(m.get("k") in (None, key) for m in messages):
                    break
                if time.monotonic() >= deadline:
                    break


_PENDING = object()


def _read_value(instance_id: str, key: str, *, final: bool) -> Any:
    """The value; UNSET when it cannot come any more (or `final`); _PENDING while it still may."""
    # The status first: a value published in the run that ended the instance is committed
    # with (or before) that status, so the read after it sees the value.
    status = WorkflowInstance.objects.filter(id=instance_id).values_list("status", flat=True).first()
    if status is None:
        raise InstanceNotFound.of(instance_id)
    found = PublishedValue.objects.filter(instance_id=instance_id, key=key).values_list("value", flat=True)
    for tree in found[:1]:
        return codec.decode(tree)
    return UNSET if final or status in TERMINAL else _PENDING


def is_set(value: Any) -> bool:
    return value is not UNSET

"""Plain data the engine shares with its storage: recorded steps, wait specs, received events."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from durable.engine import codec

T = TypeVar("T")


class StepKind(StrEnum):
    """What a history row records; stored as its value."""

    ACTIVITY = "activity"
    SLEEP = "sleep"
    WAIT_EVENT = "wait_event"
    SEND_EVENT = "send_event"
    SET_EVENT = "set_event"
    NOW = "now"
    UUID4 = "uuid4"
    RANDOM = "random"
    # Sagas: a compensation armed (its arguments and the step it undoes), and one that ran.
    ARM = "arm"
    COMPENSATION = "compensation"
    # Versioning: new code took a change (ctx.patched) at this position (durable.engine.versioning).
    PATCH = "patch"
    # Composition (durable.engine.composition): a child started, a child's end as the parent
    # waited for it, and the end of a run that continued as new (its result: the next input).
    CHILD = "child"
    CHILD_RESULT = "child_result"
    CONTINUE_AS_NEW = "continue_as_new"
    # Composition (durable.engine.parallel): an activity started to run beside others on any
    # worker (its row is its own lease and result), and the decision of a `first`.
    PARALLEL = "parallel"
    FIRST = "first"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


class StepStatus(StrEnum):
    """How a recorded step stands."""

    COMPLETED = "completed"
    FAILED = "failed"
    RETRYING = "retrying"
    TIMED_OUT = "timed_out"
    # An attempt is running (recorded before an outside effect, or after a run made no progress):
    # found on replay, it means the worker running that attempt stopped.
    STARTED = "started"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class TimerPurpose(StrEnum):
    """Why a timer row exists."""

    SLEEP = "sleep"
    TIMEOUT = "timeout"
    RETRY = "retry"
    # A delayed or debounced start (SPEC 13): due, it only makes the pending instance runnable.
    START = "start"
    # The timer of a ctx.first(..., ctx.timer(...)): due, it decides the first for the timer.
    FIRST = "first"

    @property
    def label(self) -> str:
        return _PURPOSE_LABELS[self]


class Verdict(StrEnum):
    """What the storage decided after a failed activity attempt."""

    RETRY = "retry"  # run the next attempt now, in this run
    SUSPENDED = "suspended"  # the run waits (a backoff timer) or the instance was paused
    FINAL = "final"  # no attempt follows: ActivityError goes into the workflow


_KIND_LABELS = {
    StepKind.ACTIVITY: "activity",
    StepKind.SLEEP: "sleep",
    StepKind.WAIT_EVENT: "wait for event",
    StepKind.SEND_EVENT: "send event",
    StepKind.SET_EVENT: "publish value",
    StepKind.NOW: "now()",
    StepKind.UUID4: "uuid4()",
    StepKind.RANDOM: "random()",
    StepKind.ARM: "arm compensation",
    StepKind.COMPENSATION: "compensation",
    StepKind.PATCH: "patch",
    StepKind.CHILD: "start child",
    StepKind.CHILD_RESULT: "wait for child",
    StepKind.CONTINUE_AS_NEW: "continue as new",
    StepKind.PARALLEL: "parallel activity",
    StepKind.FIRST: "first of",
}
_PURPOSE_LABELS = {
    TimerPurpose.SLEEP: "Sleep",
    TimerPurpose.TIMEOUT: "Wait timeout",
    TimerPurpose.RETRY: "Retry backoff",
    TimerPurpose.START: "Delayed start",
    TimerPurpose.FIRST: "First-of timer",
}


def choices(enum: type[StrEnum]) -> list[tuple[str, str]]:
    """(value, label) pairs for a model field's choices."""
    return [(member.value, getattr(member, "label", member.value)) for member in enum]


@dataclass
class Step:
    """One recorded history row, as the replay sees it."""

    position: int
    kind: str
    name: str
    status: str = StepStatus.COMPLETED
    result: Any = None
    error: dict | None = None
    attempt: int = 1
    retry_at: dt.datetime | None = None


@dataclass
class NewStep:
    """A step the replay produced on this run and the storage must write."""

    position: int
    kind: str
    name: str
    result: Any = None
    status: str = StepStatus.COMPLETED
    input: Any = None
    started_at: dt.datetime | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class WaitSpec:
    """What a wait_event step waits for."""

    position: int
    name: str
    types: list[str]
    match: dict[str, Any]
    subject: str | None
    timeout_at: dt.datetime | None
    # The viewer's name for the wait ("manager approval"), kept with its rows; not in the history.
    label: str | None = None
    # Inside a ctx.first: the index of the item this wait is; None for a plain wait_event.
    branch: int | None = None


@dataclass
class FirstSpec:
    """What a ctx.first waits for, beside the step handles that had not ended when it was called."""

    position: int
    name: str
    # (item index, wait) for each event item; the waits are all at `position`.
    events: list[tuple[int, WaitSpec]]
    # The earliest timer item: its index and due time.
    timer_index: int | None
    timer_at: dt.datetime | None
    # Position of each step handle's step -> its item index.
    steps: dict[int, int]
    # The viewer's words: "approval.decision, or 24h timer, whichever first".
    words: str


@dataclass
class ChildSpec:
    """A child instance a start_child step starts (durable.engine.composition)."""

    position: int
    workflow_name: str
    instance_id: str
    input: dict[str, Any]
    business_key: Any = None
    detached: bool = False


@dataclass
class ActivityCall:
    """One attempt of an activity, handed to the storage to run and record."""

    position: int
    definition: Any
    args: tuple
    kwargs: dict
    input: Any
    attempt: int
    idempotency_key: str
    # A compensation is recorded as its own kind of step and tells the activity what it undoes.
    kind: str = StepKind.ACTIVITY
    compensating: Any = None


@dataclass(frozen=True)
class ReceivedEvent:
    """A CloudEvent as a workflow receives it from `ctx.wait_event`."""

    id: str
    type: str
    source: str
    subject: str | None = None
    time: dt.datetime | None = None
    data: Any = None
    datacontenttype: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    def data_as(self, cls: builtins.type[T]) -> T:
        """Build a dataclass (or a pydantic model) from the event's data.

        Args:
            cls: a dataclass, or a class with `model_validate` (pydantic).

        Returns:
            An instance of `cls`.

        Raises:
            TypeError: data is not an object, or `cls` is neither a dataclass nor pydantic.
        """
        validate = getattr(cls, "model_validate", None)
        if validate is not None:
            return validate(self.data)
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"data_as needs a dataclass or a pydantic model, not {cls!r}.")
        if not isinstance(self.data, dict):
            raise TypeError(f"Event {self.id} data is {type(self.data).__name__}, not an object.")
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        build: Any = cls
        return build(**{k: v for k, v in self.data.items() if k in names})

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time.isoformat() if self.time else None,
            "data": codec.encode(self.data, where=f"data of event {self.id}"),
            "datacontenttype": self.datacontenttype,
            "extensions": dict(self.extensions),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ReceivedEvent:
        time = record.get("time")
        return cls(
            id=record["id"],
            type=record["type"],
            source=record["source"],
            subject=record.get("subject"),
            time=dt.datetime.fromisoformat(time) if time else None,
            data=codec.decode(record.get("data")),
            datacontenttype=record.get("datacontenttype"),
            extensions=dict(record.get("extensions") or {}),
        )

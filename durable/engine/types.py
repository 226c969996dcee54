"""Plain data the engine shares with its storage: recorded steps, wait specs, received events."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, TypeVar

from durable.engine import codec

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Step kinds, as stored in the history.
ACTIVITY = "activity"
SLEEP = "sleep"
WAIT_EVENT = "wait_event"
SEND_EVENT = "send_event"
SET_EVENT = "set_event"
NOW = "now"
UUID4 = "uuid4"
RANDOM = "random"
STEP_KINDS = (ACTIVITY, SLEEP, WAIT_EVENT, SEND_EVENT, SET_EVENT, NOW, UUID4, RANDOM)

# Step statuses.
COMPLETED = "completed"
FAILED = "failed"
RETRYING = "retrying"
TIMED_OUT = "timed_out"

# Timer purposes.
TIMER_SLEEP = "sleep"
TIMER_TIMEOUT = "timeout"
TIMER_RETRY = "retry"


@dataclass
class Step:
    """One recorded history row, as the replay sees it."""

    position: int
    kind: str
    name: str
    status: str = COMPLETED
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
    status: str = COMPLETED
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

"""The durable error tree and the control-flow signals of the replay loop (stdlib only)."""

from __future__ import annotations


class DurableError(Exception):
    """Unexpected durable error."""

    code = "durable_error"
    status_code = 500
    retryable = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class DefinitionError(DurableError):
    """A workflow or activity definition is invalid; fix the decorator or the function."""

    code = "definition_error"


class EncodingError(DurableError, TypeError):
    """A value cannot be stored as JSON; pass JSON data, datetimes, Decimals, UUIDs or dataclasses."""

    code = "encoding_error"
    status_code = 400


class InvalidArgument(DurableError, ValueError):
    """An argument is invalid; check the value and call again."""

    code = "invalid_argument"
    status_code = 400


class WorkflowNotFound(DurableError, LookupError):
    """No workflow is registered under that name; check the name or its `workflows` module."""

    code = "workflow_not_found"
    status_code = 404


class InstanceNotFound(DurableError, LookupError):
    """No workflow instance has that id; check the id."""

    code = "instance_not_found"
    status_code = 404

    @classmethod
    def of(cls, instance_id: str) -> InstanceNotFound:
        """The error for one id, with the message every lookup gives."""
        return cls(f"No workflow instance has id {instance_id!r}; check the id.")


class ScheduleNotFound(DurableError, LookupError):
    """No schedule has that name; list them with `manage.py durable_schedules`."""

    code = "schedule_not_found"
    status_code = 404

    @classmethod
    def of(cls, name: str) -> ScheduleNotFound:
        """The error for one name, with the message every lookup gives."""
        return cls(f"No schedule is named {name!r}; list them with `manage.py durable_schedules`.")


class InvalidTransition(DurableError):
    """The instance's status does not allow that operation."""

    code = "invalid_transition"
    status_code = 409


class InvalidPosition(InvalidArgument):
    """The instance's history does not allow that position; pick one of its recorded steps.

    A ValueError for callers, like any invalid argument; a 409 over HTTP, as it conflicts with the
    instance's history as it stands rather than with the request's form.
    """

    code = "invalid_position"
    status_code = 409


class InstanceExists(InvalidTransition):
    """An instance with that id exists already; choose another id, or none for a new one."""

    code = "instance_exists"


class InvalidEvent(DurableError):
    """The event is malformed; send a CloudEvents 1.0 event with id, source and type."""

    code = "invalid_event"
    status_code = 400


class NonDeterminismError(DurableError):
    """The workflow code no longer matches its recorded history; deploy code that replays it."""

    code = "non_determinism"


class WorkflowFailed(DurableError):
    """The workflow instance failed."""

    code = "workflow_failed"

    def __init__(self, message: str | None = None, *, error: dict | None = None) -> None:
        super().__init__(message)
        self.error = error or {}


class WorkflowCancelled(DurableError):
    """The workflow instance was cancelled."""

    code = "workflow_cancelled"


class ActivityError(DurableError):
    """An activity failed after its last attempt."""

    code = "activity_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        activity_name: str = "",
        error_type: str = "",
        error_message: str = "",
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.activity_name = activity_name
        self.error_type = error_type
        self.message = error_message
        self.attempts = attempts


class ChildFailed(DurableError):
    """A child workflow failed."""

    code = "child_failed"

    def __init__(
        self, message: str | None = None, *, child_id: str = "", workflow_name: str = "", error: dict | None = None
    ) -> None:
        super().__init__(message)
        self.child_id = child_id
        self.workflow_name = workflow_name
        self.error = error or {}  # the child's error: type, message, traceback


class ChildCancelled(DurableError):
    """A child workflow was cancelled."""

    code = "child_cancelled"

    def __init__(self, message: str | None = None, *, child_id: str = "", workflow_name: str = "", reason: str = ""):
        super().__init__(message)
        self.child_id = child_id
        self.workflow_name = workflow_name
        self.reason = reason


class WaitTimeout(DurableError, TimeoutError):
    """A wait for an event timed out."""

    code = "wait_timeout"


class Halt(BaseException):
    """Ends a run of the workflow function; user code's `except Exception` cannot swallow it."""


class Suspend(Halt):
    """The workflow waits for a timer or an event; only the replay loop catches this."""


class LeaseLost(Halt):
    """Another worker or an operator took the instance over; stop running it at once."""


class Rewind(Halt):
    """The instance was woken while this run decided to wait; replay it again."""


class ContinueAsNew(Halt):
    """ctx.continue_as_new ended the run: the instance starts again from the top with `input`."""

    def __init__(self, input_tree: dict) -> None:
        super().__init__("continue as new")
        self.input = input_tree


class WorkerLost(Exception):
    """The worker running an activity attempt stopped (it crashed, ran out of memory, was killed
    or timed out); the attempt counts as failed under the activity's RetryPolicy."""


class StorageFault(Halt):
    """The database failed under a run (locked, deadlock, dropped connection); the run is rolled
    back and retried later. A Halt, so workflow code never sees it."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error

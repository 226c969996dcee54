"""RetryPolicy (how often and how far apart a failed activity is tried again) and pause_after_errors."""

from __future__ import annotations

from dataclasses import dataclass, field

from durable.exceptions import DefinitionError


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed activity is retried.

    Args:
        max_attempts: attempts in all, the first included (1 means no retry).
        initial_interval: seconds before the second attempt.
        backoff: factor applied to the interval after each failed attempt.
        max_interval: the longest wait between two attempts, in seconds.
        non_retryable: exception classes (or their names) that fail the activity at once.
    """

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff: float = 2.0
    max_interval: float = 60.0
    non_retryable: tuple[type[BaseException] | str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise DefinitionError(f"RetryPolicy.max_attempts must be >= 1, not {self.max_attempts}.")
        if self.initial_interval < 0 or self.max_interval < 0:
            raise DefinitionError("RetryPolicy intervals must not be negative.")
        if self.backoff < 1:
            raise DefinitionError(f"RetryPolicy.backoff must be >= 1, not {self.backoff}.")
        object.__setattr__(self, "non_retryable", tuple(self.non_retryable))

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt number `failed_attempt` (1-based) failed."""
        raw = self.initial_interval * (self.backoff ** (failed_attempt - 1))
        return min(raw, self.max_interval)

    def retries(self, error: BaseException, failed_attempt: int) -> bool:
        """Whether another attempt follows this failure."""
        if failed_attempt >= self.max_attempts:
            return False
        for item in self.non_retryable:
            if isinstance(item, str):
                names = {c.__name__ for c in type(error).__mro__} | {
                    f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__
                }
                if item in names:
                    return False
            elif isinstance(error, item):
                return False
        return True


DEFAULT_RETRY = RetryPolicy()


def pauses(pause_after_errors: int | None, streak: int) -> bool:
    """Whether `streak` failed attempts in a row pause the instance (`pause_after_errors=N`)."""
    return pause_after_errors is not None and streak >= pause_after_errors


def activity_pause_reason(streak: int, activity: str, error: dict) -> str:
    """The reason recorded when an activity's failures pause the instance."""
    return (
        f"Paused after {streak} failed attempts in a row; the last, of activity '{activity}', raised "
        f"{error['type']}: {error['message']}. Fix the cause, then resume the instance."
    )


def workflow_pause_reason(streak: int, error: dict) -> str:
    """The reason recorded when the workflow's own uncaught errors pause the instance."""
    return (
        f"Paused after {streak} failed attempts in a row; the workflow raised "
        f"{error['type']}: {error['message']}. Fix the cause, then resume."
    )

"""The @hook decorator, HookContext and InstanceInfo: durable code that runs after a transition."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

from durable.engine.retry import RetryPolicy
from durable.exceptions import DefinitionError

TRIGGERS = ("completed", "failed", "cancelled", "paused", "resumed", "erased")
# Unlimited attempts, the delay doubling from one second up to an hour.
UNLIMITED = sys.maxsize
DEFAULT_HOOK_RETRY = RetryPolicy(max_attempts=UNLIMITED, initial_interval=1.0, backoff=2.0, max_interval=3600.0)


@dataclass(frozen=True)
class HookContext:
    """What a hook knows about its own run.

    Attributes:
        idempotency_key: the same on every attempt of this run of the hook (one per transition).
        attempt: this attempt's number, 1 for the first.
        hook_name: the hook's registered name.
        trigger: what happened to the instance ("completed", "failed", ...).
        recorded_at: when the transition committed the hook's row.
    """

    idempotency_key: str
    attempt: int
    hook_name: str
    trigger: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class InstanceInfo:
    """A snapshot of the instance, read as the attempt starts (its status may have moved on since)."""

    id: str
    workflow_name: str
    status: str
    business_key: str | None
    result: Any
    error: dict | None
    reason: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(eq=False)
class HookDefinition:
    """A registered hook: `fn(ctx, instance)` runs after each `trigger` of `workflow` (or of any)."""

    name: str
    fn: Callable[[HookContext, InstanceInfo], Any]
    trigger: str
    workflow: str | None = None
    retry: RetryPolicy = DEFAULT_HOOK_RETRY

    def __call__(self, ctx: HookContext, instance: InstanceInfo) -> Any:
        return self.fn(ctx, instance)

    def __repr__(self) -> str:
        return f"<hook {self.name} on {self.trigger}>"

    def applies(self, trigger: str, workflow_name: str) -> bool:
        return self.trigger == trigger and self.workflow in (None, workflow_name)


def check_trigger(on: object) -> str:
    """The trigger, or DefinitionError naming the ones there are."""
    if on not in TRIGGERS:
        raise DefinitionError(f"@durable.hook({on!r}): unknown trigger; use one of {', '.join(TRIGGERS)}.")
    return str(on)


@overload
def hook(on: str, fn: Callable, /) -> HookDefinition: ...
@overload
def hook(
    on: str, /, *, workflow: Any = None, name: str | None = None, retry: RetryPolicy | None = None
) -> Callable[[Callable], HookDefinition]: ...
def hook(
    on: str,
    fn: Callable | None = None,
    /,
    *,
    workflow: Any = None,
    name: str | None = None,
    retry: RetryPolicy | None = None,
) -> Any:
    """Register `def h(ctx: HookContext, instance: InstanceInfo)` to run after `on` happens.

    Args:
        on: "completed", "failed", "cancelled", "paused", "resumed" or "erased".
        workflow: a workflow (its definition or its name) to limit the hook to; None for all.
        name: the stable name (default "<module>.<qualname>").
        retry: how failed attempts are retried (default: unlimited, backoff up to an hour).
    """
    from durable.engine.registry import _check_function, _origin, registry

    trigger = check_trigger(on)
    workflow_name = getattr(workflow, "name", workflow)
    if workflow_name is not None and not isinstance(workflow_name, str):
        raise DefinitionError(f"@durable.hook(workflow=...) takes a workflow or its name, not {workflow!r}.")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise DefinitionError(f"@durable.hook(retry=...) takes a RetryPolicy, not {retry!r}.")

    def register(function: Callable) -> HookDefinition:
        _check_function(function, "hook")
        definition = HookDefinition(
            name=name or _origin(function),
            fn=function,
            trigger=trigger,
            workflow=workflow_name,
            retry=retry or DEFAULT_HOOK_RETRY,
        )
        registry.add(registry.hooks, "hook", definition)
        return definition

    return register(fn) if fn is not None else register

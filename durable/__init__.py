"""durable: durable workflows for Django. The public API; names that touch models load lazily."""

from __future__ import annotations

from typing import Any

from durable.engine.activities import ActivityContext
from durable.engine.composition import ChildHandle
from durable.engine.context import WorkflowContext
from durable.engine.cron import Schedule
from durable.engine.hooks import HookContext, HookDefinition, InstanceInfo, hook
from durable.engine.registry import ActivityDefinition, WorkflowDefinition, activity, workflow
from durable.engine.retry import RetryPolicy
from durable.engine.saga import Compensating
from durable.engine.types import ReceivedEvent
from durable.exceptions import (
    ActivityError,
    ChildCancelled,
    ChildFailed,
    DefinitionError,
    DurableError,
    EncodingError,
    InstanceExists,
    InstanceNotFound,
    InvalidArgument,
    InvalidEvent,
    InvalidPosition,
    InvalidTransition,
    NonDeterminismError,
    ScheduleNotFound,
    WaitTimeout,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowNotFound,
)

__version__ = "0.1.0"

_CLIENT_NAMES = (
    "start",
    "get_handle",
    "send_event",
    "cancel",
    "pause",
    "resume",
    "retry",
    "get_event",
    "instances_for",
    "WorkflowHandle",
    "Delivery",
)

__all__ = [
    "ActivityContext",
    "ActivityDefinition",
    "ActivityError",
    "ChildCancelled",
    "ChildFailed",
    "ChildHandle",
    "Compensating",
    "DefinitionError",
    "DurableError",
    "EncodingError",
    "HookContext",
    "HookDefinition",
    "InstanceInfo",
    "InstanceExists",
    "InstanceNotFound",
    "InvalidArgument",
    "InvalidEvent",
    "InvalidPosition",
    "InvalidTransition",
    "NonDeterminismError",
    "ReceivedEvent",
    "RetryPolicy",
    "Schedule",
    "ScheduleNotFound",
    "WaitTimeout",
    "WorkflowCancelled",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowFailed",
    "WorkflowNotFound",
    "activity",
    "erase",
    "fork",
    "hook",
    "schedules",
    "workflow",
    *_CLIENT_NAMES,
]


def __getattr__(name: str) -> Any:
    # The client imports models, which need the app registry: load it on first use only.
    if name in _CLIENT_NAMES:
        from durable import client

        return getattr(client, name)
    if name == "erase":
        from durable.erasure import erase

        return erase
    if name == "fork":
        from durable.forking import fork

        return fork
    if name == "schedules":
        # The runtime schedules API (durable.schedules.create, .pause, ...) also touches models.
        import importlib

        return importlib.import_module("durable.schedules")
    raise AttributeError(f"module 'durable' has no attribute {name!r}")

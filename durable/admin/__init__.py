"""The viewer: the Django admin for workflow instances, events and timers (read-only, plus operations)."""

from __future__ import annotations

from durable.admin import bulk, events, hooks, instances, schedules

__all__ = ["bulk", "events", "hooks", "instances", "schedules"]

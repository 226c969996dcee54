"""The viewer: the Django admin for workflow instances, events and timers (read-only, plus operations)."""

from __future__ import annotations

import logging

from durable.admin import events, instances

logger = logging.getLogger(__name__)

__all__ = ["events", "instances"]

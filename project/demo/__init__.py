"""The demo behind `manage.py durable_demo`: every example workflow, run on a real worker and server."""

from __future__ import annotations

import logging

from project.demo.runner import run

logger = logging.getLogger(__name__)

__all__ = ["run"]

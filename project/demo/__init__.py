"""The demo behind `manage.py durable_demo`: every example workflow, run on a real worker and server."""

from __future__ import annotations

from project.demo.runner import run

__all__ = ["run"]

"""durable_pause: stop a workflow instance from running until durable_resume."""

from __future__ import annotations

from durable.management.base import TransitionCommand


class Command(TransitionCommand):
    help = (
        "Pause a workflow instance: no worker runs it until `manage.py durable_resume ID`. Events and "
        "timer firings that arrive meanwhile are kept for it. Fails for a paused or ended instance."
    )
    transition = "pause"

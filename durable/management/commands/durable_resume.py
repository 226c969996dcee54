"""durable_resume: let a paused workflow instance run again."""

from __future__ import annotations

from durable.management.base import TransitionCommand


class Command(TransitionCommand):
    help = (
        "Resume a paused workflow instance: it replays its history and picks up the events and timers "
        "that arrived while it was paused. Fails for an instance that is not paused."
    )
    transition = "resume"

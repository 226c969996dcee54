"""durable_cancel: end a workflow instance that has not ended yet."""

from __future__ import annotations

from durable.management.base import TransitionCommand


class Command(TransitionCommand):
    help = (
        "Cancel a workflow instance that has not ended: its waits and timers are withdrawn and events "
        "that arrive later do not revive it. Fails for an instance that has completed, failed or was "
        "cancelled already."
    )
    transition = "cancel"

"""durable_retry: run a failed workflow instance again from its last recorded step."""

from __future__ import annotations

from durable.management.base import TransitionCommand


class Command(TransitionCommand):
    help = (
        "Retry a failed workflow instance: it runs again from its last recorded step (an activity that "
        "ran out of attempts gets a new round of them); the failure stays in its incident log. Fails "
        "for an instance that has not failed."
    )
    transition = "retry"

"""The durable database: its alias, transactions, commit hooks, the clock, and the wake-up request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import connections, router, transaction
from django.utils import timezone

from durable.models import WorkflowInstance

_waker: Callable[..., object] | None = None


def alias() -> str:
    return router.db_for_write(WorkflowInstance)


def atomic() -> transaction.Atomic:
    """A transaction on the durable database (IMMEDIATE on SQLite, via the project's OPTIONS)."""
    return transaction.atomic(using=alias())


def on_commit(fn: Callable[[], object]) -> None:
    transaction.on_commit(fn, using=alias(), robust=True)


def in_transaction() -> bool:
    return transaction.get_connection(alias()).in_atomic_block


def is_postgres() -> bool:
    return connections[alias()].vendor == "postgresql"


def now() -> dt.datetime:
    return timezone.now()


def set_waker(fn: Callable[..., object] | None) -> None:
    """Install what asks the worker to run due instances (the worker layer installs it)."""
    global _waker
    _waker = fn


def request_run(*, force: bool = False) -> None:
    """Ask a worker to run due instances once the current transaction commits.

    `force` enqueues even when a request already seems to be on its way (recovery).
    """
    waker = _waker
    if waker is not None:
        transaction.on_commit(lambda: waker(force=force), using=alias(), robust=True)

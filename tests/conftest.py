"""Shared fixtures: in-process draining, and real durable_worker subprocesses on the test database."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from project.processes import Service

ROOT = Path(__file__).resolve().parent.parent
TERMINAL_OR_PAUSED = {"completed", "failed", "cancelled", "paused"}


def is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def test_database_url() -> str:
    """The URL of the database this test run uses, for worker subprocesses."""
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or "5432"
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


@contextmanager
def background(fn: Callable[[], object]):
    """Run `fn` in a thread (with its own database connection) while the block runs."""
    from django.db import connections

    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported when the block ends
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield
    finally:
        thread.join(60)
    assert not errors, errors


@pytest.fixture
def drain(django_capture_on_commit_callbacks) -> Callable:
    """Run workflows in this process: claim due instances and fire due timers until `until` holds.

    `until` is a handle (wait until it ends or pauses), a predicate, or None: until nothing is
    due and no timer is due within a second. Commit callbacks run as
    they would in a worker, even inside the `db` fixture's transaction.
    """
    from django.utils import timezone

    from durable import executor, timers
    from durable.models import Timer, WorkflowInstance

    def run(until=None, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with django_capture_on_commit_callbacks(execute=True):
                executor.run_due(max_seconds=5)
                timers.fire_due()
            if until is None:
                # Settled: nothing due now, and no timer due within the next second.
                moment = timezone.now()
                if (
                    not WorkflowInstance.objects.claimable(moment).exists()
                    and not Timer.objects.filter(due_at__lte=moment + dt.timedelta(seconds=1)).exists()
                ):
                    return
            elif hasattr(until, "instance_id"):
                if until.status in TERMINAL_OR_PAUSED:
                    return
            elif until():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"workflows did not settle within {timeout} s")
            time.sleep(0.01)

    return run


@pytest.fixture
def worker_factory(transactional_db, tmp_path):
    """Start real durable_worker subprocesses against the test database; stopped at teardown."""
    from django.db import connections

    from project import processes

    started: list[Service] = []

    def start(**extra_env: str) -> Service:
        log_level = os.environ.get("DJANGO_LOG_LEVEL", "WARNING")
        env = processes.child_env(**{"DATABASE_URL": test_database_url(), "DJANGO_LOG_LEVEL": log_level, **extra_env})
        worker = processes.worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker.wait_ready(timeout=30)

    yield start
    processes.stop_all(started, grace=40.0)
    # The workers are gone; drop our connections so the flush does not wait on theirs.
    connections.close_all()


@pytest.fixture
def worker(worker_factory) -> Service:
    return worker_factory()

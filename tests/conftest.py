"""Shared fixtures: in-process draining (durable.testing), and real durable_worker subprocesses on the test database."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from project.processes import Service

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items) -> None:
    """DURABLE_SKIP_SLOW=1 skips the tests marked slow (CI runs them in its first job only)."""
    if os.environ.get("DURABLE_SKIP_SLOW") != "1":
        return
    skip = pytest.mark.skip(reason="DURABLE_SKIP_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
def completed() -> Iterator[list[str]]:
    """The instance ids of every workflow_completed signal sent during the test."""
    from durable import signals

    heard: list[str] = []

    def receiver(sender, instance_id, status, **kwargs):
        heard.append(instance_id)

    signals.workflow_completed.connect(receiver, weak=False)
    yield heard
    signals.workflow_completed.disconnect(receiver)


@pytest.fixture
def drain(django_capture_on_commit_callbacks) -> Callable[..., None]:
    """durable.testing.run_until, with commit callbacks run even inside the `db` fixture's transaction."""
    from durable.testing import run_until

    def run(until=None, timeout: float = 15.0) -> None:
        run_until(until, timeout=timeout, each_pass=lambda: django_capture_on_commit_callbacks(execute=True))

    return run


@pytest.fixture
def saga_compensating(drain) -> str:
    """An instance whose saga has run 1 of its 3 compensations and waits a minute to retry the second."""
    import durable
    from durable.models import WorkflowInstance
    from tests import saga_workflows

    durable.start(saga_workflows.waits_to_retry_an_undo, instance_id="trip-1")
    drain(lambda: WorkflowInstance.objects.filter(id="trip-1", waiting_for__kind="retry").exists())
    return "trip-1"


@pytest.fixture
def order_failed_at_charge(drain) -> str:
    """The id of an order (tests/fork_workflows.order) that reserved, invoiced, then failed at its charge step."""
    import durable
    from durable.models import Status
    from tests import fork_workflows as fw

    handle = durable.start(fw.order, "o-1", instance_id="order-1")
    drain(handle)
    assert handle.status == Status.FAILED
    assert fw.ledger("order-1") == ["reserve", "invoice"]
    return handle.instance_id


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


@pytest.fixture
def listening_known(monkeypatch):
    """The receiver's read of listening runners (one query a second, on PostgreSQL) done beforehand
    and trusted for the test, so a query count does not depend on when that second ends."""
    from durable import health

    monkeypatch.setattr(health, "LISTENING_TRUST_SECONDS", 3600.0)
    health.forget_listening()
    health.runner_listening()
    yield
    health.forget_listening()

"""Shared fixtures: in-process draining, and real durable_worker subprocesses on the test database."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pytest

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

    from durable import timers
    from durable.models import Timer, WorkflowInstance
    from durable.run import executor

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


class WorkerProcess:
    """One `manage.py durable_worker` subprocess in its own process group."""

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop/kill
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "durable_worker", "--settings", "tests.settings"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            lambda: b"durable worker running" in log_path.read_bytes() or self.proc.poll() is not None,
            timeout=30,
            what="the worker to start",
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited at start:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 40.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        self.log.close()

    def kill(self) -> None:
        """SIGKILL the whole process group: the main loop, the sentinel and every q2 worker."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._reap_group()

    def _reap_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def worker_factory(transactional_db, tmp_path):
    """Start real durable_worker subprocesses against the test database; stopped at teardown."""
    from django.db import connections

    started: list[WorkerProcess] = []

    def start(**extra_env: str) -> WorkerProcess:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=test_database_url(),
            DJANGO_SETTINGS_MODULE="tests.settings",
            PYTHONUNBUFFERED="1",
            DJANGO_LOG_LEVEL=os.environ.get("DJANGO_LOG_LEVEL", "WARNING"),
        )
        env.update(extra_env)
        worker = WorkerProcess(tmp_path / f"worker-{len(started)}.log", env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    # The workers are gone; drop our connections so the flush does not wait on theirs.
    connections.close_all()


@pytest.fixture
def worker(worker_factory) -> WorkerProcess:
    return worker_factory()

"""The e2e tests' browser: Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium(monkeypatch):
    """A headless Chromium; never a downloaded browser (`playwright install` cannot run here)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it).")
    # Playwright's sync API keeps an asyncio loop marked as running in this thread, and Django
    # refuses ORM calls while a loop runs (SynchronousOnlyOperation). The tests' ORM calls are
    # plain blocking reads and writes between browser steps, never code inside the loop, so
    # allowing them is safe; monkeypatch undoes it after the test.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
            # While that loop runs, asgiref's Local gives this thread context-local database
            # connections, apart from its usual thread-local ones: close them before the loop
            # stops, or they outlive the test and PostgreSQL cannot drop the test database.
            connections.close_all()


class RedisBroker:
    """The workers' Redis broker, which this process enqueues to as well."""

    def __init__(self, url: str, broker, pushed: list) -> None:
        self.url, self.broker, self.pushed = url, broker, pushed

    @property
    def env(self) -> dict[str, str]:
        """What a worker started with worker_factory needs to use it."""
        return {"DURABLE_Q_REDIS": self.url}


@pytest.fixture
def redis_broker(monkeypatch) -> RedisBroker:
    """Redis on 127.0.0.1:6379 (db 15) as the broker, here and in the workers (or skip)."""
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.from_url(url).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from django_q.brokers.redis_broker import Redis
    from django_q.conf import Conf
    from django_q.tasks import async_task

    from durable.worker import wakeup

    # django-q2 reads its broker settings at import: point this process's enqueues at the list.
    monkeypatch.setattr(Conf, "REDIS", url)
    broker = Redis(list_key="durable")
    broker.purge_queue()
    pushed: list = []
    monkeypatch.setattr(
        wakeup, "enqueue", lambda: pushed.append(async_task(wakeup.DRAIN_TASK, broker=broker, save=False))
    )
    return RedisBroker(url, broker, pushed)

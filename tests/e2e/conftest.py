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


PGBOUNCER = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer")


@pytest.fixture
def pgbouncer(tmp_path):
    """pgbouncer in transaction mode in front of the test database's server (PostgreSQL only).

    Yields the URL of the test database through it. Debian's pgbouncer (.ci/run installs it);
    it refuses to run as root, so as root it runs as nobody.
    """
    import os
    import shutil
    import socket
    import subprocess
    import time

    from project import processes
    from tests.conftest import is_postgres, test_database_url

    if not is_postgres():
        pytest.skip("pgbouncer pools PostgreSQL connections")
    binary = next((p for p in PGBOUNCER if Path(p).exists()), None) or shutil.which("pgbouncer")
    if binary is None:
        pytest.fail("pgbouncer is missing: apt-get install -y pgbouncer (.ci/run does it).")
    server = test_database_url()
    host_port = server.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    listen = processes.pick_port(0)
    user = server.split("://", 1)[1].split("@", 1)[0]
    folder = tmp_path / "pgbouncer"
    folder.mkdir()
    config = folder / "pgbouncer.ini"
    config.write_text(
        f"[databases]\n* = host={host} port={port} user={user}\n\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {listen}\nauth_type = any\n"
        "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 20\nunix_socket_dir =\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    folder.chmod(0o755)
    config.chmod(0o644)
    args = [binary, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(config)]
    log = (folder / "pgbouncer.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", listen), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"pgbouncer did not start: {(folder / 'pgbouncer.log').read_text()[-2000:]}")
            time.sleep(0.05)
    try:
        yield server.replace(host_port, f"127.0.0.1:{listen}")
    finally:
        process.terminate()
        process.wait(10)
        log.close()

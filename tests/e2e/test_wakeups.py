"""Every wake-up arrives once, by the fast path and by each fallback: LISTEN/NOTIFY, local sockets,
NOTIFY turned off, the LISTEN connections killed mid-run, the Redis broker, a real pgbouncer in
transaction mode (LISTEN accepted, never heard)."""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections import Counter

import pytest
from django.db import connection

import durable
from durable.models import HistoryStep, Status, WorkflowInstance
from durable.notify import local
from tests import wakeup_workflows as ww
from tests.conftest import is_postgres, wait_for
from tests.testapp.models import Ledger

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

COUNT = 24


def listeners() -> int:
    """LISTEN connections of other processes to this database (this process's get_event hub may
    have one; other databases on the server are other projects' or other test runs')."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'durable-listen %%' "
            "AND datname = current_database() AND application_name <> %s",
            [f"durable-listen {os.getpid()}"],
        )
        return cursor.fetchone()[0]


def kill_listeners() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name LIKE 'durable-listen %%' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


def remove_sockets() -> int:
    folder = local.directory()
    gone = 0
    for entry in os.scandir(folder) if folder and folder.exists() else ():
        os.unlink(entry.path)
        gone += 1
    return gone


class Disruptor(threading.Thread):
    """Calls `hit` every `every` seconds until stopped; counts what it hit."""

    def __init__(self, hit, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.hit, self.every, self.hits, self.done = hit, every, 0, threading.Event()

    def run(self) -> None:
        try:
            while not self.done.wait(self.every):
                self.hits += self.hit()
        finally:
            connection.close()

    def stop(self) -> int:
        self.done.set()
        self.join(10)
        return self.hits


MODES = {
    "fast path": "postgresql sqlite",
    "notify off": "postgresql sqlite",
    "listen connections killed": "postgresql",
    "sockets removed": "sqlite",
    "redis broker": "postgresql sqlite",
    "behind pgbouncer": "postgresql",
}


@pytest.mark.parametrize("mode", list(MODES))
def test_wakeups__every_start_event_timer_and_value_arrives_once(mode, worker_factory, settings, request):
    if connection.vendor not in MODES[mode].split():
        pytest.skip(f"{mode} is for {MODES[mode]}")
    env: dict[str, str] = {}
    if mode == "notify off":
        env["DURABLE_NOTIFY"] = "0"
        settings.DURABLE_NOTIFY = False
    if mode == "redis broker":
        env.update(request.getfixturevalue("redis_broker").env)
    if mode == "behind pgbouncer":
        # In transaction mode LISTEN is accepted and never heard: the workers must notice and poll.
        env["DATABASE_URL"] = request.getfixturevalue("pgbouncer")
    workers = [worker_factory(**env) for _ in range(2)]
    if is_postgres() and mode == "notify off":
        assert listeners() == 0, "no LISTEN connection while notifications are off"
    if is_postgres() and mode == "fast path":
        # Per worker: its broker's pusher and its timer loop.
        wait_for(lambda: listeners() >= 4, timeout=10, what="the workers' LISTEN connections")
    disruptor = {
        "listen connections killed": lambda: Disruptor(kill_listeners),
        "sockets removed": lambda: Disruptor(remove_sockets),
    }.get(mode, lambda: None)()

    started = time.monotonic()
    keys = [f"{mode.replace(' ', '-')}-{i}" for i in range(COUNT)]
    handles = [durable.start(ww.wake_mix, key, 0.1 + (i % 6) * 0.1) for i, key in enumerate(keys)]
    ids = [h.instance_id for h in handles]
    wait_for(
        lambda: WorkflowInstance.objects.filter(id__in=ids, status=Status.WAITING_FOR_EVENT).count() == COUNT,
        timeout=60,
        what="every instance waiting for its event",
    )
    if disruptor is not None:
        disruptor.start()
    values: dict[str, object] = {}

    def read(handle: durable.WorkflowHandle) -> None:
        try:
            values[handle.instance_id] = handle.get_event("done", timeout=60)
        finally:
            connection.close()

    readers = [threading.Thread(target=read, args=(h,)) for h in handles[::3]]
    for reader in readers:
        reader.start()
    for key in keys:
        durable.send_event(ww.EVENT_TYPE, ww.EVENT_SOURCE, {"key": key}, id=f"{key}-go")
        time.sleep(0.02)
    results = [h.result(timeout=90) for h in handles]
    for reader in readers:
        reader.join(30)
    hits = disruptor.stop() if disruptor is not None else 0
    elapsed = time.monotonic() - started

    assert [r["event"] for r in results] == [f"{key}-go" for key in keys]
    assert values == {h.instance_id: {"key": key} for h, key in zip(handles, keys, strict=True) if h in handles[::3]}
    rows = Counter(Ledger.objects.filter(instance_id__in=ids).values_list("step", flat=True))
    assert rows == Counter(f"{key}:{step}" for key in keys for step in ("start", "end")), "each effect exactly once"
    kinds = Counter(HistoryStep.objects.filter(instance_id__in=ids).values_list("kind", flat=True))
    assert kinds["wait_event"] == kinds["sleep"] == kinds["set_event"] == COUNT
    if disruptor is not None:
        assert hits > 0, f"{mode}: the disruption never hit anything"
    if mode == "redis broker":
        assert request.getfixturevalue("redis_broker").pushed, "the wake-ups went through Redis"
    if mode == "behind pgbouncer":
        for worker in workers:
            assert b"hears nothing (a pooler in transaction mode?)" in worker.log_path.read_bytes()
    if is_postgres() and mode == "listen connections killed":
        wait_for(lambda: listeners() >= 4, timeout=10, what="the LISTEN connections to come back")
    print(
        f"\n[report] wake-ups, {mode} on {connection.vendor}: {COUNT} workflows x (start, event, timer, value, end) "
        f"in {elapsed:.1f} s on 2 workers, each effect once" + (f"; {hits} disruptions" if hits else "")
    )


def server_connections(server, database: str) -> int:
    """The server's open connections to the test database (PostgreSQL by application name, SQLite by open files)."""
    if is_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [LONG_POLL_SERVER])
            return cursor.fetchone()[0]
    opened = 0
    for fd in os.listdir(f"/proc/{server.pid}/fd"):
        try:
            opened += os.readlink(f"/proc/{server.pid}/fd/{fd}") == database
        except OSError:
            continue
    return opened


LONG_POLL_SERVER = "durable-long-poll-server"


def test_wakeups__http_long_poll_answers_once_set_and_holds_no_connection_while_it_waits(worker_factory, tmp_path):
    from django.contrib.auth.models import User
    from django.test import Client

    from durable.models import PublishedValue
    from project import processes
    from project.processes import LOCAL
    from tests.conftest import test_database_url

    worker_factory()
    url = test_database_url()
    if is_postgres():
        url += f"?application_name={LONG_POLL_SERVER}"
    port = processes.pick_port(0)
    server = processes.server(processes.child_env(DATABASE_URL=url), tmp_path / "server.log", port).wait_ready()
    try:
        login = Client()
        login.force_login(User.objects.create_superuser("long-poller", "", "x"))
        cookie = f"sessionid={login.cookies['sessionid'].value}"
        handle = durable.start(ww.wake_mix, "long-poll", 0.05)
        wait_for(lambda: handle.status == Status.WAITING_FOR_EVENT, timeout=30, what="the instance waiting")
        database = os.path.realpath(connection.settings_dict["NAME"])
        before = server_connections(server, database)
        answered: dict[str, object] = {}

        def long_poll() -> None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/durable/instances/{handle.instance_id}/events/done/?timeout=30",
                headers={"Cookie": cookie},
            )
            with LOCAL.open(request, timeout=40) as response:
                answered["body"] = response.read()
            answered["at"] = time.time()

        reader = threading.Thread(target=long_poll)
        reader.start()
        time.sleep(0.5)  # it has read once, found nothing, and waits
        wait_for(
            lambda: server_connections(server, database) <= before, timeout=5, what="the waiting request to let go"
        )
        idle = server_connections(server, database)
        assert "at" not in answered and reader.is_alive(), "still waiting"
        durable.send_event(ww.EVENT_TYPE, ww.EVENT_SOURCE, {"key": "long-poll"}, id="long-poll-go")
        reader.join(30)
        assert b'"value":{"key":"long-poll"}' in answered["body"].replace(b" ", b"")
        set_at = PublishedValue.objects.get(instance_id=handle.instance_id, key="done").updated_at.timestamp()
        print(
            f"\n[report] HTTP long-poll on {connection.vendor}: answered {(answered['at'] - set_at) * 1000:.1f} ms "
            f"after the value was stored; {idle} server connection(s) to the database while it waited "
            f"({before} before it began)"
        )
        assert idle <= before
    finally:
        server.stop()

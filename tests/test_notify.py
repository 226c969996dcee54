"""Wake-up channels on the real database: delivered at commit (never for a rollback), reconnects,
and the get_event hub's listener living only while someone waits."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time

import pytest
from django.db import connection, transaction

from durable import db, notify
from durable.notify.hub import hub

pytestmark = pytest.mark.django_db(transaction=True)


def received(listener, seconds: float = 1.0) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += [m for m in listener.wait(0.05) if m[0]]
        if got:
            got += [m for m in listener.wait(0.05) if m[0]]
            return got
    return got


@pytest.fixture
def listener():
    made = notify.listen([notify.TIMERS, notify.INSTANCES])
    assert made is not None and made.healthy, f"a wake-up channel on {connection.vendor}"
    yield made
    made.close()


def test_notify__arrives_once_the_transaction_commits_and_never_for_a_rollback(listener):
    with transaction.atomic():
        notify.send(notify.TIMERS, "kept")
        assert listener.wait(0.2) == [], "nothing before the commit"
    assert received(listener) == [(notify.TIMERS, "kept")]
    with pytest.raises(RuntimeError), transaction.atomic():
        notify.send(notify.TIMERS, "rolled back")
        raise RuntimeError
    assert received(listener, 0.3) == []


def test_notify__a_listener_hears_only_its_channels(listener):
    notify.send(notify.TASKS)
    notify.send(notify.INSTANCES, "x")
    assert received(listener) == [(notify.INSTANCES, "x")]


def test_notify__only_timers_due_before_the_next_look_are_announced(listener):
    notify.timer_set(db.now() + dt.timedelta(seconds=0.5))
    notify.timer_set(db.now() + dt.timedelta(days=2))
    heard = received(listener)
    assert len(heard) == 1 and heard[0][0] == notify.TIMERS
    assert abs(float(heard[0][1]) - (time.time() + 0.5)) < 5


def test_notify__off_sends_nothing_and_gives_no_listener(listener, settings):
    settings.DURABLE_NOTIFY = False
    assert notify.listen([notify.TIMERS]) is None
    notify.send(notify.TIMERS, "ignored")
    settings.DURABLE_NOTIFY = True
    assert received(listener, 0.3) == []


def test_notify__a_killed_listen_connection_reconnects_and_says_look(listener):
    if connection.vendor != "postgresql":
        pytest.skip("a LISTEN connection is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            [f"durable-listen {os.getpid()}"],
        )
        assert cursor.fetchone()[0] == 1
    marks = []
    deadline = time.monotonic() + 5
    while not (marks and listener.healthy) and time.monotonic() < deadline:
        marks += listener.wait(0.2)
    # Once as it drops and once as it is back: its owner looks both times.
    assert marks == [("", ""), ("", "")] and listener.healthy
    notify.send(notify.TIMERS, "after")
    assert received(listener) == [(notify.TIMERS, "after")]


def test_notify__a_local_socket_whose_listener_died_is_removed(settings):
    if connection.vendor != "sqlite":
        pytest.skip("local sockets serve SQLite")
    from durable.notify import local

    gone = local.LocalListener([notify.TIMERS])
    path = gone.paths[0]
    for sock in gone.sockets:
        sock.close()  # its process died without cleaning up: the file stays
    gone.paths = []
    assert os.path.exists(path)
    local.send(notify.TIMERS, "anyone?")
    assert not os.path.exists(path)


def hub_listeners() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [f"durable-listen {os.getpid()}"]
        )
        return cursor.fetchone()[0]


def test_notify__the_hub_wakes_a_watch_and_lets_its_listener_go_after_the_last(listener):
    arrived = []

    def wait() -> None:
        with hub.watch("hub-1") as watch:
            started.set()
            arrived.extend(watch.wait(5))

    started = threading.Event()
    waiter = threading.Thread(target=wait)
    waiter.start()
    started.wait(5)
    assert hub.healthy
    notify.instance_changed("hub-2", "key", {"v": 1})  # another instance: not for this watch
    notify.instance_changed("hub-1", "key", {"v": 2})
    waiter.join(5)
    assert arrived == [{"k": "key", "v": {"v": 2}}]
    if connection.vendor == "postgresql":
        time.sleep(0.5)
        assert hub_listeners() == 1, "only the fixture's listener is left: the hub closed its own"


def test_notify__a_listen_connection_that_hears_nothing_is_not_trusted(monkeypatch, caplog):
    if connection.vendor != "postgresql":
        pytest.skip("a LISTEN connection is PostgreSQL's")
    from durable.notify import postgres

    # As behind a pooler in transaction mode: LISTEN succeeds, nothing ever arrives.
    monkeypatch.setattr(postgres.PostgresListener, "_probe", lambda self, conn: False)
    deaf = postgres.PostgresListener([notify.TIMERS])
    assert not deaf.healthy and deaf.connection is None
    assert "hears nothing" in caplog.text and "DURABLE_NOTIFY = False" in caplog.text
    assert notify.poll_interval(deaf, 0.05) == 0.05, "its owner polls at the old interval"
    assert deaf.wait(0.01) == [], "and it does not try again at once"
    deaf.close()


def test_notify__a_new_listen_connection_proves_it_hears_before_it_is_trusted(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("a LISTEN connection is PostgreSQL's")
    from durable.notify import postgres

    heard = []
    original = postgres.PostgresListener._probe

    def probe(self, conn):
        heard.append(original(self, conn))
        return heard[-1]

    monkeypatch.setattr(postgres.PostgresListener, "_probe", probe)
    listener = postgres.PostgresListener([notify.TIMERS])
    assert heard == [True] and listener.healthy
    listener.close()

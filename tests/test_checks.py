"""System checks: missing apps, a missing Q_CLUSTER, SQLite settings that would lock; the backstop schedule."""

from __future__ import annotations

import pytest
from django.core import checks as django_checks
from django.test import override_settings
from django_q.models import Schedule

from durable import checks
from durable.worker import schedules


def ids(messages) -> list[str]:
    return sorted(m.id for m in messages)


def test_checks__the_test_project_is_clean():
    assert [m for m in django_checks.run_checks(tags=["durable"]) if m.level >= django_checks.WARNING] == []


def test_checks__missing_apps_are_errors(settings):
    settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a not in ("django_q", "rest_framework")]
    messages = checks.check_apps()
    assert ids(messages) == ["durable.E001", "durable.E001"]
    assert "'django_q' is not in INSTALLED_APPS" in messages[0].msg


def test_checks__missing_q_cluster_is_an_error(settings):
    del settings.Q_CLUSTER
    assert ids(checks.check_cluster()) == ["durable.E002"]


def test_checks__retry_not_above_timeout_warns():
    with override_settings(Q_CLUSTER={"name": "x", "orm": "default", "timeout": 60, "retry": 60}):
        assert ids(checks.check_cluster()) == ["durable.W003"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ["durable.W001", "durable.W002"]),
        ({"transaction_mode": "IMMEDIATE"}, ["durable.W002"]),
        ({"init_command": "PRAGMA journal_mode=WAL"}, ["durable.W001"]),
        ({"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode = WAL;"}, []),
    ],
)
def test_checks__sqlite_without_wal_or_immediate_warns(options, expected):
    db = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3", "OPTIONS": options}
    assert ids(checks.sqlite_messages(db)) == expected


def test_checks__postgres_needs_no_sqlite_settings():
    assert checks.sqlite_messages({"ENGINE": "django.db.backends.postgresql", "NAME": "x"}) == []


@pytest.mark.django_db
def test_backstop__schedule_is_created_once_and_repaired():
    schedules.ensure_backstop()
    schedules.ensure_backstop()
    assert Schedule.objects.filter(name=schedules.BACKSTOP_NAME).count() == 1
    Schedule.objects.filter(name=schedules.BACKSTOP_NAME).update(func="broken", minutes=30)
    schedule = schedules.ensure_backstop()
    assert (schedule.func, schedule.minutes, schedule.schedule_type) == (
        "durable.worker.tasks.sweep",
        1,
        Schedule.MINUTES,
    )


@pytest.mark.django_db
def test_backstop__the_sweep_task_fires_due_timers(drain):
    import datetime as dt

    import durable
    from durable import db
    from durable.models import Status, Timer
    from durable.worker import tasks
    from tests import workflows

    handle = durable.start(workflows.sleeper, 60)
    drain(lambda: handle.status == Status.WAITING_FOR_TIMER)
    # Overdue by more than the grace the backstop leaves a live timer loop (as if no loop ran).
    Timer.objects.filter(instance_id=handle.instance_id).update(due_at=db.now() - dt.timedelta(seconds=5))
    report = tasks.sweep()
    assert report["fired"] == 1
    drain(handle)
    assert handle.status == Status.COMPLETED


def test_checks__postgres_without_conn_max_age_warns():
    from durable.checks import postgres_messages

    engine = "django.db.backends.postgresql"
    assert [m.id for m in postgres_messages({"ENGINE": engine})] == ["durable.W004"]
    assert [m.id for m in postgres_messages({"ENGINE": engine, "CONN_MAX_AGE": 0})] == ["durable.W004"]
    assert postgres_messages({"ENGINE": engine, "CONN_MAX_AGE": 600}) == []
    assert postgres_messages({"ENGINE": "django.db.backends.sqlite3"}) == []


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"completed": 30, "done": 7}, "DURABLE_RETENTION has the key 'done', which is not an ended status."),
        ({"failed": -1}, "DURABLE_RETENTION['failed'] is -1, not a number of days from 0 to 100,000."),
        ({"cancelled": "30"}, "DURABLE_RETENTION['cancelled'] is '30', not a number of days from 0 to 100,000."),
        ({"completed": True}, "DURABLE_RETENTION['completed'] is True, not a number of days from 0 to 100,000."),
        ({"completed": float("nan")}, "DURABLE_RETENTION['completed'] is nan, not a number of days from 0 to 100,000."),
        ([30], "DURABLE_RETENTION must be a dict of days by status, not [30]."),
    ],
)
def test_checks__a_bad_retention_is_an_error_naming_the_key(settings, value, says):
    settings.DURABLE_RETENTION = value
    messages = checks.check_retention()
    assert [(m.id, m.msg) for m in messages] == [("durable.E003", says)]
    assert messages[0].hint


@pytest.mark.parametrize("value", [None, {}, {"completed": 30, "failed": 0.5, "cancelled": 0}])
def test_checks__no_retention_or_days_by_ended_status_is_fine(settings, value):
    settings.DURABLE_RETENTION = value
    assert checks.check_retention() == []


@pytest.mark.django_db
def test_backstop__the_retention_purge_is_scheduled_hourly_and_repaired():
    schedules.ensure_backstop()
    Schedule.objects.filter(name=schedules.PURGE_NAME).update(func="broken", schedule_type=Schedule.DAILY)
    schedules.ensure_backstop()
    rows = Schedule.objects.filter(name=schedules.PURGE_NAME)
    assert list(rows.values_list("func", "schedule_type")) == [("durable.worker.tasks.purge", Schedule.HOURLY)]


@pytest.mark.parametrize("value", [0, -1, 65, 2.5, "2", True])
def test_checks__runner_threads_outside_one_to_sixty_four_is_an_error(settings, value):
    settings.DURABLE_RUNNER_THREADS = value
    messages = checks.check_runner_threads()
    assert [(m.id, m.msg) for m in messages] == [
        ("durable.E006", f"DURABLE_RUNNER_THREADS is {value!r}, not a whole number from 1 to 64.")
    ]


@pytest.mark.parametrize("value", [1, 2, 64])
def test_checks__runner_threads_from_one_to_sixty_four_is_fine(settings, value):
    settings.DURABLE_RUNNER_THREADS = value
    assert checks.check_runner_threads() == []

"""durable.erase: an ended instance's data replaced in place by "[erased]", its structure kept, nothing else touched."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.db import connection

import durable
from durable import erasure, journal
from durable.models import Delivery, Event, EventKey, HistoryStep, PublishedValue, Status, WorkflowInstance
from tests import erasure_workflows as ew

pytestmark = pytest.mark.django_db

MARKER = "Erase-Me-7f3a"
EMAIL = f"{MARKER}@example.org"
KEPT = "Kept-By-Bo-91c2"
TIMELINE = ("position", "kind", "name", "status", "attempt", "started_at", "recorded_at", "retry_at")


def searched_models() -> list:
    """Every model of the durable app, django_q's, and the admin log: the tables erasure must leave clean."""
    from django.contrib.admin.models import LogEntry

    found = [*apps.get_app_config("durable").get_models(), *apps.get_app_config("django_q").get_models(), LogEntry]
    return [model for model in found if not model._meta.proxy]


def _text(value) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else json.dumps(value, default=str)


def holding(marker: str) -> list[str]:
    """Where `marker` occurs: "table.column" for each hit in the raw rows, and in the ORM's decoded
    values (django_q keeps task arguments and results pickled, its queue signed)."""
    hits = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in searched_models():
            table = model._meta.db_table
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608 - a table name of our own models
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                hits += [
                    f"{table}.{column}" for column, value in zip(columns, row, strict=True) if marker in _text(value)
                ]
    for model in searched_models():
        for obj in model._base_manager.all():
            for field in model._meta.concrete_fields:
                if marker in repr(getattr(obj, field.attname)):
                    hits.append(f"{model._meta.db_table}.{field.attname} (decoded)")
            if hasattr(obj, "task") and callable(obj.task) and marker in repr(obj.task()):
                hits.append(f"{model._meta.db_table} task (decoded)")
    return sorted(set(hits))


def timeline(instance_id: str) -> list[tuple]:
    return list(HistoryStep.objects.filter(instance_id=instance_id).order_by("position").values_list(*TIMELINE))


def completed_subject(drain, key: str | None = "auth.user:42", email: str = EMAIL) -> str:
    handle = durable.start(ew.subject, email, business_key=key)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    durable.send_event("erasure.confirmed", "/test", {"email": email, "note": f"confirmed {email}"})
    drain(lambda: handle.status == Status.COMPLETED)
    return handle.instance_id


def waiting(drain, topic: str, key: str | None = None) -> str:
    handle = durable.start(ew.waits, topic, business_key=key)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    return handle.instance_id


# What is replaced, what stays -------------------------------------------------------------------


def test_erase__every_payload_becomes_the_marker_and_the_timeline_stays(drain):
    instance_id = completed_subject(drain)
    before = timeline(instance_id)
    assert {h.split(".")[0] for h in holding(MARKER)} >= {"durable_instance", "durable_history", "durable_value"}
    assert "durable_event.data" in holding(MARKER)

    done = durable.erase(instance_id, "GDPR request 17")

    assert done.erased == [instance_id] and done.already == []
    assert holding(MARKER) == []
    assert timeline(instance_id) == before
    assert [kind for _, kind, *_ in before] == ["activity", "activity", "set_event", "wait_event", "send_event"]
    row = WorkflowInstance.objects.get(pk=instance_id)
    assert row.status == Status.COMPLETED and row.business_key == "auth.user:42"
    assert row.erased_at is not None and row.erase_reason == "GDPR request 17"
    assert row.input == row.result == erasure.MARKER
    steps = HistoryStep.objects.filter(instance_id=instance_id).order_by("position")
    assert all(step.result == erasure.MARKER for step in steps)
    flaky = steps.get(name="erasure.flaky")
    assert [set(f) for f in flaky.failures] == [{"attempt", "type", "message", "at"}]
    assert flaky.failures[0]["attempt"] == 1 and flaky.failures[0]["message"] == erasure.MARKER
    assert PublishedValue.objects.get(instance_id=instance_id, key="profile").value == erasure.MARKER
    # The events it received and sent: data gone, attributes and deliveries kept, keys gone.
    assert set(Event.objects.values_list("type", "data")) == {
        ("erasure.confirmed", erasure.MARKER),
        ("erasure.sent", erasure.MARKER),
    }
    assert Delivery.objects.filter(instance_id=instance_id).count() == 1
    assert not EventKey.objects.exists()
    assert durable.get_handle(instance_id).result() == erasure.MARKER


def test_erase__a_failed_instance_loses_its_error_and_is_never_retried(drain):
    handle = durable.start(ew.fails, EMAIL)
    drain(handle)
    assert handle.status == Status.FAILED
    durable.erase(handle.instance_id)
    assert holding(MARKER) == []
    row = WorkflowInstance.objects.get(pk=handle.instance_id)
    assert row.error == erasure.MARKER
    assert [set(i) for i in row.incidents] == [{"kind", "at", "error_type", "message"}]
    assert row.incidents[0]["kind"] == "failed" and row.incidents[0]["message"] == erasure.MARKER
    with pytest.raises(durable.WorkflowFailed):
        handle.result()
    with pytest.raises(durable.InvalidTransition, match="erased"):
        durable.retry(handle.instance_id)
    assert handle.status == Status.FAILED


def test_erase__an_event_shared_with_an_instance_not_erased_keeps_its_data(drain):
    ann, bo = waiting(drain, "t-1", "ann"), waiting(drain, "t-1", "bo")
    durable.send_event("erasure.shared", "/test", {"topic": "t-1", "note": KEPT})
    drain(lambda: {r.status for r in WorkflowInstance.objects.all()} == {Status.COMPLETED})
    assert Delivery.objects.filter(instance_id__in=[ann, bo]).count() == 2

    durable.erase(ann)

    event = Event.objects.get(type="erasure.shared")
    assert event.data == {"topic": "t-1", "note": KEPT}
    assert KEPT in json.dumps(WorkflowInstance.objects.get(pk=bo).result)
    assert KEPT not in json.dumps(list(HistoryStep.objects.filter(instance_id=ann).values("result")))
    # Once the other one is erased too, the event is delivered only to erased instances.
    durable.erase(bo)
    assert holding(KEPT) == []


def test_erase__an_event_addressed_to_it_and_never_taken_is_erased(drain):
    instance_id = waiting(drain, "t-2")
    durable.send_event("erasure.other", "/test", {"note": MARKER}, instance_id=instance_id)
    durable.cancel(instance_id)
    durable.erase(instance_id)
    event = Event.objects.get(type="erasure.other")
    assert event.data == erasure.MARKER and event.extensions == {"durableinstanceid": instance_id}
    assert holding(MARKER) == []


# Active, idempotent, by key --------------------------------------------------------------------


def test_erase__an_active_instance_is_refused_and_left_as_it_was(drain):
    instance_id = waiting(drain, MARKER)
    with pytest.raises(durable.InvalidTransition, match="not ended"):
        durable.erase(instance_id)
    row = WorkflowInstance.objects.get(pk=instance_id)
    assert row.status == Status.WAITING_FOR_EVENT and row.erase_reason is None and row.erased_at is None
    assert row.input == {"args": [MARKER], "kwargs": {}}


def test_erase__cancel_true_cancels_an_active_instance_then_erases_it(drain):
    instance_id = waiting(drain, MARKER)
    durable.erase(instance_id, "asked", cancel=True)
    row = WorkflowInstance.objects.get(pk=instance_id)
    assert row.status == Status.CANCELLED and row.erased_at is not None
    assert row.status_reason == erasure.MARKER
    assert not row.waits.exists() and not row.timers.exists()
    assert holding(MARKER) == []


def test_erase__a_second_erase_changes_nothing(drain):
    instance_id = completed_subject(drain)
    durable.erase(instance_id, "first")
    before = WorkflowInstance.objects.filter(pk=instance_id).values().get()
    steps = list(HistoryStep.objects.filter(instance_id=instance_id).values())
    again = durable.erase(instance_id, "second", cancel=True)
    assert again.erased == [] and again.already == [instance_id]
    assert WorkflowInstance.objects.filter(pk=instance_id).values().get() == before
    assert list(HistoryStep.objects.filter(instance_id=instance_id).values()) == steps


def test_erase__records_the_erased_hook_once_and_its_run_sees_only_the_marker(drain):
    from durable.models import HookRun
    from durable.testing import run_hooks
    from tests.testapp.models import Ledger

    instance_id = completed_subject(drain)
    durable.erase(instance_id, "first")
    durable.erase(instance_id, "again")
    (row,) = HookRun.objects.filter(instance_id=instance_id, trigger="erased")
    assert row.hook_name == "tests.erasure_workflows.forget_elsewhere"
    assert run_hooks() == 1
    assert list(
        Ledger.objects.filter(instance_id=instance_id, step__startswith="erased:").values_list("step", flat=True)
    ) == ["erased:completed:True"]


def test_erase__by_business_key_erases_that_key_only(drain):
    first = completed_subject(drain, key="auth.user:42")
    second = completed_subject(drain, key="auth.user:42", email=f"second-{EMAIL}")
    active = waiting(drain, MARKER, key="auth.user:42")
    other_key = completed_subject(drain, key="auth.user:43", email="bo@example.org")
    no_key = completed_subject(drain, key=None, email="cy@example.org")

    with pytest.raises(durable.InvalidTransition, match=active):
        durable.erase(business_key="auth.user:42")
    assert not WorkflowInstance.objects.filter(erase_reason__isnull=False).exists()

    done = durable.erase(business_key="auth.user:42", reason="account closed", cancel=True)

    assert sorted(done.erased) == sorted([first, second, active])
    assert holding(MARKER) == []
    erased = set(WorkflowInstance.objects.filter(erased_at__isnull=False).values_list("pk", flat=True))
    assert erased == {first, second, active}
    for untouched in (other_key, no_key):
        row = WorkflowInstance.objects.get(pk=untouched)
        assert row.erase_reason is None and row.input != erasure.MARKER
        assert erasure.MARKER not in json.dumps(
            list(HistoryStep.objects.filter(instance_id=untouched).values("result"))
        )
    assert durable.erase(business_key="nobody").instance_ids == []


# In bounded batches, and finished after an interruption --------------------------------------


def test_erase__history_goes_in_batches_and_an_interrupted_erase_is_finished_by_the_next(drain, monkeypatch):
    instance_id = completed_subject(drain)
    monkeypatch.setattr(journal, "ERASE_BATCH", 2)
    calls = []
    real = journal.erase_steps

    def broken(*args, **kwargs):
        if args[1] > 2:
            raise RuntimeError("database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(journal, "erase_steps", lambda *a, **k: calls.append(a[1]) or broken(*a, **k))
    with pytest.raises(RuntimeError):
        durable.erase(instance_id, "first try")
    assert calls == [-1, 1, 3]  # two steps a batch: the third batch failed
    row = WorkflowInstance.objects.get(pk=instance_id)
    assert row.erase_reason == "first try" and row.erased_at is None
    with pytest.raises(durable.InvalidTransition):
        durable.retry(instance_id)
    monkeypatch.setattr(journal, "erase_steps", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    assert durable.erase(instance_id, "second try").erased == [instance_id]
    assert calls == [-1, 1, 3, -1, 1, 3, 4]
    assert holding(MARKER) == []


# Bad input ---------------------------------------------------------------------------------------


def test_erase__bad_arguments_are_refused():
    with pytest.raises(durable.InstanceNotFound):
        durable.erase("no-such-instance")
    with pytest.raises(durable.InvalidArgument, match="exactly one"):
        durable.erase()
    with pytest.raises(durable.InvalidArgument, match="exactly one"):
        durable.erase("x", business_key="y")
    with pytest.raises(durable.InvalidArgument, match="control character"):
        durable.erase("x", "bad\x00reason")
    with pytest.raises(durable.InvalidArgument):
        durable.erase(business_key="")

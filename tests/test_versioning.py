"""Versioning on the real database: ctx.patched across a code switch, DURABLE_CODE_VERSION on every
start path, ctx.set_details persisted with the run, and wait labels stored with waits and timers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

import durable
from durable import bulk_filters, inspect, schedules, slots
from durable.exceptions import InvalidArgument
from durable.models import HistoryStep, Schedule, Status, Timer, Wait, WorkflowInstance
from durable.run.backend import OrmBackend
from durable.words import waiting_words
from tests import version_workflows as vw
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def old_code():
    vw.CODE["mode"] = vw.OLD
    yield
    vw.CODE["mode"] = vw.OLD


def steps(instance_id: str) -> list[tuple[str, str]]:
    rows = HistoryStep.objects.filter(instance_id=instance_id).order_by("position")
    return list(rows.values_list("kind", "name"))


def ledger(instance_id: str) -> list[str]:
    return list(Ledger.objects.filter(instance_id=instance_id).order_by("pk").values_list("step", flat=True))


def status(instance_id: str) -> str:
    return WorkflowInstance.objects.get(id=instance_id).status


def send(event_type: str, order: str) -> None:
    durable.send_event(event_type, "/tests/versioning", {"order": order})


def at_second_wait(*ids: str):
    def check() -> bool:
        return all(len(steps(pk)) >= 3 and status(pk) == Status.WAITING_FOR_EVENT for pk in ids)

    return check


@pytest.fixture
def both(drain) -> tuple[str, str]:
    """One instance started by the old code and one by the patched code, both past their first
    wait (so each has replayed its history once with the patched code) and at their second."""
    durable.start(vw.receipt, "o-1", instance_id="before")
    drain(lambda: status("before") == Status.WAITING_FOR_EVENT)
    vw.CODE["mode"] = vw.PATCHED  # the deploy
    durable.start(vw.receipt, "o-2", instance_id="after")
    drain(lambda: status("after") == Status.WAITING_FOR_EVENT)
    send("versiontest.go", "o-1")
    send("versiontest.go", "o-2")
    drain(at_second_wait("before", "after"))
    return "before", "after"


NOTE, SMS, GO, DONE = "versiontest.note", "versiontest.send_sms", "versiontest.go", "versiontest.done"


def test_patched__started_before_the_change_takes_the_old_branch_started_after_the_new(both):
    assert steps("before") == [("activity", NOTE), ("wait_event", GO), ("activity", NOTE)]
    assert ledger("before") == ["email", "email-confirm"]
    assert steps("after") == [("patch", vw.CHANGE), ("activity", SMS), ("wait_event", GO), ("activity", NOTE)]
    assert ledger("after") == ["sms", "sms-confirm"]


def test_patched__replaying_each_history_again_is_clean(both, drain):
    send("versiontest.done", "o-1")
    send("versiontest.done", "o-2")
    drain(lambda: status("before") == status("after") == Status.COMPLETED)
    assert durable.get_handle("before").result() == {"channel": "email", "mode": vw.PATCHED}
    assert durable.get_handle("after").result() == {"channel": "sms", "mode": vw.PATCHED}
    # Nothing ran twice, and no second marker was recorded by the replays.
    assert ledger("before") == ["email", "email-confirm"] and ledger("after") == ["sms", "sms-confirm"]
    assert [kind for kind, _ in steps("after")].count("patch") == 1
    assert [kind for kind, _ in steps("before")].count("patch") == 0


def test_patched__the_replay_check_passes_both_histories_and_catches_a_deprecation_too_early(both):
    from durable import testing

    # The check runs the deployed (patched) code over both histories without running a step.
    for pk in both:
        assert testing.replay(pk).verdict == "match", pk
    vw.CODE["mode"] = vw.DEPRECATED  # the deprecation, checked before it is deployed
    assert testing.replay("after").verdict == "match"
    with pytest.raises(durable.NonDeterminismError, match=f"history has activity '{NOTE}'"):
        testing.replay("before")
    assert ledger("before") == ["email", "email-confirm"] and ledger("after") == ["sms", "sms-confirm"]


def test_deprecate_patch__replays_a_marked_history_and_records_no_marker(both, drain):
    vw.CODE["mode"] = vw.DEPRECATED  # every old instance has ended... but for "before", see below
    send("versiontest.done", "o-2")
    durable.start(vw.receipt, "o-3", instance_id="later")
    drain(lambda: status("after") == Status.COMPLETED and status("later") == Status.WAITING_FOR_EVENT)
    assert durable.get_handle("after").result() == {"channel": "sms", "mode": vw.DEPRECATED}
    assert steps("later") == [("activity", SMS)]
    assert ledger("later") == ["sms"]


def test_deprecate_patch__over_a_history_from_before_the_change_is_caught_as_nondeterminism(both, drain):
    vw.CODE["mode"] = vw.DEPRECATED  # too early: "before" still runs the old branch
    send("versiontest.done", "o-1")
    drain(lambda: status("before") == Status.PAUSED)
    row = WorkflowInstance.objects.get(id="before")
    assert row.error["type"] == "NonDeterminismError"
    assert f"history has activity '{NOTE}' but the code called activity '{SMS}'" in row.status_reason
    assert ledger("before") == ["email", "email-confirm"]


def test_patched__an_instance_resumed_while_the_old_code_sleeps_there_stays_on_the_old_side(drain):
    durable.start(vw.nap, instance_id="napping")
    drain(lambda: status("napping") == Status.WAITING_FOR_TIMER)
    durable.pause("napping", "deploying")
    vw.CODE["mode"] = vw.PATCHED
    durable.resume("napping")
    drain(lambda: status("napping") == Status.WAITING_FOR_TIMER)
    # Its sleep's timer sits at the position patched() is called at: no marker, the same timer.
    assert steps("napping") == [] and ledger("napping") == []
    assert list(Timer.objects.filter(instance_id="napping").values_list("position", "purpose")) == [(0, "sleep")]
    Timer.objects.filter(instance_id="napping").update(due_at=timezone.now())
    drain(lambda: status("napping") == Status.COMPLETED)
    assert steps("napping") == [("sleep", "sleep")] and durable.get_handle("napping").result() == "rested"
    # A new instance takes the new code.
    durable.start(vw.nap, instance_id="fresh")
    drain(lambda: status("fresh") == Status.WAITING_FOR_TIMER)
    assert steps("fresh") == [("patch", "note-before-nap"), ("activity", NOTE)]


@pytest.mark.parametrize("workflow", [vw.bad_patch, vw.bad_deprecate])
@pytest.mark.parametrize("bad", ["", "  ", 5, None])
def test_patched__a_bad_change_id_fails_the_instance_clearly_and_records_nothing(drain, workflow, bad):
    handle = durable.start(workflow, bad)
    drain(handle)
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.FAILED
    assert row.error["type"] == "InvalidArgument"
    assert "needs a change id: a non-empty str" in row.error["message"]
    assert steps(handle.instance_id) == []


# DURABLE_CODE_VERSION ---------------------------------------------------------------------------


def code_version(instance_id: str) -> str | None:
    return WorkflowInstance.objects.get(id=instance_id).code_version


def test_code_version__recorded_by_every_way_an_instance_starts(settings, drain, client):
    settings.DURABLE_CODE_VERSION = "2026.12.1-abc123"
    assert code_version(durable.start(vw.quick).instance_id) == "2026.12.1-abc123"
    assert code_version(durable.start(vw.quick, start_in=dt.timedelta(hours=1)).instance_id) == "2026.12.1-abc123"
    durable.send_event("versiontest.kickoff", "/tests/versioning", {})
    started = WorkflowInstance.objects.get(workflow_name="versiontest.started_by_event")
    assert started.code_version == "2026.12.1-abc123"
    schedules.create("nightly-quick", "versiontest.quick", cron="0 3 * * *")
    first = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    Schedule.objects.filter(name="nightly-quick").update(next_slot_at=first)
    assert slots.fire_due(first + dt.timedelta(seconds=1)) == 1
    assert WorkflowInstance.objects.get(schedule_name="nightly-quick").code_version == "2026.12.1-abc123"
    settings.DURABLE_CODE_VERSION = "2026.12.2"
    drain()  # runs do not move an instance to the code that runs it: it keeps where it started
    assert set(WorkflowInstance.objects.values_list("code_version", flat=True)) == {"2026.12.1-abc123"}


def test_code_version__none_when_unset_or_empty(settings):
    assert code_version(durable.start(vw.quick).instance_id) is None
    settings.DURABLE_CODE_VERSION = ""
    assert code_version(durable.start(vw.quick).instance_id) is None


@pytest.mark.parametrize("bad", ["v" * 201, "v1\n", 12])
def test_code_version__a_bad_setting_is_refused_and_starts_nothing(settings, bad):
    settings.DURABLE_CODE_VERSION = bad
    with pytest.raises(ImproperlyConfigured, match="DURABLE_CODE_VERSION must be"):
        durable.start(vw.quick)
    assert not WorkflowInstance.objects.exists()


def test_code_version__the_list_query_and_the_bulk_filters_select_by_it(settings):
    settings.DURABLE_CODE_VERSION = "v1"
    old = durable.start(vw.quick).instance_id
    settings.DURABLE_CODE_VERSION = "v2"
    new = durable.start(vw.quick).instance_id
    assert [row.instance_id for row in inspect.list_instances(code_version="v1").rows] == [old]
    assert inspect.summary(new).code_version == "v2"
    cleaned = bulk_filters.clean({"code_version": "v2"})
    assert cleaned == {"code_version": "v2"}
    assert list(bulk_filters.matching(cleaned).values_list("id", flat=True)) == [new]
    with pytest.raises(InvalidArgument, match="code_version must be a non-empty plain string"):
        bulk_filters.clean({"code_version": "v" * 201})


# set_details and labels ---------------------------------------------------------------------------


def test_set_details__the_latest_is_kept_and_a_replay_writes_none_of_the_old_ones(drain, monkeypatch):
    durable.start(vw.progress, "o-1", instance_id="p-1")
    drain(lambda: status("p-1") == Status.WAITING_FOR_EVENT)
    assert WorkflowInstance.objects.get(id="p-1").details == "order o-1: waiting for the manager"
    handed: list[str] = []
    original = OrmBackend.set_details

    def spy(self, text: str) -> None:
        handed.append(text)
        original(self, text)

    monkeypatch.setattr(OrmBackend, "set_details", spy)
    send("versiontest.approved", "o-1")
    drain(lambda: status("p-1") == Status.WAITING_FOR_TIMER)
    # The replay went past "reserving stock" and the first wait's text without handing them over.
    assert handed == ["shipping soon"]
    assert WorkflowInstance.objects.get(id="p-1").details == "shipping soon"
    assert ledger("p-1") == ["reserve"]


def test_labels__stored_with_the_wait_its_timeout_and_a_sleep_and_said_in_waiting_for(drain):
    durable.start(vw.progress, "o-1", instance_id="p-2")
    drain(lambda: status("p-2") == Status.WAITING_FOR_EVENT)
    assert list(Wait.objects.filter(instance_id="p-2").values_list("label", flat=True)) == ["manager approval"]
    assert list(Timer.objects.filter(instance_id="p-2").values_list("purpose", "label")) == [
        ("timeout", "manager approval")
    ]
    row = WorkflowInstance.objects.get(id="p-2")
    assert row.waiting_for["label"] == "manager approval"
    said = waiting_words(row.waiting_for, timezone.now())
    assert said.startswith("manager approval: versiontest.approved where order=o-1, times out in 59m")
    # The label is not part of the history: the step is named by its event type.
    send("versiontest.approved", "o-1")
    drain(lambda: status("p-2") == Status.WAITING_FOR_TIMER)
    assert steps("p-2")[1] == ("wait_event", "versiontest.approved")
    assert list(Timer.objects.filter(instance_id="p-2").values_list("purpose", "label")) == [
        ("sleep", "cooling-off period")
    ]
    row = WorkflowInstance.objects.get(id="p-2")
    assert waiting_words(row.waiting_for, timezone.now()).startswith("cooling-off period: timer due in")


@pytest.mark.parametrize(("workflow", "bad"), [(vw.bad_details, 42), (vw.bad_details, "x" * 501), (vw.bad_label, "")])
def test_set_details_and_labels__bad_values_fail_the_instance_clearly(drain, workflow, bad):
    handle = durable.start(workflow, bad)
    drain(handle)
    row = WorkflowInstance.objects.get(id=handle.instance_id)
    assert row.status == Status.FAILED and row.error["type"] == "InvalidArgument"
    assert row.details == "" and not Timer.objects.filter(instance_id=row.id).exists()

"""The Schedules page: the list, pause/resume/trigger actions with their permissions and admin log, add/edit
of runtime schedules with a validated cron, code schedules read-only, and the instance page's link."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from durable import schedules
from durable.models import Schedule, WorkflowInstance
from tests.admin.conftest import VIEWS, staff

pytestmark = pytest.mark.django_db
LIST = "/admin/durable/schedule/"
SCHEDULE_VIEW = ("view_schedule",)
ALL = SCHEDULE_VIEW + ("add_schedule", "change_schedule", "pause_schedule", "resume_schedule", "trigger_schedule")


@pytest.fixture
def nightly():
    return schedules.create("nightly", "scheduled_report", cron="0 3 * * *", timezone="Europe/Berlin")


def _login(client, codenames):
    client.force_login(staff("someone", VIEWS + codenames))
    return client


def test_list__shows_the_cron_in_words_timezone_and_state(client, nightly):
    page = _login(client, SCHEDULE_VIEW).get(LIST).content.decode()
    assert "nightly" in page and "At 03:00 AM (0 3 * * *)" in page and "Europe/Berlin" in page and "active" in page
    # Without the operation permissions the actions are not offered.
    assert 'value="pause"' not in page and 'value="trigger"' not in page


def test_actions__pause_resume_trigger_are_logged(client, nightly):
    client = _login(client, ALL)
    client.post(LIST, {"action": "pause", "_selected_action": ["nightly"]})
    assert Schedule.objects.get(name="nightly").paused
    client.post(LIST, {"action": "resume", "_selected_action": ["nightly"]})
    assert not Schedule.objects.get(name="nightly").paused
    answer = client.post(LIST, {"action": "trigger", "_selected_action": ["nightly"]}, follow=True)
    run = WorkflowInstance.objects.get(schedule_name="nightly")
    assert f"nightly → {run.id}" in answer.content.decode()
    notes = list(LogEntry.objects.filter(object_id="nightly").values_list("change_message", flat=True))
    assert notes == [f"trigger (instance {run.id})", "resume", "pause"]


def test_actions__without_permission_are_refused_and_change_nothing(client, nightly):
    client = _login(client, SCHEDULE_VIEW)
    client.post(LIST, {"action": "pause", "_selected_action": ["nightly"]})
    client.post(LIST, {"action": "trigger", "_selected_action": ["nightly"]})
    assert not Schedule.objects.get(name="nightly").paused and not WorkflowInstance.objects.exists()


def _form(**changes):
    data = {
        "name": "hourly",
        "workflow_name": "scheduled_report",
        "cron": "0 * * * *",
        "timezone": "UTC",
        "args": "[]",
        "kwargs": "{}",
        "overlap": "skip",
        "catchup": "latest",
        "catchup_window": "1 00:00:00",
    }
    return data | changes


def test_add__a_runtime_schedule_with_its_next_slot(client):
    answer = _login(client, ALL).post(f"{LIST}add/", _form())
    assert answer.status_code == 302
    row = Schedule.objects.get(name="hourly")
    assert row.source == "runtime" and row.next_slot_at is not None and row.next_slot_at.minute == 0


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"cron": "0 25 * * *"}, "Invalid cron"),
        ({"timezone": "Mars/Base"}, "Unknown timezone"),
        ({"name": "two words"}, "is invalid"),
        ({"kwargs": '{"nope": 1}'}, "do not fit"),
    ],
)
def test_add__bad_input_is_a_form_error_and_stores_nothing(client, changes, says):
    answer = _login(client, ALL).post(f"{LIST}add/", _form(**changes))
    assert answer.status_code == 200 and says in answer.content.decode()
    assert not Schedule.objects.exists()


def test_edit__a_new_cron_moves_the_next_slot(client, nightly):
    _login(client, ALL).post(f"{LIST}nightly/change/", _form(name="nightly", cron="30 4 * * *", timezone="UTC"))
    row = Schedule.objects.get(name="nightly")
    assert row.cron == "30 4 * * *" and (row.next_slot_at.hour, row.next_slot_at.minute) == (4, 30)


def test_code_schedule__is_read_only_but_can_be_paused(client):
    schedules.sync_code()
    client = _login(client, ALL)
    page = client.get(f"{LIST}new_year/change/").content.decode()
    assert 'name="cron"' not in page  # shown, not editable
    client.post(f"{LIST}new_year/change/", _form(name="new_year", cron="* * * * *"))
    assert Schedule.objects.get(name="new_year").cron == "0 3 1 1 *"
    client.post(LIST, {"action": "pause", "_selected_action": ["new_year"]})
    assert Schedule.objects.get(name="new_year").paused


def test_instance_page__links_to_its_schedule(client, nightly):
    instance_id = schedules.trigger("nightly")
    client = _login(client, ALL)
    page = client.get(f"/admin/durable/workflowinstance/{instance_id}/change/").content.decode()
    assert f'href="{LIST}nightly/change/"' in page

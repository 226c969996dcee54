"""The admin's "Erase data": a confirmation page naming the instances, then the erasure, checked and logged."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages

from durable import erasure
from durable.models import Status, WorkflowInstance
from tests.admin.conftest import VIEWS, staff
from tests.test_erasure import EMAIL, MARKER, completed_subject, holding, waiting

pytestmark = pytest.mark.django_db

LIST = "/admin/durable/workflowinstance/"


@pytest.fixture
def eraser_client(client):
    client.force_login(staff("eraser", (*VIEWS, "erase_workflowinstance", "cancel_workflowinstance")))
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def notes(instance_id: str) -> list[str]:
    rows = LogEntry.objects.filter(object_id=instance_id, action_flag=CHANGE).order_by("action_time", "pk")
    return list(rows.values_list("change_message", flat=True))


def select(client, *instance_ids: str, **extra):
    return client.post(LIST, {"action": "erase_selected", "_selected_action": list(instance_ids), **extra})


def test_action__asks_first_naming_the_instances_then_erases_and_logs(eraser_client, drain):
    first, second = completed_subject(drain), completed_subject(drain, email=f"two-{EMAIL}")
    # An earlier operation's log entry quotes the data: the erasure replaces its message.
    blocked = waiting(drain, "t-9", key="auth.user:42")
    eraser_client.post(f"{LIST}{blocked}/operate/cancel/", {"reason": f"{EMAIL} asked"})
    assert any(MARKER in note for note in notes(blocked))

    page = select(eraser_client, first, second, blocked)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Erase the data of 3 instances?" in html
    assert all(pk in html for pk in (first, second, blocked))
    assert 'name="post" value="yes"' in html and 'value="erase_selected"' in html
    assert not WorkflowInstance.objects.filter(erase_reason__isnull=False).exists()

    done = select(eraser_client, first, second, blocked, post="yes", reason="ticket 9")
    assert done.status_code == 302
    assert "Erased the data of 3 instances." in messages_of(done)
    assert holding(MARKER) == []
    for pk in (first, second):
        assert notes(pk) == ["Erased its data from the admin: ticket 9"]
    assert notes(blocked) == [erasure.MARKER, "Erased its data from the admin: ticket 9"]
    again = select(eraser_client, first, post="yes")
    assert "1 instance was erased already." in messages_of(again)
    assert len(notes(first)) == 1


def test_action__an_active_instance_is_refused_unless_cancel_is_ticked(eraser_client, drain):
    active = waiting(drain, MARKER)
    page = select(eraser_client, active)
    assert "active: refused unless cancelled first" in page.content.decode()
    assert 'name="cancel"' in page.content.decode()
    refused = select(eraser_client, active, post="yes")
    assert any("has not ended" in m for m in messages_of(refused))
    assert WorkflowInstance.objects.get(pk=active).status == Status.WAITING_FOR_EVENT
    done = select(eraser_client, active, post="yes", cancel="on")
    assert "Erased the data of 1 instance." in messages_of(done)
    assert WorkflowInstance.objects.get(pk=active).status == Status.CANCELLED
    assert holding(MARKER) == []


def test_page__erase_link_confirmation_and_what_the_page_shows_after(eraser_client, drain):
    instance_id = completed_subject(drain)
    page = eraser_client.get(f"{LIST}{instance_id}/change/").content.decode()
    assert f"{LIST}{instance_id}/erase/" in page
    confirm = eraser_client.get(f"{LIST}{instance_id}/erase/")
    assert confirm.status_code == 200 and instance_id in confirm.content.decode()
    assert 'value="erase_selected"' not in confirm.content.decode()
    assert WorkflowInstance.objects.get(pk=instance_id).erase_reason is None
    done = eraser_client.post(f"{LIST}{instance_id}/erase/", {"post": "yes", "reason": "asked by mail"})
    assert done.status_code == 302 and done["Location"].endswith(f"{instance_id}/change/")
    shown = eraser_client.get(f"{LIST}{instance_id}/change/")
    assert shown.status_code == 200
    html = shown.content.decode()
    assert "data erased" in html and "asked by mail" in html and erasure.MARKER in html
    assert f"{LIST}{instance_id}/erase/" not in html  # nothing left to erase
    listing = eraser_client.get(LIST).content.decode()
    assert 'class="durable-quiet durable-erased" title="data erased ' in listing and ': asked by mail"' in listing
    assert eraser_client.get(f"{LIST}no-such/erase/").status_code == 302


def test_viewer__is_offered_no_erasure_and_is_refused(viewer_client, drain):
    instance_id = completed_subject(drain)
    assert "erase_selected" not in viewer_client.get(LIST).content.decode()
    assert f"{instance_id}/erase/" not in viewer_client.get(f"{LIST}{instance_id}/change/").content.decode()
    assert viewer_client.get(f"{LIST}{instance_id}/erase/").status_code == 403
    assert viewer_client.post(f"{LIST}{instance_id}/erase/", {"post": "yes"}).status_code == 403
    # The action itself, posted by hand: Django refuses an action the user may not run.
    select(viewer_client, instance_id, post="yes")
    assert WorkflowInstance.objects.get(pk=instance_id).erase_reason is None
    assert not LogEntry.objects.exists()


def test_failed_erased_instance_page_renders(eraser_client, drain):
    import durable
    from tests import erasure_workflows as ew

    handle = durable.start(ew.fails, EMAIL)
    drain(handle)
    durable.erase(handle.instance_id)
    page = eraser_client.get(f"{LIST}{handle.instance_id}/change/")
    assert page.status_code == 200 and MARKER not in page.content.decode()

"""Operations from the admin: permission-checked, written to the admin log, calling durable.client."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.messages import get_messages

import durable
from durable.models import Delivery, Event, Status, WorkflowInstance
from tests import admin_workflows
from tests.admin.conftest import VIEWS, staff

pytestmark = pytest.mark.django_db

LIST = "/admin/durable/workflowinstance/"


def operate(client, instance_id: str, operation: str, **data):
    return client.post(f"{LIST}{instance_id}/operate/{operation}/", data)


def send(client, instance_id: str, **fields):
    data = {"type": "payment.completed", "source": "/durable/admin", "subject": "", "event_data": "{}"} | fields
    return client.post(f"{LIST}{instance_id}/send-event/", data)


def status(instance_id: str) -> str:
    return WorkflowInstance.objects.get(pk=instance_id).status


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def log_of(instance_id: str) -> list[str]:
    entries = LogEntry.objects.filter(object_id=instance_id, action_flag=CHANGE).order_by("action_time", "pk")
    return [entry.get_change_message() for entry in entries]


# Without permission ----------------------------------------------------------------------------


def test_viewer__sees_no_operations_no_actions_no_form(viewer_client, waiting_order):
    listing = viewer_client.get(LIST)
    assert listing.status_code == 200
    assert 'name="action"' not in listing.content.decode()
    page = viewer_client.get(f"{LIST}{waiting_order.pk}/change/")
    body = page.content.decode().replace("<wbr>", "")
    assert page.status_code == 200 and "payment.completed where order_id=o-1" in body
    assert "durable-operations" not in body and "send-event-form" not in body


@pytest.mark.parametrize("operation", ["cancel", "pause", "resume", "retry"])
def test_viewer__operations_are_refused(viewer_client, waiting_order, operation):
    assert operate(viewer_client, waiting_order.pk, operation).status_code == 403
    assert status(waiting_order.pk) == Status.WAITING_FOR_EVENT
    assert not LogEntry.objects.exists()


def test_viewer__sending_an_event_is_refused(viewer_client, waiting_order):
    assert send(viewer_client, waiting_order.pk, event_data='{"order_id": "o-1"}').status_code == 403
    assert not Event.objects.exists()


def test_viewer__bulk_action_is_refused(viewer_client, waiting_order):
    viewer_client.post(LIST, {"action": "cancel_selected", "_selected_action": [waiting_order.pk], "index": 0})
    assert status(waiting_order.pk) == Status.WAITING_FOR_EVENT
    assert not LogEntry.objects.exists()


def test_partial_permissions__only_the_granted_operation_is_offered(client, waiting_order):
    client.force_login(staff("canceller", (*VIEWS, "cancel_workflowinstance")))
    page = client.get(f"{LIST}{waiting_order.pk}/change/")
    assert [op.name for op in page.context["operations"]] == ["cancel"]
    assert page.context["send_form"] is None
    actions = [name for name, _ in client.get(LIST).context["action_form"].fields["action"].choices if name]
    assert actions == ["cancel_selected"]
    assert operate(client, waiting_order.pk, "pause").status_code == 403
    assert operate(client, waiting_order.pk, "cancel").status_code == 302
    assert status(waiting_order.pk) == Status.CANCELLED


def test_operation_without_view_permission_is_refused(client, waiting_order):
    client.force_login(staff("blind", ("cancel_workflowinstance",)))
    assert operate(client, waiting_order.pk, "cancel").status_code == 403
    assert status(waiting_order.pk) == Status.WAITING_FOR_EVENT


# With permission -------------------------------------------------------------------------------


def test_cancel__with_a_reason_is_applied_logged_and_reported(operator_client, waiting_order):
    response = operate(operator_client, waiting_order.pk, "cancel", reason="customer gave up")
    assert response.status_code == 302 and response["Location"] == f"{LIST}order-o-1/change/"
    instance = WorkflowInstance.objects.get(pk=waiting_order.pk)
    assert (instance.status, instance.status_reason) == (Status.CANCELLED, "customer gave up")
    assert not instance.waits.exists() and not instance.timers.exists()
    assert log_of(waiting_order.pk) == ["Cancelled from the admin: customer gave up"]
    assert LogEntry.objects.get().user.username == "operator"
    assert messages_of(response) == ["Cancelled instance order-o-1; it is now cancelled."]


def test_pause_then_resume(operator_client, waiting_order):
    operate(operator_client, waiting_order.pk, "pause")
    paused = WorkflowInstance.objects.get(pk=waiting_order.pk)
    assert paused.status == Status.PAUSED and paused.status_reason == "Paused by operator in the admin"
    page = operator_client.get(f"{LIST}{waiting_order.pk}/change/")
    assert [op.name for op in page.context["operations"]] == ["resume", "cancel"]
    operate(operator_client, waiting_order.pk, "resume")
    assert status(waiting_order.pk) == Status.PENDING
    assert log_of(waiting_order.pk) == ["Paused from the admin.", "Resumed from the admin."]


def test_retry__a_failed_instance_runs_again(operator_client, failed_order, drain):
    assert [op.name for op in operator_client.get(f"{LIST}charge-7/change/").context["operations"]] == ["retry"]
    response = operate(operator_client, failed_order.pk, "retry")
    assert messages_of(response) == ["Retried instance charge-7; it is now pending."]
    assert status(failed_order.pk) == Status.PENDING
    drain(durable.get_handle(failed_order.pk))
    instance = WorkflowInstance.objects.get(pk=failed_order.pk)
    assert instance.status == Status.FAILED, "the card is still declined"
    assert [entry["kind"] for entry in instance.incidents] == ["failed", "retried", "failed"]
    assert log_of(failed_order.pk) == ["Retried from the admin."]


def test_refused_transition__is_an_error_message_not_a_500(operator_client, waiting_order):
    response = operate(operator_client, waiting_order.pk, "resume")
    assert response.status_code == 302
    assert messages_of(response) == ["Cannot resume instance order-o-1: it is waiting_for_event."]
    assert status(waiting_order.pk) == Status.WAITING_FOR_EVENT
    assert not LogEntry.objects.exists()


def test_get_or_unknown_operation_does_nothing(operator_client, waiting_order):
    assert operator_client.get(f"{LIST}{waiting_order.pk}/operate/cancel/").status_code == 302
    assert operate(operator_client, waiting_order.pk, "delete").status_code == 404
    assert status(waiting_order.pk) == Status.WAITING_FOR_EVENT


def test_bulk_cancel__applies_to_each_and_reports_the_refused(operator_client, waiting_order, failed_order, drain):
    durable.start(admin_workflows.viewer_nap, 60, instance_id="nap")
    drain()
    selected = [waiting_order.pk, failed_order.pk, "nap"]
    response = operator_client.post(LIST, {"action": "cancel_selected", "_selected_action": selected, "index": 0})
    assert response.status_code == 302
    assert {pk: status(pk) for pk in selected} == {
        "order-o-1": Status.CANCELLED,
        "charge-7": Status.FAILED,
        "nap": Status.CANCELLED,
    }
    assert messages_of(response) == ["Cancelled 2 instances.", "Cannot cancel instance charge-7: it is failed."]
    assert log_of("order-o-1") == log_of("nap") == ["Cancelled from the admin."]


def test_send_event__resumes_the_instance_which_completes(operator_client, waiting_order, drain):
    response = send(operator_client, waiting_order.pk, event_data=json.dumps({"order_id": "o-1", "payment_id": "P-1"}))
    assert response.status_code == 302
    [message] = messages_of(response)
    assert message.startswith("Sent payment.completed (id ") and message.endswith("; it resumed the instance.")
    assert Delivery.objects.filter(instance_id=waiting_order.pk, kind=Delivery.Kind.RESUMED).exists()
    drain(durable.get_handle(waiting_order.pk))
    assert durable.get_handle(waiting_order.pk).result()["payment_id"] == "P-1"
    event = Event.objects.get()
    assert (event.source, event.target_id) == ("/durable/admin", "order-o-1")
    assert log_of(waiting_order.pk) == [f"Sent event payment.completed (id {event.event_id}) from /durable/admin."]


def test_send_event__not_matching_is_kept_for_later(operator_client, waiting_order):
    response = send(operator_client, waiting_order.pk, type="note.added", event_data='{"text": "hi"}')
    assert "the instance is not waiting for it now, so it is kept" in messages_of(response)[0]
    assert status(waiting_order.pk) == Status.WAITING_FOR_EVENT
    page = operator_client.get(f"{LIST}{waiting_order.pk}/change/")
    assert [event.type for event in page.context["detail"].queued] == ["note.added"]


def test_send_event__bad_json_shows_the_form_again(operator_client, waiting_order):
    response = send(operator_client, waiting_order.pk, event_data="{not json")
    assert response.status_code == 200
    assert response.context["send_form"].errors == {"event_data": ["Enter a valid JSON."]}
    assert b'data-dirty="1"' in response.content, "the refresh holds while the form shows its errors"
    assert not Event.objects.exists()


def test_send_event__to_an_ended_instance_is_an_error_message(operator_client, failed_order):
    response = send(operator_client, failed_order.pk, event_data="{}")
    assert response.status_code == 200
    assert any("takes no more events" in m for m in messages_of(response))
    assert not Event.objects.exists() and not LogEntry.objects.exists()

"""The read-only event and timer views: what arrived, how often, where it went; what is due when."""

from __future__ import annotations

import re

import pytest

import durable
from durable.models import Event
from tests import admin_workflows
from tests.admin.test_instances import text

pytestmark = pytest.mark.django_db

EVENTS = "/admin/durable/event/"
TIMERS = "/admin/durable/timer/"


@pytest.fixture
def delivered(waiting_order):
    """A payment delivered to the waiting order, received twice, and a note nobody waits for."""
    durable.send_event("payment.completed", "/pay", {"order_id": "o-1", "payment_id": "P-1"}, id="pay-1")
    durable.send_event("payment.completed", "/pay", {"order_id": "o-1", "payment_id": "P-1"}, id="pay-1")
    durable.send_event("note.added", "/notes", {"text": "hello"}, id="note-1")
    return Event.objects.get(event_id="pay-1")


def test_event_list__received_duplicates_and_where_it_went(admin_client, delivered):
    shown = text(admin_client.get(EVENTS))
    assert re.search(r"payment\.completed pay-1 /pay — [\d:]+ 1 anyone waiting order-o-1 \(resumed\)", shown)
    assert re.search(r"note\.added note-1 /notes — [\d:]+ 0 anyone waiting —", shown)


def test_event_list__query_count_does_not_grow_with_rows(admin_client, delivered, django_assert_max_num_queries):
    for i in range(30):
        durable.send_event("note.added", "/notes", {"i": i})
    with django_assert_max_num_queries(7):  # one of them the stranded-work banner's
        admin_client.get(EVENTS)


@pytest.mark.parametrize(
    ("query", "expected"),
    [("q=payment", {"pay-1"}), ("q=note-1", {"note-1"}), ("q=/notes", {"note-1"}), ("routed=repeated", {"pay-1"})],
)
def test_event_list__search_and_filters(admin_client, delivered, query, expected):
    response = admin_client.get(f"{EVENTS}?{query}")
    assert {event.event_id for event in response.context["cl"].result_list} == expected


def test_event_page__data_and_deliveries(admin_client, delivered):
    shown = text(admin_client.get(f"{EVENTS}{delivered.pk}/change/"))
    assert '"payment_id": "P-1"' in shown
    assert re.search(r"Delivered to: instance how step delivered order-o-1 Resumed a waiting instance 2 ", shown)
    assert "Duplicates: 1" in shown


def test_event_admin__read_only(admin_client, delivered):
    assert admin_client.get(f"{EVENTS}add/").status_code == 403
    assert admin_client.post(f"{EVENTS}{delivered.pk}/delete/").status_code == 403
    assert Event.objects.filter(pk=delivered.pk).exists()


def test_timer_list__due_in_words_and_instance(admin_client, waiting_order, drain):
    durable.start(admin_workflows.viewer_nap, 3300, instance_id="nap")
    drain()
    shown = text(admin_client.get(TIMERS))
    assert re.search(r"[\d:]+ in 9m \d+s Wait timeout payment\.completed 2 order-o-1 viewer_order", shown)
    assert re.search(r"[\d:]+ in 5\dm \d+s Sleep sleep 0 nap viewer_nap", shown)
    assert {t.instance_id for t in admin_client.get(f"{TIMERS}?q=nap").context["cl"].result_list} == {"nap"}
    timer = admin_client.get(TIMERS).context["cl"].result_list[0]
    assert admin_client.get(f"{TIMERS}{timer.pk}/change/").status_code == 200

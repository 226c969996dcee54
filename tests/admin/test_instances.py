"""The instance list and page, rendered by Django's test client against instances the engine ran."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import durable
from durable.models import Status, WorkflowInstance
from tests import admin_workflows, workflows

pytestmark = pytest.mark.django_db

LIST = "/admin/durable/workflowinstance/"


def page(instance_id: str) -> str:
    return f"{LIST}{instance_id}/change/"


def text(response) -> str:
    """The visible text of a page, whitespace collapsed (<wbr> break points show as nothing)."""
    body = response.content.decode().replace("<wbr>", "")
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace("&quot;", '"').replace("&#x27;", "'")


def test_list__shows_status_what_it_waits_for_and_counts(admin_client, waiting_order, failed_order):
    shown = text(admin_client.get(LIST))
    assert re.search(
        r"order-o-1 viewer_order — Waiting for event payment\.completed where order_id=o-1, times out in 9m", shown
    )
    assert "charge-7 viewer_fails — Failed —" in shown
    assert re.search(
        r"All 2 Pending 0 Running 0 Waiting for event 1 Waiting for timer 0 Waiting for child 0 Compensating 0 "
        r"Paused 0 Completed 0 Failed 1",
        shown,
    )


def test_list__timer_and_paused_instances_in_words(admin_client, drain):
    durable.start(admin_workflows.viewer_nap, 3300, instance_id="nap")
    durable.start(admin_workflows.viewer_nap, 3300, instance_id="held")
    drain()
    durable.pause("held", "waiting for the fix")
    shown = text(admin_client.get(LIST))
    assert re.search(r"nap viewer_nap — Waiting for timer timer due in 5\dm", shown)
    assert "held viewer_nap — Paused an operator to resume it (waiting for the fix)" in shown


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=order-o", {"order-o-1"}),
        ("q=viewer_fa", {"charge-7"}),
        ("q=payment.completed", {"order-o-1"}),
        ("q=no.such.thing", set()),
        ("status__exact=failed", {"charge-7"}),
        ("workflow=viewer_order", {"order-o-1"}),
        ("created_at__gte=2000-01-01+00:00:00%2B00:00&created_at__lt=2000-01-02+00:00:00%2B00:00", set()),
    ],
)
def test_list__search_and_filters(admin_client, waiting_order, failed_order, query, expected):
    response = admin_client.get(f"{LIST}?{query}")
    assert response.status_code == 200
    assert {obj.pk for obj in response.context["cl"].result_list} == expected


def test_list__today_filter_from_the_date_filter_links(admin_client, waiting_order):
    cl = admin_client.get(LIST).context["cl"]
    today = next(c for spec in cl.filter_specs for c in spec.choices(cl) if c["display"] == "Today")
    response = admin_client.get(LIST + today["query_string"])
    assert [obj.pk for obj in response.context["cl"].result_list] == ["order-o-1"]


def test_list__event_type_search_reads_the_wait_table_not_the_json(admin_client, waiting_order):
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(f"{LIST}?q=payment.completed")
    searched = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "durable_instance" WHERE' in q["sql"] and '"durable_instance"."id"' in q["sql"]
    ]
    assert searched, "the search reached the instances table"
    for sql in searched:
        where = sql.split("WHERE", 1)[1]
        # Django 6 quotes subquery aliases ("U0"), 5.2 does not (U0): match either.
        assert re.search(r'FROM "durable_wait" "?U0"? WHERE "?U0"?\."event_type" = ', where), where
        assert "waiting_for" not in where


def test_page__waiting_instance_shows_timeline_waits_timers_values_and_refreshes(admin_client, waiting_order):
    response = admin_client.get(page(waiting_order.pk))
    shown = text(response)
    assert response.status_code == 200
    assert "waiting for payment.completed where order_id=o-1, times out in 9m" in shown
    assert re.search(r"0 activity viewer_reserve completed 1 of 3 [\d:.]+ [\d:.]+ [\d.]+ ms \(\"o-1\"\)", shown)
    assert "1 publish value status completed" in shown
    assert re.search(r"Waits # event type match subject times out 2 payment\.completed order_id=o-1 — ", shown)
    assert re.search(r"Timers # purpose name due 2 Wait timeout payment\.completed ", shown)
    assert 'status "awaiting payment"' in shown
    assert 'src="/static/durable/refresh.js" data-seconds="3"' in response.content.decode()
    # The event form is filled in with what the instance waits for.
    form = response.context["send_form"]
    assert form.initial == {"type": "payment.completed", "event_data": {"order_id": "o-1"}}


def test_page__events_delivered_and_queued(admin_client, waiting_order, drain):
    durable.send_event("note.added", "/notes", {"text": "call the customer"}, instance_id=waiting_order.pk)
    durable.send_event("payment.completed", "/pay", {"order_id": "o-1", "payment_id": "P-9"})
    drain(lambda: WorkflowInstance.objects.get(pk=waiting_order.pk).status == Status.COMPLETED)
    response = admin_client.get(page(waiting_order.pk))
    shown = text(response)
    assert re.search(r"payment\.completed [0-9a-f-]{36} /pay — .*P-9.* Resumed a waiting instance \(step 2\)", shown)
    assert re.search(r"note\.added [0-9a-f-]{36} /notes — — [\d: -]+ queued never delivered: the instance ended", shown)
    assert re.search(r"Result \{\"order_id\": \"o-1\", \"payment_id\": \"P-9\"", shown)
    assert "refresh.js" not in response.content.decode(), "a terminal instance's page holds still"


def test_page__failed_instance_shows_error_traceback_attempts_and_incident(admin_client, failed_order):
    shown = text(admin_client.get(page(failed_order.pk)))
    assert "Error ActivityError : Instance charge-7: activity 'viewer_charge' failed after 2 attempt(s)" in shown
    assert "traceback Traceback (most recent call last)" in shown
    assert re.search(
        r"ValueError : the card was declined for 7 traceback .* attempts 1–2 failed \(the last at [\d:]+\), each with",
        shown,
    )
    assert "0 activity viewer_charge failed 2 of 2" in shown
    assert re.search(r"Incidents when what details [\d: -]+ failed error type: ActivityError", shown)


def test_page__long_payloads_are_folded(admin_client, waiting_order):
    body = admin_client.get(page(waiting_order.pk)).content.decode()
    # The reservation result (five order lines) is long: a <details> with a one-line summary.
    # (PostgreSQL's jsonb keeps keys in its own order.)
    assert re.search(r'<details class="durable-payload"><summary><code>\{&quot;(reservation|lines)&quot;', body)


def test_page__the_same_queries_whatever_the_history_length(admin_client, drain):
    counts = []
    for steps in (1, 40):
        drain(durable.start(workflows.n_activities, steps, instance_id=f"n-{steps}"))
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(page(f"n-{steps}")).status_code == 200
        counts.append(len(queries))
    # The session, the user, the admin's own row (permissions), then inspect.instance's seven, its
    # hooks, its forks (restart from a step) and its children (ctx.start_child).
    assert counts == [14, 14], "the same thirteen reads, and the stranded-work banner's one"


def test_page__unknown_instance_redirects_with_a_message(admin_client):
    response = admin_client.get(page("missing"), follow=True)
    assert response.redirect_chain == [(LIST, 302)]
    assert "No workflow instance has id 'missing'." in text(response)


def test_read_only__no_add_edit_or_delete(admin_client, waiting_order):
    assert admin_client.get(f"{LIST}add/").status_code == 403
    assert admin_client.post(page(waiting_order.pk), {"status": "completed"}).status_code == 403
    assert admin_client.get(f"{LIST}{waiting_order.pk}/delete/").status_code == 403
    assert WorkflowInstance.objects.get(pk=waiting_order.pk).status == Status.WAITING_FOR_EVENT


def test_history_page_lists_admin_log(admin_client, waiting_order):
    assert admin_client.get(f"{LIST}{waiting_order.pk}/history/").status_code == 200


def test_list__elapsed_of_a_finished_instance_stops_at_its_end(admin_client):
    start = timezone.now() - dt.timedelta(hours=2)
    WorkflowInstance.objects.create(
        id="old",
        workflow_name="viewer_nap",
        status=Status.COMPLETED,
        created_at=start,
        updated_at=start + dt.timedelta(minutes=3),
        finished_at=start + dt.timedelta(minutes=3),
    )
    assert re.search(r"old viewer_nap — Completed — .{0,40}? 3m ", text(admin_client.get(LIST)))


def test_page__parent_and_children_linked_both_ways(admin_client, drain):
    from tests import child_workflows as cw

    handle = durable.start(cw.waiting_parent, "adm", True, instance_id="adm")
    drain(lambda: handle.status == Status.WAITING_FOR_CHILD)
    shown = text(admin_client.get(page("adm")))
    assert (
        "children adm-detached child.waits, waiting_for_event, detached adm/1 child.waits, waiting_for_event" in shown
    )
    assert "waiting for child adm/1 (child.waits) to end" in shown
    html = admin_client.get(page("adm")).content.decode()
    assert f'href="{page("adm_2F1")}"' in html  # the admin's quoting of "/"
    child = text(admin_client.get(page("adm_2F1")))
    assert "parent adm" in child and "detached" not in child
    assert "detached: a cancel of the parent leaves it running" in text(admin_client.get(page("adm-detached")))


def test_page__runs_of_an_instance_that_continued_as_new(admin_client, drain):
    from tests import child_workflows as cw

    drain(durable.start(cw.counter, 0, 2, instance_id="adm-loop"))
    shown = text(admin_client.get(page("adm-loop")))
    assert "run run 3 of 3 (continued as new 2 times" in shown
    timeline = shown[shown.index("Timeline") :]
    assert timeline.index("run 1 of 3") < timeline.index("run 2 of 3") < timeline.index("run 3 of 3")

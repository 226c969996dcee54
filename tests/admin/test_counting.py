"""The list page stays cheap with many instances: bounded queries, no full-table count on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from durable.admin.counting import EstimatingPaginator, estimate_rows, status_counts
from durable.admin.instances import WorkflowInstanceAdmin
from durable.models import Status, Wait, WorkflowInstance
from durable.run.backend import waiting_summary
from tests.conftest import is_postgres

pytestmark = pytest.mark.django_db

LIST = "/admin/durable/workflowinstance/"
# session, user, count, the page's rows, counts by status, the stranded-work banner, the code version
# filter's choices (the newest instances' versions) (+1 statistics read on PostgreSQL)
MOST_QUERIES = 8


def shapes(now: dt.datetime) -> list[tuple[str, dict | None]]:
    due = now + dt.timedelta(minutes=5)
    return [
        (Status.WAITING_FOR_EVENT, waiting_summary("event", types=["payment.completed"], match={"order_id": "o"},
                                                   subject=None, timeout_at=due)),
        (Status.WAITING_FOR_TIMER, waiting_summary("timer", name="sleep", due_at=due)),
        (Status.WAITING_FOR_TIMER, waiting_summary("retry", activity="charge", attempt=2, max_attempts=5, due_at=due)),
        (Status.COMPLETED, None),
    ]  # fmt: skip


def make(count: int, start: int = 0) -> None:
    """`count` instances, a quarter each waiting for an event (with its Wait row), a timer, a retry, or done."""
    now = timezone.now()
    kinds = shapes(now)
    instances = [
        WorkflowInstance(
            id=f"bulk-{i:06d}",
            workflow_name="viewer_order",
            status=kinds[i % len(kinds)][0],
            waiting_for=kinds[i % len(kinds)][1],
            input={"args": ["x" * 2000], "kwargs": {}},
            created_at=now - dt.timedelta(seconds=i),
            updated_at=now,
        )
        for i in range(start, start + count)
    ]
    WorkflowInstance.objects.bulk_create(instances)
    Wait.objects.bulk_create(
        Wait(instance=instance, position=1, name="payment.completed", event_type="payment.completed",
             match={"order_id": "o"}, shape="s", match_key="k")
        for instance in instances
        if instance.status == Status.WAITING_FOR_EVENT
    )  # fmt: skip


def queries_of(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize(
    "query", ["", "?status__exact=waiting_for_event", "?q=payment.completed&workflow=viewer_order"]
)
def test_list_page__queries_are_bounded_and_do_not_grow_with_rows(admin_client, query):
    make(20)
    few = queries_of(admin_client, LIST + query)
    make(480, start=20)
    many = queries_of(admin_client, LIST + query)
    assert len(many) == len(few) <= MOST_QUERIES, "\n".join(many)
    rows = [sql for sql in many if "LIMIT 100" in sql]
    assert rows, "the page reads one page of rows"
    assert '"durable_instance"."input"' not in rows[0], "the list never reads the large JSON columns"
    print(f"\n[report] list page{query or ' (unfiltered)'} on {connection.vendor}: {len(few)} queries with 20 "
          f"instances, {len(many)} with 500")  # fmt: skip


def test_list_page__every_row_in_words(admin_client):
    make(8)
    body = admin_client.get(LIST).content.decode().replace("<wbr>", "")
    assert body.count("payment.completed where order_id=o, times out in 4m") == 2
    assert body.count("retry 2 of 5 in 4m") == 2


def test_status_counts__exact_when_small():
    make(40)
    counts = {item.status: item.count for item in status_counts()}
    assert counts == {
        **dict.fromkeys(Status.values, 0),
        "waiting_for_event": 10,
        "waiting_for_timer": 20,
        "completed": 10,
    }


@pytest.mark.postgres
def test_postgres__large_counts_are_estimated_not_counted(admin_client, monkeypatch):
    if not is_postgres():
        pytest.skip("estimates come from PostgreSQL's statistics")
    make(500)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE durable_instance")
    monkeypatch.setattr(EstimatingPaginator, "exact_below", 100)
    monkeypatch.setattr(WorkflowInstanceAdmin, "status_count_cap", 50)
    sql = queries_of(admin_client, LIST)
    assert not [q for q in sql if 'COUNT(*) AS "__count"' in q], "no COUNT(*) of the table"
    body = admin_client.get(LIST).content.decode()
    assert "about 500" in body
    counts = {item.status: item for item in status_counts(cap=50)}
    assert counts["completed"].approximate and counts["completed"].count == 125
    assert not counts["paused"].approximate and counts["paused"].count == 0
    filtered = WorkflowInstance.objects.filter(status=Status.COMPLETED)
    assert estimate_rows(filtered) == 125
    assert "about 125" in admin_client.get(LIST + "?status__exact=completed").content.decode()
    # A search the planner may misjudge is counted up to the cap, so a small result is exact.
    found = admin_client.get(LIST + "?q=bulk-00012").context["cl"]
    assert (found.result_count, found.paginator.estimated) == (10, False)


def test_sqlite_or_small__counts_are_exact(admin_client):
    make(30)
    response = admin_client.get(LIST)
    assert response.context["cl"].result_count == 30
    assert not response.context["cl"].paginator.estimated

"""The read model on real rows: a summary, a whole instance in a fixed number of queries, the list."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

import durable
from durable import inspect
from durable.models import Event, WorkflowInstance
from tests import admin_workflows, workflows

pytestmark = pytest.mark.django_db

DURABLE = Path(inspect.__file__).parent
# inspect.instance: the instance row, history, waits, timers, deliveries, queued events, values.
INSTANCE_QUERIES = 7


@pytest.fixture
def waiting_order(drain) -> str:
    """viewer_order waiting for payment.completed (order_id=o-1), with its timeout timer."""
    handle = durable.start(admin_workflows.viewer_order, "o-1", instance_id="order-o-1")
    drain(lambda: handle.status == inspect.Status.WAITING_FOR_EVENT)
    return handle.instance_id


def test_summary__one_instance_as_stored_in_one_query(django_assert_num_queries):
    durable.start(workflows.three_steps, 4, nap=0.01, instance_id="s-1")
    with django_assert_num_queries(1):
        summary = inspect.summary("s-1")
    row = WorkflowInstance.objects.get(id="s-1")
    assert summary == inspect.Summary(
        instance_id="s-1",
        workflow_name="three_steps",
        status="pending",
        status_reason="",
        business_key=None,
        input={"args": [4], "kwargs": {"nap": 0.01}},
        result=None,
        error=None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=None,
        waiting_for=None,
    )
    assert not summary.is_terminal


@pytest.mark.parametrize("read", [inspect.summary, inspect.instance])
def test_summary_and_instance__unknown_id_raises_instance_not_found(read, django_assert_num_queries):
    with django_assert_num_queries(1), pytest.raises(durable.InstanceNotFound) as caught:
        read("missing")
    assert str(caught.value) == "No workflow instance has id 'missing'; check the id."


def test_instance__waiting_instance_has_its_history_wait_timer_and_values(waiting_order):
    view = inspect.instance(waiting_order)
    assert view.summary.status == "waiting_for_event"
    assert view.summary.waiting_for["kind"] == "event"
    assert [(s.position, s.kind, s.name, s.status) for s in view.history] == [
        (0, "activity", "viewer_reserve", "completed"),
        (1, "set_event", "status", "completed"),
    ]
    reserve = view.history[0]
    assert reserve.input == {"args": ["o-1"], "kwargs": {}}
    assert reserve.result["reservation"] == "R-o-1"
    assert reserve.duration is not None and reserve.duration >= 0
    assert view.history[1].duration is None
    (wait,) = view.waits
    assert (wait.position, wait.event_type, wait.subject) == (2, "payment.completed", None)
    assert wait.match == {"order_id": "o-1"}
    (timer,) = view.timers
    assert (timer.position, timer.purpose, timer.name) == (2, inspect.Purpose.TIMEOUT, "payment.completed")
    assert timer.due_at == wait.timeout_at
    assert [(v.key, v.value, v.position) for v in view.values] == [("status", "awaiting payment", 1)]
    assert view.delivered == () and view.queued == () and view.incidents == ()


def test_instance__events_delivered_and_queued(waiting_order, drain):
    durable.send_event("note.added", "/notes", {"text": "call"}, instance_id=waiting_order, id="note-1")
    durable.send_event("payment.completed", "/pay", {"order_id": "o-1", "payment_id": "P-9"}, id="pay-1")
    drain(lambda: inspect.summary(waiting_order).is_terminal)
    view = inspect.instance(waiting_order)
    assert view.summary.status == "completed"
    assert view.summary.result["payment_id"] == "P-9"
    (delivered,) = view.delivered
    assert (delivered.event_id, delivered.type, delivered.source, delivered.data) == (
        "pay-1",
        "payment.completed",
        "/pay",
        {"order_id": "o-1", "payment_id": "P-9"},
    )
    assert (delivered.delivery, delivered.position) == (inspect.DeliveryKind.RESUMED, 2)
    assert delivered.delivered_at is not None
    (queued,) = view.queued
    assert (queued.event_id, queued.type, queued.data) == ("note-1", "note.added", {"text": "call"})
    assert (queued.delivery, queued.position, queued.delivered_at) == (None, None, None)
    assert queued.seq == Event.objects.get(event_id="note-1").seq
    assert [(v.key, v.value) for v in view.values] == [("status", "paid")]


def test_instance__queued_events_stop_at_one_hundred(waiting_order):
    for n in range(inspect.QUEUED_SHOWN + 3):
        durable.send_event("note.added", "/notes", {"n": n}, instance_id=waiting_order, id=f"note-{n}")
    queued = inspect.instance(waiting_order).queued
    assert [event.data["n"] for event in queued] == list(range(inspect.QUEUED_SHOWN))


def test_instance__failed_instance_has_its_error_failures_and_incident(drain):
    handle = durable.start(admin_workflows.viewer_fails, 7, instance_id="charge-7")
    drain(handle)
    view = inspect.instance("charge-7")
    assert view.summary.status == "failed" and view.summary.is_terminal
    assert view.summary.error["type"] == "ActivityError"
    (step,) = view.history
    assert (step.kind, step.status, step.attempt) == ("activity", "failed", 2)
    assert [f["message"] for f in step.failures] == ["the card was declined for 7"] * 2
    assert [entry["kind"] for entry in view.incidents] == ["failed"]


def test_instance__a_retrying_step_has_its_next_attempt(drain):
    durable.start(admin_workflows.viewer_settle, "acc-1", instance_id="settle")
    drain()
    view = inspect.instance("settle")
    (step,) = view.history
    assert (step.status, step.attempt) == ("retrying", 1)
    assert step.retry_at is not None
    (timer,) = view.timers
    assert timer.purpose == inspect.Purpose.RETRY and timer.due_at == step.retry_at


@pytest.mark.parametrize("steps", [1, 60])
def test_instance__a_fixed_number_of_queries_whatever_the_history_length(steps, drain, django_assert_num_queries):
    handle = durable.start(workflows.n_activities, steps, instance_id="many")
    drain(handle)
    with django_assert_num_queries(INSTANCE_QUERIES):
        view = inspect.instance("many")
    assert len(view.history) == steps


def test_instance__views_are_frozen_and_hold_tuples(waiting_order):
    view = inspect.instance(waiting_order)
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.summary.status = "completed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.history[0].name = "other"  # type: ignore[misc]
    for name in ("incidents", "history", "waits", "timers", "delivered", "queued", "values"):
        assert isinstance(getattr(view, name), tuple), name


def _instance(instance_id: str, workflow: str, status: str, created_at: dt.datetime) -> None:
    WorkflowInstance.objects.create(
        id=instance_id,
        workflow_name=workflow,
        status=status,
        input={"args": [instance_id], "kwargs": {}},
        created_at=created_at,
        updated_at=created_at,
    )


@pytest.fixture
def listed() -> dt.datetime:
    """Five instances a minute apart (the newest two created at the same moment)."""
    base = timezone.now().replace(microsecond=0) - dt.timedelta(hours=1)
    _instance("a", "three_steps", "completed", base)
    _instance("b", "sleeper", "waiting_for_timer", base + dt.timedelta(minutes=1))
    _instance("c", "three_steps", "failed", base + dt.timedelta(minutes=2))
    _instance("e", "three_steps", "pending", base + dt.timedelta(minutes=3))
    _instance("d", "sleeper", "pending", base + dt.timedelta(minutes=3))
    return base


def ids(page: inspect.Page) -> list[str]:
    return [row.instance_id for row in page.rows]


def test_list_instances__newest_first_ties_by_id_in_one_query(listed, django_assert_num_queries):
    with django_assert_num_queries(1):
        page = inspect.list_instances()
    assert ids(page) == ["d", "e", "c", "b", "a"]
    assert page.more is False
    assert page.rows[-1].input == {"args": ["a"], "kwargs": {}}
    assert isinstance(page.rows, tuple)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"statuses": ["pending"]}, ["d", "e"]),
        ({"statuses": {"failed", "completed"}}, ["c", "a"]),
        ({"statuses": inspect.ACTIVE}, ["d", "e", "b"]),
        ({"statuses": ()}, []),
        ({"workflow": "sleeper"}, ["d", "b"]),
        ({"workflow": "sleeper", "statuses": ["pending"]}, ["d"]),
        ({"workflow": "nope"}, []),
    ],
)
def test_list_instances__filters_by_status_and_workflow(listed, filters, expected):
    assert ids(inspect.list_instances(**filters)) == expected


def test_list_instances__filters_by_creation_time(listed):
    after, before = listed + dt.timedelta(minutes=1), listed + dt.timedelta(minutes=3)
    assert ids(inspect.list_instances(created_after=after)) == ["d", "e", "c", "b"]
    assert ids(inspect.list_instances(created_before=before)) == ["c", "b", "a"]
    assert ids(inspect.list_instances(created_after=after, created_before=before)) == ["c", "b"]


def test_list_instances__pages_say_whether_more_follow(listed, django_assert_num_queries):
    with django_assert_num_queries(1):
        first = inspect.list_instances(limit=2)
    second = inspect.list_instances(limit=2, offset=2)
    last = inspect.list_instances(limit=2, offset=4)
    assert (ids(first), first.more) == (["d", "e"], True)
    assert (ids(second), second.more) == (["c", "b"], True)
    assert (ids(last), last.more) == (["a"], False)
    assert inspect.list_instances(limit=5).more is False
    assert inspect.list_instances(offset=9) == inspect.Page(rows=(), more=False)


def test_list_instances__without_payloads_reads_no_input_result_or_error(listed, django_assert_num_queries):
    WorkflowInstance.objects.filter(id="c").update(error={"type": "ValueError", "message": "no"})
    with django_assert_num_queries(1) as captured:
        page = inspect.list_instances(statuses=["failed"], payloads=False)
    (row,) = page.rows
    assert (row.instance_id, row.status, row.input, row.result, row.error) == ("c", "failed", None, None, None)
    select = captured.captured_queries[0]["sql"].split(" FROM ")[0]
    for column in ('"input"', '"result"', '"error"'):
        assert column not in select
    assert inspect.list_instances(statuses=["failed"]).rows[0].error == {"type": "ValueError", "message": "no"}


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1, -1)])
def test_list_instances__a_page_needs_a_positive_limit(limit, offset):
    with pytest.raises(durable.InvalidArgument):
        inspect.list_instances(limit=limit, offset=offset)


def test_api_and_commands_read_through_inspect_never_models():
    for package in ("api", "management"):
        for path in sorted((DURABLE / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                assert "durable.models" not in names, f"{path.relative_to(DURABLE)} imports durable.models"

"""Retention: which ended instances a purge deletes, with every row they own, and what it keeps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

import durable
from durable import journal, retention
from durable.models import Delivery, Event, EventKey, HistoryStep, PublishedValue, Status, WorkflowInstance
from durable.worker import tasks
from tests import workflows
from tests.retention_rows import OWNED, broadcast, census, instances

pytestmark = pytest.mark.django_db
RETENTION = {"completed": 30, "failed": 90}


def times(rows: dict[str, int], n: int) -> dict[str, int]:
    return {table: count * n for table, count in rows.items()}


def minus(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {table: before[table] - after[table] for table in before}


def test_purge__deletes_exactly_the_ended_instances_past_their_retention_with_all_their_rows(settings):
    settings.DURABLE_RETENTION = RETENTION
    old_completed = instances(3, Status.COMPLETED, days_ago=31)
    old_failed = instances(2, Status.FAILED, days_ago=91)
    kept = [
        *instances(2, Status.COMPLETED, days_ago=29),  # within its retention
        *instances(2, Status.FAILED, days_ago=60),  # past completed's retention, not failed's
        *instances(2, Status.CANCELLED, days_ago=400),  # cancelled has no retention: kept
        *instances(1, Status.WAITING_FOR_EVENT, days_ago=400),  # active, whatever its age
        *instances(1, Status.PAUSED, days_ago=400),
        *instances(1, Status.PENDING, days_ago=400),
    ]
    before = census()

    report = retention.purge()

    assert minus(before, census()) == times(OWNED, 5)
    assert set(WorkflowInstance.objects.values_list("id", flat=True)) == set(kept)
    assert report.instances == 5 and report.rows == sum(OWNED.values()) * 5 and report.finished
    gone = old_completed + old_failed
    for model in (HistoryStep, PublishedValue, Delivery):
        assert not model.objects.filter(instance_id__in=gone).exists()
    assert not Event.objects.filter(event_id__in=[f"to-{i}" for i in gone]).exists()
    # What the kept instances own is all there.
    assert HistoryStep.objects.filter(instance_id__in=kept).count() == 2 * len(kept)
    assert Delivery.objects.filter(instance_id__in=kept).count() == 2 * len(kept)


def test_purge__keeps_a_broadcast_event_delivered_to_a_purged_instance_for_event_retention(settings):
    settings.DURABLE_RETENTION = {"completed": 1}
    gone = instances(1, Status.COMPLETED, days_ago=2, owned=False)[0]
    stays = instances(1, Status.COMPLETED, days_ago=0, owned=False)[0]
    event = broadcast()
    Delivery.objects.bulk_create(
        [Delivery(event=event, instance_id=i, kind=Delivery.Kind.RESUMED) for i in (gone, stays)]
    )

    retention.purge()

    # The event may be another instance's too: it follows DURABLE_EVENT_RETENTION, only the delivery went.
    assert Event.objects.filter(seq=event.seq).exists()
    assert list(Delivery.objects.values_list("instance_id", flat=True)) == [stays]


def test_purge__deletes_events_past_event_retention_with_their_keys_and_deliveries(settings):
    settings.DURABLE_RETENTION = {"completed": 30}
    settings.DURABLE_EVENT_RETENTION = dt.timedelta(days=7)
    recent = instances(2, Status.COMPLETED, days_ago=1)
    Event.objects.filter(target_id=recent[0]).update(received_at=timezone.now() - dt.timedelta(days=8))

    report = retention.purge()

    assert report.instances == 0 and report.events == 1
    assert not Event.objects.filter(target_id=recent[0]).exists()
    assert not EventKey.objects.filter(event__target_id=recent[0]).exists()
    assert Delivery.objects.filter(instance_id=recent[0]).count() == 1  # the broadcast's, still recent
    assert Event.objects.filter(target_id=recent[1]).exists()


def test_purge__a_real_instance_goes_with_its_history_and_published_values(settings, drain):
    settings.DURABLE_RETENTION = {"completed": 0}
    handle = durable.start(workflows.publisher, 0)
    drain(handle)
    assert handle.status == Status.COMPLETED
    assert HistoryStep.objects.filter(instance_id=handle.instance_id).exists()
    assert PublishedValue.objects.filter(instance_id=handle.instance_id).exists()

    assert retention.purge().instances == 1

    assert not WorkflowInstance.objects.filter(id=handle.instance_id).exists()
    assert not HistoryStep.objects.filter(instance_id=handle.instance_id).exists()
    assert not PublishedValue.objects.filter(instance_id=handle.instance_id).exists()


def test_purge__an_instance_goes_with_its_durable_hook_runs(settings, drain, tmp_path):
    from durable.models import HookRun
    from tests import hook_workflows

    settings.DURABLE_RETENTION = {"completed": 0}
    handle = durable.start(hook_workflows.finishes, str(tmp_path / "log"))
    drain(handle)
    assert HookRun.objects.filter(instance_id=handle.instance_id).count() == 1

    assert retention.purge().instances == 1

    assert not WorkflowInstance.objects.filter(id=handle.instance_id).exists()
    assert not HookRun.objects.filter(instance_id=handle.instance_id).exists()


def test_purge__runs_in_batches_and_reports_each(settings):
    settings.DURABLE_RETENTION = {"completed": 1, "cancelled": 1}
    instances(7, Status.COMPLETED, days_ago=2)
    instances(3, Status.CANCELLED, days_ago=2)
    seen: list[tuple[int, int]] = []

    report = retention.purge(batch_size=3, progress=lambda r: seen.append((r.batches, r.instances)))

    # completed 3+3+1, cancelled 3 (a full batch, then one that finds nothing), then the 2 broadcasts' events stay.
    assert seen == [(1, 3), (2, 6), (3, 7), (4, 10)]
    assert report.instances == 10 and WorkflowInstance.objects.count() == 0


def test_purge__stops_at_a_batch_boundary_when_its_time_is_up(settings):
    settings.DURABLE_RETENTION = {"completed": 1}
    instances(6, Status.COMPLETED, days_ago=2, owned=False)

    report = retention.purge(batch_size=2, seconds=0)

    assert report.instances == 0 and not report.finished
    assert WorkflowInstance.objects.count() == 6


def test_purge__without_retention_deletes_no_instance():
    old = instances(2, Status.COMPLETED, days_ago=10_000)

    report = retention.purge()

    assert report.instances == 0
    assert set(WorkflowInstance.objects.values_list("id", flat=True)) == set(old)


def test_purge__a_bad_setting_deletes_nothing_and_says_what_is_wrong(settings):
    settings.DURABLE_RETENTION = {"completed": -1}
    instances(1, Status.COMPLETED, days_ago=0, owned=False)

    with pytest.raises(ImproperlyConfigured, match=r"DURABLE_RETENTION\['completed'\] is -1"):
        retention.purge()
    assert WorkflowInstance.objects.count() == 1


def test_purge__an_instance_retried_meanwhile_is_no_longer_ended_and_stays(settings):
    settings.DURABLE_RETENTION = {"failed": 1}
    failed = instances(2, Status.FAILED, days_ago=2, owned=False)
    durable.retry(failed[0])

    assert retention.purge().instances == 1
    assert list(WorkflowInstance.objects.values_list("id", flat=True)) == [failed[0]]


def test_estimate__counts_what_a_purge_would_delete_and_changes_nothing(settings):
    settings.DURABLE_RETENTION = RETENTION
    instances(3, Status.COMPLETED, days_ago=31)
    instances(1, Status.FAILED, days_ago=91)
    instances(1, Status.FAILED, days_ago=1)
    before = census()

    plan = retention.estimate(owned=True)

    assert plan.instances == {"completed": 3, "failed": 1} and plan.total == 4
    assert plan.owned_rows == (sum(OWNED.values()) - OWNED["instance"]) * 4
    assert census() == before


def test_forget_instances__deletes_every_instance_table_and_the_events_addressed_to_them():
    ids = instances(2, Status.COMPLETED, days_ago=0)
    before = census()

    deleted = journal.forget_instances(ids)

    expected = times({t: n for t, n in OWNED.items() if t != "instance"}, 2)
    assert minus(before, census()) == {"instance": 0, **expected}
    assert deleted == sum(expected.values())


def test_backstop_task__purges_when_retention_is_set(settings):
    settings.DURABLE_RETENTION = {"completed": 1}
    instances(4, Status.COMPLETED, days_ago=2)

    assert tasks.purge() == {"instances": 4, "events": 0, "rows": 4 * sum(OWNED.values()), "finished": True}
    assert WorkflowInstance.objects.count() == 0


def test_backstop_task__does_nothing_at_all_without_retention(django_assert_num_queries):
    instances(1, Status.COMPLETED, days_ago=10_000, owned=False)

    with django_assert_num_queries(0):
        assert tasks.purge() is None
    assert WorkflowInstance.objects.count() == 1

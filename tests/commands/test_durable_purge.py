"""durable_purge: deletes what is past retention in batches with progress; --dry-run counts; clear errors."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management.base import CommandError

from durable.engine.types import StepKind
from durable.models import HistoryStep, Status, WorkflowInstance
from tests.retention_rows import OWNED, census, instances

pytestmark = pytest.mark.django_db
PROGRESS = re.compile(r"^batch (\d+): ([\d,]+) / ([\d,]+) instance\(s\) and (\d+) / (\d+) event\(s\) deleted")


def progress(out: str) -> list[tuple[int, int, int]]:
    """(batch, instances deleted so far, instances estimated) of each progress line."""
    found = [PROGRESS.match(line) for line in out.splitlines()]
    return [(int(m[1]), int(m[2].replace(",", "")), int(m[3].replace(",", ""))) for m in found if m]


def test_purge__deletes_past_retention_in_batches_with_progress_and_a_summary(run, settings):
    settings.DURABLE_RETENTION = {"completed": 30, "failed": 30}
    instances(5, Status.COMPLETED, days_ago=31)
    kept = instances(2, Status.COMPLETED, days_ago=1) + instances(1, Status.RUNNING, days_ago=99)
    before = census()

    out, err = run("durable_purge", "--batch-size", "2")

    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("5 completed instance(s) ended before ")
    assert lines[0].endswith("(30 day(s) of retention).")
    assert lines[1].startswith("0 failed instance(s) ended before ")
    assert progress(out) == [(1, 2, 5), (2, 4, 5), (3, 5, 5)]
    assert lines[-1] == (
        f"Deleted 5 instance(s) and 0 expired event(s): {5 * sum(OWNED.values())} row(s) in 3 batch(es), "
        + lines[-1].split(" batch(es), ")[1]
    )
    assert lines[-1].endswith(" rows/s).")
    assert sorted(WorkflowInstance.objects.values_list("id", flat=True)) == sorted(kept)
    assert census()["history"] == before["history"] - 10


def test_purge__dry_run_counts_and_changes_nothing(run, settings):
    settings.DURABLE_RETENTION = {"cancelled": 7}
    instances(3, Status.CANCELLED, days_ago=8)
    instances(3, Status.CANCELLED, days_ago=6)
    before = census()

    out, _ = run("durable_purge", "--dry-run")

    assert census() == before
    assert out.splitlines()[0].startswith("3 cancelled instance(s) ended before ")
    owned = 3 * (sum(OWNED.values()) - 1)
    assert out.splitlines()[-1] == (
        f"Dry run: would delete 3 instance(s) with {owned} row(s) they own, and 0 expired event(s). "
        "Nothing was changed."
    )
    assert progress(out) == []


def test_purge__without_retention_says_how_to_set_it_and_deletes_no_instance(run):
    instances(2, Status.COMPLETED, days_ago=10_000, owned=False)

    out, _ = run("durable_purge")

    assert out.splitlines()[0] == (
        "DURABLE_RETENTION is not set, so every instance is kept. To delete ended instances after some days, set "
        'DURABLE_RETENTION = {"completed": 30, "failed": 90, "cancelled": 30} in your settings (a status left out '
        "is kept)."
    )
    assert WorkflowInstance.objects.count() == 2


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"done": 3}, "DURABLE_RETENTION has the key 'done', which is not an ended status. Use only completed, "),
        ({"failed": "30"}, "DURABLE_RETENTION['failed'] is '30', not a number of days from 0 to 100,000. "),
    ],
)
def test_purge__a_bad_setting_is_refused_with_what_to_do(run, settings, value, says):
    settings.DURABLE_RETENTION = value
    instances(1, Status.FAILED, days_ago=99, owned=False)

    with pytest.raises(CommandError, match=re.escape(says)) as caught:
        run("durable_purge")
    assert str(caught.value).endswith("Nothing was deleted.")
    assert WorkflowInstance.objects.count() == 1


def test_purge__a_batch_size_below_one_or_a_negative_pause_is_refused(run, settings):
    settings.DURABLE_RETENTION = {"completed": 1}
    instances(1, Status.COMPLETED, days_ago=2, owned=False)
    with pytest.raises(CommandError, match=r"^--batch-size must be 1 or more, not 0\.$"):
        run("durable_purge", "--batch-size", "0")
    with pytest.raises(CommandError, match=r"^--pause must be 0 or more seconds, not -1\.0\.$"):
        run("durable_purge", "--pause", "-1")
    assert WorkflowInstance.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_purge__shell_purges_and_exits_0(manage, monkeypatch):
    instances(3, Status.FAILED, days_ago=3)
    kept = instances(1, Status.FAILED, days_ago=1)
    monkeypatch.setenv("DURABLE_RETENTION", json.dumps({"failed": 2}))

    done = manage("durable_purge", "--batch-size", "2", "--pause", "0")

    assert done.returncode == 0, done.stderr
    assert progress(done.stdout) == [(1, 2, 3), (2, 3, 3)]
    assert list(WorkflowInstance.objects.values_list("id", flat=True)) == kept


@pytest.mark.slow
def test_purge__over_100_000_ended_instances_shows_progress_and_finishes(run, settings):
    settings.DURABLE_RETENTION = {"completed": 1}
    old = instances(100_000, Status.COMPLETED, days_ago=2, owned=False)
    HistoryStep.objects.bulk_create(
        [HistoryStep(instance_id=i, position=0, kind=StepKind.ACTIVITY, name="charge") for i in old], batch_size=5000
    )
    kept = instances(10, Status.COMPLETED, days_ago=0, owned=False)

    out, _ = run("durable_purge")

    lines = progress(out)
    assert len(lines) == 200 and lines[-1] == (200, 100_000, 100_000)
    assert [done for _, done, _ in lines] == list(range(500, 100_001, 500))
    assert out.splitlines()[-1].startswith("Deleted 100,000 instance(s) and 0 expired event(s): 200,000 row(s) in 200")
    assert list(WorkflowInstance.objects.values_list("id", flat=True)) == kept
    assert HistoryStep.objects.count() == 0

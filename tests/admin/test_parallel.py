"""Parallel steps as the viewer shows them: bars that overlap for steps that ran side by side, and
what a first waits for in words, on the row and the page."""

from __future__ import annotations

import datetime as dt
import re

import pytest

import durable
from durable.models import HistoryStep, Status
from tests import parallel_workflows as pw
from tests.admin.test_instances import LIST, page, text

pytestmark = pytest.mark.django_db


def bars(body: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in re.findall(r'<span style="left:([\d.]+)%;width:([\d.]+)%">', body)]


def test_viewer__parallel_steps_side_by_side_with_overlapping_bars(admin_client, drain):
    handle = durable.start(pw.naps, 3, 0.0)
    drain(handle)
    # As if the three had run at once on three workers: the same start, ends a little apart.
    start = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    for position in range(3):
        HistoryStep.objects.filter(instance_id=handle.instance_id, position=position).update(
            started_at=start + dt.timedelta(seconds=position * 0.1),
            recorded_at=start + dt.timedelta(seconds=1 + position * 0.5),
        )
    response = admin_client.get(page(handle.instance_id))
    body = response.content.decode()
    shown = bars(body)
    assert len(shown) == 3
    # Each bar starts before every other one ends: they overlap.
    for left, _ in shown:
        assert all(left < other_left + other_width for other_left, other_width in shown)
    assert "parallel activity par.nap" in text(response)
    assert "ran 12:00:00.000 to 12:00:01.000, beside steps 0 to 2" in body.replace("&#x27;", "'")


def test_viewer__what_a_first_waits_for_in_words(admin_client, drain):
    handle = durable.start(pw.approval, "r-9", 86400)
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    listed = text(admin_client.get(LIST))
    assert "approval.decision, or 24h timer, whichever first (timer due in 23h 59m)" in listed
    shown = text(admin_client.get(page(handle.instance_id)))
    assert "approval.decision, or 24h timer, whichever first" in shown


def test_viewer__a_gather_waits_for_its_steps_in_words(admin_client, django_capture_on_commit_callbacks):
    from durable.run import executor

    durable.start(pw.naps, 4, 0.0)
    with django_capture_on_commit_callbacks(execute=True):
        executor.run_due()
    assert "4 parallel steps to end" in text(admin_client.get(LIST))

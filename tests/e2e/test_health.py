"""Worker health against real durable_worker processes: durable_status, and the viewer's banner when
instances wait and no worker has been seen for a minute (a real Chromium)."""

from __future__ import annotations

import datetime as dt
import json
import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

import durable
from durable import db
from durable.models import Status, WorkerHeartbeat, WorkflowInstance
from tests import workflows
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

BEAT = "0.5"
BANNER = "no durable_worker has been seen for a minute"


@pytest.fixture(autouse=True)
def quick_beats(settings):
    settings.DURABLE_HEARTBEAT_SECONDS = float(BEAT)


def status() -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("durable_status", "--json", stdout=out, stderr=StringIO())
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue())


def seen_long_ago() -> None:
    """What a minute without heartbeats leaves behind, without waiting the minute."""
    WorkerHeartbeat.objects.update(last_seen_at=db.now() - dt.timedelta(minutes=2))


def test_status__a_running_worker_is_listed_then_gone_after_a_kill_with_the_backlog_it_leaves(worker_factory):
    worker = worker_factory(DURABLE_HEARTBEAT_SECONDS=BEAT)
    wait_for(WorkerHeartbeat.objects.exists, timeout=10, what="the first heartbeat")
    handle = durable.start(workflows.three_steps, 1, nap=0.05)
    handle.result(timeout=30)
    code, shown = status()
    assert code == 0 and [w["running"] for w in shown["workers"]] == [True]
    assert shown["workers"][0]["runs"]["cluster"] is True and shown["workers"][0]["runs"]["runner"] is True
    assert shown["backlog"] == 0 and shown["lag_seconds"] is None

    worker.kill()
    wait_for(lambda: not status()[1]["workers"][0]["running"], timeout=10, what="the killed worker to go stale")
    waiting = [durable.start(workflows.three_steps, i, nap=0.05) for i in range(3)]
    code, shown = status()
    assert code == 0, "seen within the minute: not yet reported stranded"
    assert shown["backlog"] == 3 and shown["lag_seconds"] >= 0
    seen_long_ago()
    code, shown = status()
    assert code == 1 and shown["stranded"] is True

    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit):
        call_command("durable_status", stdout=out, stderr=err)
    assert re.search(r"Workers \(0 running, 1 seen\)", out.getvalue())
    assert "Runnable backlog: 3 instance(s)" in out.getvalue()
    assert "durable_worker" in err.getvalue()

    worker_factory(DURABLE_HEARTBEAT_SECONDS=BEAT)
    for handle in waiting:
        handle.result(timeout=30)
    code, shown = status()
    assert code == 0 and [w["running"] for w in shown["workers"]].count(True) == 1


@pytest.mark.browser
def test_banner__shown_while_instances_wait_and_no_worker_is_seen_gone_once_one_is_back(
    worker_factory, live_server, chromium
):
    from playwright.sync_api import expect

    User.objects.create_superuser("ops", "ops@example.com", "a-long-password")
    durable.start(workflows.three_steps, 1, nap=0.05, instance_id="stranded-1")
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/durable/workflowinstance/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "a-long-password")
    page.click("input[type=submit]")
    banner = page.locator(".messagelist .warning")
    expect(banner).to_contain_text(BANNER)
    expect(banner).to_contain_text("python manage.py durable_worker")
    page.goto(f"{live_server.url}/admin/durable/workflowinstance/stranded-1/change/")
    expect(banner).to_contain_text(BANNER)

    worker = worker_factory(DURABLE_HEARTBEAT_SECONDS=BEAT)
    wait_for(WorkerHeartbeat.objects.exists, timeout=10, what="the first heartbeat")
    page.goto(f"{live_server.url}/admin/durable/workflowinstance/")
    expect(page.locator("#result_list")).to_be_visible()
    expect(banner).to_have_count(0)

    worker.kill()
    seen_long_ago()
    durable.start(workflows.three_steps, 2, nap=0.05, instance_id="stranded-2")
    page.reload()
    expect(banner).to_contain_text(BANNER)

    worker_factory(DURABLE_HEARTBEAT_SECONDS=BEAT)
    wait_for(
        lambda: WorkflowInstance.objects.get(pk="stranded-2").status == Status.COMPLETED, timeout=30, what="the run"
    )
    page.reload()
    expect(page.locator("#result_list")).to_be_visible()
    expect(banner).to_have_count(0)

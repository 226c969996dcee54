"""The Hooks page (failing first, read-only, "retry now" with its permission and admin log) and the
instance page's list of its hooks with their attempts and errors."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

import durable
from durable import db, hooks
from durable.models import HookRun, HookStatus
from durable.run import executor
from tests import hook_workflows as hw
from tests.admin.conftest import VIEWS, staff

pytestmark = pytest.mark.django_db
LIST = "/admin/durable/hookrun/"
HOOK_VIEW = ("view_hookrun",)


@pytest.fixture(autouse=True)
def no_wake_ups(monkeypatch):
    monkeypatch.setattr(db, "_waker", None)


@pytest.fixture
def runs(monkeypatch, tmp_path) -> dict[str, HookRun]:
    """Three completions of hooks.finishes: one hook succeeded, one failing, one given up."""
    ids = {}
    for name, fails in (("ok", 0), ("failing", 100), ("gave_up", 100)):
        handle = durable.start(hw.finishes, str(tmp_path / name), fails=fails, instance_id=f"inst{name}")
        executor.run_due()
        ids[name] = handle.instance_id
        hooks.run_due("test", seconds=5)
    HookRun.objects.filter(instance_id=ids["gave_up"]).update(status=HookStatus.GAVE_UP, next_attempt_at=None)
    return {name: HookRun.objects.get(instance_id=instance_id) for name, instance_id in ids.items()}


def _login(client, codenames):
    client.force_login(staff("someone", VIEWS + codenames))
    return client


def test_hooks_page__lists_failing_first_then_given_up_then_succeeded(client, runs):
    page = _login(client, HOOK_VIEW).get(LIST).content.decode().replace("<wbr>", "")
    assert page.index("instfailing") < page.index("instgave_up") < page.index("instok")
    assert "RuntimeError: hook attempt 1 fails on purpose" in page
    assert "tests.hook_workflows.on_finish" in page
    # Read-only, and without the permission the retry action is not offered.
    assert 'value="retry_now"' not in page
    assert client.get(f"{LIST}add/").status_code == 403
    detail = client.get(f"{LIST}{runs['failing'].id}/change/").content.decode()
    assert runs["failing"].id in detail and "fails on purpose" in detail and 'name="_save"' not in detail


def test_retry_now__without_the_permission_is_refused_and_changes_nothing(client, runs):
    client = _login(client, HOOK_VIEW)
    before = HookRun.objects.get(id=runs["gave_up"].id)
    response = client.post(LIST, {"action": "retry_now", "_selected_action": [runs["gave_up"].id]}, follow=True)
    assert response.status_code == 200
    after = HookRun.objects.get(id=runs["gave_up"].id)
    assert (after.status, after.next_attempt_at) == (before.status, None)
    assert not LogEntry.objects.exists()


def test_retry_now__makes_them_due_logs_each_and_skips_the_succeeded(client, runs):
    client = _login(client, (*HOOK_VIEW, "retry_hookrun"))
    assert 'value="retry_now"' in client.get(LIST).content.decode()
    chosen = [runs["gave_up"].id, runs["ok"].id]
    response = client.post(LIST, {"action": "retry_now", "_selected_action": chosen}, follow=True)
    assert "1 hook(s) due now; 1 skipped (succeeded, or an attempt is running)." in response.content.decode()
    row = HookRun.objects.get(id=runs["gave_up"].id)
    assert row.status == HookStatus.FAILING and row.next_attempt_at is not None and row.next_attempt_at <= db.now()
    assert HookRun.objects.get(id=runs["ok"].id).status == HookStatus.SUCCEEDED
    logged = list(LogEntry.objects.values_list("object_id", "change_message"))
    assert logged == [(runs["gave_up"].id, "Retry now from the admin (attempts so far: 1)")]


def test_instance_page__lists_its_hooks_with_attempts_and_errors(admin_client, runs):
    url = f"/admin/durable/workflowinstance/{runs['failing'].instance_id}/change/"
    page = admin_client.get(url).content.decode().replace("<wbr>", "")
    assert 'id="durable-hooks"' in page and "tests.hook_workflows.on_finish" in page
    assert "Failing" in page and "fails on purpose" in page and f"{LIST}{runs['failing'].id}/change/" in page
    url = f"/admin/durable/workflowinstance/{runs['ok'].instance_id}/change/"
    quiet = admin_client.get(url).content.decode().replace("<wbr>", "")
    assert "Succeeded" in quiet and "fails on purpose" not in quiet

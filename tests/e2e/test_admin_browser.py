"""The viewer in a real browser: Debian's Chromium driven by Playwright, a live server and a real worker."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User

import durable
from durable.models import Status, WorkflowInstance
from tests import admin_workflows, workflows
from tests.conftest import ROOT, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

ARTIFACTS = ROOT / "artifacts"
SECONDS = 1000  # Playwright counts milliseconds


def status_of(instance_id: str) -> str:
    return WorkflowInstance.objects.get(pk=instance_id).status


def log_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login/?next=/admin/durable/workflowinstance/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "a-long-password")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/durable/workflowinstance/$"))


def test_browser__watch_cancel_and_complete_instances(worker, live_server, chromium):
    from playwright.sync_api import expect

    User.objects.create_superuser("ops", "ops@example.com", "a-long-password")
    durable.start(workflows.three_steps, 1, nap=0.05, instance_id="done-1")
    durable.start(admin_workflows.viewer_fails, 7, instance_id="charge-7")
    durable.start(admin_workflows.viewer_nap, 3300, instance_id="nap-1")
    durable.start(admin_workflows.viewer_order, "o-1", instance_id="order-1", timeout=300)
    durable.start(admin_workflows.viewer_order, "o-2", instance_id="order-2", timeout=600)
    durable.start(admin_workflows.viewer_settle, "acct-9", instance_id="settle-9")
    durable.start(admin_workflows.viewer_nap, 600, instance_id="nap-2")
    settled = {"done-1": Status.COMPLETED, "charge-7": Status.FAILED, "nap-1": Status.WAITING_FOR_TIMER}
    settled |= {"order-1": Status.WAITING_FOR_EVENT, "order-2": Status.WAITING_FOR_EVENT}
    settled |= {"settle-9": Status.WAITING_FOR_TIMER, "nap-2": Status.WAITING_FOR_TIMER}
    wait_for(lambda: all(status_of(i) == s for i, s in settled.items()), timeout=60, what="instances to settle")
    durable.pause("nap-2", "maintenance window")
    ARTIFACTS.mkdir(exist_ok=True)

    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    log_in(page, live_server.url)

    # The list: the waiting instance with its event type, match and deadline, in words.
    row = page.locator("#result_list tr", has=page.locator("a", has_text="order-1"))
    expect(row).to_contain_text("Waiting for event")
    expect(row).to_contain_text(re.compile(r"payment\.completed where order_id=o-1, times out in 4m \d+s"))
    expect(page.locator("#result_list tr", has_text="nap-1")).to_contain_text(re.compile(r"timer due in 5\dm"))
    expect(page.locator("#result_list tr", has_text="settle-9")).to_contain_text(
        re.compile(r"retry 2 of 5 in 4\ds \(viewer_call_bank\)")
    )
    expect(page.locator("#result_list tr", has_text="nap-2")).to_contain_text("an operator to resume it")
    expect(page.locator(".durable-count", has_text="Waiting for event")).to_contain_text("2")
    page.screenshot(path=ARTIFACTS / "admin-list.png", full_page=True)

    # The instance page: the timeline so far, then the cancel operation.
    row.locator("a", has_text="order-1").click()
    expect(page.locator("h1")).to_contain_text("viewer_order")
    timeline = page.locator(".durable-timeline")
    expect(timeline).to_contain_text("viewer_reserve")
    expect(timeline).to_contain_text("publish value")
    expect(timeline).to_contain_text("waiting for payment.completed where order_id=o-1")
    # A fresh load leaves the page's 3 s self-refresh well clear of the screenshot.
    page.reload()
    page.screenshot(path=ARTIFACTS / "admin-instance-waiting.png", full_page=True)
    page.fill(".durable-operations input[name=reason]", "customer gave up")
    page.click("button.durable-button--cancel")
    expect(page.locator(".messagelist")).to_contain_text("Cancelled instance order-1; it is now cancelled.")
    expect(page.locator("h1 .durable-badge")).to_have_text("Cancelled")
    assert status_of("order-1") == Status.CANCELLED
    entry = LogEntry.objects.get(object_id="order-1")
    assert entry.user.username == "ops" and entry.get_change_message() == "Cancelled from the admin: customer gave up"

    # Another waiting instance: send the payment from the form and watch the page refresh to completed.
    page.goto(f"{live_server.url}/admin/durable/workflowinstance/order-2/change/")
    page.evaluate("window.notReloaded = true")
    page.wait_for_function("() => window.notReloaded === undefined", timeout=6 * SECONDS)  # it refreshed itself
    form = page.locator("#send-event-form")
    expect(form.locator("#id_type")).to_have_value("payment.completed")
    assert json.loads(form.locator("#id_event_data").input_value()) == {"order_id": "o-2"}
    typed = json.dumps({"order_id": "o-2", "payment_id": "PAY-2"})
    form.locator("#id_event_data").fill(typed)
    page.wait_for_timeout(4 * SECONDS)  # longer than the 3 s refresh: it holds while the form is being filled
    assert form.locator("#id_event_data").input_value() == typed
    form.locator("input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("it resumed the instance")
    expect(page.locator("h1 .durable-badge")).to_have_text("Completed", timeout=30 * SECONDS)
    expect(page.locator(".durable-events")).to_contain_text("payment.completed")
    expect(page.locator(".durable-box").nth(1)).to_contain_text("PAY-2")
    page.screenshot(path=ARTIFACTS / "admin-instance-completed.png", full_page=True)
    page.locator(".durable-events a", has_text="payment.completed").click()
    expect(page.locator(".field-deliveries_table")).to_contain_text("Resumed a waiting instance")
    page.screenshot(path=ARTIFACTS / "admin-event.png", full_page=True)
    assert durable.get_handle("order-2").result(timeout=5)["payment_id"] == "PAY-2"

    # Dark mode, from the admin's own variables.
    dark = chromium.new_page(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    log_in(dark, live_server.url)
    dark.screenshot(path=ARTIFACTS / "admin-list-dark.png", full_page=True)
    dark.goto(f"{live_server.url}/admin/durable/workflowinstance/charge-7/change/")
    dark.screenshot(path=ARTIFACTS / "admin-instance-failed-dark.png", full_page=True)

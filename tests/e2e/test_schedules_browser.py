"""The Schedules page in a real browser (Debian's Chromium): the list, then pause and trigger as actions."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from durable import schedules
from durable.models import Schedule, WorkflowInstance

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_browser__schedules_page_pause_and_trigger(live_server, chromium):
    from playwright.sync_api import expect

    User.objects.create_superuser("ops", "ops@example.com", "a-long-password")
    schedules.create("nightly-report", "scheduled_report", cron="0 3 * * *", timezone="Europe/Berlin")
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{live_server.url}/admin/login/?next=/admin/durable/schedule/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "a-long-password")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/durable/schedule/$"))

    row = page.locator("#result_list tr", has_text="nightly-report")
    expect(row).to_contain_text("At 03:00 AM (0 3 * * *)")
    expect(row).to_contain_text("Europe/Berlin")
    expect(row).to_contain_text("active")

    row.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "pause")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Pause: nightly-report.")
    expect(page.locator("#result_list tr", has_text="nightly-report")).to_contain_text("paused")
    assert Schedule.objects.get(name="nightly-report").paused

    page.locator("#result_list tr", has_text="nightly-report").locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "trigger")
    page.click("button[name=index]")
    run = WorkflowInstance.objects.get(schedule_name="nightly-report")
    expect(page.locator(".messagelist")).to_contain_text(f"nightly-report → {run.id}")
    # The last run links to its instance page, which links back to the schedule.
    page.locator("#result_list tr", has_text="nightly-report").locator("a", has_text="nightly-report@").click()
    expect(page.locator(".durable-facts")).to_contain_text("schedule")
    page.locator(".durable-facts a", has_text="nightly-report").click()
    expect(page.locator("h1")).to_contain_text("schedule")

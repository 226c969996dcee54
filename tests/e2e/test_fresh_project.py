"""A fresh project, made as the README says: the wheel in a venv of its own, `django-admin startproject`,
the README's setup snippets and nothing else, then a real worker, runserver, HTTP, curl and Chromium.

Nothing of tests/settings.py reaches it: the project's processes get an environment without
DJANGO_*, DURABLE_*, DATABASE_URL and PYTHONPATH, and a venv that holds only the wheel and its
dependencies. One wheel and one venv serve both databases.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent

from project import processes
from tests.e2e import fresh_project as fresh
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.http_session import Answer, Client, curl_event

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.browser]

TOKEN = "a-webhook-secret"
ADMIN = {"DJANGO_SUPERUSER_USERNAME": "boss", "DJANGO_SUPERUSER_EMAIL": "boss@example.com"}
PASSWORD = "a-long-password-9"
# The server the README's PostgreSQL snippet names; the test makes a database of its own there.
POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"

# One small workflows module in the README's style (its example needs a model and a payment service).
WORKFLOWS = """\
from datetime import timedelta

import durable


@durable.activity(retry=durable.RetryPolicy(max_attempts=3, initial_interval=1.0))
def reserve_stock(ctx: durable.ActivityContext, order_id: str) -> dict:
    return {"reservation": f"RES-{order_id}", "attempt": ctx.attempt}


@durable.workflow
def fulfil_order(ctx: durable.WorkflowContext, order_id: str) -> dict:
    reservation = reserve_stock(ctx, order_id)
    paid = ctx.wait_event("payment.completed", match={"order_id": order_id}, timeout=timedelta(minutes=10))
    packed = ctx.wait_event("order.packed", match={"order_id": order_id})
    ctx.set_event("status", "packed")
    shipped = ctx.wait_event("order.shipped")
    return {
        "reservation": reservation["reservation"],
        "payment_id": paid.data["payment_id"],
        "box": packed.data["box"],
        "carrier": shipped.data["carrier"],
    }
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("fresh")
    return fresh.make_venv(base / "venv", fresh.build_wheel(base))


@pytest.fixture
def postgres_database() -> Iterator[str]:
    name = f"durable_fresh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_project(venv: Path, where: Path, postgres_name: str | None) -> Path:
    """startproject, then exactly the README's steps 2-4 and 6; the database name is the only line of ours."""
    env = fresh.clean_env(venv)
    fresh.run([str(venv / "bin" / "django-admin"), "startproject", "mysite"], where, env)
    site = where / "mysite"
    for line in fresh.commands("app"):
        fresh.run(fresh.readme_command(line, venv), site, env)
    settings = [fresh.snippet("settings")]
    if postgres_name is None:
        settings.append(fresh.snippet("sqlite"))
    else:
        settings += [fresh.snippet("postgres"), f'DATABASES["default"]["NAME"] = "{postgres_name}"\n']
    append(site / "mysite" / "settings.py", settings)
    append(site / "mysite" / "urls.py", [fresh.snippet("urls")])
    (site / fresh.snippet("workflows")).write_text(WORKFLOWS)
    return site


def append(path: Path, parts: list[str]) -> None:
    path.write_text(path.read_text() + "".join(f"\n{part}" for part in parts))


def wait_for(read: Callable[[], Answer], holds: Callable[[dict], bool], what: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = read()
        assert answer.status == 200, (answer.status, answer.body[:500])
        if holds(body := answer.json()):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {body}")
        time.sleep(0.1)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_fresh_project__the_readme_setup_runs_workflows_api_and_admin(venv, database, tmp_path, request):
    postgres_name = request.getfixturevalue("postgres_database") if database == "postgres" else None
    site = make_project(venv, tmp_path, postgres_name)
    env = fresh.clean_env(venv, DURABLE_EVENT_TOKEN=TOKEN)
    python = str(venv / "bin" / "python")

    checked = fresh.run([python, "manage.py", "check"], site, env)
    assert "System check identified no issues" in checked, checked
    for line in fresh.commands("migrate"):
        fresh.run(fresh.readme_command(line, venv), site, env)
    superuser = {**env, **ADMIN, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    fresh.run([python, "manage.py", "createsuperuser", "--noinput"], site, superuser)

    (worker_line,) = fresh.commands("worker")
    port = processes.pick_port(0)
    started: list[fresh.Process] = []
    try:
        worker = fresh.Process(fresh.readme_command(worker_line, venv), site, env, tmp_path / "worker.log")
        started.append(worker)
        runserver = [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        server = fresh.Process(runserver, site, env, tmp_path / "server.log")
        started.append(server)
        worker.wait_until(processes.log_contains(worker.log, processes.WORKER_BANNER))
        server.wait_until(processes.answers(f"http://127.0.0.1:{port}/admin/login/"))
        exercise_api(f"http://127.0.0.1:{port}")
        exercise_admin(f"http://127.0.0.1:{port}")
    finally:
        for process in reversed(started):
            process.stop(grace=40)
    for name, output in (("worker", worker.output()), ("server", server.output())):
        assert "Traceback" not in output, f"the {name} logged a traceback:\n{output}"
        assert not re.search(r'HTTP/1\.1" 5\d\d', output), f"the {name} answered a 5xx:\n{output}"
        # drf-spectacular prints what it cannot describe as "Warning: ..." or "Error: ..." lines.
        assert not re.search(r"^(Warning|Error): ", output, re.M), f"the {name} complained:\n{output}"
    assert re.search(r'"POST /durable/ HTTP/1\.1" 202', server.output())


def test_fresh_project__a_users_own_tests_run_workflows_with_durable_env(venv, tmp_path):
    """The README's testing steps in a fresh project: its example test, a file of the project's and not
    of this repository, run by plain `pytest`, gets durable_env from the installed package alone."""
    for line in fresh.commands("test-install"):
        assert line[:2] == ["pip", "install"], f"not a pip install: {line}"
        fresh.run([str(venv / "bin" / "pip"), "install", "-q", *line[2:]], tmp_path, fresh.clean_env(venv))
    site = make_project(venv, tmp_path, None)
    # The README's example workflow beside the project's; its test mocks the activities that need a model and a PSP.
    lines = fresh.snippet("example").splitlines(keepends=True)
    example = [line for line in lines if not line.startswith("handle = durable.start")]
    append(site / "orders" / "workflows.py", ["".join(example)])
    (site / "pytest.ini").write_text(fresh.snippet("pytest-ini"))
    test_file = site / "orders" / "test_payments.py"
    test_file.write_text(fresh.snippet("test-example"))
    assert "tests" not in re.findall(r"^(?:from|import) (\w+)", test_file.read_text(), re.M)
    began = time.perf_counter()
    output = fresh.run([str(venv / "bin" / "pytest"), "-p", "no:cacheprovider"], site, fresh.clean_env(venv))
    print(f"\n[fresh project] its own pytest run with durable_env: {time.perf_counter() - began:.1f} s of wall time")
    plugins = re.search(r"^plugins: (.*)$", output, re.M)
    assert plugins and "django-durable-workflows" in plugins.group(1) and "django-" in plugins.group(1), output
    assert re.search(r"\b2 passed\b", output) and "failed" not in output and "error" not in output.lower(), output


def exercise_api(base: str) -> None:
    webhook = Client(base)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    refused = webhook.get("/durable/schema/", **bearer)
    assert refused.status in (401, 403), refused
    assert "error_type" in refused.json()

    user = Client(base)
    user.log_in(ADMIN["DJANGO_SUPERUSER_USERNAME"], PASSWORD)
    schema = user.get("/durable/schema/")
    assert schema.status == 200 and schema.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    spec = schema.json()
    assert spec["openapi"].startswith("3.") and "/durable/workflows/{name}/start/" in spec["paths"], spec["paths"]

    session = {"X-CSRFToken": user.csrf()}
    for order in ("o-1", "o-2"):
        started = user.post_json(
            "/durable/workflows/fulfil_order/start/", {"args": [order], "instance_id": order}, **session
        )
        assert started.status == 201, started.body
        assert started.json()["workflow_name"] == "fulfil_order"

    def instance(instance_id: str) -> Callable[[], Answer]:
        return lambda: user.get(f"/durable/instances/{instance_id}/")

    def waits_for(event_type: str) -> Callable[[dict], bool]:
        return lambda body: body["status"] == "waiting_for_event" and event_type in json.dumps(body["waiting_for"])

    wait_for(instance("o-1"), waits_for("payment.completed"), "o-1 to wait for its payment")
    paid = CloudEvent(
        {"type": "payment.completed", "source": "/payments", "id": "pay-1", "datacontenttype": "application/json"},
        {"order_id": "o-1", "payment_id": "PAY-1"},
    )
    message = to_structured_event(paid)
    receipt = webhook.request("POST", "/durable/", message.body, {**dict(message.headers), **bearer})
    assert receipt.status == 202 and receipt.json()["resumed"] == ["o-1"], receipt.body

    wait_for(instance("o-1"), waits_for("order.packed"), "o-1 to wait for packing")
    packed = {"specversion": "1.0", "type": "order.packed", "source": "/warehouse", "id": "pack-1"}
    code, body = curl_event(f"{base}/durable/", {**packed, "data": {"order_id": "o-1", "box": "B-7"}}, TOKEN)
    assert (code, body["resumed"]) == (202, ["o-1"]), body

    wait_for(instance("o-1"), waits_for("order.shipped"), "o-1 to wait for shipping")
    shipped = {"specversion": "1.0", "type": "order.shipped", "source": "/carrier", "id": "ship-1"}
    headers = {**session, "Content-Type": "application/cloudevents+json"}
    sent = user.request(
        "POST", "/durable/instances/o-1/events/", json.dumps({**shipped, "data": {"carrier": "DHL"}}).encode(), headers
    )
    assert sent.status == 202 and sent.json()["resumed"] == ["o-1"], sent.body
    done = wait_for(instance("o-1"), lambda body: body["status"] == "completed", "o-1 to complete")
    assert done["result"] == {"reservation": "RES-o-1", "payment_id": "PAY-1", "box": "B-7", "carrier": "DHL"}
    assert user.get("/durable/instances/o-1/events/status/").json() == {"key": "status", "value": "packed"}

    wait_for(instance("o-2"), waits_for("payment.completed"), "o-2 to wait for its payment")
    cancelled = user.post_json("/durable/instances/o-2/cancel/", {"reason": "customer left"}, **session)
    assert cancelled.status == 200 and cancelled.json()["status"] == "cancelled", cancelled.body
    without_csrf = user.post_json("/durable/instances/o-1/cancel/", {})
    assert without_csrf.status == 403, without_csrf.body


def exercise_admin(base: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/admin/login/?next=/admin/durable/workflowinstance/")
            page.fill("#id_username", ADMIN["DJANGO_SUPERUSER_USERNAME"])
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(re.compile(r"/admin/durable/workflowinstance/$"))
            done = page.locator("#result_list tr", has=page.locator("a", has_text="o-1"))
            expect(done).to_contain_text("fulfil_order")
            expect(done).to_contain_text("Completed")
            expect(page.locator("#result_list tr", has=page.locator("a", has_text="o-2"))).to_contain_text("Cancelled")
            done.locator("a", has_text="o-1").click()
            expect(page.locator("h1")).to_contain_text("fulfil_order")
            expect(page.locator("h1 .durable-badge")).to_have_text("Completed")
            timeline = page.locator(".durable-timeline")
            expect(timeline).to_contain_text("reserve_stock")
            expect(timeline).to_contain_text("order.shipped")
        finally:
            browser.close()

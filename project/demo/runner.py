"""The demo's course: migrate, an admin user, a worker and a server, every pattern, then the admin until Ctrl-C."""

from __future__ import annotations

import logging
import secrets
import shutil
import signal
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import OutputWrapper
from django.core.management.color import Style
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.urls import NoReverseMatch, reverse

import durable
from durable.conf import settings as durable_settings
from project import processes
from project.demo.patterns import PATTERNS, Run, Unexpected
from project.demo.sender import ReceiverError, Sender
from project.processes import HOST, Service, ServiceError

logger = logging.getLogger(__name__)

ADMIN_USERNAME = ADMIN_PASSWORD = "admin"


class Console:
    """Progress on the command's stdout: whole lines, or a line built up part by part."""

    def __init__(self, out: OutputWrapper, style: Style) -> None:
        self.out = out
        self.style = style
        try:
            "✓✗…".encode(getattr(out, "encoding", None) or "ascii")
            self.tick, self.cross, self.more = "✓", "✗", "…"
        except (UnicodeEncodeError, LookupError):
            self.tick, self.cross, self.more = "ok", "FAILED:", "..."

    def line(self, text: str = "") -> None:
        self.out.write(text)
        self.out.flush()

    def part(self, text: str) -> None:
        self.out.write(text, ending="")
        self.out.flush()


def run(out: OutputWrapper, style: Style, *, port: int | None = None, exit_after: bool = False) -> list[str]:
    """Run the demo; returns what went wrong (nothing when every pattern behaved as expected).

    Args:
        out: where progress goes (the command's stdout).
        style: the command's style, for colour on a terminal.
        port: the server's port; None for 8000 when free, 0 for any free port.
        exit_after: stop after the patterns instead of serving the admin until Ctrl-C.
    """
    console = Console(out, style)
    started = time.monotonic()
    console.line(style.MIGRATE_HEADING("durable demo: the example workflows of project/workflows.py, run for real"))
    _migrate(console)
    _ensure_admin(console)
    token = durable_settings.EVENT_TOKEN or secrets.token_urlsafe(24)
    logs = Path(tempfile.mkdtemp(prefix="durable-demo-"))
    services: list[Service] = []
    problems: list[str] = []
    patterns_done = False
    previous_handler = _interrupt_on_sigterm()
    try:
        port = processes.pick_port(port)
        env = processes.child_env(DURABLE_EVENT_TOKEN=token)
        services.append(processes.worker(env, logs / "worker.log"))
        services.append(processes.server(env, logs / "server.log", port))
        for service in services:
            service.wait_ready()
        base = f"http://{HOST}:{port}"
        console.line(f"worker: durable_worker, pid {services[0].proc.pid}")
        console.line(f"server: {base}/ (runserver, pid {services[1].proc.pid}); events go to {base}/durable/")
        tag = secrets.token_hex(2)
        _run_patterns(console, Run(Sender(f"{base}/durable/", token), tag, _checker(services)), problems)
        patterns_done = True
        _summary(console, problems, time.monotonic() - started)
        if not exit_after:
            _serve(console, services, base, tag, token)
    except KeyboardInterrupt:
        console.line()
        if not patterns_done:
            problems.append("interrupted before every pattern had run")
    except ServiceError as error:
        console.line()
        console.line(style.ERROR(str(error)))
        problems.append(str(error).partition("\n")[0])
    finally:
        _stop(console, services)
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
        if problems and services:
            console.line(f"The worker's and the server's output is kept in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)
    return problems


def _migrate(console: Console) -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    call_command("migrate", interactive=False, verbosity=0)
    done = f"applied {len(pending)} migrations" if pending else "migrations up to date"
    console.line(f"database: {connection.display_name} {connection.settings_dict['NAME']}; {done}")


def _ensure_admin(console: Console) -> None:
    user_model = get_user_model()
    users = user_model._default_manager
    if users.filter(**{user_model.USERNAME_FIELD: ADMIN_USERNAME}).exists():
        console.line(f"admin user: {ADMIN_USERNAME} (exists already; its password is unchanged)")
        return
    users.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)
    console.line(f"admin user: created, username {ADMIN_USERNAME}, password {ADMIN_PASSWORD}")


def _interrupt_on_sigterm():
    """Treat SIGTERM like Ctrl-C, so the subprocesses are stopped either way."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def _checker(services: list[Service]):
    def check() -> None:
        for service in services:
            service.check()

    return check


def _run_patterns(console: Console, run: Run, problems: list[str]) -> None:
    """Run every pattern, one progress line each; add what went wrong to `problems`."""
    for number, (title, pattern) in enumerate(PATTERNS, start=1):
        console.part(f"[{number}/{len(PATTERNS)}] {title}: ")
        try:
            outcome = pattern(run, lambda text: console.part(f"{text}{console.more} "))
        except ServiceError:
            console.line(console.style.ERROR(f"{console.cross} stopped"))
            raise
        except (Unexpected, ReceiverError) as error:
            console.line(console.style.ERROR(f"{console.cross} {error}"))
            problems.append(f"{title}: {error}")
        except Exception as error:
            logger.exception("demo pattern %r crashed", title)
            console.line(console.style.ERROR(f"{console.cross} {type(error).__name__}: {error}"))
            problems.append(f"{title}: {type(error).__name__}: {error}")
        else:
            console.line(console.style.SUCCESS(f"{outcome} {console.tick}"))


def _summary(console: Console, problems: list[str], seconds: float) -> None:
    if problems:
        failed = f"{len(problems)} of {len(PATTERNS)} patterns did not behave as expected ({seconds:.1f} s)."
        console.line(console.style.ERROR(failed))
    else:
        console.line(console.style.SUCCESS(f"All {len(PATTERNS)} patterns behaved as expected ({seconds:.1f} s)."))


def leave_waiting(tag: str) -> dict[str, str]:
    """Start instances that stay waiting while the demo keeps running, so the viewer shows what
    it is for: one waits for its payment event (an hour's timeout), one sleeps an hour between two
    chunks, one is paused. Returns {what it shows: instance id}."""
    from project import workflows

    waits = durable.start(workflows.order_payment, f"o-{tag}-waits", Decimal("42.00"), timeout=3600)
    sleeps = durable.start(
        workflows.batch_import,
        f"b-{tag}-sleeps",
        [{"order_id": f"o-{tag}-{n}", "amount": "3.00"} for n in range(2)],
        1,
        3600,
    )
    paused = durable.start(workflows.order_payment, f"o-{tag}-paused", Decimal("7.00"), timeout=3600)
    durable.pause(paused.instance_id, "paused by the demo, to show a paused instance; resume it here")
    return {
        "waiting for an event": waits.instance_id,
        "waiting for a timer": sleeps.instance_id,
        "paused": paused.instance_id,
    }


def _serve(console: Console, services: list[Service], base: str, tag: str, token: str) -> None:
    """Leave a few instances waiting, print where to look, then watch the subprocesses until Ctrl-C."""
    for what, instance_id in leave_waiting(tag).items():
        console.line(f"Left {what}: {instance_id}")
    console.line(f"Admin:     {base}{reverse('admin:index')}  (log in as {ADMIN_USERNAME})")
    try:
        console.line(f"Instances: {base}{reverse('admin:durable_workflowinstance_changelist')}")
    except NoReverseMatch:  # the durable admin is not installed: the REST API lists them too
        console.line(f"Instances: {base}/durable/instances/")
    console.line(f"Orders:    {base}{reverse('admin:project_order_changelist')}")
    shown = token if token != durable_settings.EVENT_TOKEN else "$DURABLE_EVENT_TOKEN"
    console.line("Start one more workflow with an event of your own:")
    console.line(
        f"  curl -X POST {base}/durable/ -H 'Content-Type: application/cloudevents+json' "
        f'-H \'Authorization: Bearer {shown}\' -d \'{{"specversion": "1.0", "id": "{tag}-mine", '
        f'"type": "order.placed", "source": "/me", "data": {{"order_id": "o-{tag}-mine", "amount": "5.00"}}}}\''
    )
    console.line("Ctrl-C stops the worker and the server.")
    while True:
        for service in services:
            service.check()
        time.sleep(0.5)


def _stop(console: Console, services: list[Service]) -> None:
    if not services:
        return
    console.part(f"stopping the worker and the server{console.more} ")
    try:
        processes.stop_all(services)
    except KeyboardInterrupt:
        for service in services:
            service.kill()
    console.line("stopped.")

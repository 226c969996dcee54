"""Published values: set_event in a workflow until a blocked get_event returns it, in-process and over HTTP."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request

from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

import durable
from durable.models import Status
from project.bench import workflows
from project.bench.harness import Bench, BenchError
from project.bench.stats import latency_figures
from project.processes import LOCAL

NAME = "values"
NEEDS_WORKERS = True
FIGURES = {
    "values": ("", "values published, one at a time, each awaited by two blocked readers"),
    "p50_ms": ("ms", "set_event to durable.get_event returning (in-process)"),
    "p99_ms": ("ms", "set_event to durable.get_event returning (in-process)"),
    "http_p50_ms": ("ms", "set_event to the HTTP long-poll answering"),
    "http_p99_ms": ("ms", "set_event to the HTTP long-poll answering"),
}
READER = "durable-bench-reader"
WAIT = 30.0  # seconds a reader blocks at most
SETTLE = 0.15  # seconds for both readers to be blocked before the event goes out


def run(bench: Bench) -> dict[str, float]:
    server = bench.server()
    bench.workers()
    User.objects.filter(username=READER).delete()
    user = User.objects.create_superuser(READER, "", secrets.token_urlsafe(16))
    # A logged-in session, as a browser or a service keeps one: Basic auth would hash the
    # password (PBKDF2, about 0.3 s here) on every request, before the long-poll even waits.
    login = Client()
    login.force_login(user)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={login.cookies[django_settings.SESSION_COOKIE_NAME].value}"
    try:
        return _measure(bench, server.url, cookie)
    finally:
        User.objects.filter(username=READER).delete()


def _measure(bench: Bench, api: str, cookie: str) -> dict[str, float]:
    count = bench.options.values
    ids = bench.ids("va", count)
    prefix = ids[0].rsplit("-", 1)[0] + "-"
    for instance_id in ids:
        durable.start(workflows.publish_after_event, instance_id, instance_id=instance_id)
    bench.wait_for(prefix, count, Status.WAITING_FOR_EVENT, "waiting")
    local, http = [], []
    for i, instance_id in enumerate(ids):
        returned: dict[str, float] = {}
        readers = [
            threading.Thread(target=_read_in_process, args=(instance_id, returned)),
            threading.Thread(target=_read_over_http, args=(api, cookie, instance_id, returned)),
        ]
        for reader in readers:
            reader.start()
        time.sleep(SETTLE)
        durable.send_event(
            workflows.EVENT_TYPE, workflows.EVENT_SOURCE, {workflows.MATCH_FIELD: instance_id}, id=f"{instance_id}-go"
        )
        for reader in readers:
            reader.join(WAIT + 5)
        if "error" in returned or len(returned) < 3:
            raise BenchError(f"reading {instance_id}'s value failed: {returned.get('error', 'a reader timed out')}")
        local.append((returned["local"] - returned["set_at"]) * 1000)
        http.append((returned["http"] - returned["set_at"]) * 1000)
        bench.tick(f"reading published values {i + 1}/{count}")
    figures = {"values": count, **latency_figures(local), **latency_figures(http, "http_")}
    return {name: value for name, value in figures.items() if name in FIGURES}


def _read_in_process(instance_id: str, returned: dict[str, float]) -> None:
    try:
        value = durable.get_event(instance_id, "value", timeout=WAIT)
        returned["local"] = time.time()
        returned["set_at"] = value["set_at"]
    except Exception as exc:  # reported by the scenario, with the instance
        returned["error"] = f"in-process get_event: {exc}"
    finally:
        connection.close()


def _read_over_http(api: str, cookie: str, instance_id: str, returned: dict[str, float]) -> None:
    url = f"{api}instances/{instance_id}/events/value/?timeout={WAIT:g}"
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        with LOCAL.open(request, timeout=WAIT + 5) as response:
            json.loads(response.read())
        returned["http"] = time.time()
    except urllib.error.HTTPError as exc:
        returned["error"] = f"GET {url} answered {exc.code}: {exc.read()[:300]!r}"
    except OSError as exc:
        returned["error"] = f"GET {url} failed: {exc}"

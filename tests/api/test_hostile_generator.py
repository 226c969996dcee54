"""Every case of the hostile walk (tests/api/hostile_cases.py) against every endpoint and admin form.

For each case: no 5xx; an API answer is JSON, and an error is {"error", "error_type", "retryable"} and
not retryable; a refused case changes nothing (row counts of every durable table, the target
instance's state, the admin's log); an accepted case stores what it sent. Each case runs in a
savepoint rolled back afterwards, so every case meets the same database.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import connection, transaction
from django.test import Client
from rest_framework.test import APIClient

import durable
from durable.conf import settings as durable_settings
from durable.models import (
    Delivery,
    Event,
    EventKey,
    HistoryStep,
    PublishedValue,
    Timer,
    Wait,
    WaitShape,
    WorkflowInstance,
)
from tests import event_workflows as ew
from tests.api import hostile_cases as hc
from tests.api.conftest import TOKEN

pytestmark = pytest.mark.django_db

TABLES = [WorkflowInstance, HistoryStep, Wait, WaitShape, Timer, Event, EventKey, Delivery, PublishedValue, LogEntry]
ERROR_SHAPE = {"error", "error_type", "retryable"}
MIN_CASES = 2000


def snapshot() -> tuple:
    counts = ", ".join(f"(SELECT COUNT(*) FROM {model._meta.db_table})" for model in TABLES)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        rows = cursor.fetchone()
    target = WorkflowInstance.objects.filter(pk=hc.INSTANCE).values_list("status", "status_reason", "updated_at")
    return (*rows, *target)


def stored(before: tuple, after: tuple) -> dict[str, int]:
    return {model.__name__: after[i] - before[i] for i, model in enumerate(TABLES) if after[i] != before[i]}


@pytest.fixture
def clients(settings, drain):
    settings.DURABLE_EVENT_TOKEN = TOKEN
    handle = durable.start(ew.waits_once, "hostile", instance_id=hc.INSTANCE)
    drain()
    assert WorkflowInstance.objects.get(pk=handle.instance_id).status == "waiting_for_event"
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    operator = APIClient()
    operator.force_authenticate(User.objects.create_superuser("api-operator", "op@example.com", "pw"))
    admin = Client()
    admin.force_login(User.objects.create_superuser("admin-operator", "ad@example.com", "pw"))
    every = {"token": token, "operator": operator, "admin": admin}
    for client in every.values():
        client.raise_request_exception = False  # a crash is a 500 answer to report, not the end of the walk
    return every


def send(clients: dict, case: hc.Case):
    extra = {}
    for name, value in case.headers.items():
        key = name.upper().replace("-", "_")
        extra[key if key == "CONTENT_LENGTH" else f"HTTP_{key}"] = value
    client = clients[case.who]
    if case.is_admin:
        client.cookies.pop("messages", None)  # so the messages read afterwards are this request's own
    if case.method == "GET":
        return client.get(case.path, **extra)
    return client.generic(case.method, case.path, case.body, content_type=case.content_type or "", **extra)


def problems_of(case: hc.Case, response, change: dict[str, int]) -> list[str]:
    code = response.status_code
    found = []
    if code >= 500:
        found.append(f"answered {code}")
    if not case.is_admin:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
            if code >= 400 or not case.path.startswith("/durable/schema/"):  # the schema may be YAML
                found.append(f"answered {code} with no JSON: {response.content[:120]!r}")
        if code >= 400 and body is not None:
            if not isinstance(body, dict) or set(body) != ERROR_SHAPE:
                found.append(f"error body not in the JSON error shape: {body!r:.200}")
            elif body["retryable"]:
                found.append(f"hostile input called retryable: {body!r:.200}")
    refused = code >= 400 or (case.is_admin and (b"errorlist" in response.content or _warned(response)))
    if case.verdict == hc.REFUSE and not refused:
        found.append(f"accepted ({code}) what must be refused")
    if case.verdict == hc.ACCEPT and refused:
        found.append(f"refused ({code}) what must be accepted: {response.content[:200]!r}")
    if refused and change:
        found.append(f"refused ({code}) but stored {change}")
    if case.verdict == hc.ACCEPT and case.stores and not refused and not change:
        found.append(f"accepted ({code}) but stored nothing")
    return found


def _warned(response) -> bool:
    """Whether the admin told the user of an error or a warning (how it refuses and redirects)."""
    request = getattr(response, "wsgi_request", None)
    return request is not None and any(message.level_tag in ("error", "warning") for message in get_messages(request))


def run_walk(clients: dict, cases: list[hc.Case]) -> tuple[list[str], Counter]:
    failures, statuses = [], Counter()
    for case in cases:
        with transaction.atomic():
            before = snapshot()
            response = send(clients, case)
            change = stored(before, snapshot())
            transaction.set_rollback(True)
        statuses[response.status_code] += 1
        failures.extend(
            f"{case.name} [{case.method} {case.path[:80]}]: {p}" for p in problems_of(case, response, change)
        )
    return failures, statuses


def test_hostile_walk__no_5xx_json_errors_and_nothing_stored(clients):
    cases = hc.all_cases(int(durable_settings.MAX_EVENT_BYTES), int(durable_settings.MAX_BATCH_EVENTS))
    assert len(cases) >= MIN_CASES, f"the walk has only {len(cases)} cases"
    failures, statuses = run_walk(clients, cases)
    summary = f"{len(cases)} cases on {connection.vendor}, answers {dict(sorted(statuses.items()))}"
    print(summary)
    assert not failures, f"{len(failures)} of {summary} failed:\n" + "\n".join(failures[:400])
    assert sum(n for code, n in statuses.items() if code < 300) > 50, summary  # accepted cases were really sent


def test_hostile_walk__the_judge_catches_a_refusal_that_stores(clients):
    """The checks themselves can fail: a case that stores while refused, or a 5xx, is reported."""
    case = hc.Case("probe", "POST", "/durable/", hc.dumps(hc.event()), hc.STRUCTURED, verdict=hc.REFUSE)

    class Answer:
        def __init__(self, status: int, content: bytes) -> None:
            self.status_code, self.content = status, content

    assert problems_of(case, Answer(202, b"{}"), {"Event": 1}) == ["accepted (202) what must be refused"]
    assert problems_of(case, Answer(400, b'{"error": "x", "error_type": "y", "retryable": false}'), {"Event": 1})
    assert problems_of(case, Answer(500, b"<html>"), {})[0] == "answered 500"
    assert problems_of(case, Answer(400, b'{"detail": "x"}'), {})

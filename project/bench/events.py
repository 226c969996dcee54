"""Event round trip: a CloudEvent POSTed over HTTP until the waiting workflow has run to its end."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import durable
from durable.models import Status, WorkflowInstance
from project.bench import workflows
from project.bench.harness import Bench, BenchError
from project.bench.stats import latency_figures
from project.processes import LOCAL

NAME = "events"
NEEDS_WORKERS = True
FIGURES = {
    "events": ("", "events POSTed, one at a time"),
    "p50_ms": ("ms", "POST to the workflow's end"),
    "p99_ms": ("ms", "POST to the workflow's end"),
    "max_ms": ("ms", "POST to the workflow's end"),
    "post_p50_ms": ("ms", "the POST alone (until the 202)"),
    "post_p99_ms": ("ms", "the POST alone (until the 202)"),
    "after_post_p50_ms": ("ms", "from the 202 to the workflow's end"),
    "after_post_p99_ms": ("ms", "from the 202 to the workflow's end"),
}


def run(bench: Bench) -> dict[str, float]:
    return round_trips(bench, bench.options.events, "ev")


def round_trips(bench: Bench, count: int, tag: str) -> dict[str, float]:
    """Start `count` waiting workflows, POST each its event at the configured rate, time each."""
    server = bench.server()
    bench.workers()
    ids = bench.ids(tag, count)
    prefix = ids[0].rsplit("-", 1)[0] + "-"
    for i, instance_id in enumerate(ids):
        durable.start(workflows.wait_event, instance_id, instance_id=instance_id)
        if i % 20 == 0:
            bench.tick(f"starting waiters {i}/{count}")
    bench.wait_for(prefix, count, Status.WAITING_FOR_EVENT, "waiting")
    interval = 1.0 / bench.options.event_rate
    sent_at: dict[str, float] = {}
    answered_at: dict[str, float] = {}
    first = time.monotonic()
    for i, instance_id in enumerate(ids):
        pause = first + i * interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent_at[instance_id] = time.time()
        receipt = post_event(server.url, bench.token, instance_id, f"{instance_id}-event")
        answered_at[instance_id] = time.time()
        if receipt.get("resumed") != [instance_id]:
            raise BenchError(f"the event for {instance_id} resumed {receipt.get('resumed')}, not that instance")
        bench.tick(f"posting events {i + 1}/{count}")
    bench.wait_for(prefix, count, Status.COMPLETED, "resuming")
    ended: dict[str, Any] = dict(
        WorkflowInstance.objects.filter(id__startswith=prefix).values_list("id", "finished_at")
    )
    total = [(ended[i].timestamp() - sent_at[i]) * 1000 for i in ids]
    post = latency_figures([(answered_at[i] - sent_at[i]) * 1000 for i in ids], "post_")
    after = latency_figures([(ended[i].timestamp() - answered_at[i]) * 1000 for i in ids], "after_post_")
    return {
        "events": count,
        **latency_figures(total),
        **{k: v for k, v in {**post, **after}.items() if not k.endswith("max_ms")},
    }


def post_event(url: str, token: str, key: str, event_id: str) -> dict:
    """POST one structured-mode CloudEvent matching the workflow waiting on `key`; returns the receipt."""
    body = json.dumps(
        {
            "specversion": "1.0",
            "type": workflows.EVENT_TYPE,
            "source": workflows.EVENT_SOURCE,
            "id": event_id,
            "data": {workflows.MATCH_FIELD: key},
        }
    ).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/cloudevents+json", "Authorization": f"Bearer {token}"},
    )
    try:
        with LOCAL.open(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise BenchError(f"POST {url} answered {exc.code}: {exc.read()[:500]!r}") from None

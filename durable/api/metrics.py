"""GET <mount>/metrics/: the Prometheus exposition of what the processes recorded and what the database holds."""

from __future__ import annotations

import hmac
import os
from typing import Any

from django.http import HttpResponse
from rest_framework import authentication, exceptions, status
from rest_framework.settings import api_settings

from durable import db, health, inspect, metrics, queues
from durable.api.views import DurableView
from durable.conf import settings

# Active instances read for the per-workflow split; past it the split is marked capped.
BY_WORKFLOW_ROWS = 10_000


class MetricsUnavailable(exceptions.APIException):
    status_code = status.HTTP_501_NOT_IMPLEMENTED
    default_detail = (
        "Metrics need prometheus-client: pip install 'django-durable-workflows[metrics]' (durable[metrics]) "
        "and keep DURABLE_METRICS on."
    )
    default_code = "metrics_unavailable"


class Scraper:
    """The identity of a request that presented DURABLE_METRICS_TOKEN: it may only read metrics."""

    is_authenticated = True
    is_anonymous = False
    pk = None
    username = "durable-metrics-token"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False


class MetricsTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <DURABLE_METRICS_TOKEN>`, for a Prometheus server that has no user."""

    def authenticate(self, request):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        expected = settings.METRICS_TOKEN
        if scheme.lower() != "bearer" or not expected:
            return None
        if not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise exceptions.AuthenticationFailed("The bearer token is not DURABLE_METRICS_TOKEN.")
        return Scraper(), "metrics-token"

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="durable"'


class DatabaseCollector:
    """Gauges read from the database at each scrape, with bounded queries (as the admin counts)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from durable.admin.counting import status_counts

        counts = GaugeMetricFamily(
            "durable_instances", "Instances by status (an estimate above 1,000 on PostgreSQL).", labels=["status"]
        )
        for row in status_counts():
            counts.add_metric([row.status], row.count)
        yield counts
        tally, capped = inspect.active_by_workflow(BY_WORKFLOW_ROWS)
        by_workflow = GaugeMetricFamily(
            "durable_active_instances",
            f"Active instances by workflow and status (of the first {BY_WORKFLOW_ROWS:,} read).",
            labels=["workflow", "status"],
        )
        for (workflow, state), n in sorted(tally.items()):
            by_workflow.add_metric([workflow, state], n)
        yield by_workflow
        yield GaugeMetricFamily(
            "durable_active_instances_capped",
            "1 when there are more active instances than durable_active_instances read.",
            value=int(capped),
        )
        now = health.status()
        yield GaugeMetricFamily(
            "durable_runnable_backlog",
            f"Instances due to run and held by no worker (counted up to {health.COUNT_LIMIT:,}).",
            value=min(now.backlog, health.COUNT_LIMIT),
        )
        yield GaugeMetricFamily(
            "durable_lag_seconds", "Age of the oldest runnable instance (0 with none).", value=now.lag or 0.0
        )
        yield GaugeMetricFamily(
            "durable_due_timers", f"Timers past due (counted up to {health.COUNT_LIMIT:,}).",
            value=min(now.due_timers, health.COUNT_LIMIT),
        )  # fmt: skip
        yield GaugeMetricFamily("durable_workers", "durable_worker processes seen recently.", value=len(now.running))
        yield from queue_gauges(GaugeMetricFamily)


def queue_gauges(family: Any) -> Any:
    """Each queue's line (its depth), the slots held, and the age of the oldest in line."""
    depth = family(
        "durable_queue_depth",
        f"Instances in each queue's line, waiting for its limits (counted up to {health.COUNT_LIMIT:,}).",
        labels=["queue"],
    )
    busy = family("durable_queue_in_progress", "Instances holding a slot of each queue with limits.", labels=["queue"])
    oldest = family(
        "durable_queue_oldest_pending_seconds", "Age of the oldest instance in each queue's line (0 with none).",
        labels=["queue"],
    )  # fmt: skip
    moment = db.now()
    for view in queues.overview(count_up_to=health.COUNT_LIMIT):
        depth.add_metric([view.name], min(view.pending, health.COUNT_LIMIT))
        busy.add_metric([view.name], view.in_progress)
        age = (moment - view.oldest_pending_at).total_seconds() if view.oldest_pending_at is not None else 0.0
        oldest.add_metric([view.name], max(age, 0.0))
    yield from (depth, busy, oldest)


def exposition() -> tuple[bytes, str]:
    """The text to serve: this process's (or, in multiprocess mode, every process's) metrics and the database's."""
    import prometheus_client
    from prometheus_client import multiprocess

    registry = prometheus_client.CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        for family in metrics.families():
            registry.register(family)
    registry.register(DatabaseCollector())
    return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST


class Metrics(DurableView):
    """Prometheus metrics, for a user with the view permission or DURABLE_METRICS_TOKEN."""

    schema = None  # type: ignore[assignment]  # text, not JSON: documented in the README, not the OpenAPI schema

    def get_authenticators(self) -> list:
        classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
        return [MetricsTokenAuthentication(), *(cls() for cls in classes)]

    def check_permissions(self, request) -> None:
        if isinstance(request.user, Scraper):
            return
        super().check_permissions(request)

    def get(self, request) -> HttpResponse:
        if not metrics.enabled():
            raise MetricsUnavailable()
        body, content_type = exposition()
        return HttpResponse(body, content_type=content_type)

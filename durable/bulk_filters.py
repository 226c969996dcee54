"""Which instances a bulk operation selects: the instance list's filters, checked, and the query they make."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from durable import business_keys, text
from durable.conf import CODE_VERSION_MAX
from durable.engine.registry import registry
from durable.exceptions import InvalidArgument
from durable.models import Status, Wait, WorkflowInstance

# The filters of the instance list (GET /instances/, the admin's changelist), by name.
FILTERS = ("status", "workflow", "business_key", "code_version", "created_after", "created_before", "search", "ids")
MAX_IDS = 1000


def search(term: str) -> Q:
    """The admin's search: an id (or its start), a workflow name (or part), a business key, an awaited event type."""
    folded = term.lower()
    workflows = [name for name in registry.workflows if folded in name.lower()] + [term]
    waiting = Wait.objects.filter(event_type=term).values("instance_id")
    return Q(pk__startswith=term) | Q(workflow_name__in=workflows) | Q(business_key=term) | Q(pk__in=waiting)


def _moment(name: str, raw: Any) -> dt.datetime:
    value = None
    if isinstance(raw, str):
        try:
            value = parse_datetime(raw)
            if value is None and parse_date(raw) is not None:
                value = dt.datetime.fromisoformat(raw).replace(tzinfo=dt.UTC)
        except ValueError:
            value = None
    if value is None or value.tzinfo is None:
        raise InvalidArgument(f"{name} must be an ISO 8601 datetime with a time zone, e.g. 2026-11-21T10:00:00Z.")
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # outside years 1-9999 in UTC: before or after every stored moment
        return (dt.datetime.min if value.year < 5000 else dt.datetime.max).replace(tzinfo=dt.UTC)


def _string(name: str, raw: Any, limit: int = 255) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > limit or text.problem(raw):
        raise InvalidArgument(f"{name} must be a non-empty plain string of at most {limit} characters.")
    return raw


def clean(filters: dict[str, Any], *, everything: bool = False) -> dict[str, Any]:
    """The filters checked and in stored form; empty values count as absent.

    Raises:
        InvalidArgument: an unknown filter name, a malformed value, or no filter without `everything`.
    """
    if not isinstance(filters, dict):
        raise InvalidArgument("The filters must be an object of filter names and values.")
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise InvalidArgument(f"Unknown filter {', '.join(map(repr, unknown))}; the filters are {', '.join(FILTERS)}.")
    given = {name: value for name, value in filters.items() if value not in (None, "", [])}
    cleaned: dict[str, Any] = {}
    if "status" in given:
        statuses = given["status"] if isinstance(given["status"], list) else [given["status"]]
        if not all(isinstance(s, str) and s in Status.values for s in statuses):
            raise InvalidArgument(f"status must be one (or a list) of {', '.join(Status.values)}.")
        cleaned["status"] = sorted(set(statuses))
    for name in ("workflow", "search"):
        if name in given:
            cleaned[name] = _string(name, given[name], 200)
    if "business_key" in given:
        cleaned["business_key"] = _string("business_key", given["business_key"], business_keys.MAX_LENGTH)
    if "code_version" in given:
        cleaned["code_version"] = _string("code_version", given["code_version"], CODE_VERSION_MAX)
    for name in ("created_after", "created_before"):
        if name in given:
            cleaned[name] = _moment(name, given[name]).isoformat()
    if "ids" in given:
        ids = given["ids"]
        if not isinstance(ids, list) or len(ids) > MAX_IDS:
            raise InvalidArgument(f"ids must be a list of at most {MAX_IDS} instance ids.")
        cleaned["ids"] = sorted({_string("an id", pk, 200) for pk in ids})
    if not cleaned and not everything:
        raise InvalidArgument(
            "A bulk operation needs a filter (status, workflow, business_key, created_after, ...), or all=true "
            "to apply it to every instance."
        )
    return cleaned


def matching(filters: dict[str, Any], bound_at: dt.datetime | None = None) -> QuerySet:
    """The instances the cleaned `filters` select, created up to `bound_at`."""
    rows = WorkflowInstance.objects.all()
    if "status" in filters:
        rows = rows.filter(status__in=filters["status"])
    if "workflow" in filters:
        rows = rows.filter(workflow_name=filters["workflow"])
    if "business_key" in filters:
        rows = rows.filter(business_key=filters["business_key"])
    if "code_version" in filters:
        rows = rows.filter(code_version=filters["code_version"])
    if "created_after" in filters:
        rows = rows.filter(created_at__gte=dt.datetime.fromisoformat(filters["created_after"]))
    if "created_before" in filters:
        rows = rows.filter(created_at__lt=dt.datetime.fromisoformat(filters["created_before"]))
    if "search" in filters:
        rows = rows.filter(search(filters["search"]))
    if "ids" in filters:
        rows = rows.filter(pk__in=filters["ids"])
    if bound_at is not None:
        rows = rows.filter(created_at__lte=bound_at)
    return rows

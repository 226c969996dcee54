"""Counting without scanning: a paginator that estimates large counts, and the counts by status.

On PostgreSQL a COUNT(*) reads every row it counts, so with 100,000 instances the admin's usual
count would be the slowest query of the page. Small counts stay exact; large ones come from the
planner (pg_class.reltuples unfiltered, EXPLAIN's row estimate filtered) and are shown as "about".
SQLite deployments are small and single-writer, and SQLite keeps no statistics: counts are exact.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, QuerySet
from django.utils.functional import cached_property

from durable.models import Status, WorkflowInstance

logger = logging.getLogger(__name__)

# Below this many (estimated) rows an exact count is cheap enough to run.
EXACT_BELOW = 10_000


def _vendor(queryset: QuerySet) -> str:
    return connections[queryset.db].vendor


def estimate_rows(queryset: QuerySet) -> int | None:
    """The planner's idea of how many rows `queryset` has, on PostgreSQL; None elsewhere or unknown."""
    if _vendor(queryset) != "postgresql":
        return None
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        if not queryset.query.where:
            table = connection.ops.quote_name(queryset.model._meta.db_table)
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
            row = cursor.fetchone()
            # -1 (never analyzed) or 0 (maybe never analyzed, maybe empty): count instead.
            return int(row[0]) if row and row[0] > 0 else None
        sql, params = queryset.query.sql_with_params()
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatingPaginator(Paginator):
    """Exact counts when small, the planner's estimate when large (PostgreSQL only)."""

    exact_below = EXACT_BELOW
    estimated = False  # set by `count`

    @cached_property
    def count(self) -> int:
        estimate = estimate_rows(self.object_list) if isinstance(self.object_list, QuerySet) else None
        if estimate is None or estimate < self.exact_below:
            return super().count
        self.estimated = True
        return estimate


@dataclass(frozen=True)
class StatusCount:
    """How many instances have one status; `approximate` when it is an estimate."""

    status: str
    label: str
    count: int
    approximate: bool = False
    capped: bool = False


# One query, one bounded index probe per status: at most `cap` + 1 index entries each.
_CAPPED_SQL = (
    "SELECT s.status, (SELECT count(*) FROM (SELECT 1 FROM {table} i WHERE i.status = s.status LIMIT %s) AS t) "
    "FROM unnest(%s::text[]) AS s(status)"
)
_STATS_SQL = (
    "SELECT c.reltuples, s.most_common_vals::text::text[], s.most_common_freqs FROM pg_class c "
    "LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = %s AND s.attname = 'status' "
    "WHERE c.oid = to_regclass(%s)"
)


def status_counts(cap: int = EXACT_BELOW) -> list[StatusCount]:
    """Instances per status, every status listed: exact, or on PostgreSQL exact up to `cap`
    and estimated from the column statistics above it."""
    rows = WorkflowInstance.objects.all()
    if _vendor(rows) != "postgresql":
        found = dict(rows.order_by().values_list("status").annotate(n=Count("id")))
        return [StatusCount(value, str(label), found.get(value, 0)) for value, label in Status.choices]
    table = connections[rows.db].ops.quote_name(WorkflowInstance._meta.db_table)
    with connections[rows.db].cursor() as cursor:
        cursor.execute(_CAPPED_SQL.format(table=table), [cap + 1, list(Status.values)])
        found = dict(cursor.fetchall())
        over = [value for value, n in found.items() if n > cap]
        estimates = _estimates(cursor) if over else {}
    result = []
    for value, label in Status.choices:
        n = found.get(value, 0)
        if n <= cap:
            result.append(StatusCount(value, str(label), n))
        elif value in estimates and estimates[value] > cap:
            result.append(StatusCount(value, str(label), estimates[value], approximate=True))
        else:
            result.append(StatusCount(value, str(label), cap, capped=True))
    return result


def _estimates(cursor) -> dict[str, int]:
    table = WorkflowInstance._meta.db_table
    cursor.execute(_STATS_SQL, [table, cursor.db.ops.quote_name(table)])
    row = cursor.fetchone()
    if not row or row[1] is None or row[0] <= 0:
        return {}
    total, values, freqs = row
    return {value: int(total * freq) for value, freq in zip(values, freqs, strict=False)}

"""Counting without scanning: a paginator that estimates large counts, and the counts by status.

On PostgreSQL a COUNT(*) reads every row it counts, so with 100,000 instances the admin's usual
count would be the slowest query of the page. Counts here read a bounded number of rows: up to a
cap they are exact; above it they come from PostgreSQL's statistics (pg_class.reltuples for the
whole table, EXPLAIN's row estimate for a filtered list, pg_stats for a status) and the page says
"about". SQLite deployments are small and SQLite keeps no statistics: there, counts are exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count, QuerySet
from django.utils.functional import cached_property

from durable.models import Status, WorkflowInstance

# Lists with fewer rows than this are counted exactly (reading at most this many rows).
EXACT_BELOW = 10_000
# Statuses with more instances than this are estimated: the counts probe every status per page.
STATUS_EXACT_UP_TO = 1_000


def _is_postgres(queryset: QuerySet) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def table_rows(queryset: QuerySet) -> int | None:
    """PostgreSQL's row estimate for the whole table; None when it has never been analyzed."""
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(queryset.model._meta.db_table)
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    # -1 means never analyzed; 0 may mean never analyzed too: count instead.
    return int(row[0]) if row and row[0] > 0 else None


def estimate_rows(queryset: QuerySet) -> int:
    """The planner's row estimate for a (filtered) queryset, from EXPLAIN; PostgreSQL only."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatingPaginator(Paginator):
    """Exact counts up to `exact_below` rows, estimates above (PostgreSQL only).

    The whole table is judged by reltuples first. A filtered list is counted up to the cap
    (COUNT over a LIMIT subquery), because the planner's guess for an OR of a LIKE, an IN and
    a subquery can be off by orders of magnitude; only past the cap is that guess used.
    """

    exact_below = EXACT_BELOW
    estimated = False  # set by `count`

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        if not isinstance(rows, QuerySet) or not _is_postgres(rows):
            return super().count
        if not rows.query.where:
            estimate = table_rows(rows)
            if estimate is None or estimate < self.exact_below:
                return super().count
            self.estimated = True
            return estimate
        capped = rows.order_by()[: self.exact_below + 1].count()
        if capped <= self.exact_below:
            return capped
        self.estimated = True
        return max(estimate_rows(rows), capped)


@dataclass(frozen=True)
class StatusCount:
    """How many instances have one status; `approximate` when it is an estimate."""

    status: str
    label: str
    count: int
    approximate: bool = False
    capped: bool = False


# One query of one probe per status, each stopping after `cap` + 1 rows. The statuses are
# literals, not a join against a list, so the planner reads each one's statistics: an index probe
# for a rare status, a short sequential read for a common one. (Joined against unnest(), it
# planned a full sequential scan per status: 116 ms against 1.8 ms with 100,000 instances.)
_PROBE_SQL = "SELECT %s, (SELECT count(*) FROM (SELECT 1 FROM {table} WHERE status = %s LIMIT %s) AS t)"
_STATS_SQL = (
    "SELECT c.reltuples, s.most_common_vals::text::text[], s.most_common_freqs FROM pg_class c "
    "LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = %s AND s.attname = 'status' "
    "WHERE c.oid = to_regclass(%s)"
)


def status_counts(cap: int = STATUS_EXACT_UP_TO) -> list[StatusCount]:
    """Instances per status, every status listed: exact, or on PostgreSQL exact up to `cap`
    and estimated from the column statistics above it."""
    rows = WorkflowInstance.objects.all()
    if not _is_postgres(rows):
        found = dict(rows.order_by().values_list("status").annotate(n=Count("id")))
        return [StatusCount(value, str(label), found.get(value, 0)) for value, label in Status.choices]
    table = connections[rows.db].ops.quote_name(WorkflowInstance._meta.db_table)
    with connections[rows.db].cursor() as cursor:
        probes = " UNION ALL ".join([_PROBE_SQL.format(table=table)] * len(Status.values))
        cursor.execute(probes, [param for value in Status.values for param in (value, value, cap + 1)])
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

"""The machine context stored with every result: CPUs, load, versions, the database, the settings."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import django
from django.conf import settings as django_settings
from django.db import connections

from durable import db
from durable.conf import settings
from project.bench.services import bench_env


def context(workers: int) -> dict[str, Any]:
    """Everything a reader needs to compare two result files."""
    connection = connections[db.alias()]
    q_cluster = getattr(django_settings, "Q_CLUSTER", {})
    env = bench_env()
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _memory_mb(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "django": django.get_version(),
        "django_q2": _version("django-q2"),
        "durable": _version("django-durable-workflows"),
        "git_commit": _git_commit(),
        "database": {
            "vendor": connection.vendor,
            "version": _db_version(connection),
            "name": str(connection.settings_dict.get("NAME")),
            "conn_max_age": connection.settings_dict.get("CONN_MAX_AGE"),
            "options": {k: v for k, v in connection.settings_dict.get("OPTIONS", {}).items() if k != "password"},
            "planner_statistics": _statistics(connection),
        },
        "worker": {
            "durable_worker_processes": workers,
            "q2_workers_per_process": q_cluster.get("workers"),
            "q2_poll": q_cluster.get("poll"),
            "q2_broker": f"orm:{q_cluster['orm']}"
            if q_cluster.get("orm")
            else ("redis" if "redis" in q_cluster else "?"),
            "timer_poll": settings.TIMER_POLL,
            "batch_size": settings.BATCH_SIZE,
            "drain_seconds": settings.DRAIN_SECONDS,
            "lease_seconds": settings.LEASE_SECONDS,
            "recovery_interval": settings.RECOVERY_INTERVAL,
            "child_debug": env["DJANGO_DEBUG"] == "1",
            "settings_module": os.environ.get("DJANGO_SETTINGS_MODULE"),
        },
    }


def _db_version(connection) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("select sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]}"
        if connection.vendor == "postgresql":
            cursor.execute("show server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
    return connection.vendor


def _statistics(connection) -> str:
    """Whether the query planner has table statistics: they decide which index a claim uses."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from sqlite_master where name = 'sqlite_stat1'")
            return "ANALYZE has run (sqlite_stat1)" if cursor.fetchone()[0] else "none (ANALYZE never ran)"
    if connection.vendor == "postgresql":
        return "autovacuum"
    return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(__file__).resolve().parents[2],
        )
    except OSError:
        return None
    return out.stdout.strip() or None

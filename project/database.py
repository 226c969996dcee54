"""DATABASES from DATABASE_URL: sqlite:////abs/path.sqlite3 or postgres://user@host:port/name."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

SQLITE_OPTIONS = {
    # IMMEDIATE + a busy timeout stop "database is locked" under a multi-process worker;
    # WAL lets readers run beside the one writer (ECOSYSTEM.md measures both).
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def from_url(url: str, *, sqlite_test_name: Path | None = None) -> dict:
    """One Django database settings dict for a DATABASE_URL."""
    parts = urlparse(url)
    if parts.scheme == "sqlite":
        name = unquote(parts.path)
        if name.startswith("//"):
            name = name[1:]
        config = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": dict(SQLITE_OPTIONS),
            "CONN_MAX_AGE": 600,
        }
        if sqlite_test_name is not None:
            # A file, not memory: worker subprocesses must see the test database.
            config["TEST"] = {"NAME": str(sqlite_test_name)}
        return config
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            # Persistent connections: django-q2 closes "old" ones before every broker call.
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": query,
        }
    raise ValueError(f"DATABASE_URL {url!r}: use sqlite:////path/to/db.sqlite3 or postgres://user@host:5432/name")

"""System checks: the apps and settings durable needs, SQLite settings that would lock, PostgreSQL connection reuse,
DURABLE_RETENTION, DURABLE_QUEUES, DURABLE_RUNNER_THREADS."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings
from django.core import checks

from durable.conf import DEFAULTS, retention_problems

REQUIRED_APPS = ("django_q", "rest_framework")
RUNNER_THREADS_MAX = 64


def check_apps(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for app in REQUIRED_APPS:
        if not apps.is_installed(app):
            errors.append(
                checks.Error(
                    f"'{app}' is not in INSTALLED_APPS.",
                    hint=f'Add "{app}" to INSTALLED_APPS beside "durable".',
                    id="durable.E001",
                )
            )
    return errors


def check_cluster(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    conf = getattr(settings, "Q_CLUSTER", None)
    if not isinstance(conf, dict):
        return [
            checks.Error(
                "Q_CLUSTER is not set, so django-q2 has no broker for durable's worker.",
                hint='Set Q_CLUSTER = {"name": "durable", "orm": "default", "poll": 0.05, "retry": 120, '
                '"timeout": 60}.',
                id="durable.E002",
            )
        ]
    messages: list[checks.CheckMessage] = []
    timeout, retry = conf.get("timeout"), conf.get("retry", 60)
    if timeout is not None and retry is not None and retry <= timeout:
        messages.append(
            checks.Warning(
                f"Q_CLUSTER retry ({retry}) is not above timeout ({timeout}); a task could run twice.",
                hint="Set retry well above timeout, e.g. timeout 60 and retry 120.",
                id="durable.W003",
            )
        )
    return messages


def check_sqlite(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return sqlite_messages(settings.DATABASES.get("default", {}))


def check_postgres(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return postgres_messages(settings.DATABASES.get("default", {}))


def postgres_messages(db: dict) -> list[checks.CheckMessage]:
    """What is wrong with one database's settings for durable's worker on PostgreSQL."""
    if "postgresql" not in db.get("ENGINE", "") or db.get("CONN_MAX_AGE", 0) not in (0, None):
        return []
    return [
        checks.Warning(
            "CONN_MAX_AGE is 0 on PostgreSQL: django-q2 closes 'old' connections before every broker call, "
            "so each poll of the worker opens a new connection.",
            hint='Set DATABASES["default"]["CONN_MAX_AGE"] = 600 (or None to keep connections).',
            id="durable.W004",
        )
    ]


def sqlite_messages(db: dict) -> list[checks.CheckMessage]:
    """What is wrong with one database's settings for a multi-process worker on SQLite."""
    if "sqlite3" not in db.get("ENGINE", ""):
        return []
    options = db.get("OPTIONS", {})
    messages: list[checks.CheckMessage] = []
    if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
        messages.append(
            checks.Warning(
                "SQLite runs DEFERRED transactions, which fail with 'database is locked' under a multi-process worker.",
                hint='Set DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE".',
                id="durable.W001",
            )
        )
    if "journal_mode=wal" not in str(options.get("init_command", "")).lower().replace(" ", ""):
        messages.append(
            checks.Warning(
                "SQLite is not in WAL mode: readers and the writer block each other.",
                hint='Set OPTIONS["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL" '
                'and OPTIONS["timeout"] = 20.',
                id="durable.W002",
            )
        )
    return messages


def check_hooks(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A durable hook limited to a workflow that no code registers would never run."""
    from durable.engine.registry import registry

    return [
        checks.Warning(
            f"Durable hook '{hook.name}' runs for workflow '{hook.workflow}', which is not registered: it never runs.",
            hint="Check the workflow's name in @durable.hook(..., workflow=...), or pass the workflow itself.",
            id="durable.W006",
        )
        for hook in registry.hooks.values()
        if hook.workflow is not None and hook.workflow not in registry.workflows
    ]


def check_retention(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    value = getattr(settings, "DURABLE_RETENTION", None)
    return [checks.Error(msg, hint=hint, id="durable.E003") for msg, hint in retention_problems(value)]


def check_queues(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """DURABLE_QUEUES is well formed, and every workflow's queue is one of it."""
    from durable import queues
    from durable.engine.registry import registry

    value = getattr(settings, "DURABLE_QUEUES", {})
    found: list[checks.CheckMessage] = [
        checks.Error(msg, hint=hint, id="durable.E004") for msg, hint in queues.problems(value)
    ]
    if found:
        return found
    known = set(value) | {queues.DEFAULT}
    return [
        checks.Error(
            f"Workflow '{wf.name}' runs in queue {wf.queue!r}, which DURABLE_QUEUES does not have.",
            hint=f"Add {wf.queue!r} to DURABLE_QUEUES (with limits or {{}}), or fix @durable.workflow(queue=...).",
            id="durable.E005",
        )
        for wf in registry.workflows.values()
        if wf.queue is not None and wf.queue not in known
    ]


def check_runner_threads(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    value = getattr(settings, "DURABLE_RUNNER_THREADS", DEFAULTS["RUNNER_THREADS"].default)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= RUNNER_THREADS_MAX:
        return []
    return [
        checks.Error(
            f"DURABLE_RUNNER_THREADS is {value!r}, not a whole number from 1 to {RUNNER_THREADS_MAX}.",
            hint=f"Leave it out for {DEFAULTS['RUNNER_THREADS'].default} (a run holds its thread until its next "
            "wait or its end; more threads than the machine has cores rarely help).",
            id="durable.E006",
        )
    ]


def register() -> None:
    for check in (
        check_apps,
        check_cluster,
        check_sqlite,
        check_postgres,
        check_hooks,
        check_retention,
        check_queues,
        check_runner_threads,
    ):
        checks.register(check, "durable")

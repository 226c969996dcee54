"""Settings of the demo project: SQLite by default, PostgreSQL when DATABASE_URL is set."""

from __future__ import annotations

import os
from pathlib import Path

from project.database import from_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "durable-demo-only-not-secret-" + "x" * 24)
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_q",
    "durable",
    "project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

DATABASES = {
    "default": from_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        sqlite_test_name=Path(os.environ.get("DURABLE_SQLITE_TEST_NAME", BASE_DIR / ".test-db.sqlite3")),
    )
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"

Q_CLUSTER = {
    "name": "durable",
    "orm": "default",
    "workers": int(os.environ.get("DURABLE_Q_WORKERS", "2")),
    # The broker's poll bounds how soon a wake-up is picked up (ECOSYSTEM.md).
    "poll": float(os.environ.get("DURABLE_Q_POLL", "0.02")),
    "timeout": 60,
    "retry": 120,
    "max_attempts": 1,
    "save_limit": 0,
    "catch_up": False,
    "ack_failures": True,
    "label": "Django Q2",
}

if os.environ.get("DURABLE_Q_REDIS"):
    # The Redis broker instead of the ORM one: BLPOP wakes at once, but a lost task is not
    # redelivered (durable's recovery sweep re-queues the work).
    del Q_CLUSTER["orm"]
    Q_CLUSTER["redis"] = os.environ["DURABLE_Q_REDIS"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

DURABLE_WORKFLOW_MODULES = [m for m in os.environ.get("DURABLE_WORKFLOW_MODULES", "").split(",") if m]
DURABLE_EVENT_TOKEN = os.environ.get("DURABLE_EVENT_TOKEN") or None
# Flow control (SPEC 14): the bench's queues. bench_full holds one instance at a time (a line
# builds behind it); bench_limited has limits that never bind, to measure what limits cost.
DURABLE_QUEUES = {
    "bench_full": {"concurrency": 1},
    "bench_limited": {"concurrency": 10_000, "rate": "100000/s"},
}
if os.environ.get("DURABLE_NOTIFY"):
    DURABLE_NOTIFY = os.environ["DURABLE_NOTIFY"].lower() not in ("0", "false", "no", "off")
if os.environ.get("DURABLE_LEASE_SECONDS"):
    DURABLE_LEASE_SECONDS = float(os.environ["DURABLE_LEASE_SECONDS"])
# DURABLE_DEMO_OBSERVE=0 turns metrics and tracing off, for measuring what they cost.
DURABLE_METRICS = DURABLE_TRACING = os.environ.get("DURABLE_DEMO_OBSERVE", "1") != "0"
if os.environ.get("DURABLE_HOOK_POLL"):
    DURABLE_HOOK_POLL = float(os.environ["DURABLE_HOOK_POLL"])
if os.environ.get("DURABLE_DRAIN_SECONDS"):
    DURABLE_DRAIN_SECONDS = float(os.environ["DURABLE_DRAIN_SECONDS"])
if os.environ.get("DURABLE_WORKER_STOP_SECONDS"):
    DURABLE_WORKER_STOP_SECONDS = float(os.environ["DURABLE_WORKER_STOP_SECONDS"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}

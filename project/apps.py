"""The demo project as an app: its example workflows and the Order model they write."""

from __future__ import annotations

import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class DemoProjectConfig(AppConfig):
    name = "project"
    verbose_name = "Demo shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from project import observability

        if observability.configure():
            logger.info("OpenTelemetry SDK configured (DURABLE_DEMO_OTEL=1): spans are made and dropped")

"""App config: discover `<app>.workflows` modules, register checks, install the worker wake-up."""

from __future__ import annotations

import importlib

from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save
from django.utils.module_loading import autodiscover_modules


class DurableConfig(AppConfig):
    name = "durable"
    verbose_name = "Durable workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.models import OrmQ

        from durable import checks, db
        from durable.conf import settings
        from durable.worker import broker, wakeup

        checks.register()
        db.set_waker(wakeup.request)
        post_save.connect(broker.notify_enqueued, sender=OrmQ, dispatch_uid="durable-notify-enqueued")
        post_migrate.connect(ensure_backstop, sender=self, dispatch_uid="durable-backstop")
        autodiscover_modules("workflows")
        for module in settings.WORKFLOW_MODULES:
            importlib.import_module(module)


def ensure_backstop(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    """After migrate, the backstop sweep's schedule exists, so plain `qcluster` fires timers too."""
    from durable import db
    from durable.worker import schedules

    if using == db.alias():
        schedules.ensure_backstop()

"""The viewer's Queues page: each queue's limits, in progress, pending, oldest pending age and rate used.

It hangs off the instance admin (`.../workflowinstance/queues/`) and needs the permission to view
instances, as the instance list does; it only reads (durable.queues.overview).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from durable import db, queues, words


class InstanceQueues(admin.ModelAdmin):
    """The instance admin's Queues page: its URL, permission and rows."""

    queues_template = "admin/durable/workflowinstance/queues.html"

    def get_urls(self) -> list:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view(self.queues_view)
        return [path("queues/", view, name=f"{name}_queues"), *super().get_urls()]

    def queues_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        moment = db.now()
        rows = [
            {
                "name": view.name,
                "concurrency": view.limits.concurrency,
                "per_key": view.limits.per_key,
                "rate": view.limits.rate_text,
                "limited": view.limits.limited,
                "in_progress": view.in_progress,
                "pending": view.pending,
                "oldest": words.span((moment - view.oldest_pending_at).total_seconds())
                if view.oldest_pending_at
                else None,
                "rate_used": view.rate_used,
            }
            for view in queues.overview()
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": "Queues",
            "rows": rows,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.queues_template, context)

"""Bulk operations from the admin: "all N matching" with a confirmation that says N, and the BulkOperation page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import IGNORED_PARAMS
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from durable import bulk, permissions
from durable.admin.base import ReadOnlyAdmin, stamp
from durable.conf import settings
from durable.exceptions import DurableError, InvalidArgument
from durable.models import BulkOperation, BulkStatus
from durable.worker import bulk as jobs

# The changelist's query parameters, as the bulk filters name them.
CHANGELIST_FILTERS = {
    "status__exact": "status",
    "workflow": "workflow",
    "code_version": "code_version",
    "created_at__gte": "created_after",
    "created_at__lt": "created_before",
    "q": "search",
}
CONFIRM_TEMPLATE = "admin/durable/workflowinstance/bulk_confirm.html"


def changelist_filters(query: Any) -> dict[str, Any]:
    """The bulk filters of the changelist's current filters and search; InvalidArgument for one it cannot carry."""
    filters: dict[str, Any] = {}
    for name, value in query.items():
        if name in CHANGELIST_FILTERS:
            filters[CHANGELIST_FILTERS[name]] = value.strip() if name == "q" else value
        elif name not in IGNORED_PARAMS and name != "_changelist_filters":
            raise InvalidArgument(f"The list filter {name!r} cannot select instances for an operation on all of them.")
    return filters


def across(model_admin: admin.ModelAdmin, request, queryset, name: str) -> TemplateResponse | None:
    """The action over every instance the changelist matches: a confirmation first, then the bulk
    operation `name` (a key of durable.bulk.OPERATIONS; the action checked its permission)."""
    op = bulk.operation(name)
    try:
        filters = changelist_filters(request.GET)
    except InvalidArgument as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
        return None
    if request.POST.get("post") != "yes":
        count = queryset.count()
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": f"{op.label} all matching instances",
            "question": f"{op.label} all {count:,} matching instances?",
            "count": f"{count:,}",
            "filters": ", ".join(f"{k} {v}" for k, v in filters.items()),
            "background": count > int(settings.BULK_INLINE_LIMIT),
            "inline_limit": f"{int(settings.BULK_INLINE_LIMIT):,}",
            "action": request.POST.get("action", ""),
            # Django takes an action only with some rows ticked, "all matching" too: those of the page.
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "label": op.label,
            "takes_reason": op.takes_reason,
        }
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)
    given = request.POST.get("reason", "").strip()[:500]
    try:
        job = bulk.request(
            op.name,
            filters,
            everything=not filters,
            reason=given or f"{op.done} by {request.user} in the admin (bulk)",
            requested_by=f"{request.user} (admin)",
            user_id=request.user.pk,
        )
        background = jobs.start(job.pk)
    except DurableError as exc:
        model_admin.message_user(request, str(exc), messages.ERROR)
        return None
    job.refresh_from_db()
    page = reverse("admin:durable_bulkoperation_change", args=[job.pk])
    if background:
        said = format_html(
            '{} all {} matching instances in the background: <a href="{}">bulk operation #{}</a> shows its progress.',
            op.label,
            f"{job.total:,}",
            page,
            job.pk,
        )
        model_admin.message_user(request, said, messages.SUCCESS)
    else:
        words = f"{op.done} {job.done:,} of {job.total:,} matching instances; {job.skipped:,} skipped"
        model_admin.message_user(request, f"{words} (bulk operation #{job.pk}).", messages.SUCCESS)
        if job.failed:
            model_admin.message_user(request, f"{job.failed} failed; the last: {job.last_error}", messages.ERROR)
    return None


@admin.register(BulkOperation)
class BulkOperationAdmin(ReadOnlyAdmin):
    list_display = ("id", "operation", "status", "progress", "requested_by", "created", "finished")
    list_filter = ("status", "operation")
    readonly_fields = (
        "operation",
        "status",
        "progress",
        "filters",
        "reason",
        "requested_by",
        "background",
        "total",
        "done",
        "skipped",
        "failed",
        "last_error",
        "created_at",
        "started_at",
        "updated_at",
        "finished_at",
    )
    fields = readonly_fields
    ordering = ("-created_at",)

    refresh_seconds = 3

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        live = job is not None and job.status in bulk.UNFINISHED
        extra = {"refresh_seconds": self.refresh_seconds if live else None, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever may look at the instances may follow what is done to them.
        looks = request.user.has_perm(permissions.qualified(permissions.VIEW_INSTANCE))
        return looks or super().has_view_permission(request, obj)

    @admin.display(description="progress")
    def progress(self, obj: BulkOperation) -> str:
        share = f" ({100 * obj.handled // obj.total}%)" if obj.total else ""
        said = f"{obj.handled:,}/{obj.total:,}{share}: {obj.done:,} done, {obj.skipped:,} skipped"
        said += f", {obj.failed:,} failed"
        return said + ("" if obj.status in (BulkStatus.DONE, BulkStatus.FAILED) else " …")

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: BulkOperation) -> str:
        return stamp(obj.created_at)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, obj: BulkOperation) -> str:
        return stamp(obj.finished_at) if obj.finished_at else "—"

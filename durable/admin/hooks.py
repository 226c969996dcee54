"""The Hooks page: every durable hook run, failing ones first, with a permission-checked "retry now"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Case, IntegerField, Value, When

from durable import hooks, permissions
from durable.admin.base import ReadOnlyAdmin, instance_link, precise, stamp
from durable.models import HookRun, HookStatus

# Failing first, then given up, pending, and succeeded last.
URGENCY = Case(
    When(status=HookStatus.FAILING, then=Value(0)),
    When(status=HookStatus.GAVE_UP, then=Value(1)),
    When(status=HookStatus.PENDING, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)


@admin.register(HookRun)
class HookRunAdmin(ReadOnlyAdmin):
    list_display = ("hook_name", "trigger", "instance_shown", "workflow_name", "status", "attempts", "error", "due")
    list_filter = ("status", "trigger")
    search_fields = ("=instance__id", "hook_name", "workflow_name")
    actions = ("retry_now",)
    fields = (
        "hook_name", "trigger", "instance_shown", "workflow_name", "status", "attempts", "error_full", "due",
        "lease_owner", "created", "updated", "finished", "idempotency_key",
    )  # fmt: skip
    readonly_fields = fields

    def get_ordering(self, request) -> tuple[Any, ...]:
        return (URGENCY.asc(), "-updated_at")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(permissions.qualified(permissions.RETRY_HOOK[0]))

    @admin.action(description="Retry the selected hooks now", permissions=["retry"])
    def retry_now(self, request, queryset) -> None:
        rows = list(queryset.exclude(status=HookStatus.SUCCEEDED))
        made_due = hooks.retry_now([row.id for row in rows])
        for row in rows:
            self.log_change(request, row, f"Retry now from the admin (attempts so far: {row.attempts})")
        skipped = len(queryset) - made_due
        level = messages.SUCCESS if made_due else messages.WARNING
        note = f"; {skipped} skipped (succeeded, or an attempt is running)" if skipped else ""
        self.message_user(request, f"{made_due} hook(s) due now{note}.", level)

    @admin.display(description="instance", ordering="instance_id")
    def instance_shown(self, obj: HookRun) -> str:
        return instance_link(obj.instance_id)

    @admin.display(description="last error")
    def error(self, obj: HookRun) -> str:
        if not obj.last_error:
            return "—"
        return f"{obj.last_error.get('type', 'Error')}: {obj.last_error.get('message', '')}"[:200]

    @admin.display(description="last error")
    def error_full(self, obj: HookRun) -> str:
        if not obj.last_error:
            return "—"
        return f"{obj.last_error.get('type', 'Error')}: {obj.last_error.get('message', '')}\n\n" + str(
            obj.last_error.get("traceback", "")
        )

    @admin.display(description="next attempt", ordering="next_attempt_at")
    def due(self, obj: HookRun) -> str:
        return stamp(obj.next_attempt_at)

    @admin.display(description="recorded")
    def created(self, obj: HookRun) -> str:
        return precise(obj.created_at)

    @admin.display(description="updated")
    def updated(self, obj: HookRun) -> str:
        return precise(obj.updated_at)

    @admin.display(description="finished")
    def finished(self, obj: HookRun) -> str:
        return precise(obj.finished_at)

    @admin.display(description="idempotency key")
    def idempotency_key(self, obj: HookRun) -> str:
        return obj.id

"""The Schedules page: cron schedules with their next and last slot; pause, resume, trigger; add/edit runtime ones."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages

from durable import db, permissions, schedules
from durable.admin.base import instance_link, stamp
from durable.engine import cron as crons
from durable.engine.registry import registry
from durable.exceptions import DurableError, InvalidArgument
from durable.models import Schedule, ScheduleSource

SHOWN = ("name", "workflow_name", "cron", "timezone", "args", "kwargs", "overlap", "catchup", "catchup_window")


class ScheduleForm(forms.ModelForm):
    """A runtime schedule: the cron, timezone and options validated as durable.schedules.create does."""

    workflow_name = forms.ChoiceField(label="workflow", choices=())
    overlap = forms.ChoiceField(choices=[(o, o) for o in crons.OVERLAPS])
    catchup = forms.ChoiceField(choices=[(c, c) for c in crons.CATCHUPS])

    class Meta:
        model = Schedule
        fields = SHOWN

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        workflow = self.fields.get("workflow_name")
        if isinstance(workflow, forms.ChoiceField):
            workflow.choices = [(n, n) for n in sorted(registry.workflows)]
        if self.instance.pk and "name" in self.fields:
            self.fields["name"].disabled = True  # runs are named after it

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            spec = crons.Schedule(
                cron=data["cron"],
                timezone=data["timezone"],
                args=data.get("args") or [],
                kwargs=data.get("kwargs") or {},
                overlap=data["overlap"],
                catchup=data["catchup"],
                catchup_window=data["catchup_window"],
                name=data.get("name") or self.instance.pk,
            )
            registry.workflow(data["workflow_name"]).check_arguments(list(spec.args), spec.kwargs)
        except DurableError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ("name", "workflow_name", "in_words", "timezone", "next_slot", "last_slot", "last_run", "state")
    list_filter = ("paused", "source")
    search_fields = ("name", "workflow_name")
    actions = ("pause", "resume", "trigger")
    empty_value_display = "—"

    class Media:
        css = {"all": ("durable/admin.css",)}

    def has_change_permission(self, request, obj=None) -> bool:
        # A code schedule's cron and options belong to the code: its page is read-only.
        code = obj is not None and obj.source == ScheduleSource.CODE
        return not code and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        code = obj is not None and obj.source == ScheduleSource.CODE
        return not code and super().has_delete_permission(request, obj)

    def _can(self, request, action: str) -> bool:
        return request.user.has_perm(permissions.qualified(permissions.SCHEDULE_OPERATIONS[action][0]))

    def has_pause_permission(self, request) -> bool:
        return self._can(request, "pause")

    def has_resume_permission(self, request) -> bool:
        return self._can(request, "resume")

    def has_trigger_permission(self, request) -> bool:
        return self._can(request, "trigger")

    def save_model(self, request, obj: Schedule, form, change: bool) -> None:
        now = db.now()
        if not change:
            obj.source = ScheduleSource.RUNTIME
            obj.created_at = now
        if not change or {"cron", "timezone"} & set(form.changed_data):
            obj.next_slot_at = crons.next_slot(obj.cron, obj.timezone, now)
        obj.updated_at = now
        super().save_model(request, obj, form, change)

    @admin.display(description="cron")
    def in_words(self, obj: Schedule) -> str:
        return f"{crons.describe(obj.cron)} ({obj.cron})"

    @admin.display(description="next slot", ordering="next_slot_at")
    def next_slot(self, obj: Schedule) -> str:
        return stamp(obj.next_slot_at)

    @admin.display(description="last slot", ordering="last_slot_at")
    def last_slot(self, obj: Schedule) -> str:
        return stamp(obj.last_slot_at)

    @admin.display(description="last run")
    def last_run(self, obj: Schedule) -> str:
        return instance_link(obj.last_instance_id)

    @admin.display(description="state")
    def state(self, obj: Schedule) -> str:
        if obj.retired_at is not None:
            return "retired (not in the code)"
        return "paused" if obj.paused else "active"

    def _operate(self, request, queryset, action: str) -> None:
        done = []
        for row in queryset:
            try:
                result = getattr(schedules, action)(row.name)
            except (DurableError, InvalidArgument) as exc:
                self.message_user(request, f"{row.name}: {exc}", messages.ERROR)
                continue
            note = f"{action} (instance {result})" if action == "trigger" else action
            self.log_change(request, row, note)
            done.append(row.name if action != "trigger" else f"{row.name} → {result}")
        if done:
            self.message_user(request, f"{action.capitalize()}: {', '.join(done)}.", messages.SUCCESS)

    @admin.action(description="Pause the selected schedules", permissions=["pause"])
    def pause(self, request, queryset) -> None:
        self._operate(request, queryset, "pause")

    @admin.action(description="Resume the selected schedules", permissions=["resume"])
    def resume(self, request, queryset) -> None:
        self._operate(request, queryset, "resume")

    @admin.action(description="Trigger a run of the selected schedules now", permissions=["trigger"])
    def trigger(self, request, queryset) -> None:
        self._operate(request, queryset, "trigger")

"""Operations on instances from the admin: cancel, pause, resume, retry, send an event.

Each one needs the permission its transition names in `durable.transitions.OPERATIONS` (the same
as the HTTP API's), and `durable.add_event` to send an event. Each calls `durable.client`, is
written to the admin log (LogEntry, shown by the instance's History page) and reports with
`message_user`. Domain errors (an instance that ended meanwhile, a malformed event) become error
messages, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from durable import client, permissions, transitions
from durable.admin import bulk as bulk_actions
from durable.admin.forms import SendEventForm
from durable.exceptions import DurableError
from durable.models import Status
from durable.transitions import OPERATIONS, Transition


class InstanceOperations(admin.ModelAdmin):
    """The instance admin's operations: permissions, bulk actions and the POST views of its page."""

    actions = ["pause_selected", "resume_selected", "retry_selected", "cancel_selected", "erase_selected"]

    def render_detail(self, request, instance, send_form: SendEventForm | None = None) -> HttpResponse:
        """The instance page (with a bound event form after a refused send); see instances.py."""
        raise NotImplementedError

    def _may(self, request, op: Transition) -> bool:
        return bool(op.permission) and request.user.has_perm(op.permission)

    def has_cancel_permission(self, request) -> bool:
        return self._may(request, OPERATIONS["cancel"])

    def has_pause_permission(self, request) -> bool:
        return self._may(request, OPERATIONS["pause"])

    def has_resume_permission(self, request) -> bool:
        return self._may(request, OPERATIONS["resume"])

    def has_retry_permission(self, request) -> bool:
        return self._may(request, OPERATIONS["retry"])

    def has_send_event_permission(self, request) -> bool:
        return request.user.has_perm(permissions.qualified(permissions.SEND_EVENT))

    def operations_for(self, request, instance) -> list[Transition]:
        """The operations this user may apply to this instance in its current status."""
        return [
            op
            for op in OPERATIONS.values()
            if transitions.offered(op, instance.status, instance.compensation) and self._may(request, op)
        ]

    def get_urls(self) -> list:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/operate/<slug:operation>/", wrap(self.operate_view), name=f"{name}_operate"),
            path("<path:object_id>/send-event/", wrap(self.send_event_view), name=f"{name}_send_event"),
            *super().get_urls(),
        ]

    def missing(self, request, object_id: str) -> HttpResponseRedirect:
        """Back to the list, saying the instance is gone."""
        self.message_user(request, f"No workflow instance has id {unquote(object_id)!r}.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:durable_workflowinstance_changelist"))

    def _page(self, object_id: str) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:durable_workflowinstance_change", args=[quote(object_id)]))

    def _apply(self, request, op: Transition, instance_id: str, given: str = "") -> tuple[Any, str | None]:
        """Run one operation and log it: (the updated instance, None), or (None, why it was refused)."""
        reason = given or f"{op.done} by {request.user} in the admin"
        try:
            row = client.operate(instance_id, op.name, reason if op.takes_reason else "")
        except DurableError as exc:
            return None, str(exc)
        note = f": {given}" if given and op.takes_reason else "."
        self.log_change(request, row, f"{op.done} from the admin{note}")
        return row, None

    def operate_view(self, request, object_id: str, operation: str):
        op = OPERATIONS.get(operation)
        if op is None:
            raise Http404(f"There is no operation {operation!r}.")
        if request.method != "POST":
            return self._page(unquote(object_id))
        if not (self._may(request, op) and self.has_view_permission(request)):
            raise PermissionDenied
        instance = self.get_object(request, unquote(object_id))
        if instance is None:
            return self.missing(request, object_id)
        row, error = self._apply(request, op, instance.pk, request.POST.get("reason", "").strip()[:500])
        if error:
            self.message_user(request, error, messages.ERROR)
        else:
            status = row.get_status_display().lower()
            said = f"{op.done} instance {row.pk}; it is now {status}."
            if row.status == Status.COMPENSATING:
                said = f"Instance {row.pk} is compensating: its armed compensations run, then it is cancelled."
            self.message_user(request, said, messages.SUCCESS)
        return self._page(instance.pk)

    def send_event_view(self, request, object_id: str):
        if not (self.has_send_event_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied
        instance = self.get_object(request, unquote(object_id))
        if instance is None:
            return self.missing(request, object_id)
        if request.method != "POST":
            return self._page(instance.pk)
        form = SendEventForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                delivery = client.send_event(
                    data["type"],
                    data["source"],
                    data["event_data"],
                    subject=data["subject"] or None,
                    instance_id=instance.pk,
                )
            except DurableError as exc:
                form.add_error(None, str(exc))
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.log_change(
                    request, instance, f"Sent event {data['type']} (id {delivery.event_id}) from {data['source']}."
                )
                self.message_user(request, _delivery_words(data["type"], delivery), messages.SUCCESS)
                return self._page(instance.pk)
        return self.render_detail(request, instance, send_form=form)

    def _bulk(self, request, queryset, op: Transition) -> HttpResponse | None:
        if request.POST.get("select_across") == "1":
            # "Select all N" across pages: the bulk operation over the list's filters (admin/bulk.py).
            return bulk_actions.across(self, request, queryset, op.name)
        done, refused = 0, []
        for instance_id in queryset.values_list("pk", flat=True):
            _, error = self._apply(request, op, instance_id)
            if error:
                refused.append(error)
            else:
                done += 1
        if done:
            self.message_user(request, f"{op.done} {done} instance{'s' if done != 1 else ''}.", messages.SUCCESS)
        for error in refused[:10]:
            self.message_user(request, error, messages.ERROR)
        if len(refused) > 10:
            self.message_user(request, f"…and {len(refused) - 10} more refused.", messages.ERROR)
        return None

    @admin.action(description="Pause selected instances", permissions=["pause"])
    def pause_selected(self, request, queryset) -> HttpResponse | None:
        return self._bulk(request, queryset, OPERATIONS["pause"])

    @admin.action(description="Resume selected paused instances", permissions=["resume"])
    def resume_selected(self, request, queryset) -> HttpResponse | None:
        return self._bulk(request, queryset, OPERATIONS["resume"])

    @admin.action(description="Retry selected failed instances", permissions=["retry"])
    def retry_selected(self, request, queryset) -> HttpResponse | None:
        return self._bulk(request, queryset, OPERATIONS["retry"])

    @admin.action(description="Cancel selected instances", permissions=["cancel"])
    def cancel_selected(self, request, queryset) -> HttpResponse | None:
        return self._bulk(request, queryset, OPERATIONS["cancel"])


def _delivery_words(event_type: str, delivery: Any) -> str:
    if delivery.duplicate:
        return f"{event_type} {delivery.event_id} had been received before; it was not delivered again."
    if delivery.resumed:
        return f"Sent {event_type} (id {delivery.event_id}); it resumed the instance."
    return (
        f"Sent {event_type} (id {delivery.event_id}); the instance is not waiting for it now, so it is kept "
        "for the instance's next matching wait."
    )

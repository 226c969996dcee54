"""Erasing instances' data from the admin: the "Erase data" action and button, behind a confirmation page.

Like Django's delete confirmation, the first POST (the action, or the button of the instance
page) shows a page that names every instance to erase; only its own POST erases. Both need
`durable.erase_workflowinstance`. Each erased instance gets an admin log entry that says it was
erased and why, never what was erased.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from durable import erasure, permissions, text
from durable.admin import bulk as bulk_actions
from durable.exceptions import DurableError
from durable.models import TERMINAL, WorkflowInstance

ERASE_PERMISSION = permissions.qualified(permissions.ERASE_INSTANCE[0])
SHOWN = 100  # instances named one by one on the confirmation page; the rest are counted


class EraseForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500, strip=True)
    cancel = forms.BooleanField(required=False)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"]
        why = text.problem(reason, free_text=True)
        if why:
            raise forms.ValidationError(f"The reason cannot be stored: {why}.")
        return reason


class InstanceErasure(admin.ModelAdmin):
    """The instance admin's erasure: a bulk action, a per-instance URL, and the confirmation page between."""

    erase_template = "admin/durable/workflowinstance/erase_confirmation.html"

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm(ERASE_PERMISSION)

    def get_urls(self) -> list:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view(self.erase_view)
        return [path("<path:object_id>/erase/", view, name=f"{name}_erase"), *super().get_urls()]

    @admin.action(description="Erase data of selected instances", permissions=["erase"])
    def erase_selected(self, request, queryset):
        if request.POST.get("select_across") == "1":
            # "Select all N" across pages: the bulk erase over the list's filters, confirmed with N.
            return bulk_actions.across(self, request, queryset, "erase")
        if request.POST.get("post") == "yes":
            self._erase(request, list(queryset.values_list("pk", flat=True)))
            return None  # back to the list
        return self._confirm(request, queryset, action=True)

    def erase_view(self, request, object_id: str):
        if not (self.has_erase_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied
        instance_id = unquote(object_id)
        rows = WorkflowInstance.objects.filter(pk=instance_id)
        if not rows.exists():
            self.message_user(request, f"No workflow instance has id {instance_id!r}.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:durable_workflowinstance_changelist"))
        if request.method == "POST" and request.POST.get("post") == "yes":
            self._erase(request, [instance_id])
            return HttpResponseRedirect(reverse("admin:durable_workflowinstance_change", args=[quote(instance_id)]))
        return self._confirm(request, rows, action=False)

    def _confirm(self, request, queryset, *, action: bool) -> TemplateResponse:
        rows = list(
            queryset.order_by("-created_at", "pk").values("pk", "workflow_name", "status", "business_key", "erased_at")[
                : SHOWN + 1
            ]
        )
        total = queryset.count() if len(rows) > SHOWN else len(rows)
        for row in rows:
            row["active"] = row["status"] not in TERMINAL
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": "Erase the data of these instances?",
            "instances": rows[:SHOWN],
            "more": total - len(rows[:SHOWN]),
            "total": total,
            "any_active": any(row["active"] for row in rows),
            "action": action,
            "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)] if action else [],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "marker": erasure.MARKER,
            "form": EraseForm(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.erase_template, context)

    def _erase(self, request, instance_ids: list[str]) -> None:
        form = EraseForm(request.POST)
        if not form.is_valid():
            self.message_user(request, " ".join(str(e) for errs in form.errors.values() for e in errs), messages.ERROR)
            return
        reason, cancel = form.cleaned_data["reason"], form.cleaned_data["cancel"]
        erased, already, refused = 0, 0, []
        for instance_id in instance_ids:
            try:
                done = erasure.erase(instance_id, reason, cancel=cancel)
            except DurableError as exc:
                refused.append(str(exc))
                continue
            if done.erased:
                erased += 1
                row = WorkflowInstance.objects.get(pk=instance_id)
                self.log_change(request, row, f"Erased its data from the admin{': ' + reason if reason else '.'}")
            else:
                already += 1
        if erased:
            self.message_user(request, f"Erased the data of {erased} instance{'s' if erased != 1 else ''}.")
        if already:
            self.message_user(request, f"{already} instance{'s were' if already != 1 else ' was'} erased already.")
        for error in refused[:10]:
            self.message_user(request, error, messages.ERROR)
        if len(refused) > 10:
            self.message_user(request, f"…and {len(refused) - 10} more refused.", messages.ERROR)

"""Restart from a step in the admin: the "restart from here" button of each timeline row, behind a confirmation page.

The button POSTs to the row's fork URL, which shows what the fork keeps and what runs again; only
that page's own POST forks (durable.fork). Both need the permission to start instances
(`durable.add_workflowinstance`, as the API's start and fork) and to view them. The fork is
written to the admin log of both instances, and the page goes to the new instance with a message.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from durable import forking, text
from durable.exceptions import DurableError, InvalidArgument
from durable.models import WorkflowInstance
from durable.transitions import START_PERMISSION


class InstanceForking(admin.ModelAdmin):
    """The instance admin's restart from a step: its URL, permission and confirmation page."""

    fork_template = "admin/durable/workflowinstance/fork_confirmation.html"

    def has_fork_permission(self, request) -> bool:
        return request.user.has_perm(START_PERMISSION)

    def may_fork(self, request, status: str, erased: bool) -> bool:
        """Whether this page offers "restart from here": the user may, and the instance may be forked now."""
        return self.has_fork_permission(request) and status in forking.FORKABLE and not erased

    def get_urls(self) -> list:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view(self.fork_view)
        return [path("<path:object_id>/fork/<int:position>/", view, name=f"{name}_fork"), *super().get_urls()]

    def fork_view(self, request, object_id: str, position: int):
        if not (self.has_fork_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied
        original = self.get_object(request, unquote(object_id))
        if original is None:
            self.message_user(request, f"No workflow instance has id {unquote(object_id)!r}.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:durable_workflowinstance_changelist"))
        if request.method == "POST" and request.POST.get("post") == "yes":
            return self._fork(request, original, position)
        steps = original.steps.order_by("position").values_list("position", "kind", "name")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": f"Restart {original.pk} from step {position}?",
            "original": original,
            "position": position,
            "kept": [row for row in steps if row[0] < position],
            "rerun": [row for row in steps if row[0] >= position],
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.fork_template, context)

    def _fork(self, request, original: WorkflowInstance, position: int) -> HttpResponseRedirect:
        given = request.POST.get("instance_id", "").strip()
        try:
            why = text.problem(given)
            if why:
                raise InvalidArgument(f"The new instance id was refused: {why}.")
            handle = forking.fork(original.pk, position, instance_id=given or None)
        except DurableError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return _page(original.pk)
        fork = WorkflowInstance.objects.get(pk=handle.instance_id)
        self.log_change(request, original, f"Forked from the admin as {fork.pk}, restarting from step {position}.")
        self.log_addition(request, fork, f"Forked from the admin from {original.pk}, restarting from step {position}.")
        self.message_user(
            request,
            f"Instance {fork.pk} restarts {original.pk} from step {position}: it keeps steps 0 to {position - 1} "
            "as recorded and runs the rest with the code deployed now."
            if position
            else f"Instance {fork.pk} runs {original.pk} again from the start, with the same input.",
            messages.SUCCESS,
        )
        return _page(fork.pk)


def _page(instance_id: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:durable_workflowinstance_change", args=[quote(instance_id)]))

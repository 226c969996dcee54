"""The instance list and the instance page: what each run is, waits for, and did so far."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from durable import bulk_filters, db, inspect
from durable.admin import detail
from durable.admin.base import ReadOnlyAdmin, stamp, warn_if_stranded
from durable.admin.counting import STATUS_EXACT_UP_TO, status_counts
from durable.admin.erasure import InstanceErasure
from durable.admin.forking import InstanceForking
from durable.admin.forms import SendEventForm
from durable.admin.keys import key_html
from durable.admin.operations import InstanceOperations
from durable.admin.queues import InstanceQueues
from durable.admin.words import breakable
from durable.conf import settings
from durable.engine.registry import registry
from durable.exceptions import InstanceNotFound
from durable.models import Status, WorkflowInstance

# Large JSON columns the list never shows.
LIST_DEFERRED = ("input", "result", "error", "incidents")
DETAILS_SHOWN = 120  # characters of ctx.set_details text in a list row


class WorkflowFilter(admin.SimpleListFilter):
    """Workflows from the registry, not from a DISTINCT over the whole table."""

    title = "workflow"
    parameter_name = "workflow"

    def lookups(self, request, model_admin):
        names = set(registry.workflows)
        if self.value():
            names.add(self.value())
        return [(name, breakable(name)) for name in sorted(names)]

    def queryset(self, request, queryset):
        return queryset.filter(workflow_name=self.value()) if self.value() else queryset


class CodeVersionFilter(admin.SimpleListFilter):
    """DURABLE_CODE_VERSION values: this deployment's and those of the newest instances, not a
    DISTINCT over the whole table."""

    title = "code version"
    parameter_name = "code_version"
    recent = 500

    def lookups(self, request, model_admin):
        newest = WorkflowInstance.objects.order_by("-created_at").values_list("code_version", flat=True)
        versions = {v for v in newest[: self.recent] if v}
        versions.update(v for v in (settings.code_version, self.value()) if v)
        return [(version, breakable(version)) for version in sorted(versions)]

    def queryset(self, request, queryset):
        return queryset.filter(code_version=self.value()) if self.value() else queryset


class InstanceChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer(*LIST_DEFERRED)


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(InstanceQueues, InstanceForking, InstanceErasure, InstanceOperations, ReadOnlyAdmin):
    list_display = ("instance_id", "workflow", "status_badge", "waiting", "started", "updated", "elapsed")
    list_display_links = ("instance_id",)
    list_filter = ("status", WorkflowFilter, CodeVersionFilter, ("created_at", admin.DateFieldListFilter))
    # Facets would count every filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    search_fields = ("id", "workflow_name")
    search_help_text = (
        "An instance id (or its start), a workflow name, a business key (exactly), or an event type instances wait for."
    )
    ordering = ("-created_at",)
    detail_template = "admin/durable/workflowinstance/detail.html"
    refresh_seconds = 3
    # Statuses with more instances than this are estimated on PostgreSQL (see counting.py).
    status_count_cap = STATUS_EXACT_UP_TO

    def get_changelist(self, request, **kwargs):
        return InstanceChangeList

    def get_list_display(self, request):
        # The key column links to the object's admin page, which depends on who is looking.
        @admin.display(description="key")
        def business_key(obj: WorkflowInstance) -> str:
            return key_html(request, self.admin_site, obj.business_key)

        shown = list(super().get_list_display(request))
        shown.insert(shown.index("workflow") + 1, business_key)
        return shown

    def get_search_results(self, request, queryset, search_term):
        """Search by id (or its start), workflow name, business key, or an event type instances wait for.

        A business key matches exactly, through its index. Workflow names are matched against the
        registry in Python, so the database sees an indexed `IN`; the event type is looked up in
        the Wait table (indexed by type) through a subquery, never by reading the `waiting_for`
        JSON of every instance.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(bulk_filters.search(term)), False

    def changelist_view(self, request, extra_context=None):
        counts = status_counts(self.status_count_cap)
        extra = {
            "status_counts": counts,
            "status_total": {
                "count": sum(item.count for item in counts),
                "approximate": any(item.approximate or item.capped for item in counts),
            },
            "current_status": request.GET.get("status__exact", ""),
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    @admin.display(description="id", ordering="id")
    def instance_id(self, obj: WorkflowInstance) -> str:
        return breakable(obj.pk)

    @admin.display(description="workflow", ordering="workflow_name")
    def workflow(self, obj: WorkflowInstance) -> str:
        if not obj.code_version:
            return breakable(obj.workflow_name)
        return format_html(
            '{}<div class="durable-quiet durable-code-version" title="DURABLE_CODE_VERSION where it started">{}</div>',
            breakable(obj.workflow_name),
            breakable(obj.code_version),
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: WorkflowInstance) -> str:
        shown = badge(obj.status, obj.get_status_display())
        if obj.erased_at is None:
            return shown
        # Under the badge, not a column of its own: the list fits 1280 px as it is.
        local = timezone.localtime(obj.erased_at).strftime("%Y-%m-%d %H:%M:%S")
        said = f"data erased {local}" + (f": {obj.erase_reason}" if obj.erase_reason else "")
        return format_html('{}<div class="durable-quiet durable-erased" title="{}">erased</div>', shown, said)

    @admin.display(description="waiting for")
    def waiting(self, obj: WorkflowInstance) -> str:
        said = breakable(detail.instance_waiting(obj, db.now())) or "—"
        if not obj.details:
            return said
        # What the workflow says it is doing (ctx.set_details), under what it waits for; the page has it whole.
        shown = obj.details if len(obj.details) <= DETAILS_SHOWN else obj.details[: DETAILS_SHOWN - 1] + "…"
        return format_html('{}<div class="durable-details" title="{}">{}</div>', said, obj.details, breakable(shown))

    # SPEC's "started" column: when durable.start created the instance. One that no worker has
    # touched yet (pending, never updated) has not started: "not yet", its creation in the tooltip.
    @admin.display(description="started", ordering="created_at")
    def started(self, obj: WorkflowInstance) -> str:
        if obj.status == Status.PENDING and obj.updated_at == obj.created_at:
            return format_html('<span title="created {}">not yet</span>', timezone.localtime(obj.created_at))
        return stamp(obj.created_at)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, obj: WorkflowInstance) -> str:
        return stamp(obj.updated_at)

    @admin.display(description="elapsed")
    def elapsed(self, obj: WorkflowInstance) -> str:
        return detail.elapsed(obj, db.now())

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The instance page: read-only, built by `detail.build`, with the operations this user may apply."""
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied  # nothing on this page is edited; operations have their own URLs
        instance = self.get_object(request, unquote(object_id))
        if instance is None:
            return self.missing(request, object_id)
        if not self.has_view_permission(request, instance):
            raise PermissionDenied
        warn_if_stranded(request)
        return self.render_detail(request, instance)

    def render_detail(self, request, instance: WorkflowInstance, send_form: SendEventForm | None = None):
        # The model row served the permission checks; the page shows one read of the read model.
        try:
            view = inspect.instance(instance.pk, hooks=True, forks=True, children=True)
        except InstanceNotFound:
            return self.missing(request, quote(instance.pk))
        summary = view.summary
        may_send = self.has_send_event_permission(request) and not summary.is_terminal
        if may_send and send_form is None:
            send_form = SendEventForm.for_wait(summary.waiting_for)
        operations = self.operations_for(request, summary)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "title": f"{summary.workflow_name} {summary.instance_id}",
            "subtitle": summary.instance_id,
            "original": instance,
            "instance": instance,
            "status_badge": badge(summary.status, detail.label(inspect.Status, summary.status)),
            "business_key": key_html(request, self.admin_site, summary.business_key) if summary.business_key else None,
            "detail": detail.build(view, db.now()),
            "operations": operations,
            "may_erase": self.has_erase_permission(request) and not summary.is_erased,
            "may_fork": self.may_fork(request, summary.status, summary.is_erased),
            "forks": view.forks,
            "children": view.children,
            "reason_wanted": any(op.takes_reason for op in operations),
            "send_form": send_form if may_send else None,
            "refresh_seconds": None if summary.is_terminal else self.refresh_seconds,
            "media": self.media,
            "has_view_permission": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.detail_template, context)


def badge(status: str, label: str) -> str:
    return format_html('<span class="durable-badge durable-tone--{}">{}</span>', status, label)

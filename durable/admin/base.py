"""What every durable admin page shares: read-only rows, estimated counts, the viewer's CSS."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from durable import health, text
from durable.admin.counting import EstimatingPaginator
from durable.admin.words import breakable


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the engine are never added, edited or deleted by hand: the history must stay
    true to what ran. Operations go through `durable.client` (see operations.py)."""

    paginator = EstimatingPaginator
    show_full_result_count = False
    list_per_page = 100
    empty_value_display = "—"

    class Media:
        css = {"all": ("durable/admin.css",)}

    def has_add_permission(self, request) -> bool:
        return False

    def get_object(self, request, object_id, from_field=None):
        # No row has an id with a control character (PostgreSQL could not even compare a NUL):
        # the admin's usual "does not exist" answer, not a failed query.
        if isinstance(object_id, str) and text.problem(object_id):
            return None
        return super().get_object(request, object_id, from_field)

    def changelist_view(self, request, extra_context=None):
        # Filters and the ids a bulk action selects: none can hold a control character.
        for name, values in [*request.GET.lists(), *request.POST.lists()]:
            why = next(filter(None, map(text.problem, values)), None)
            if why:
                self.message_user(request, f"The list's {name!r} was refused: {why}.", messages.ERROR)
                return HttpResponseRedirect(request.path)
        warn_if_stranded(request)
        return super().changelist_view(request, extra_context)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


STRANDED = (
    "Instances are waiting to run and no durable_worker has been seen for a minute: nothing runs them. "
    "Run `python manage.py durable_worker` to pick them up (durable_status shows the workers)."
)


def warn_if_stranded(request) -> None:
    """The banner of a page shown (not of an action's redirect, whose next page shows its own)."""
    if request.method in ("GET", "HEAD") and health.stranded():
        messages.warning(request, STRANDED)


def stamp(value) -> str:
    """A compact local timestamp (the time today, the day this year, else the date), full in its tooltip."""
    if value is None:
        return "—"
    local, today = timezone.localtime(value), timezone.localdate()
    if local.date() == today:
        shown = local.strftime("%H:%M:%S")
    elif local.year == today.year:
        shown = local.strftime("%b %d %H:%M")
    else:
        shown = local.strftime("%Y-%m-%d")
    return format_html('<time class="durable-time" datetime="{}" title="{}">{}</time>', value.isoformat(), local, shown)


def instance_link(instance_id: str | None) -> str:
    """A link to an instance's page."""
    if instance_id is None:
        return "—"
    url = reverse("admin:durable_workflowinstance_change", args=[quote(instance_id)])
    return format_html('<a href="{}">{}</a>', url, breakable(instance_id))


def precise(value) -> str:
    """A full local timestamp to the millisecond, for detail pages."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

"""Read-only views of received events (and where they went) and of pending timers."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils.html import format_html, format_html_join

from durable import db
from durable.admin.base import ReadOnlyAdmin, instance_link, precise, stamp
from durable.admin.words import breakable, payload
from durable.models import Event, Timer
from durable.words import until

SHOWN_DELIVERIES = 3


class DispatchedFilter(admin.SimpleListFilter):
    title = "routing"
    parameter_name = "routed"

    def lookups(self, request, model_admin):
        return [("yes", "Routed"), ("no", "Not routed yet"), ("repeated", "Received more than once")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(dispatched_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(dispatched_at__isnull=True)
        if self.value() == "repeated":
            return queryset.filter(duplicates__gt=0)
        return queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = (
        "event_type",
        "id_of_event",
        "from_source",
        "about",
        "received",
        "duplicates",
        "addressed_to",
        "went_to",
    )
    list_filter = (DispatchedFilter, ("received_at", admin.DateFieldListFilter))
    show_facets = admin.ShowFacets.NEVER
    search_fields = ("type", "event_id", "source", "subject")
    search_help_text = "An event type (or its start), an event id, a source or a subject."
    ordering = ("-seq",)
    fields = (
        "event_type", "id_of_event", "from_source", "about", "event_time", "datacontenttype", "dataschema",
        "received_at_ms", "dispatched_at_ms", "duplicates", "addressed_to", "pretty_data", "pretty_extensions",
        "deliveries_table",
    )  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    def get_search_results(self, request, queryset, search_term):
        """Exact matches on indexed columns (a type also by its start), not a scan of every row."""
        term = search_term.strip()
        if not term:
            return queryset, False
        found = Q(type__startswith=term) | Q(event_id=term) | Q(source=term) | Q(subject=term)
        return queryset.filter(found), False

    # Types, ids, sources and subjects are long single words: shown with break points.
    @admin.display(description="type", ordering="type")
    def event_type(self, obj: Event) -> str:
        return breakable(obj.type)

    @admin.display(description="event id", ordering="event_id")
    def id_of_event(self, obj: Event) -> str:
        return breakable(obj.event_id)

    @admin.display(description="source", ordering="source")
    def from_source(self, obj: Event) -> str:
        return breakable(obj.source)

    @admin.display(description="subject", ordering="subject")
    def about(self, obj: Event) -> str:
        return breakable(obj.subject) if obj.subject else "—"

    @admin.display(description="received", ordering="received_at")
    def received(self, obj: Event) -> str:
        return stamp(obj.received_at)

    @admin.display(description="time")
    def event_time(self, obj: Event) -> str:
        return precise(obj.time)

    @admin.display(description="received")
    def received_at_ms(self, obj: Event) -> str:
        return precise(obj.received_at)

    @admin.display(description="routed")
    def dispatched_at_ms(self, obj: Event) -> str:
        return precise(obj.dispatched_at) if obj.dispatched_at else "not yet"

    @admin.display(description="addressed to")
    def addressed_to(self, obj: Event) -> str:
        return instance_link(obj.target_id) if obj.target_id else "anyone waiting"

    @admin.display(description="went to")
    def went_to(self, obj: Event) -> str:
        deliveries = list(obj.deliveries.all())
        if not deliveries:
            return "—" if obj.dispatched_at else "not routed yet"
        shown = format_html_join(
            ", ",
            "{} <small>({})</small>",
            ((instance_link(d.instance_id), d.kind) for d in deliveries[:SHOWN_DELIVERIES]),
        )
        more = len(deliveries) - SHOWN_DELIVERIES
        return format_html("{}{}", shown, f" and {more} more" if more > 0 else "")

    @admin.display(description="data")
    def pretty_data(self, obj: Event) -> str:
        shown = payload(obj.data)
        return format_html('<pre class="durable-code">{}</pre>', shown.text) if shown else "—"

    @admin.display(description="extensions")
    def pretty_extensions(self, obj: Event) -> str:
        shown = payload(obj.extensions, empty={})
        return format_html('<pre class="durable-code">{}</pre>', shown.text) if shown else "—"

    @admin.display(description="delivered to")
    def deliveries_table(self, obj: Event) -> str:
        rows = obj.deliveries.order_by("delivered_at")
        if not rows:
            return "no instance"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (instance_link(d.instance_id), d.get_kind_display(), "—" if d.position is None else d.position)
                + (stamp(d.delivered_at),)
                for d in rows
            ),
        )
        return format_html(
            '<div class="durable-scroll"><table class="durable-table"><thead><tr><th>instance</th><th>how</th>'
            "<th>step</th><th>delivered</th></tr></thead><tbody>{}</tbody></table></div>",
            body,
        )


@admin.register(Timer)
class TimerAdmin(ReadOnlyAdmin):
    list_display = ("due", "due_in", "purpose", "timer_name", "position", "of_instance", "workflow")
    list_filter = ("purpose", ("due_at", admin.DateFieldListFilter))
    show_facets = admin.ShowFacets.NEVER
    search_fields = ("instance__id",)
    search_help_text = "An instance id."
    ordering = ("due_at",)
    fields = ("of_instance", "workflow", "position", "purpose", "name", "due_at_ms", "due_in", "created_at_ms")
    readonly_fields = fields

    def get_queryset(self, request):
        # The workflow name comes along; the instance's large JSON columns do not.
        heavy = ("input", "result", "error", "incidents", "waiting_for")
        return super().get_queryset(request).select_related("instance").defer(*(f"instance__{f}" for f in heavy))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(instance_id=term), False) if term else (queryset, False)

    @admin.display(description="due", ordering="due_at")
    def due(self, obj: Timer) -> str:
        return stamp(obj.due_at)

    @admin.display(description="due at")
    def due_at_ms(self, obj: Timer) -> str:
        return precise(obj.due_at)

    @admin.display(description="created")
    def created_at_ms(self, obj: Timer) -> str:
        return precise(obj.created_at)

    @admin.display(description="due in")
    def due_in(self, obj: Timer) -> str:
        return until(obj.due_at, db.now(), future="in {}", past="overdue by {}")

    @admin.display(description="instance", ordering="instance_id")
    def of_instance(self, obj: Timer) -> str:
        return instance_link(obj.instance_id)

    @admin.display(description="workflow", ordering="instance__workflow_name")
    def workflow(self, obj: Timer) -> str:
        return breakable(obj.instance.workflow_name)

    @admin.display(description="name", ordering="name")
    def timer_name(self, obj: Timer) -> str:
        return breakable(obj.name)

"""Routes of the API; every path works with and without its trailing slash."""

from __future__ import annotations

from django.urls import re_path

from durable.api import bulk, metrics, schedules, schema, views

# A child's default id is "<parent id>/<position>" (ctx.start_child): numeric segments may follow.
ID = r"(?P<instance_id>[^/]+(?:/[0-9]+)*)"

# (route, view, URL name, the operationId the schema gives it)
ROUTES = [
    (r"^$", views.EventReceiver, "receiver", "send_events"),
    (rf"^cancel/{ID}/?$", views.Cancel, "cancel", "cancel_instance_by_id"),
    (r"^instances/?$", views.InstanceList, "instance-list", "list_instances"),
    # Ahead of the routes of one instance, which would take "bulk" for an id.
    # POST {operation} applies it, GET {id} reads the progress; the schema names both per method.
    (r"^instances/bulk/(?P<target>[^/]+)/?$", bulk.BulkOperations, "bulk", ""),
    (rf"^instances/{ID}/?$", views.InstanceDetail, "instance-detail", "get_instance"),
    (rf"^instances/{ID}/events/?$", views.InstanceEvents, "instance-events", "send_instance_events"),
    (rf"^instances/{ID}/events/(?P<key>[^/]+)/?$", views.GetEvent, "get-event", "get_event"),
    (rf"^instances/{ID}/cancel/?$", views.Cancel, "instance-cancel", "cancel_instance"),
    (rf"^instances/{ID}/pause/?$", views.Pause, "pause", "pause_instance"),
    (rf"^instances/{ID}/resume/?$", views.Resume, "resume", "resume_instance"),
    (rf"^instances/{ID}/retry/?$", views.Retry, "retry", "retry_instance"),
    (rf"^instances/{ID}/erase/?$", views.Erase, "erase", "erase_instance"),
    (rf"^instances/{ID}/fork/?$", views.Fork, "fork", "fork_instance"),
    (r"^workflows/(?P<name>[^/]+)/start/?$", views.Start, "start", "start_instance"),
    (r"^schedules/?$", schedules.ScheduleList, "schedule-list", "list_schedules"),
    (r"^schedules/(?P<name>[^/]+)/pause/?$", schedules.PauseSchedule, "schedule-pause", "pause_schedule"),
    (r"^schedules/(?P<name>[^/]+)/resume/?$", schedules.ResumeSchedule, "schedule-resume", "resume_schedule"),
    (r"^schedules/(?P<name>[^/]+)/trigger/?$", schedules.TriggerSchedule, "schedule-trigger", "trigger_schedule"),
]

urlpatterns = [
    *(re_path(route, view.as_view(operation_id=operation), name=name) for route, view, name, operation in ROUTES),
    re_path(r"^schema/?$", schema.SchemaView.as_view(), name="schema"),
    re_path(r"^metrics/?$", metrics.Metrics.as_view(operation_id="get_metrics"), name="metrics"),
]

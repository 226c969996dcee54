"""Routes of the API; every path works with and without its trailing slash."""

from __future__ import annotations

from django.urls import re_path

from durable.api import schema, views

ID = r"(?P<instance_id>[^/]+)"

urlpatterns = [
    re_path(r"^$", views.EventReceiver.as_view(), name="receiver"),
    re_path(rf"^cancel/{ID}/?$", views.Cancel.as_view(), name="cancel"),
    re_path(r"^instances/?$", views.InstanceList.as_view(), name="instance-list"),
    re_path(rf"^instances/{ID}/?$", views.InstanceDetail.as_view(), name="instance-detail"),
    re_path(rf"^instances/{ID}/events/?$", views.InstanceEvents.as_view(), name="instance-events"),
    re_path(rf"^instances/{ID}/events/(?P<key>[^/]+)/?$", views.GetEvent.as_view(), name="get-event"),
    re_path(rf"^instances/{ID}/cancel/?$", views.Cancel.as_view(), name="instance-cancel"),
    re_path(rf"^instances/{ID}/pause/?$", views.Pause.as_view(), name="pause"),
    re_path(rf"^instances/{ID}/resume/?$", views.Resume.as_view(), name="resume"),
    re_path(rf"^instances/{ID}/retry/?$", views.Retry.as_view(), name="retry"),
    re_path(r"^workflows/(?P<name>[^/]+)/start/?$", views.Start.as_view(), name="start"),
    re_path(r"^schema/?$", schema.SchemaView.as_view(), name="schema"),
]

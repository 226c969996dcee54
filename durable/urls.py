"""Mount with path("durable/", include("durable.urls")): the CloudEvents receiver and the API."""

from __future__ import annotations

app_name = "durable"
urlpatterns: list = []

"""Mount with path("durable/", include("durable.urls")): the CloudEvents receiver and the API."""

from __future__ import annotations

from durable.api.urls import urlpatterns

app_name = "durable"
__all__ = ["app_name", "urlpatterns"]

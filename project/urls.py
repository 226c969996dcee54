"""URLs of the demo project: the admin (the viewer) and durable's HTTP API."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("durable/", include("durable.urls")),
]

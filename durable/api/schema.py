"""The OpenAPI 3 schema of durable's API alone, under whatever prefix it is mounted."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView

from durable import permissions
from durable.api import auth, bodies, errors


class SchemaView(SpectacularAPIView):
    # A user who may view instances; the event token may only send events.
    permission_classes = [auth.HasDurablePermission]
    required_permission = permissions.qualified(permissions.VIEW_INSTANCE)
    accepts_event_token = False

    def get_required_permission(self) -> str:
        return self.required_permission

    # JSON first: the schema by default, and error bodies in the API's JSON shape.
    renderer_classes = [OpenApiJsonRenderer, OpenApiJsonRenderer2, OpenApiYamlRenderer, OpenApiYamlRenderer2]
    # OpenAPI 3.1: JSON Schema's propertyNames says which extension attributes and keys are accepted.
    custom_settings = {
        "TITLE": "durable",
        "DESCRIPTION": (
            "Durable workflows for Django: CloudEvents receiver and instance operations. Every error is JSON "
            '{"error", "error_type", "retryable"}. A logged-in session works as for Django REST framework\'s '
            "SessionAuthentication: a POST needs the X-CSRFToken header."
        ),
        "VERSION": "1",
        "OAS_VERSION": "3.1.0",
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "durable.api.openapi.finish",
        ],
    }

    def get_authenticators(self) -> list:
        return auth.authenticators()

    def get_exception_handler(self):
        return errors.exception_handler

    def get(self, request, *args, **kwargs):
        from durable.api import urls

        mount = request.path[: request.path.rstrip("/").rfind("/") + 1].lstrip("/")
        self.patterns = [path(mount, include([p for p in urls.urlpatterns if p.name != "schema"]))]
        # Read per request: the batch limit is a setting.
        self.custom_settings = {**self.custom_settings, "APPEND_COMPONENTS": bodies.components()}
        return super().get(request, *args, **kwargs)


class EventTokenScheme(OpenApiAuthenticationExtension):
    target_class = "durable.api.auth.EventTokenAuthentication"
    name = "eventToken"

    def get_security_requirement(self, auto_schema):
        # Only the receivers take the event token.
        return {self.name: []} if getattr(auto_schema.view, "accepts_event_token", False) else None

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "DURABLE_EVENT_TOKEN, for sending events only."}

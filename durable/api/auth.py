"""Who may call the API: DRF's authenticators plus the DURABLE_EVENT_TOKEN bearer secret."""

from __future__ import annotations

import hmac
from typing import Any

from rest_framework import authentication, exceptions, permissions
from rest_framework.settings import api_settings

from durable.conf import settings


class EventSender:
    """The identity of a request that presented DURABLE_EVENT_TOKEN: it may only send events."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None
    username = "durable-event-token"

    def has_perm(self, perm: str, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


class EventTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <DURABLE_EVENT_TOKEN>`, for webhooks from other services."""

    def authenticate(self, request):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        expected = settings.EVENT_TOKEN
        if not expected:
            raise exceptions.AuthenticationFailed("Bearer tokens are not accepted: DURABLE_EVENT_TOKEN is not set.")
        if not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise exceptions.AuthenticationFailed("The bearer token is not DURABLE_EVENT_TOKEN.")
        return EventSender(), "event-token"

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="durable"'


def authenticators() -> list:
    classes: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    return [EventTokenAuthentication(), *(cls() for cls in classes)]


class HasDurablePermission(permissions.BasePermission):
    """The model permission the view names in `required_permission`; the event token only
    for views with `accepts_event_token`."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if isinstance(user, EventSender):
            return bool(getattr(view, "accepts_event_token", False))
        required = view.get_required_permission()
        if user.has_perm(required):
            return True
        self.message = f"You need the {required} permission."
        return False

"""Every API error as JSON {"error", "error_type", "retryable"} with its HTTP status."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from durable.exceptions import DurableError

logger = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than DURABLE_MAX_EVENT_BYTES."
    default_code = "payload_too_large"


class EventNotSet(exceptions.APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "The workflow has not published that key yet."
    default_code = "event_not_set"


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request is malformed."
    default_code = "invalid_request"


def detail_text(detail) -> str:
    if isinstance(detail, list):
        return "; ".join(detail_text(item) for item in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {detail_text(value)}" for key, value in detail.items())
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler for durable's views: domain errors keep their code and status."""
    if isinstance(exc, DurableError):
        code, message, status_code, retryable = exc.code, str(exc), exc.status_code, exc.retryable
    elif isinstance(exc, exceptions.APIException):
        detail_code = exc.detail.code if isinstance(exc.detail, exceptions.ErrorDetail) else None
        code = str(detail_code or exc.default_code)
        message, status_code = detail_text(exc.detail), exc.status_code
        retryable = status_code == 429 or status_code >= 500
    elif isinstance(exc, Http404):
        code, message, status_code, retryable = "not_found", str(exc) or "Not found.", 404, False
    elif isinstance(exc, PermissionDenied):
        code, message, status_code, retryable = "permission_denied", str(exc) or "Permission denied.", 403, False
    elif isinstance(exc, DatabaseError):
        # The transaction was rolled back: nothing of the request was stored.
        logger.warning("database error in the durable API: %s", exc, extra={"view": repr(context.get("view"))})
        code, status_code, retryable = "database_unavailable", 503, True
        message = "The database failed and nothing was stored; send the request again."
    else:
        logger.exception("unexpected error in the durable API", extra={"view": repr(context.get("view"))})
        code, message, status_code, retryable = "server_error", "Unexpected error; try again later.", 500, True
    response = Response({"error": message, "error_type": code, "retryable": retryable}, status=status_code)
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        response["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        response["Retry-After"] = str(int(wait))
    if isinstance(exc, DatabaseError):
        response["Retry-After"] = "1"
    return response

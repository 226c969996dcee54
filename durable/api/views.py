"""Thin DRF views: parse, check permission, call durable.client, render what durable.inspect reads."""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from django.utils.dateparse import parse_datetime
from rest_framework import status
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from durable import business_keys, client, erasure, events, forking, inspect, permissions, text
from durable.api import auth, bodies, errors, openapi
from durable.api.openapi import answers, described
from durable.api.serializers import (
    CancelSerializer,
    EraseSerializer,
    ForkSerializer,
    InstanceDetailSerializer,
    InstancePageSerializer,
    InstanceSerializer,
    PublishedValueSerializer,
    ReasonSerializer,
    ReceiptSerializer,
    StartSerializer,
)
from durable.conf import CODE_VERSION_MAX, settings
from durable.engine import codec
from durable.transitions import OPERATIONS, START_PERMISSION, Transition

logger = logging.getLogger(__name__)

MAX_LIST = 500
MAX_GET_EVENT_WAIT = 60.0
SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")  # a JSON number's form, never negative


class BoundedJSON(JSONParser):
    """DRF's JSON parser, with JSON nested past the interpreter's stack a 400 and not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise errors.BadRequest("The body's JSON is nested too deeply.") from None


class UnparsedBody(BaseParser):
    """Accepts any content type and reads nothing: the receiver parses CloudEvents from the raw
    body itself. With it a session's CSRF check (which reads request.POST) finds a parser."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> dict:
        return {}


class DurableView(APIView):
    """Common ground: authenticators, the permission each view names, JSON errors."""

    schema = openapi.DurableAutoSchema()
    operation_id = ""  # the schema's operationId, given per route in urls.py
    permission_classes = [auth.HasDurablePermission]
    parser_classes = [BoundedJSON]
    required_permission = permissions.qualified(permissions.VIEW_INSTANCE)
    accepts_event_token = False

    def get_required_permission(self) -> str:
        return self.required_permission

    def get_authenticators(self) -> list:
        return auth.authenticators()

    def get_exception_handler(self):
        return errors.exception_handler

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # Ids, keys and filters are plain strings: a control character (a NUL that PostgreSQL
        # refuses, say) is a 400 here rather than a failed query later.
        for where, values in (("path", kwargs.items()), ("query", request.query_params.items())):
            for name, value in values:
                why = text.problem(value)
                if why:
                    raise errors.BadRequest(f"The {where} parameter {name!r} is not a plain string: {why}.")


def _body(request) -> bytes:
    limit = int(settings.MAX_EVENT_BYTES)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise errors.BadRequest("Content-Length is not a number.") from None
    if declared > limit:
        raise errors.PayloadTooLarge(f"The body has {declared} bytes; the limit is {limit} (DURABLE_MAX_EVENT_BYTES).")
    try:
        body = request.body
    except RequestDataTooBig:
        raise errors.PayloadTooLarge() from None
    except RawPostDataException:
        raise errors.BadRequest("The body was already read.") from None
    if len(body) > limit:
        raise errors.PayloadTooLarge(f"The body has {len(body)} bytes; the limit is {limit}.")
    return body


def _receive(request, instance_id: str | None = None) -> Response:
    records = events.parse_http(dict(request.headers), _body(request), max_batch=int(settings.MAX_BATCH_EVENTS))
    if instance_id is not None:
        for record in records:
            if record["target"] not in (None, instance_id):
                raise events.InvalidEvent(
                    f"The event's durableinstanceid {record['target']!r} disagrees with the URL's {instance_id!r}."
                )
            record["target"] = instance_id
    receipt = client.deliver_many(records)
    return Response(
        {
            "accepted": len(records) - receipt["duplicates"],
            "duplicates": receipt["duplicates"],
            "resumed": receipt["resumed"],
            "started": receipt["started"],
        },
        status=status.HTTP_202_ACCEPTED,
    )


class EventReceiver(DurableView):
    """CloudEvents receiver: structured, binary and batch modes."""

    parser_classes: list = [UnparsedBody]
    required_permission = permissions.qualified(permissions.SEND_EVENT)
    accepts_event_token = True

    @described(
        request=bodies.event_bodies(),
        responses=answers({202: ReceiptSerializer}, 400, 404, 409, 413, 415),
        summary="Receive CloudEvents",
        description=bodies.RECEIVER,
    )
    def post(self, request) -> Response:
        return _receive(request)


class InstanceEvents(DurableView):
    """A CloudEvent addressed to one instance (any mode)."""

    parser_classes: list = [UnparsedBody]
    required_permission = permissions.qualified(permissions.SEND_EVENT)
    accepts_event_token = True

    @described(
        request=bodies.event_bodies("InstanceCloudEvent"),
        responses=answers({202: ReceiptSerializer}, 400, 404, 409, 413, 415),
        summary="Send CloudEvents to one instance",
        description=bodies.RECEIVER + bodies.ONE_INSTANCE,
    )
    def post(self, request, instance_id: str) -> Response:
        client.get_handle(instance_id)
        return _receive(request, instance_id)


class InstanceList(DurableView):
    @described(
        parameters=openapi.list_parameters(list(inspect.Status.values), MAX_LIST),
        responses=answers({200: InstancePageSerializer}, 400),
        summary="List instances, newest first",
    )
    def get(self, request) -> Response:
        query = request.query_params
        statuses = None
        if query.get("status"):
            if query["status"] not in inspect.Status.values:
                raise errors.BadRequest(f"status must be one of {', '.join(inspect.Status.values)}.")
            statuses = [query["status"]]
        key = query.get("business_key") or None
        if key is not None and len(key) > business_keys.MAX_LENGTH:
            raise errors.BadRequest(f"business_key must be at most {business_keys.MAX_LENGTH} characters.")
        version = query.get("code_version") or None
        if version is not None and len(version) > CODE_VERSION_MAX:
            raise errors.BadRequest(f"code_version must be at most {CODE_VERSION_MAX} characters.")
        after, before = _datetime(query, "created_after"), _datetime(query, "created_before")
        limit = _int(query, "limit", 50, 1, MAX_LIST)
        offset = _int(query, "offset", 0, 0, 10**9)
        page = inspect.list_instances(
            statuses=statuses,
            workflow=query.get("workflow") or None,
            business_key=key,
            code_version=version,
            created_after=after,
            created_before=before,
            limit=limit,
            offset=offset,
        )
        next_url = None
        if page.more:
            params = query.copy()
            params["offset"] = str(offset + limit)
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": InstanceSerializer(page.rows, many=True).data, "next": next_url})


def _int(query, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.BadRequest(f"{name} must be an integer.") from None
    if not low <= value <= high:
        raise errors.BadRequest(f"{name} must be between {low} and {high}.")
    return value


def _datetime(query, name: str) -> dt.datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise errors.BadRequest(f"{name} must be an ISO 8601 datetime with a time zone, e.g. 2026-11-21T10:00:00Z.")
    # In UTC: PostgreSQL refuses offsets past 15:59. A moment outside years 1-9999 in UTC is
    # before or after every stored one.
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        return (dt.datetime.min if value.year < 5000 else dt.datetime.max).replace(tzinfo=dt.UTC)


class InstanceDetail(DurableView):
    @described(responses=answers({200: InstanceDetailSerializer}, 404), summary="An instance with its history")
    def get(self, request, instance_id: str) -> Response:
        return Response(InstanceDetailSerializer(inspect.instance(instance_id, children=True)).data)


class Start(DurableView):
    required_permission = START_PERMISSION

    @described(
        request={"application/json": bodies.ref("StartRequest")},
        responses=answers({201: InstanceSerializer, 200: InstanceSerializer}, 400, 404, 409, 415),
        summary="Start an instance (200 with the existing one for a known instance_id)",
    )
    def post(self, request, name: str) -> Response:
        body = StartSerializer(data=request.data)
        if not body.is_valid():
            raise errors.BadRequest(errors.detail_text(body.errors))
        values = body.validated_data
        handle = client.start_with(
            name,
            values["args"],
            values["kwargs"],
            instance_id=values["instance_id"],
            business_key=values["business_key"],
            check=True,
            start_at=values["start_at"],
            start_in=values["start_in"],
            queue=values["queue"],
            priority=values["priority"],
        )
        code = status.HTTP_201_CREATED if handle.created else status.HTTP_200_OK
        return Response(InstanceSerializer(inspect.summary(handle.instance_id)).data, status=code)


class _Operation(DurableView):
    """POST an operation on one instance; the body may carry {"reason": ...}."""

    transition: Transition = OPERATIONS["cancel"]
    body: type[ReasonSerializer] = ReasonSerializer

    def get_required_permission(self) -> str:
        return self.transition.permission or ""

    # The request body, a reason or none, is the transition's: see openapi.DurableAutoSchema.
    @described(responses=answers({200: InstanceSerializer}, 400, 404, 409, 415))
    def post(self, request, instance_id: str) -> Response:
        given = request.data if request.body else {}  # (body first: DRF then parses it from memory)
        if not isinstance(given, dict):
            raise errors.BadRequest(f'The body must be a JSON object such as {{"reason": "..."}}, not {given!r:.40}.')
        body = self.body(data=given)
        if not body.is_valid():
            raise errors.BadRequest(errors.detail_text(body.errors))
        reason = body.validated_data["reason"] if self.transition.takes_reason else ""
        options = {k: v for k, v in body.validated_data.items() if k != "reason"}
        client.operate(instance_id, self.transition.name, reason, **options)
        return Response(InstanceSerializer(inspect.summary(instance_id)).data)


class Cancel(_Operation):
    """Cancel: armed compensations run first unless {"compensate": false}; waits and timers are
    withdrawn, later events ignored; 409 once it has ended."""

    transition = OPERATIONS["cancel"]
    body = CancelSerializer


class Pause(_Operation):
    """Pause until resumed; 409 once it has ended or while it is paused."""

    transition = OPERATIONS["pause"]


class Resume(_Operation):
    """Resume a paused instance; 409 when it is not paused. It reads no body."""

    transition = OPERATIONS["resume"]


class Retry(_Operation):
    """Run a failed instance again from its last recorded step; 409 when it has not failed. It reads no body."""

    transition = OPERATIONS["retry"]


class Erase(DurableView):
    """Erase an instance's data (SPEC 16): inputs, results, errors, step data, published values and
    the events only it received hold "[erased]" afterwards; the structure stays. 409 for an active
    instance unless {"cancel": true}; erasing an erased instance changes nothing."""

    required_permission = permissions.qualified(permissions.ERASE_INSTANCE[0])

    @described(
        request={"application/json": bodies.ref("EraseRequest")},
        responses=answers({200: InstanceSerializer}, 400, 404, 409, 415),
        summary="Erase an instance's data",
    )
    def post(self, request, instance_id: str) -> Response:
        given = request.data if request.body else {}
        if not isinstance(given, dict):
            raise errors.BadRequest(f'The body must be a JSON object such as {{"reason": "..."}}, not {given!r:.40}.')
        body = EraseSerializer(data=given)
        if not body.is_valid():
            raise errors.BadRequest(errors.detail_text(body.errors))
        values = body.validated_data
        erasure.erase(instance_id, values["reason"], cancel=values["cancel"])
        return Response(InstanceSerializer(inspect.summary(instance_id)).data)


class Fork(DurableView):
    """Restart from a step (SPEC 17): a new instance of the same workflow and input that keeps the
    instance's first `from_position` steps as recorded and runs on from there with the code deployed
    now. 409 for a position its history does not allow (past its end, keeping a step in progress or
    the compensations that undid the run), an instance a worker may be running (pause it first), an
    erased one, or an id taken."""

    required_permission = START_PERMISSION

    @described(
        request={"application/json": bodies.ref("ForkRequest")},
        responses=answers({201: InstanceSerializer}, 400, 404, 409, 415),
        summary="Fork an instance from a step",
    )
    def post(self, request, instance_id: str) -> Response:
        given = request.data if request.body else {}
        if not isinstance(given, dict):
            raise errors.BadRequest(
                f'The body must be a JSON object such as {{"from_position": 2}}, not {given!r:.40}.'
            )
        body = ForkSerializer(data=given)
        if not body.is_valid():
            raise errors.BadRequest(errors.detail_text(body.errors))
        values = body.validated_data
        handle = forking.fork(instance_id, values["from_position"], instance_id=values["instance_id"])
        return Response(InstanceSerializer(inspect.summary(handle.instance_id)).data, status=status.HTTP_201_CREATED)


class GetEvent(DurableView):
    @described(
        parameters=[openapi.timeout_parameter(MAX_GET_EVENT_WAIT)],
        responses=answers({200: PublishedValueSerializer}, 400, 404),
        summary="A value the instance published (get_event), waiting up to `timeout` seconds",
    )
    def get(self, request, instance_id: str, key: str) -> Response:
        raw = request.query_params.get("timeout") or "0"
        if not SECONDS.fullmatch(raw):  # float() would also take "1_0", "nan" and "inf"
            raise errors.BadRequest("timeout must be a number of seconds, such as 2 or 0.5.")
        timeout = float(raw)
        if not 0 <= timeout <= MAX_GET_EVENT_WAIT:
            raise errors.BadRequest(f"timeout must be between 0 and {MAX_GET_EVENT_WAIT:g} seconds.")
        value = client.wait_for_value(instance_id, key, timeout, hold_connection=False)
        if not client.is_set(value):
            raise errors.EventNotSet(f"Instance {instance_id} has not published {key!r} (waited {timeout:g} s).")
        # As stored, in plain JSON: a dataclass, bytes or a Decimal renders like everywhere else.
        return Response({"key": key, "value": codec.to_plain(codec.encode(value, where=f"value {key!r}"))})

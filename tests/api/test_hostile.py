"""Property-based hostile requests: malformed, mistyped, oversized, misaddressed. Only 4xx, nothing stored."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from durable.models import Event, WorkflowInstance
from tests.api.conftest import TOKEN

pytestmark = pytest.mark.django_db

EXAMPLES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], derandomize=False
)
REQUIRED = ("specversion", "id", "source", "type")
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
text = st.text(min_size=1, max_size=30)


@st.composite
def valid_event(draw) -> dict:
    return {
        "specversion": "1.0",
        "id": draw(text),
        "source": draw(text),
        "type": draw(text),
        "data": draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=8), st.integers(), max_size=4))),
    }


@st.composite
def broken_event(draw) -> dict:
    event = draw(valid_event())
    how = draw(st.sampled_from(["drop", "retype", "empty", "extension", "time", "specversion", "base64"]))
    if how == "drop":
        del event[draw(st.sampled_from(REQUIRED))]
    elif how == "retype":
        event[draw(st.sampled_from(REQUIRED))] = draw(junk.filter(lambda v: not isinstance(v, str)))
    elif how == "empty":
        event[draw(st.sampled_from(("id", "source", "type")))] = draw(st.sampled_from(["", "   "]))
    elif how == "extension":
        event[draw(st.from_regex(r"[A-Z_\-][A-Za-z_\-]{0,10}", fullmatch=True))] = "x"
    elif how == "time":
        # null means absent in the JSON format, so it is not a broken time.
        event["time"] = draw(
            st.one_of(st.text(max_size=12).filter(lambda t: not t[:4].isdigit()), junk).filter(lambda v: v is not None)
        )
    elif how == "specversion":
        event["specversion"] = draw(st.one_of(st.sampled_from(["0.3", "2.0", "1", ""]), junk))
    else:
        event.pop("data", None)
        event["data_base64"] = draw(st.sampled_from(["***", "abc", 12]))
    return event


def check(response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    body = json.loads(response.content)
    assert set(body) == {"error", "error_type", "retryable"} and body["error"]
    assert Event.objects.count() == 0
    assert WorkflowInstance.objects.count() == 0


@pytest.fixture
def api(settings) -> APIClient:
    settings.DURABLE_EVENT_TOKEN = TOKEN
    settings.DURABLE_MAX_EVENT_BYTES = 4096
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return client


@EXAMPLES
@given(event=broken_event())
def test_hostile__broken_structured_events(api, event):
    check(api.generic("POST", "/durable/", json.dumps(event), content_type="application/cloudevents+json"))


@EXAMPLES
@given(events=st.lists(valid_event(), max_size=3), bad=broken_event(), where=st.integers(0, 3))
def test_hostile__a_batch_with_one_broken_event_stores_none(api, events, bad, where):
    batch = events[:where] + [bad] + events[where:]
    check(api.generic("POST", "/durable/", json.dumps(batch), content_type="application/cloudevents-batch+json"))


@EXAMPLES
@given(
    body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
    content_type=st.sampled_from(
        [
            "application/cloudevents+json",
            "application/cloudevents-batch+json",
            "application/json",
            "text/plain",
            "application/xml",
            "",
        ]
    ),
)
def test_hostile__garbage_bodies(api, body, content_type):
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict | list) and parsed:
        return  # by chance a JSON document; the broken-event strategies cover those
    check(api.generic("POST", "/durable/", body, content_type=content_type))


@EXAMPLES
@given(
    present=st.lists(st.sampled_from(REQUIRED), unique=True, max_size=3),
    extra=st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), text, max_size=2),
    body=st.binary(max_size=50),
)
def test_hostile__binary_mode_missing_headers(api, present, extra, body):
    headers = {f"HTTP_CE_{name.upper()}": "1.0" if name == "specversion" else "v" for name in present}
    headers.update({f"HTTP_CE_{name.upper()}": value for name, value in extra.items() if name not in REQUIRED})
    if not headers:
        headers["HTTP_CE_SUBJECT"] = "only-a-subject"
    check(api.generic("POST", "/durable/", body, content_type="application/octet-stream", **headers))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    event=valid_event(),
    instance_id=st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True),
    size=st.integers(5000, 40000),
)
def test_hostile__unknown_instances_and_huge_bodies(api, event, instance_id, size):
    check(
        api.generic(
            "POST",
            f"/durable/instances/{instance_id}/events/",
            json.dumps(event),
            content_type="application/cloudevents+json",
        )
    )
    check(
        api.generic(
            "POST", "/durable/", json.dumps({**event, "data": "x" * size}), content_type="application/cloudevents+json"
        )
    )
    check(api.generic("POST", f"/durable/cancel/{instance_id}"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=valid_event(), header=st.one_of(st.just(""), st.text(max_size=40).map(lambda t: f"Bearer {t}")))
def test_hostile__bad_credentials(event, header):
    if header == f"Bearer {TOKEN}":
        return
    client = APIClient()
    check(
        client.generic(
            "POST",
            "/durable/",
            json.dumps(event),
            content_type="application/cloudevents+json",
            HTTP_AUTHORIZATION=header,
        )
    )

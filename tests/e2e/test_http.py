"""Real HTTP: curl and the CloudEvents SDK post to a live server; a real worker runs the workflows."""

from __future__ import annotations

import json
import urllib.request

import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent

import durable
from tests import event_workflows as ew
from tests.e2e.http_session import curl_event

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

TOKEN = "live-token"


@pytest.fixture
def endpoint(live_server, settings, worker) -> str:
    settings.DURABLE_EVENT_TOKEN = TOKEN
    return f"{live_server.url}/durable/"


def http_post(url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={**headers, "Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def waiting_payment(order_id: str) -> durable.WorkflowHandle:
    handle = durable.start(ew.payment_with_timeout, order_id, timeout=120)
    from tests.conftest import wait_for

    wait_for(lambda: handle.status == "waiting_for_event", timeout=30, what="the workflow to wait")
    return handle


def test_http__the_seed_curl_command_resumes_the_workflow(endpoint):
    handle = waiting_payment("o-curl")
    event = {
        "specversion": "1.0",
        "type": "payment.completed",
        "source": "payment-service",
        "id": "evt-001",
        "data": {"order_id": "o-curl", "payment_id": "PAY-123", "amount": 99.99, "status": "success"},
    }
    code, answer = curl_event(endpoint, event, TOKEN)
    assert code == 202
    assert answer["resumed"] == [handle.instance_id]
    assert handle.result(timeout=30) == {
        "status": "completed",
        "payment_id": "PAY-123",
        "amount": 99.99,
        "source": "payment-service",
    }


def test_http__sdk_structured_and_binary_events(endpoint):
    structured_wf, binary_wf = waiting_payment("o-s"), waiting_payment("o-b")
    for handle, order_id, encode in ((structured_wf, "o-s", to_structured_event), (binary_wf, "o-b", to_binary_event)):
        event = CloudEvent(
            {
                "type": "payment.completed",
                "source": "/sdk",
                "id": f"sdk-{order_id}",
                "datacontenttype": "application/json",
            },
            {"order_id": order_id, "payment_id": f"PAY-{order_id}", "amount": 5},
        )
        message = encode(event)
        status, receipt = http_post(endpoint, dict(message.headers), message.body)
        assert status == 202
        assert receipt["resumed"] == [handle.instance_id]
    assert structured_wf.result(timeout=30)["payment_id"] == "PAY-o-s"
    assert binary_wf.result(timeout=30)["payment_id"] == "PAY-o-b"


def test_http__a_batch_resumes_each_workflow(endpoint):
    handles = {order_id: waiting_payment(order_id) for order_id in ("o-1", "o-2")}
    batch = [
        {
            "specversion": "1.0",
            "type": "payment.completed",
            "source": "/batch",
            "id": f"b-{order_id}",
            "data": {"order_id": order_id, "payment_id": f"P-{order_id}", "amount": 1},
        }
        for order_id in handles
    ]
    status, receipt = http_post(
        endpoint, {"Content-Type": "application/cloudevents-batch+json"}, json.dumps(batch).encode()
    )
    assert status == 202
    assert receipt["accepted"] == 2 and sorted(receipt["resumed"]) == sorted(h.instance_id for h in handles.values())
    for order_id, handle in handles.items():
        assert handle.result(timeout=30)["payment_id"] == f"P-{order_id}"

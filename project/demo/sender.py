"""CloudEvents over real HTTP to durable's receiver: structured, binary and batch mode, with the bearer token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

from project.processes import LOCAL


class ReceiverError(Exception):
    """The receiver did not accept an event."""


def event(event_type: str, source: str, data: Any) -> dict[str, Any]:
    """A CloudEvent in its JSON form, with a fresh id."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": event_type,
        "source": source,
        "datacontenttype": "application/json",
        "data": data,
    }


class Sender:
    """POSTs events to the receiver (`<server>/durable/`) and returns its receipt."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def structured(self, cloudevent: dict[str, Any]) -> dict:
        """The whole event as the JSON body (`application/cloudevents+json`)."""
        return self._post({"Content-Type": "application/cloudevents+json"}, json.dumps(cloudevent).encode())

    def binary(self, cloudevent: dict[str, Any]) -> dict:
        """The attributes as `ce-*` headers, the data alone as the body."""
        headers = {f"ce-{k}": v for k, v in cloudevent.items() if k not in ("data", "datacontenttype")}
        headers["Content-Type"] = cloudevent["datacontenttype"]
        return self._post(headers, json.dumps(cloudevent["data"]).encode())

    def batch(self, events: list[dict[str, Any]]) -> dict:
        """Several events in one request (`application/cloudevents-batch+json`)."""
        return self._post({"Content-Type": "application/cloudevents-batch+json"}, json.dumps(events).encode())

    def _post(self, headers: dict[str, str], body: bytes) -> dict:
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={**headers, "Authorization": f"Bearer {self.token}"}
        )
        try:
            with LOCAL.open(request, timeout=30) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise ReceiverError(f"POST {self.url} failed: {error}") from None
        if status != 202:
            raise ReceiverError(f"POST {self.url} answered {status}: {payload.decode(errors='replace')[:300]}")
        return json.loads(payload)

"""Plain HTTP against a running server, as a script or a browser would send it: cookies, CSRF, a bearer token."""

from __future__ import annotations

import http.cookiejar
import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One visitor: its own cookie jar, no proxy from the environment."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies)
        )

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), error.read())

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post_json(self, path: str, data: object, **headers: str) -> Answer:
        headers = {"Content-Type": "application/json", **headers}
        return self.request("POST", path, json.dumps(data).encode(), headers)

    def csrf(self) -> str:
        return next(c.value for c in self.cookies if c.name == "csrftoken")

    def log_in(self, username: str, password: str) -> None:
        """The admin's login form, as a browser submits it; afterwards the session cookie is set."""
        page = self.get("/admin/login/")
        assert page.status == 200, page
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        assert token, "the login page has no CSRF token"
        form = {"csrfmiddlewaretoken": token.group(1).decode(), "username": username, "password": password}
        form["next"] = "/admin/"
        body = urllib.parse.urlencode(form).encode()
        answer = self.request("POST", "/admin/login/", body, {"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status == 200 and any(c.name == "sessionid" for c in self.cookies), answer.body[:500]


def curl_event(url: str, event: dict, token: str) -> tuple[int, dict]:
    """POST one structured CloudEvent with curl and a bearer token: (HTTP status, JSON answer)."""
    out = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "-X", "POST", url, "-H", "Content-Type: application/cloudevents+json"]
        + ["-H", f"Authorization: Bearer {token}", "-d", json.dumps(event), "-w", "\n%{http_code}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    body, code = out.rsplit("\n", 1)
    return int(code), json.loads(body)

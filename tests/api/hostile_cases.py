"""A walk over hostile input for every endpoint and admin form: one Case per request, each with its verdict.

The walk is deterministic: the same cases in the same order on every run, so a failure names a case
that can be sent again. Dimensions: every control-character class (C0, DEL, C1), lone and reversed
surrogates, NUL, wrong JSON types, nesting depth 1 to 100,000, sizes at and past the limit, times at
and past the bounds, batch counts, content types and charsets, hostile path segments and query values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from durable import events
from durable.engine import codec

REFUSE, ACCEPT, EITHER = "refuse", "accept", "either"
STRUCTURED, BATCH = events.STRUCTURED, events.BATCH
INSTANCE = "hostile-target"  # an instance the fixture leaves waiting for an event
WORKFLOW = "waits_once"  # a registered workflow: key, timeout=None

C0 = [chr(code) for code in range(0x00, 0x20)]
C1 = [chr(code) for code in range(0x7F, 0xA0)]  # DEL and the C1 controls
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\udc00\ud800"]  # lone, and a reversed pair
BAD_CHARACTERS = C0 + C1 + SURROGATES
WRONG_TYPES: list[object] = [0, 1.5, True, [], ["x"], {}, {"a": "b"}]
ATTRIBUTES = ["id", "source", "type", "subject", "datacontenttype", "dataschema", "ext", events.TARGET_EXTENSION]
DEPTHS = [1, 2, 50, codec.MAX_DEPTH - 1, codec.MAX_DEPTH, codec.MAX_DEPTH + 1, 150, 500, 950, 1000, 5000, 100_000]
TIMES = {
    ACCEPT: [
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:00:00.123456+05:30",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00-14:00",
        "9999-12-31T23:59:59+14:00",
        "2026-12-01t10:00:00z",
    ],
    REFUSE: [
        "9999-12-31T23:59:59-00:01",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+00:01",
        "0001-01-01T00:00:00+14:00",
        "-0001-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-12-01T25:00:00Z",
        "2026-12-01T23:59:61Z",
        "2026-12-01T10:00:00+24:00",
        "2026-12-01T10:00:00",
        "2026-12-01",
        "yesterday",
        "",
        "2026-12-01T10:00:00Z\x00",
    ],
}


@dataclass(frozen=True)
class Case:
    """One request and what must come of it."""

    name: str
    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    who: str = "token"  # token | operator | admin (a session in the admin)
    verdict: str = REFUSE
    stores: int = 0  # events (or instances) an accepted case stores

    @property
    def is_admin(self) -> bool:
        return self.who == "admin"


_serial = iter(range(10**9))


def unique(prefix: str = "h") -> str:
    return f"{prefix}-{next(_serial)}"


def event(**overrides: object) -> dict:
    body: dict = {"specversion": "1.0", "id": unique(), "source": "/hostile", "type": "hostile.probe", "data": {}}
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not _ABSENT}


_ABSENT = object()


def dumps(value: object) -> bytes:
    # ensure_ascii: lone surrogates travel as \\udXXX escapes, the only way JSON text carries them.
    return json.dumps(value, ensure_ascii=True).encode()


def nested(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "null" + "}" * depth


RECEIVERS = [("receiver", "/durable/", "token"), ("instance", f"/durable/instances/{INSTANCE}/events/", "operator")]


def structured(name: str, document: object, verdict: str = REFUSE, **kwargs) -> Iterator[Case]:
    for where, path, who in RECEIVERS:
        body = document if isinstance(document, bytes) else dumps(document)
        yield Case(f"{where}: {name}", "POST", path, body, STRUCTURED, who=who, verdict=verdict, **kwargs)


def attribute_cases() -> Iterator[Case]:
    for attribute in ATTRIBUTES:
        for char in BAD_CHARACTERS:
            label = f"U+{ord(char[0]):04X}" + ("+" if len(char) > 1 else "")
            yield from structured(f"{attribute} holds {label}", event(**{attribute: f"a{char}b"}))
            if char not in SURROGATES and attribute != "datacontenttype":
                # Binary mode: the attribute in a percent-encoded ce- header (Content-Type is datacontenttype).
                headers = {"ce-specversion": "1.0", "ce-id": unique(), "ce-source": "/s", "ce-type": "t"}
                headers[f"ce-{attribute}"] = quote(f"a{char}b", safe="")
                for where, path, who in RECEIVERS:
                    yield Case(
                        f"{where}: binary ce-{attribute} holds {label}",
                        "POST",
                        path,
                        b"{}",
                        "application/json",
                        headers,
                        who=who,
                    )
        for wrong in WRONG_TYPES:
            if attribute == "ext" and isinstance(wrong, int):
                continue  # CloudEvents extensions may be Integer or Boolean
            yield from structured(f"{attribute} is {wrong!r}", event(**{attribute: wrong}))
        if attribute in ("id", "source", "type"):
            yield from structured(f"{attribute} is empty", event(**{attribute: ""}))
            yield from structured(f"{attribute} is blank", event(**{attribute: "   "}))
            yield from structured(f"{attribute} is missing", event(**{attribute: _ABSENT}))
        limit = events.LIMITS.get(attribute, 1000 if attribute == "ext" else 500)
        if attribute != events.TARGET_EXTENSION:  # (a long target names no instance: a 404, tested below)
            yield from structured(f"{attribute} at its limit", event(**{attribute: "x" * limit}), ACCEPT, stores=1)
        yield from structured(f"{attribute} past its limit", event(**{attribute: "x" * (limit + 1)}))
    for spec in ["0.3", "1", "2.0", "", 1.0, None]:
        yield from structured(f"specversion {spec!r}", event(specversion=spec))
    for name in ["Ext", "ext-1", "e" * 21, "", "é", "ext\x00"]:
        yield from structured(f"extension name {name!r}", event(**{name: "v"}))


def data_cases() -> Iterator[Case]:
    for depth in DEPTHS:
        for kind in ("list", "object"):
            verdict = ACCEPT if depth <= codec.MAX_DEPTH else REFUSE
            text = f'{{"specversion":"1.0","id":"{unique()}","source":"/s","type":"t","data":{nested(depth, kind)}}}'
            yield from structured(f"data nested {depth} deep ({kind})", text.encode(), verdict, stores=1)
            binary = {"ce-specversion": "1.0", "ce-id": unique(), "ce-source": "/s", "ce-type": "t"}
            yield Case(
                f"receiver: binary data nested {depth} deep ({kind})",
                "POST",
                "/durable/",
                nested(depth, kind).encode(),
                "application/json",
                binary,
                verdict=verdict,
                stores=1,
            )
            batch = f'[{{"specversion":"1.0","id":"{unique()}","source":"/s","type":"t","data":{nested(depth, kind)}}}]'
            yield Case(
                f"receiver: batch data nested {depth} deep ({kind})",
                "POST",
                "/durable/",
                batch.encode(),
                BATCH,
                verdict=verdict,
                stores=1,
            )
    for text in ["\\u0000", "a\\u0000b", "\\ud800", "\\udfff", "x\\udc00\\ud800y"]:
        yield from structured(
            f"data value {text}",
            f'{{"specversion":"1.0","id":"{unique()}","source":"/s","type":"t","data":{{"k":"{text}"}}}}'.encode(),
        )
        yield from structured(
            f"data key {text}",
            f'{{"specversion":"1.0","id":"{unique()}","source":"/s","type":"t","data":{{"{text}":1}}}}'.encode(),
        )
    for base64 in ["!!!", "YQ", 7, None, ["YQ=="]]:
        yield from structured(f"data_base64 {base64!r}", event(data=_ABSENT, data_base64=base64))
    yield from structured("data and data_base64", event(data_base64="YQ=="))
    for value in ["NaN", "Infinity", "-Infinity", "1e400"]:
        yield from structured(
            f"data {value}",
            f'{{"specversion":"1.0","id":"{unique()}","source":"/s","type":"t","data":{value}}}'.encode(),
        )


def size_cases(limit: int) -> Iterator[Case]:
    frame = len(dumps(event(id="x" * 12, data="")))
    for size, verdict in [(limit - 1, ACCEPT), (limit, ACCEPT), (limit + 1, REFUSE), (limit * 10, REFUSE)]:
        document = event(id=f"s{next(_serial):011d}")
        document["data"] = "y" * (size - frame)
        body = dumps(document)
        assert len(body) == size, (len(body), size)
        yield from structured(f"a body of {size} bytes", body, verdict, stores=1)
    for declared in ["-1", "abc", str(limit * 100), "1e3"]:
        for where, path, who in RECEIVERS:
            yield Case(
                f"{where}: Content-Length {declared}",
                "POST",
                path,
                dumps(event()),
                STRUCTURED,
                {"content-length": declared},
                who=who,
            )


def time_cases() -> Iterator[Case]:
    for verdict, values in TIMES.items():
        for value in values:
            yield from structured(f"time {value!r}", event(time=value), verdict, stores=1)
    for wrong in [0, 1.5, True, [], {}, {"t": "2026-12-01T10:00:00Z"}]:
        yield from structured(f"time {wrong!r}", event(time=wrong))


def batch_cases(max_batch: int) -> Iterator[Case]:
    def many(count: int) -> bytes:
        return dumps([event() for _ in range(count)])

    for count, verdict in [(1, ACCEPT), (2, ACCEPT), (max_batch, ACCEPT), (max_batch + 1, REFUSE), (15_500, REFUSE)]:
        yield Case(
            f"receiver: batch of {count}", "POST", "/durable/", many(count), BATCH, verdict=verdict, stores=count
        )
    for body in [b"[]", b"{}", b"[1]", b"[[]]", b"[null]", b'"x"', b"null", b"[" + dumps(event()) + b"]]"]:
        yield Case(f"receiver: batch body {body[:30]!r}", "POST", "/durable/", body, BATCH)
    for position in (0, 1, 9):
        items = [event() for _ in range(10)]
        items[position]["source"] = "bad\x00"
        yield Case(f"receiver: batch with a bad event at {position}", "POST", "/durable/", dumps(items), BATCH)
    twice = event()
    yield Case(
        "receiver: batch with a duplicate", "POST", "/durable/", dumps([twice, twice]), BATCH, verdict=ACCEPT, stores=1
    )


CONTENT_TYPES = {
    f"{STRUCTURED}; charset=utf-8": ACCEPT,
    STRUCTURED.upper(): ACCEPT,
    f"{STRUCTURED};charset=UTF-8": ACCEPT,
    "application/json": REFUSE,  # JSON without ce- headers is not a CloudEvent
    "text/plain": REFUSE,
    "application/xml": REFUSE,
    "application/x-www-form-urlencoded": REFUSE,
    "multipart/form-data; boundary=xyz": REFUSE,
    "multipart/form-data": REFUSE,
    "": REFUSE,
    "application/cloudevents": REFUSE,
    "application/cloudevents+xml": REFUSE,
    "*/*": REFUSE,
    ";;;": REFUSE,
    # (A NUL in the charset parameter breaks Django's WSGIRequest before any app code runs.)
    "application/cloudevents+json; charset=no-such-charset": EITHER,
    "application/cloudevents+json; charset=utf-16": EITHER,
}


def content_type_cases() -> Iterator[Case]:
    for content_type, verdict in CONTENT_TYPES.items():
        for where, path, who in RECEIVERS:
            yield Case(
                f"{where}: Content-Type {content_type!r}",
                "POST",
                path,
                dumps(event()),
                content_type,
                who=who,
                verdict=verdict,
                stores=1,
            )
    raw = dumps(event())
    for label, body in [
        ("invalid UTF-8", raw[:-2] + b'\xff"}'),
        ("UTF-16", json.dumps(event()).encode("utf-16")),
        ("a UTF-8 BOM", b"\xef\xbb\xbf" + raw),
        ("Latin-1 text", json.dumps(event(source="/caf\xe9"), ensure_ascii=False).encode("latin-1")),
        ("an empty body", b""),
        ("whitespace", b"   "),
        ("truncated JSON", raw[:-1]),
        ("two documents", raw + raw),
        ("a JSON array", b"[" + raw + b"]"),
        ("a string", b'"event"'),
        ("NUL bytes", b"\x00" * 64),
    ]:
        yield from structured(f"a body of {label}", body)


def path_segments() -> Iterator[tuple[str, str]]:
    for char in ["\x00", "\x01", "\x1f", "\x7f", "\x85", "\x9f"]:
        yield f"U+{ord(char):04X}", quote(f"a{char}b", safe="")
    yield "an encoded surrogate", "a%ED%A0%80b"
    yield "invalid UTF-8", "a%FFb"
    yield "10,000 characters", "x" * 10_000
    yield "a dot", "."
    yield "spaces", "%20%20"
    yield "unicode", quote("ünïcødé-☃", safe="")
    yield "an unknown id", "no-such-instance"


def path_cases() -> Iterator[Case]:
    for label, segment in path_segments():
        base = f"/durable/instances/{segment}"
        yield Case(f"detail of {label}", "GET", f"{base}/", who="operator")
        yield Case(f"events of {label}", "POST", f"{base}/events/", dumps(event()), STRUCTURED, who="operator")
        yield Case(f"get_event of {label}", "GET", f"{base}/events/k/", who="operator")
        yield Case(f"get_event key {label}", "GET", f"/durable/instances/{INSTANCE}/events/{segment}/", who="operator")
        for operation in ("cancel", "pause", "resume", "retry"):
            yield Case(
                f"{operation} {label}", "POST", f"{base}/{operation}/", b"{}", "application/json", who="operator"
            )
        yield Case(
            f"seed cancel {label}", "POST", f"/durable/cancel/{segment}/", b"{}", "application/json", who="operator"
        )
        yield Case(
            f"start workflow {label}",
            "POST",
            f"/durable/workflows/{segment}/start/",
            b'{"args": ["k"]}',
            "application/json",
            who="operator",
        )
        yield Case(f"admin page of {label}", "GET", f"/admin/durable/workflowinstance/{segment}/change/", who="admin")
        yield Case(
            f"admin send-event to {label}",
            "POST",
            f"/admin/durable/workflowinstance/{segment}/send-event/",
            b"type=t&source=%2Fs",
            "application/x-www-form-urlencoded",
            who="admin",
        )
        yield Case(
            f"admin cancel of {label}",
            "POST",
            f"/admin/durable/workflowinstance/{segment}/operate/cancel/",
            b"reason=x",
            "application/x-www-form-urlencoded",
            who="admin",
        )


QUERY_VALUES = ["\x00", "a\x00b", "\x01", "\x7f", "\x85", "%ED%A0%80", "x" * 5000, "", "-1", "0", "1e3", "NaN", "inf"]


def query_cases() -> Iterator[Case]:
    for name in ["status", "workflow", "created_after", "created_before", "limit", "offset"]:
        for value in QUERY_VALUES:
            encoded = value if value.startswith("%") else quote(value, safe="")
            yield Case(
                f"list {name}={value[:20]!r}",
                "GET",
                f"/durable/instances/?{name}={encoded}",
                who="operator",
                verdict=EITHER,
            )
    for name, value in [
        ("created_after", "9999-12-31T23:59:59-14:00"),
        ("created_before", "0001-01-01T00:00:00+14:00"),
    ]:
        # Valid RFC 3339, past the years 1-9999 in UTC: after (or before) every stored moment.
        yield Case(
            f"list {name}={value}", "GET", f"/durable/instances/?{name}={quote(value)}", who="operator", verdict=ACCEPT
        )
    for name, value in [
        ("created_after", "2026-13-01T00:00:00Z"),
        ("offset", str(10**30)),
        ("limit", "501"),
    ]:
        yield Case(f"list {name}={value}", "GET", f"/durable/instances/?{name}={quote(value)}", who="operator")
    for value in ["nan", "inf", "-inf", "-0.5", "61", "1e309", "0x10", "\x00", "", "1_0"]:
        yield Case(
            f"get_event timeout={value!r}",
            "GET",
            f"/durable/instances/{INSTANCE}/events/k/?timeout={quote(value)}",
            who="operator",
            verdict=EITHER,
        )
    for name in ["q", "status", "workflow_name", "o", "p", "e"]:
        for value in ["\x00", "a\x00b", "\x7f", "%ED%A0%80", "x" * 5000, "-1", "999999"]:
            encoded = value if value.startswith("%") else quote(value, safe="")
            for page in ("workflowinstance", "event"):
                yield Case(
                    f"admin {page} list {name}={value[:10]!r}",
                    "GET",
                    f"/admin/durable/{page}/?{name}={encoded}",
                    who="admin",
                    verdict=EITHER,
                )
    for value in ["\x00", "json", "api", "xml", "yaml"]:
        yield Case(
            f"schema format={value!r}", "GET", f"/durable/schema/?format={quote(value)}", who="operator", verdict=EITHER
        )


def start_cases() -> Iterator[Case]:
    path = f"/durable/workflows/{WORKFLOW}/start/"

    def start(name: str, body: object, verdict: str = REFUSE, content_type: str = "application/json") -> Case:
        raw = body if isinstance(body, bytes) else dumps(body)
        return Case(f"start: {name}", "POST", path, raw, content_type, who="operator", verdict=verdict, stores=1)

    yield start("a fitting call", {"args": ["k"], "instance_id": unique("start")}, ACCEPT)
    yield start("a literal $t key in the data", {"args": [{"$t": "set", "v": [1]}]}, ACCEPT)
    yield start("kwargs only", {"kwargs": {"key": "k", "timeout": 5}, "instance_id": unique("start")}, ACCEPT)
    for body in [
        {"args": "k"},
        {"args": {"key": "k"}},
        {"kwargs": ["k"]},
        {"kwargs": "k"},
        {"args": []},
        {"args": ["k", 1, 2]},
        {"kwargs": {"nope": 1}},
        {"args": ["k"], "kwargs": {"key": "k"}},
        {"kwargs": {"instance_id": "x", "key": "k"}},
        {"kwargs": {"workflow": "x", "key": "k"}},
        {"args": ["k"], "extra": 1},
        [],
        "k",
        7,
        None,
        {"args": ["k"], "instance_id": 7},
        {"args": ["k"], "instance_id": ""},
        {"args": ["k"], "instance_id": "x" * 201},
        {"args": ["k"], "instance_id": "a/b"},
    ]:
        yield start(f"body {json.dumps(body)[:60]}", body)
    for char in BAD_CHARACTERS:
        label = f"U+{ord(char[0]):04X}" + ("+" if len(char) > 1 else "")
        yield start(f"instance_id holds {label}", {"args": ["k"], "instance_id": f"i{char}d"})
        yield start(
            f"argument holds {label}",
            {"args": [f"k{char}"]},
            EITHER if char not in ("\x00",) and char not in SURROGATES else REFUSE,
        )
        yield start(f"kwarg name holds {label}", {"kwargs": {f"key{char}": "k"}})
    for depth in DEPTHS:
        verdict = ACCEPT if depth < codec.MAX_DEPTH - 1 else REFUSE  # stored inside {"args": [...]}: two more
        yield start(f"args nested {depth} deep", f'{{"args": [{nested(depth, "list")}]}}'.encode(), verdict)
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", ""]:
        yield start(f"Content-Type {content_type!r}", {"args": ["k"]}, REFUSE, content_type)
    yield start("invalid JSON", b'{"args": [', REFUSE)
    yield start("invalid UTF-8", b'{"args": ["\xff"]}', REFUSE)


def operation_cases() -> Iterator[Case]:
    for operation in ("cancel", "pause", "resume", "retry"):
        path = f"/durable/instances/{INSTANCE}/{operation}/"
        for body in [
            b"[]",
            b'"stop"',
            b"7",
            b"null",
            b'{"reason": 7}',
            b'{"reason": ["a"]}',
            b'{"reason": "' + b"r" * 2001 + b'"}',
            b"{",
            b'{"reason": "\\u0000"}',
            b'{"reason": "\\ud800"}',
            b'{"reason": "a\\u0085"}',
            b"[" * 5000 + b"]" * 5000,
        ]:
            yield Case(
                f"{operation} with body {body[:30]!r}",
                "POST",
                path,
                body,
                "application/json",
                who="operator",
                verdict=EITHER if operation in ("resume", "retry") else REFUSE,
            )


def form_cases() -> Iterator[Case]:
    send = f"/admin/durable/workflowinstance/{INSTANCE}/send-event/"

    def form(name: str, fields: dict[str, str], verdict: str = REFUSE, path: str = send) -> Case:
        body = "&".join(f"{key}={value}" for key, value in fields.items()).encode()
        return Case(
            f"admin form: {name}",
            "POST",
            path,
            body,
            "application/x-www-form-urlencoded",
            who="admin",
            verdict=verdict,
            stores=1,
        )

    base = {"type": "hostile.probe", "source": "%2Fs", "subject": "", "event_data": "%7B%7D"}
    for field_name in ("type", "source", "subject"):
        for char in C0 + C1:
            if char in "\t\n\r":  # a form field strips surrounding whitespace; inside it stays
                pass
            yield form(f"{field_name} holds U+{ord(char):04X}", {**base, field_name: quote(f"a{char}b", safe="")})
        yield form(f"{field_name} holds an encoded surrogate", {**base, field_name: "a%ED%A0%80b"}, EITHER)
        yield form(f"{field_name} past its limit", {**base, field_name: "x" * 501})
    for text in ["\\u0000", "\\ud800", "\\udfff", "\\udc00\\ud800"]:
        yield form(f"data holds {text}", {**base, "event_data": quote(f'{{"k": "{text}"}}', safe="")})
        yield form(f"data key holds {text}", {**base, "event_data": quote(f'{{"{text}": 1}}', safe="")})
    for depth in DEPTHS:
        verdict = ACCEPT if depth <= codec.MAX_DEPTH else REFUSE
        yield form(f"data nested {depth} deep", {**base, "event_data": quote(nested(depth, "list"), safe="")}, verdict)
    for value in ["NaN", "Infinity", "1e400", "%7B", "%FF"]:
        yield form(f"data {value}", {**base, "event_data": value})
    bulk = "/admin/durable/workflowinstance/"
    for action in ("pause_selected", "resume_selected", "retry_selected", "cancel_selected"):
        for label, selected in [*path_segments(), ("nothing", "")]:
            if label == "an unknown id":
                continue
            fields = {"action": action, "index": "0", "_selected_action": selected}
            yield form(f"bulk {action} of {label}", fields, EITHER, bulk)
        yield form(
            f"bulk {action} with a hostile action name",
            {"action": f"{action}%00", "index": "0", "_selected_action": INSTANCE},
            EITHER,
            bulk,
        )
    operate = f"/admin/durable/workflowinstance/{INSTANCE}/operate/pause/"
    for reason in ["%00", "a%00b", "%ED%A0%80", "%7F", "%C2%85", "x" * 5000]:
        yield form(f"pause reason {reason[:12]!r}", {"reason": reason}, EITHER, operate)


def all_cases(limit: int, max_batch: int) -> list[Case]:
    walks = [
        attribute_cases(),
        data_cases(),
        size_cases(limit),
        time_cases(),
        batch_cases(max_batch),
        content_type_cases(),
        path_cases(),
        query_cases(),
        start_cases(),
        operation_cases(),
        form_cases(),
    ]
    return [case for walk in walks for case in walk]

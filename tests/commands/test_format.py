"""The text helpers of the commands: JSON options, stored values, durations, waits and tables."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.management.base import CommandError

from durable.engine import codec
from durable.management import format as fmt

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class Money:
    amount: Decimal
    currency: str


def test_parse_json__returns_the_value():
    assert fmt.parse_json('{"a": [1, null]}', "--data") == {"a": [1, None]}


def test_parse_json__error_names_the_option_the_problem_and_quotes_the_text():
    with pytest.raises(CommandError) as caught:
        fmt.parse_json("[1, 2", "--input")
    assert str(caught.value).startswith(
        "--input is not valid JSON (Expecting ',' delimiter at character 6): '[1, 2'. Quote it for the shell"
    )


def test_plain__shows_stored_values_as_plain_json_without_importing_classes():
    value = {"when": NOW, "id": uuid.UUID(int=1), "price": Money(Decimal("9.50"), "EUR"), "tags": {"b"}}
    tree = codec.encode({**value, "$t": "kept", "span": dt.timedelta(hours=1)})
    tree["v"]["price"]["cls"] = "gone.module:Money"  # a dict with a "$t" key is stored wrapped
    assert fmt.plain(tree) == {
        "when": "2026-01-01T12:00:00+00:00",
        "id": "00000000-0000-0000-0000-000000000001",
        "price": {"amount": "9.50", "currency": "EUR"},
        "tags": ["b"],
        "$t": "kept",
        "span": "1:00:00",
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0123, "12 ms"), (3.25, "3.2 s"), (59.9, "59.9 s"), (252, "4m 12s"), (7500, "2h 5m"), (273600, "3d 4h")],
)
def test_duration__reads_like_a_person_would_say_it(seconds, text):
    assert fmt.duration(seconds) == text


def test_shorten__one_line_cut_with_dots():
    assert fmt.shorten("a\nb   c") == "a b c"
    assert fmt.shorten("abcdefghij", 6) == "abc..."
    assert fmt.shorten("abcdef", 6) == "abcdef"


def test_waiting__event_timer_and_retry_summaries():
    event = {"kind": "event", "types": ["paid", "failed"], "match": {"order_id": "o-1"}, "subject": None}
    assert fmt.waiting(event, NOW) == 'paid or failed where order_id="o-1"'
    timed = dict(event, subject="s", timeout_at=(NOW + dt.timedelta(seconds=252)).isoformat())
    assert fmt.waiting(timed, NOW) == 'paid or failed where order_id="o-1", subject="s", times out in 4m 12s'
    assert fmt.waiting(timed, NOW, width=40) == "paid or failed where o..., times out in 4m 12s"
    timer = {"kind": "timer", "name": "sleep", "due_at": (NOW - dt.timedelta(seconds=3)).isoformat()}
    assert fmt.waiting(timer, NOW) == "timer due 3.0 s ago"
    retry = {"kind": "retry", "activity": "charge", "attempt": 2, "max_attempts": 5, "due_at": NOW.isoformat()}
    assert fmt.waiting(retry, NOW) == "retry of charge (attempt 2/5) in 0 ms"
    assert fmt.waiting(None, NOW) == "-"


def test_table__aligns_columns_and_cuts_cells():
    lines = fmt.table(("ID", "VALUE"), [("a", "x" * 20), ("long-id", None)], width=(10, 8))
    assert lines == ["ID       VALUE", "-------  --------", "a        xxxxx...", "long-id  -"]

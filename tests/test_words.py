"""durable.words: stored values, durations and waits in words, shared by the viewer and the commands."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest

from durable import words
from durable.engine import codec

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class Money:
    amount: Decimal
    currency: str


def test_readable__shows_stored_values_as_plain_json_without_importing_classes():
    value = {"when": NOW, "id": uuid.UUID(int=1), "price": Money(Decimal("9.50"), "EUR"), "tags": {"b"}}
    tree = codec.encode({**value, "$t": "kept", "span": dt.timedelta(hours=1)})
    tree["v"]["price"]["cls"] = "gone.module:Money"  # a dict with a "$t" key is stored wrapped
    assert words.readable(tree) == {
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
def test_took__reads_like_a_person_would_say_it(seconds, text):
    assert words.took(seconds) == text

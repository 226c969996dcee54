"""The text helpers of the commands: JSON options, waits cut to a column, and tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.management.base import CommandError

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


def test_shorten__one_line_cut_with_dots():
    assert fmt.shorten("a\nb   c") == "a b c"
    assert fmt.shorten("abcdefghij", 6) == "abc..."
    assert fmt.shorten("abcdef", 6) == "abcdef"


def test_waiting__event_timer_and_retry_summaries():
    # The viewer's words (durable.words), cut to a column's width with the match cut first.
    event = {"kind": "event", "types": ["paid", "failed"], "match": {"order_id": "o-1"}, "subject": None}
    assert fmt.waiting(event, NOW) == "paid or failed where order_id=o-1"
    timed = dict(event, subject="s", timeout_at=(NOW + dt.timedelta(seconds=252)).isoformat())
    assert fmt.waiting(timed, NOW) == "paid or failed with subject s where order_id=o-1, times out in 4m 12s"
    assert fmt.waiting(timed, NOW, width=64) == "paid or failed with subject s where orde..., times out in 4m 12s"
    timer = {"kind": "timer", "name": "sleep", "due_at": (NOW - dt.timedelta(seconds=3)).isoformat()}
    assert fmt.waiting(timer, NOW) == "timer overdue by 3s"
    retry = {"kind": "retry", "activity": "charge", "attempt": 2, "max_attempts": 5, "due_at": NOW.isoformat()}
    assert fmt.waiting(retry, NOW) == "retry 2 of 5 in <1s (charge)"
    assert fmt.waiting(None, NOW) == "-"


def test_table__aligns_columns_and_cuts_cells():
    lines = fmt.table(("ID", "VALUE"), [("a", "x" * 20), ("long-id", None)], width=(10, 8))
    assert lines == ["ID       VALUE", "-------  --------", "a        xxxxx...", "long-id  -"]

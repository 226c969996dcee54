"""How the viewer words spans, waits and payloads (no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from durable.admin.forms import nested
from durable.admin.words import arguments, breakable, event_record, failure_groups, payload
from durable.engine import codec
from durable.run.backend import waiting_summary
from durable.words import readable, span, took, waiting_words

NOW = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


def later(**delta: float) -> dt.datetime:
    return NOW + dt.timedelta(**delta)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.2, "<1s"), (3, "3s"), (60, "1m"), (252, "4m 12s"), (3300, "55m"), (3 * 3600 + 300, "3h 5m"), (97200, "1d 3h")],
)
def test_span__two_largest_units(seconds, words):
    assert span(seconds) == words


def test_took__milliseconds_then_seconds():
    assert [took(None), took(0.0004), took(0.012), took(1.44), took(75)] == ["", "0.4 ms", "12 ms", "1.4 s", "1m 15s"]


def test_waiting_words__event_with_match_and_timeout():
    summary = waiting_summary(
        "event", types=["payment.completed"], match={"order_id": "o-1"}, subject=None, timeout_at=later(seconds=252)
    )
    assert waiting_words(summary, NOW) == "payment.completed where order_id=o-1, times out in 4m 12s"


def test_waiting_words__event_types_subject_and_typed_match_without_timeout():
    match = codec.encode({"customer.id": 7, "paid": True})
    summary = waiting_summary("event", types=["a.done", "a.failed"], match=match, subject="orders/1", timeout_at=None)
    assert waiting_words(summary, NOW) == "a.done or a.failed with subject orders/1 where customer.id=7 and paid=true"


def test_waiting_words__timer_and_overdue_timer():
    assert waiting_words(waiting_summary("timer", name="sleep", due_at=later(minutes=55)), NOW) == "timer due in 55m"
    assert waiting_words(waiting_summary("timer", name="sleep", due_at=later(seconds=-2)), NOW) == "timer overdue by 2s"


def test_waiting_words__retry_counts_attempts():
    summary = waiting_summary("retry", activity="charge", attempt=2, max_attempts=5, due_at=later(seconds=3))
    assert waiting_words(summary, NOW) == "retry 2 of 5 in 3s (charge)"
    # A retry timer re-armed on replay records only the activity name.
    assert (
        waiting_words(waiting_summary("retry", name="charge", due_at=later(seconds=3)), NOW) == "retry in 3s (charge)"
    )


def test_waiting_words__nothing_to_wait_for():
    assert waiting_words(None, NOW) == ""


def test_readable__tagged_values_become_plain_text_without_importing_classes():
    tree = codec.encode({"at": NOW, "amount": Decimal("9.50"), "tags": {"b"}})
    tree["obj"] = {"$t": "dataclass", "cls": "gone.module:Order", "v": {"id": 1}}
    assert readable(tree) == {"at": NOW.isoformat(), "amount": "9.50", "tags": ["b"], "obj": {"id": 1}}


def test_payload__short_inline_long_folded():
    short = payload({"a": 1})
    assert short.preview == '{"a": 1}' and not short.folded
    long = payload({"text": "x" * 300})
    assert long.folded and long.preview.endswith("…") and len(long.preview) == 100
    assert '"text": "' in long.text and "\n" in long.text
    assert payload(None) is None and payload({}, empty={}) is None


def test_arguments__previewed_as_a_call():
    assert arguments({"args": ["o-1"], "kwargs": {"timeout": 300}}).preview == '("o-1", timeout=300)'
    assert arguments({"args": [], "kwargs": {}}) is None


def test_event_record__previewed_by_type_source_and_data():
    record = {"id": "e1", "type": "payment.completed", "source": "/pay", "data": {"payment_id": "P-1"}}
    assert event_record(record).preview == 'payment.completed from /pay: {"payment_id": "P-1"}'


def test_nested__dotted_match_paths_become_event_data():
    assert nested({"order_id": "o-1", "customer.id": 7, "customer.tier": "gold"}) == {
        "order_id": "o-1",
        "customer": {"id": 7, "tier": "gold"},
    }


def test_breakable__break_points_after_separators_and_in_long_runs_and_escaped():
    assert breakable("billing.collect_first") == "billing.<wbr>collect_<wbr>first"
    assert breakable("tenants/acme-1?kind=a&b") == "tenants/<wbr>acme-<wbr>1?<wbr>kind=<wbr>a&amp;<wbr>b"
    assert breakable("x" * 20) == "x" * 16 + "<wbr>" + "x" * 4
    assert breakable("retry 2 of 5, in 3s") == "retry 2 of 5, in 3s"  # spaces break already
    assert breakable('<script>alert("a.b")</script>') == (
        "&lt;script&gt;alert(&quot;a.<wbr>b&quot;)<wbr>&lt;/<wbr>script&gt;"
    )


def test_failure_groups__the_same_error_in_a_row_is_said_once():
    boom = {"type": "RuntimeError", "message": "upstream is down"}
    failures = [{**boom, "attempt": n, "at": later(seconds=n).isoformat()} for n in (1, 2, 3)]
    failures.append({"type": "ValueError", "message": "bad input", "attempt": 4, "at": later(seconds=4).isoformat()})
    first, last = failure_groups(failures, {"type": "ValueError", "message": "bad input", "traceback": "…"})
    assert (first.attempts, first.count, first.last_at, first.as_shown) == ("attempts 1–3", 3, later(seconds=3), False)
    assert (first.type, first.message) == ("RuntimeError", "upstream is down")
    assert (last.attempts, last.count, last.as_shown) == ("attempt 4", 1, True)
    assert failure_groups([], None) == ()

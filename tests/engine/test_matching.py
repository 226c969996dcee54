"""Match shapes and keys, without a database: equal keys exactly when the event matches the wait."""

from __future__ import annotations

import decimal

import pytest

from durable.engine import codec, matching


def test_shape__names_the_paths_and_the_subject():
    shape, paths = matching.shape_of({"b": 1, "a.c": 2}, "s")
    assert paths == ["a.c", "b", matching.SUBJECT_PATH]
    assert shape == matching.shape_of({"a.c": 9, "b": 0}, "other")[0]
    assert shape != matching.shape_of({"a.c": 9, "b": 0}, None)[0]


@pytest.mark.parametrize(
    "value",
    ["o-1", 7, 2.5, True, None, ["a", 1, None], {"sku": "X", "qty": 2}, decimal.Decimal("1.10")],
)
def test_key__an_event_with_the_value_at_the_path_has_the_waits_key(value):
    match = codec.encode({"order.id": value})
    data = codec.encode({"order": {"id": value}, "other": 1})
    _, paths = matching.shape_of(match, None)
    assert matching.event_key(paths, data, None) == matching.key_of(match, None)
    assert matching.matches(match, None, data, None)


def test_key__integral_floats_equal_ints():
    assert matching.key_of({"n": 7.0}, None) == matching.key_of({"n": 7}, None)
    assert matching.matches({"n": 7}, None, {"n": 7.0}, None)


def test_key__a_missing_path_or_subject_has_no_key():
    assert matching.event_key(["a"], {"b": 1}, None) is None
    assert matching.event_key([matching.SUBJECT_PATH], {"a": 1}, None) is None
    assert matching.event_key([matching.SUBJECT_PATH], {}, "s") == matching.key_of({}, "s")


def test_extract__walks_dicts_lists_and_codec_dicts():
    data = codec.encode({"items": [{"sku": "A"}, {"sku": "B"}], "$t": "tricky"})
    assert matching.extract(data, "items.1.sku") == "B"
    assert matching.extract(data, "items.2.sku") is matching.MISSING
    assert matching.extract({"a": [1]}, "a.x") is matching.MISSING


def test_matches__different_values_or_subjects_do_not_match():
    assert not matching.matches({"k": "a"}, None, {"k": "b"}, None)
    assert not matching.matches({}, "s1", {}, "s2")
    assert matching.matches({}, None, {"anything": 1}, "s")


@pytest.mark.parametrize(
    ("value", "as_sent_over_http"),
    [
        (decimal.Decimal("12.50"), "12.50"),
        (__import__("uuid").UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (
            __import__("datetime").datetime(2026, 12, 1, 8, 0, tzinfo=__import__("datetime").UTC),
            "2026-12-01T08:00:00+00:00",
        ),
    ],
)
def test_key__values_json_cannot_hold_match_their_json_form(value, as_sent_over_http):
    match = codec.encode({"v": value})
    _, paths = matching.shape_of(match, None)
    for data in ({"v": as_sent_over_http}, codec.encode({"v": value})):
        assert matching.event_key(paths, data, None) == matching.key_of(match, None)
        assert matching.matches(match, None, data, None)


def test_extract__reads_into_a_dataclass_sent_from_python():
    assert matching.extract({"order": {"$t": "dataclass", "cls": "x:Order", "v": {"id": "o-1"}}}, "order.id") == "o-1"

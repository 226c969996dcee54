"""The JSON codec: every supported type round-trips; anything else is a clear error."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import uuid
from decimal import Decimal

import pytest

from durable.engine import codec
from durable.exceptions import EncodingError


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Line:
    sku: str
    qty: int
    price: Decimal


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    lines: list[Line]
    placed: dt.datetime
    total: int = dataclasses.field(init=False, default=0)


VALUES = [
    None,
    True,
    0,
    -7,
    1.5,
    "text ✓",
    [1, "a", None],
    {"a": {"b": [1, 2]}},
    dt.datetime(2026, 11, 21, 10, 30, 1, 5, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 21, 10, 30),
    dt.date(2026, 2, 28),
    dt.time(23, 59, 1),
    dt.timedelta(days=2, seconds=5, microseconds=7),
    Decimal("19.990"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xffbytes",
    {1, 2, 3},
    Colour.RED,
    {"$t": "not a tag", "v": 1},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_codec__round_trips(value):
    tree = codec.encode(value)
    assert json.loads(json.dumps(tree)) == tree
    assert codec.decode(tree) == value
    assert type(codec.decode(tree)) is type(value)


def test_codec__dataclasses_round_trip_nested():
    order = Order(uuid.uuid4(), [Line("a", 2, Decimal("1.10"))], dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    order.total = 5
    again = codec.loads(codec.dumps(order))
    assert again == order and again.total == 5
    assert isinstance(again.lines[0], Line) and isinstance(again.lines[0].price, Decimal)


def test_codec__tuples_become_lists():
    assert codec.roundtrip((1, 2)) == [1, 2]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (object(), "builtins.object"),
        ({"items": [1, {2: "x"}]}, "$.items[1]: dict key 2"),
        (math.nan, "not valid JSON"),
        ({"deep": {"set": [math.inf]}}, "$.deep.set[0]"),
    ],
)
def test_codec__unencodable_value_names_where(value, needle):
    with pytest.raises(EncodingError) as caught:
        codec.encode(value, where="input of 'x'")
    assert needle in str(caught.value)
    assert "input of 'x'" in str(caught.value)
    assert isinstance(caught.value, TypeError)


def test_codec__local_dataclass_is_refused():
    @dataclasses.dataclass
    class Local:
        a: int

    with pytest.raises(EncodingError, match="module level"):
        codec.encode(Local(1))


def test_codec__unknown_tag_is_refused():
    with pytest.raises(EncodingError, match="Unknown stored type"):
        codec.decode({"$t": "pickle", "v": "x"})


def test_codec__pydantic_models_round_trip():
    pydantic = pytest.importorskip("pydantic")

    again = codec.roundtrip(Shipment(order_id="o-1", weight=Decimal("2.5"), lines=[Line("a", 1, Decimal("1"))]))
    assert isinstance(again, Shipment) and again.weight == Decimal("2.5")
    assert isinstance(pydantic.BaseModel, type)


try:
    import pydantic as _pydantic

    class Shipment(_pydantic.BaseModel):
        order_id: str
        weight: Decimal
        lines: list[Line]
except ImportError:  # pragma: no cover - pydantic is in the dev extra
    Shipment = None  # type: ignore[assignment,misc]


def test_encode__keeps_trees_of_max_depth_levels_and_refuses_one_more():
    def levels(n: int) -> list:
        tree: list = []
        for _ in range(n - 1):
            tree = [tree]
        return tree

    assert codec.decode(codec.encode(levels(codec.MAX_DEPTH))) == levels(codec.MAX_DEPTH)
    with pytest.raises(EncodingError, match=f"nested deeper than {codec.MAX_DEPTH} levels"):
        codec.encode(levels(codec.MAX_DEPTH + 1))


def test_encode__names_the_type_it_cannot_store_without_a_wrong_article():
    class Order:
        pass

    with pytest.raises(EncodingError) as caught:
        codec.encode({"order": Order()}, where="input of 'ship'")
    message = str(caught.value)
    assert message.startswith("input of 'ship' at $.order: cannot store a value of type ")
    assert message.split("value of type ", 1)[1].startswith(f"{__name__}.")
    assert "Order as JSON" in message

"""durable.db: the database clock as every process measures it."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.utils import timezone

from durable import db

pytestmark = pytest.mark.django_db


def test_sync_clock__keeps_the_reading_with_the_shortest_round_trip(monkeypatch):
    # The database's clock runs 30 ms ahead. The first reply is read at once but arrives 80 ms
    # late: alone it would put the offset 10 ms behind the truth (midpoint error of 40 ms).
    ahead = dt.timedelta(milliseconds=30)
    replies = iter([0.08, 0.0, 0.0])

    def database_clock(cursor):
        reading = timezone.now() + ahead
        time.sleep(next(replies))
        return reading

    monkeypatch.setattr(db, "_database_clock", database_clock)
    offset = db.sync_clock()
    assert abs(offset - ahead) < dt.timedelta(milliseconds=10), offset
    assert db._clock[db.alias()][0] == offset


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite's clock is this machine's")
def test_sync_clock__against_the_real_server_on_this_machine_finds_no_offset_to_speak_of():
    offset = db.sync_clock()
    assert abs(offset) < dt.timedelta(milliseconds=50), offset

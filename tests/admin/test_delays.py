"""The viewer on delayed and debounced starts: "starts in 4m" in the list and on the instance page."""

from __future__ import annotations

import re

import pytest

import durable
from tests import delay_workflows as dw
from tests.admin.test_instances import LIST, page, text

pytestmark = pytest.mark.django_db


def test_delayed_instance__the_list_and_the_page_say_when_it_starts(admin_client):
    durable.start(dw.delayed, "later", start_in=245, instance_id="later-1")
    durable.start(dw.delayed, "cart", business_key="cart-7", debounce=90)
    listing = text(admin_client.get(LIST))
    assert re.search(r"later-1 delayed — Pending starts in 4m \d+s not yet", listing), listing
    assert re.search(r"delayed cart-7 Pending starts in 1m \d+s, debounced not yet", listing), listing
    shown = text(admin_client.get(page("later-1")))
    assert re.search(r"status Pending waiting for starts in 4m \d+s created", shown), shown
    assert re.search(r"Timers # purpose name due — Delayed start start ", shown), shown

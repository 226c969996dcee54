"""A real durable_worker runs a keyed instance: ctx.business_key comes from the claimed row (SPEC 11)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

import durable
from tests import workflows

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_worker__the_workflow_sees_its_business_key(worker):
    user = User.objects.create_user("ada")
    by_model = durable.start(workflows.keyed, "m", business_key=user)
    by_string = durable.start(workflows.keyed, "s", business_key="order-42")
    without = durable.start(workflows.keyed, "n")
    assert by_model.result(timeout=30) == {"business_key": f"auth.user:{user.pk}", "label": "m"}
    assert by_string.result(timeout=30) == {"business_key": "order-42", "label": "s"}
    assert without.result(timeout=30) == {"business_key": None, "label": "n"}
    assert [row.pk for row in durable.instances_for(user)] == [by_model.instance_id]

"""Business keys (SPEC 11): start with a string or a model instance, ctx.business_key, instances_for, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.loader import MigrationLoader

import durable
from durable import business_keys, client
from durable.models import WorkflowInstance
from tests import workflows
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db


def stored_key(handle: durable.WorkflowHandle) -> str | None:
    return WorkflowInstance.objects.values_list("business_key", flat=True).get(pk=handle.instance_id)


def test_start__a_string_key_is_stored_as_given():
    handle = durable.start(workflows.keyed, "a", business_key="order-42")
    assert stored_key(handle) == "order-42"


def test_start__without_a_key_stores_none():
    assert stored_key(durable.start(workflows.keyed)) is None


def test_start__a_model_instance_is_stored_as_label_and_pk():
    entry = Ledger.objects.create(instance_id="x", step="s")
    handle = durable.start(workflows.keyed, business_key=entry)
    assert stored_key(handle) == f"testapp.ledger:{entry.pk}"


def test_start_with__takes_the_key_and_keeps_a_workflow_argument_named_business_key():
    handle = client.start_with(workflows.keyed, [], {"label": "x"}, business_key="k-1")
    assert stored_key(handle) == "k-1"


def test_start__many_instances_share_one_key():
    for label in "abc":
        durable.start(workflows.keyed, label, business_key="customer-7")
    assert WorkflowInstance.objects.filter(business_key="customer-7").count() == 3


def test_start__an_existing_instance_id_keeps_its_own_key():
    first = durable.start(workflows.keyed, instance_id="one", business_key="first")
    again = durable.start(workflows.keyed, instance_id="one", business_key="second")
    assert again == first and not again.created
    assert stored_key(first) == "first"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (42, "business_key must be a string or a saved model instance, not int (42)."),
        (b"k", "business_key must be a string or a saved model instance, not bytes (b'k')."),
        ("", "business_key must not be empty; pass None for an instance without one."),
        ("   ", "business_key must not be empty; pass None for an instance without one."),
        ("a\x00b", "business_key 'a\\x00b' cannot be stored: it holds a control character (U+0000)."),
        ("k" * 256, "business_key is 256 characters long; at most 255 fit. Use a shorter key."),
    ],
)
def test_start__bad_key_raises_invalid_argument_and_stores_nothing(key, message):
    with pytest.raises(durable.InvalidArgument) as caught:
        durable.start(workflows.keyed, business_key=key)
    assert str(caught.value) == message
    assert not WorkflowInstance.objects.exists()


def test_start__an_unsaved_model_instance_raises_invalid_argument_and_stores_nothing():
    with pytest.raises(durable.InvalidArgument, match=r"testapp.Ledger instance .* is not saved.*save it first"):
        durable.start(workflows.keyed, business_key=Ledger(instance_id="x", step="s"))
    assert not WorkflowInstance.objects.exists()


def test_start__the_longest_key_fits():
    assert stored_key(durable.start(workflows.keyed, business_key="k" * 255)) == "k" * 255


def test_ctx_business_key__the_workflow_sees_its_key_or_none(drain):
    user = User.objects.create_user("ada")
    with_string = durable.start(workflows.keyed, "s", business_key="order-42")
    with_model = durable.start(workflows.keyed, "m", business_key=user)
    without = durable.start(workflows.keyed, "n")
    drain()
    assert with_string.result()["business_key"] == "order-42"
    assert with_model.result()["business_key"] == f"auth.user:{user.pk}"
    assert without.result()["business_key"] is None


def test_instances_for__newest_first_with_a_string_or_the_model_instance():
    user = User.objects.create_user("ada")
    key = f"auth.user:{user.pk}"
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for n, instance_id in enumerate(["old", "mid", "new"]):
        durable.start(workflows.keyed, instance_id=instance_id, business_key=user)
        WorkflowInstance.objects.filter(pk=instance_id).update(created_at=base + dt.timedelta(minutes=n))
    durable.start(workflows.keyed, instance_id="other", business_key="auth.user:999")
    durable.start(workflows.keyed, instance_id="none")
    by_model = durable.instances_for(user)
    assert [row.pk for row in by_model] == ["new", "mid", "old"]
    assert [row.pk for row in durable.instances_for(key)] == ["new", "mid", "old"]
    assert [row.pk for row in by_model.filter(created_at__lt=base + dt.timedelta(minutes=2))] == ["mid", "old"]


def test_instances_for__a_key_nobody_has_is_empty_and_none_is_refused():
    assert not durable.instances_for("nobody").exists()
    with pytest.raises(durable.InvalidArgument, match="instances_for needs a business key"):
        durable.instances_for(None)  # type: ignore[arg-type]
    with pytest.raises(durable.InvalidArgument, match="is not saved"):
        durable.instances_for(User(username="unsaved"))


def test_instances_for__is_public_and_lazy():
    assert "instances_for" in durable.__all__
    assert durable.instances_for is business_keys.instances_for


def test_model_reference__names_a_model_only_for_an_installed_lower_case_label():
    assert business_keys.model_reference("auth.user:3") == (User, "3")
    assert business_keys.model_reference("Auth.User:3") is None
    assert business_keys.model_reference("nope.thing:3") is None
    assert business_keys.model_reference("order-42") is None
    assert business_keys.model_reference("auth.user:") is None
    assert business_keys.model_reference(None) is None


def test_index__the_key_has_a_named_index_in_the_model_and_the_database():
    indexes = {index.name: index for index in WorkflowInstance._meta.indexes}
    assert indexes["durable_inst_business_key"].fields == ["business_key", "-created_at"]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, WorkflowInstance._meta.db_table)
    assert constraints["durable_inst_business_key"]["columns"] == ["business_key", "created_at"]


def test_migration__named_add_business_key():
    loader = MigrationLoader(connection)
    assert ("durable", "0007_add_business_key") in loader.disk_migrations

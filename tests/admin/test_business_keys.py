"""The viewer and business keys (SPEC 11): search, the list column, the page, and links to the object's admin page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

import durable
from tests import workflows
from tests.admin.conftest import VIEWS, staff
from tests.admin.test_instances import LIST, page
from tests.admin.test_instances import text as visible
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def keyed():
    """Instances keyed by a string, by a registered model (a user), by an unregistered one, and none."""
    user = User.objects.create_user("ada")
    entry = Ledger.objects.create(instance_id="x", step="s")
    durable.start(workflows.keyed, instance_id="by-string", business_key="order-42")
    durable.start(workflows.keyed, instance_id="by-user", business_key=user)
    durable.start(workflows.keyed, instance_id="by-ledger", business_key=entry)
    durable.start(workflows.keyed, instance_id="no-key")
    return user, entry


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("order-42", {"by-string"}),
        ("order-4", set()),  # a key matches exactly
        ("auth.user:{user}", {"by-user"}),
        ("testapp.ledger:{entry}", {"by-ledger"}),
        ("by-", {"by-string", "by-user", "by-ledger"}),  # ids still match by their start
    ],
)
def test_list__search_finds_the_business_key(admin_client, keyed, term, expected):
    user, entry = keyed
    response = admin_client.get(LIST, {"q": term.format(user=user.pk, entry=entry.pk)})
    assert response.status_code == 200
    assert {obj.pk for obj in response.context["cl"].result_list} == expected


def test_list__shows_the_key_and_links_a_registered_models_key(admin_client, keyed):
    user, entry = keyed
    response = admin_client.get(LIST)
    html = response.content.decode().replace("<wbr>", "")
    user_page = reverse("admin:auth_user_change", args=[user.pk])
    assert f'<a href="{user_page}" class="durable-key">auth.user:{user.pk}</a>' in html
    shown = visible(response)
    assert "by-string keyed order-42 " in shown
    assert f"by-ledger keyed testapp.ledger:{entry.pk} " in shown
    assert "no-key keyed — " in shown
    assert " Key " in shown


def test_page__links_the_key_to_the_objects_admin_page(admin_client, keyed):
    user, _ = keyed
    html = admin_client.get(page("by-user")).content.decode().replace("<wbr>", "")
    user_page = reverse("admin:auth_user_change", args=[user.pk])
    assert f'<dt>business key</dt><dd><a href="{user_page}" class="durable-key">auth.user:{user.pk}</a></dd>' in html
    assert admin_client.get(user_page).status_code == 200


def test_page__a_string_key_or_an_unregistered_model_is_plain_text(admin_client, keyed):
    _, entry = keyed
    html = admin_client.get(page("by-string")).content.decode().replace("<wbr>", "")
    assert "<dt>business key</dt><dd>order-42</dd>" in html
    html = admin_client.get(page("by-ledger")).content.decode().replace("<wbr>", "")
    assert f"<dt>business key</dt><dd>testapp.ledger:{entry.pk}</dd>" in html
    assert "<dt>business key</dt>" not in admin_client.get(page("no-key")).content.decode()


def test_page__no_link_for_a_user_who_may_not_view_the_object(client, keyed):
    user, _ = keyed
    client.force_login(staff("viewer", VIEWS))  # may view instances, not users
    html = client.get(page("by-user")).content.decode().replace("<wbr>", "")
    assert f"<dt>business key</dt><dd>auth.user:{user.pk}</dd>" in html
    assert "auth/user/" not in html


def test_list__one_query_per_page_whatever_the_keys(admin_client, keyed, django_assert_max_num_queries):
    admin_client.get(LIST)  # warm up: sessions, the user
    for n in range(20):
        durable.start(workflows.keyed, business_key=keyed[0] if n % 2 else f"k-{n}")
    with django_assert_max_num_queries(12) as few:
        admin_client.get(LIST)
    many = len(few.captured_queries)
    for _ in range(20):
        durable.start(workflows.keyed, business_key=keyed[0])
    with django_assert_max_num_queries(many):
        admin_client.get(LIST)

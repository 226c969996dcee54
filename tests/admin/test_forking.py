"""The admin's "restart from here": a button on each timeline row, a confirmation page, the fork and its log entries."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.admin.utils import quote

import durable
from durable.models import Status, WorkflowInstance
from tests import fork_workflows as fw
from tests.admin.conftest import VIEWS, staff

pytestmark = pytest.mark.django_db

FORKER = (*VIEWS, "add_workflowinstance")


def page(instance_id: str) -> str:
    return f"/admin/durable/workflowinstance/{quote(instance_id)}/change/"


def fork_url(instance_id: str, position: int) -> str:
    return f"/admin/durable/workflowinstance/{instance_id}/fork/{position}/"


@pytest.fixture
def forker(client):
    client.force_login(staff("forker", FORKER))
    return client


def test_page__every_timeline_row_has_a_restart_button(forker, order_failed_at_charge):
    html = forker.get(page(order_failed_at_charge)).content.decode()
    for position in range(3):
        assert f'action="{fork_url(order_failed_at_charge, position)}"' in html
    assert html.count("restart from here") == 3
    assert html.count("csrfmiddlewaretoken") >= 3


def test_page__no_button_without_the_permission_and_the_post_is_refused(viewer_client, order_failed_at_charge):
    assert "restart from here" not in viewer_client.get(page(order_failed_at_charge)).content.decode()
    assert viewer_client.post(fork_url(order_failed_at_charge, 2), {"post": "yes"}).status_code == 403
    assert viewer_client.get(fork_url(order_failed_at_charge, 2)).status_code == 403
    assert WorkflowInstance.objects.count() == 1
    assert not LogEntry.objects.exists()


def test_page__no_button_while_the_instance_may_be_running(forker, drain):
    handle = durable.start(fw.approval, "o-2")
    drain(lambda: handle.status == Status.WAITING_FOR_EVENT)
    assert "restart from here" not in forker.get(page(handle.instance_id)).content.decode()


def test_fork__the_button_asks_first_then_forks_logs_and_goes_to_the_fork(forker, order_failed_at_charge, drain):
    confirm = forker.post(fork_url(order_failed_at_charge, 2))
    assert confirm.status_code == 200
    said = confirm.content.decode()
    assert "Restart order-1 from step 2?" in said and "Yes, restart from step 2" in said
    assert WorkflowInstance.objects.count() == 1  # nothing happened yet

    done = forker.post(fork_url(order_failed_at_charge, 2), {"post": "yes"}, follow=True)
    fork = WorkflowInstance.objects.get(forked_from=order_failed_at_charge)
    assert fork.pk == "order-1:fork-1" and fork.fork_position == 2
    assert done.redirect_chain[-1][0] == page("order-1:fork-1")
    shown = done.content.decode()
    assert "restarts order-1 from step 2" in shown
    assert f'href="{page(order_failed_at_charge)}"' in shown  # the fork's page links its original
    entries = {(e.object_id, e.action_flag) for e in LogEntry.objects.all()}
    assert entries == {(order_failed_at_charge, CHANGE), (fork.pk, ADDITION)}
    # The original's page lists its forks.
    assert f'href="{page(fork.pk)}"' in forker.get(page(order_failed_at_charge)).content.decode()
    fw.deploy_fix()
    drain(durable.get_handle(fork.pk))
    assert fw.ledger(fork.pk) == ["charge", "ship"]


def test_fork__with_an_id_given_on_the_confirmation_page(forker, order_failed_at_charge):
    forker.post(fork_url(order_failed_at_charge, 1), {"post": "yes", "instance_id": "order-1-b"})
    assert WorkflowInstance.objects.get(pk="order-1-b").fork_position == 1


@pytest.mark.parametrize(
    ("position", "given", "said"), [(9, "", "its history has 3 steps"), (2, "order-1", "exists already")]
)
def test_fork__a_refused_fork_says_why_and_changes_nothing(forker, order_failed_at_charge, position, given, said):
    answer = forker.post(fork_url(order_failed_at_charge, position), {"post": "yes", "instance_id": given}, follow=True)
    assert answer.redirect_chain[-1][0] == page(order_failed_at_charge)
    assert said in answer.content.decode()
    assert WorkflowInstance.objects.count() == 1
    assert not LogEntry.objects.exists()


def test_fork__an_unknown_instance_goes_back_to_the_list(forker):
    answer = forker.post(fork_url("nobody", 0), {"post": "yes"})
    assert answer.status_code == 302 and answer["Location"].endswith("/admin/durable/workflowinstance/")

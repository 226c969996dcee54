"""The replay check over histories a real durable_worker recorded: unchanged code replays clean (exit 0);
after a simulated deploy that calls a different activity at step 1, durable_replay exits 1 naming it,
from the database and from an exported file, and durable.testing.replay raises."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import durable
from durable.exceptions import NonDeterminismError
from durable.models import HistoryStep, WorkflowInstance
from durable.testing import replay
from tests import replay_workflows as rw
from tests.conftest import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_replay_check__over_a_real_worker_s_histories(worker, tmp_path, monkeypatch, capsys):
    orders = [durable.start(rw.order, n, instance_id=f"e2e-order-{n}") for n in range(3)]
    others = [durable.start(rw.retries, 1), durable.start(rw.saga, 2), durable.start(rw.waits, 3)]
    for handle in orders:
        assert handle.result(timeout=60)["paid"] == int(handle.instance_id[-1]) * 10
    wait_for(lambda: others[1].status == "failed", timeout=60, what="the saga to unwind")
    wait_for(lambda: others[2].status == "waiting_for_event", timeout=60, what="the wait")
    assert others[0].result(timeout=60) == 2  # its second attempt succeeded, at one position
    steps = HistoryStep.objects.count()

    call_command("durable_replay")
    out = capsys.readouterr().out
    assert "Replayed 6 instance(s)" in out and "6 match, 0 mismatched" in out
    export = tmp_path / "order-1.json"
    call_command("durable_export", "e2e-order-1", "--output", str(export))
    assert replay(export).verdict == "match"

    monkeypatch.setenv(rw.FLIP, "1")  # the deploy: replay.order now bills instead of charging
    with pytest.raises(CommandError) as caught:
        call_command("durable_replay")
    out = capsys.readouterr().out
    assert caught.value.returncode == 1
    for handle in orders:
        assert (
            f"MISMATCH  {handle.instance_id}  replay.order: step 1: history has activity 'replay.charge' "
            "but the code called activity 'replay.bill'"
        ) in out
    assert "3 match, 3 mismatched" in out
    with pytest.raises(CommandError) as caught:
        call_command("durable_replay", "--file", str(export))
    assert caught.value.returncode == 1 and "MISMATCH  e2e-order-1" in capsys.readouterr().out
    with pytest.raises(NonDeterminismError, match="step 1: history has activity 'replay.charge'"):
        replay(export)
    # Nothing was run or written by the checks.
    assert HistoryStep.objects.count() == steps
    assert WorkflowInstance.objects.get(pk=others[2].instance_id).status == "waiting_for_event"

"""Golden histories: every recorded instance in tests/histories/ still replays on the current code.

No database and no step runs here: the replay-only backend stops the run at the first request
for new work, and the report says whether that was the expected end.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from durable.engine.registry import registry
from tests.histories.replayer import load, replay

HISTORIES = Path(__file__).resolve().parent / "histories"
FILES = sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_history__replays_on_the_current_code(path):
    report = replay(path)
    if not report.ok:
        pytest.fail(report.message, pytrace=False)


def test_histories__cover_every_example_workflow():
    examples = {name for name, wf in registry.workflows.items() if wf.fn.__module__ == "project.workflows"}
    recorded = {load(path)["workflow"] for path in FILES}
    assert examples - recorded == set(), "record a history for them: see tests/histories/README.md"


def test_histories__both_ended_and_waiting_instances_are_recorded():
    statuses = {load(path)["status"] for path in FILES}
    assert {"completed", "failed", "waiting_for_event", "waiting_for_timer"} <= statuses


def altered(file_name: str, position: int, **changes: object) -> dict:
    history = copy.deepcopy(load(HISTORIES / file_name))
    history["steps"][position].update(changes)
    return history


def test_replay__renamed_step_is_reported_at_its_position():
    report = replay(altered("order_payment__paid.json", 1, name="charge_card"))
    assert not report.ok
    assert (report.position, report.recorded, report.called) == (
        1,
        "activity 'charge_card'",
        "activity 'initiate_payment'",
    )
    assert "step 1: the code no longer matches its history" in report.message


def test_replay__step_of_another_kind_is_reported_at_its_position():
    report = replay(altered("expense_approval__escalated.json", 2, kind="set_event"))
    assert not report.ok
    assert (report.position, report.recorded, report.called) == (
        2,
        "set_event 'approval.escalated'",
        "send_event 'approval.escalated'",
    )


def test_replay__extra_recorded_step_after_the_code_returns_is_reported():
    history = load(HISTORIES / "checkout__paid.json")
    history["steps"].append({**history["steps"][-1], "position": len(history["steps"])})
    report = replay(history)
    assert not report.ok
    assert report.position == len(history["steps"]) - 1
    assert report.called.startswith("the end: completed with")


def test_replay__step_asked_beyond_the_history_of_an_ended_instance_fails():
    history = load(HISTORIES / "order_fulfilment__receipt.json")
    del history["steps"][-2:]
    report = replay(history)
    assert not report.ok
    assert (report.position, report.recorded, report.called) == (
        len(history["steps"]),
        "the end of the history",
        "activity 'send_receipt'",
    )
    assert "had ended (completed) but the code asks for another step" in report.message


def test_replay__different_result_fails():
    history = load(HISTORIES / "order_delivery__ann.json")
    history["result"]["signed_by"] = "Bo"
    report = replay(history)
    assert not report.ok and report.problem == "the code ends differently"
    assert '"signed_by": "Bo"' in report.recorded and '"signed_by": "Ann"' in report.called


def test_replay__waiting_instance_stops_at_its_next_step():
    report = replay(HISTORIES / "checkout__waiting.json")
    assert report.ok and report.status == "suspended"
    assert (report.position, report.called) == (3, "wait_event 'checkout.paid'")


def test_replay__waiting_instance_whose_code_asks_for_something_else_fails():
    history = load(HISTORIES / "checkout__waiting.json")
    history["status"] = "waiting_for_timer"
    report = replay(history)
    assert not report.ok and report.position == 3

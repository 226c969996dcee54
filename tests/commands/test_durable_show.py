"""durable_show: the summary, the history table, waits, timers, values, errors and cut values."""

from __future__ import annotations

import re

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

import durable
from durable.models import HistoryStep, Status
from durable.run import executor
from tests import workflows
from tests.command_workflows import cmd_awaits_payment, cmd_echoes

pytestmark = pytest.mark.django_db


def section(out: str, title: str) -> list[str]:
    """The lines of one titled section, up to the next blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_show__completed_instance_summary_and_history_table(run, drain):
    handle = durable.start(workflows.three_steps, 10, nap=0.01, instance_id="done")
    drain(handle)
    out, _ = run("durable_show", "done")
    summary = out.split("\n\n")[0].splitlines()
    assert summary[:6] == [
        "Instance   done",
        "Workflow   three_steps",
        "Status     completed",
        "Waiting    -",
        "Input      three_steps(10, nap=0.01)",
        f'Result     {{"finished": "{handle.result()["finished"].isoformat()}", "result": 13}}',
    ]
    history = section(out, "History (5 steps)")
    assert cells(history[1]) == ["#", "KIND", "NAME", "STATUS", "ATTEMPT", "DURATION", "RESULT OR ERROR", "RECORDED AT"]
    rows = [cells(line) for line in history[3:]]
    assert [row[:5] for row in rows] == [
        ["0", "activity", "add", "completed", "1"],
        ["1", "activity", "add", "completed", "1"],
        ["2", "sleep", "sleep", "completed", "-"],
        ["3", "activity", "add", "completed", "1"],
        ["4", "now", "now", "completed", "-"],
    ]
    assert [row[5].endswith(" ms") for row in rows] == [True, True, False, True, False]
    assert [row[6] for row in rows[:4]] == ["11", "12", "-", "13"]
    for title in ("Incidents", "Waits", "Timers", "Published values"):
        assert f"\n{title}: none\n" in out


def test_show__waiting_instance_lists_its_waits_timers_and_values(run):
    durable.start(cmd_awaits_payment, "o-1", instance_id="pay-1")
    executor.run_due(only="pay-1")
    out, _ = run("durable_show", "pay-1")
    # Ten minutes from the database's clock, read on this one's (PostgreSQL: an offset measured to
    # half a round trip, which a loaded machine can stretch past a second).
    assert re.search(r"Waiting    cmdtest\.payment\.completed where order_id=o-1, times out in (9m 5\ds|10m)", out), out
    waits = section(out, "Waits")
    assert cells(waits[3])[:6] == [
        "1",
        "cmdtest.payment.completed",
        "-",
        "cmdtest.payment.completed",
        '{"order_id": "o-1"}',
        "-",
    ]
    assert re.search(r"\(in (9m 5\ds|10m)\)$", cells(waits[3])[6]), cells(waits[3])
    timers = section(out, "Timers")
    assert cells(timers[3])[:3] == ["1", "timeout", "cmdtest.payment.completed"]
    values = section(out, "Published values")
    assert cells(values[3])[:3] == ["payment_url", '"https://pay.example/o-1"', "0"]


def test_show__failed_instance_shows_error_traceback_and_incident(run, drain):
    drain(durable.start(workflows.explodes, instance_id="boom"))
    out, _ = run("durable_show", "boom")
    assert "Error      RuntimeError: boom in workflow code\n" in out
    assert "           Traceback (most recent call last):\n" in out
    assert 'raise RuntimeError("boom in workflow code")' in out
    incidents = section(out, "Incidents")
    assert cells(incidents[3])[1:] == ["failed", "error_type=RuntimeError, message=boom in workflow code"]


def test_show__retrying_step_shows_its_last_failure_and_paused_shows_the_reason(run):
    handle = durable.start(workflows.flaky_flow, succeed_on=3, instance_id="flaky")
    executor.run_due(only="flaky")
    durable.pause(handle.instance_id, "upstream is flaky")
    out, _ = run("durable_show", "flaky")
    assert "Status     paused\nReason     upstream is flaky\n" in out
    (step,) = [cells(line) for line in section(out, "History (1 step)")[3:]]
    assert step[:5] == ["0", "activity", "flaky", "retrying", "1"]
    assert "ConnectionError: attempt 1 failed" in step


def test_show__long_values_are_cut_and_full_prints_them_whole(run, drain):
    long = "x" * 500
    drain(durable.start(cmd_echoes, long, instance_id="long"))
    out, _ = run("durable_show", "long")
    (line,) = [line for line in out.splitlines() if line.startswith("Input")]
    assert line == f'Input      cmd_echoes("{"x" * 185}...'  # 200 characters after the label
    (step,) = section(out, "History (1 step)")[3:]
    assert f'"{"x" * 56}...' in step
    assert long not in out
    full, _ = run("durable_show", "long", "--full")
    assert f'Input      cmd_echoes("{long}")\n' in full
    assert f'Result     ["{long}"]\n' in full
    assert HistoryStep.objects.get(instance_id="long").status == Status.COMPLETED


def test_show__the_same_queries_whatever_the_history_length(run, drain):
    counts = []
    for steps in (1, 40):
        drain(durable.start(workflows.n_activities, steps, instance_id=f"n-{steps}"))
        with CaptureQueriesContext(connection) as queries:
            assert f"History ({steps} step" in run("durable_show", f"n-{steps}")[0]
        counts.append(len(queries))
    assert counts == [8, 8]  # inspect.instance's seven, and its children


def test_show__unknown_instance_is_a_command_error(run):
    with pytest.raises(CommandError, match="^No workflow instance has id 'missing'; check the id.$"):
        run("durable_show", "missing")


@pytest.mark.django_db(transaction=True)
def test_show__shell_prints_the_instance_or_exits_1(manage, drain):
    drain(durable.start(workflows.three_steps, 2, nap=0.01, instance_id="sh-1"))
    done = manage("durable_show", "sh-1")
    assert done.returncode == 0, done.stderr
    assert "Status     completed\n" in done.stdout
    assert "History (5 steps)\n" in done.stdout
    missing = manage("durable_show", "nope")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "CommandError: No workflow instance has id 'nope'; check the id.\n"

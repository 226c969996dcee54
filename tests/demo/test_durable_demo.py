"""`durable_demo --exit` as the README runs it: a real subprocess with its own worker and server, on the test DB."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys

import pytest

from durable.models import Status, WorkflowInstance
from project.models import Booking, Order
from tests import conftest

OUTCOMES = {
    "payment with timeout": r"o-\w+-1 paid, o-\w+-2 cancelled and its payment voided",
    "approval with escalation": r"approved by the director; the late rejection was not taken",
    "batch processing with delays": r"10/10… 10 orders imported in 3 chunks",
    "orchestration of three services": r"taken in the awaited order: inventory, payment, shipping",
    "order correlation by data": r"o-\w+-3 signed by Ann, o-\w+-4 signed by Bo",
    "checkout publishing its payment URL": r"get_event gave https://pay\.example\.com/checkout/\S+ .*o-\w+-5 paid",
    "event-started workflow": r"the same event again starts nothing… o-\w+-6 created and shipped \(TRK-o-\w+-6\)",
    "trip booking saga": r"no car available… trip-\w+ failed; the hotel, then the flight cancelled by their",
    "nightly report on a schedule": r"next slot \S+ \S+ UTC; triggered now… nightly-report@\S+Z: \d+ orders by status",
    "fan-out batch of 20 parallel activities": r"priced in parallel… 20 lines priced, total [\d.]+, up to \d+ at once",
    "approval or reminder, whichever first": r"req-\w+-1 decided at once; req-\w+-2 decided after \d+ reminder\(s\)",
}


def readme_demo_command() -> list[str]:
    """The last command of the line after `<!-- ci:demo-command -->` (and its code fence) in README.md."""
    lines = (conftest.ROOT / "README.md").read_text().splitlines()
    marker = lines.index("<!-- ci:demo-command -->")
    command = next(line for line in lines[marker + 1 :] if line.strip() and not line.startswith("```"))
    return shlex.split(command.split("&&")[-1])


def demo_args() -> list[str]:
    """What the test runs: the README's demo command after its interpreter, plus --exit."""
    return [*readme_demo_command()[1:], "--exit"]


def run_demo(env: dict[str, str], timeout: float = 240.0) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, *demo_args()],
        cwd=conftest.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM lets the demo stop its worker and server before it goes.
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
        pytest.fail(f"durable_demo --exit ran longer than {timeout} s:\n{output}")
    return proc.returncode, output


def test_readme__demo_command_runs_manage_py_durable_demo():
    command = readme_demo_command()
    assert os.path.basename(command[0]).startswith("python"), command
    assert command[1:] == ["manage.py", "durable_demo"]
    assert demo_args() == ["manage.py", "durable_demo", "--exit"]


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_durable_demo__exit_runs_every_pattern_and_exits_0():
    env = dict(os.environ, DATABASE_URL=conftest.test_database_url(), PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    # As on a fresh machine: manage.py's own settings, and a token the demo makes up itself.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DURABLE_EVENT_TOKEN", None)
    code, output = run_demo(env)
    assert code == 0, output
    for number, (title, outcome) in enumerate(OUTCOMES.items(), start=1):
        assert re.search(rf"^\[{number}/{len(OUTCOMES)}\] {re.escape(title)}: .*{outcome}.* ✓$", output, re.M), (
            title,
            output,
        )
    assert f"All {len(OUTCOMES)} patterns behaved as expected" in output
    assert output.rstrip().endswith("stopping the worker and the server… stopped.")
    # It ran on the test database: every instance it started has completed but the trip saga, which
    # failed and compensated; its orders and bookings are there.
    assert WorkflowInstance.objects.count() == 14  # with the nightly report's triggered run
    assert list(WorkflowInstance.objects.exclude(status=Status.COMPLETED).values_list("status", "compensated")) == [
        (Status.FAILED, True)
    ]
    assert set(Booking.objects.values_list("kind", "status")) == {("flight", "cancelled"), ("hotel", "cancelled")}
    by_status = {s: Order.objects.filter(status=s).count() for s in ("paid", "cancelled", "delivered", "shipped")}
    assert by_status == {"paid": 2, "cancelled": 1, "delivered": 2, "shipped": 1}
    assert Order.objects.filter(status="awaiting_payment").count() == 10  # the batch's imports

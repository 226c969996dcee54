"""The demo's runner and command without a worker: progress lines, failures named, exit status, ports, subprocesses."""

from __future__ import annotations

import io
import socket

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper
from django.core.management.color import no_style

import durable
from project import processes
from project.demo import runner
from project.demo.patterns import Unexpected


def console(encoding: str = "utf-8") -> tuple[runner.Console, io.BytesIO]:
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding=encoding, write_through=True)
    return runner.Console(OutputWrapper(text), no_style()), raw


def test_run_patterns__names_each_failure_and_goes_on(monkeypatch):
    def fine(run, say):
        say("first step")
        return "all good"

    def wrong(run, say):
        raise Unexpected("the order is cancelled")

    def crashes(run, say):
        raise ValueError("boom")

    monkeypatch.setattr(runner, "PATTERNS", [("fine", fine), ("wrong", wrong), ("crashes", crashes)])
    out, raw = console()
    problems: list[str] = []
    runner._run_patterns(out, None, problems)
    assert problems == ["wrong: the order is cancelled", "crashes: ValueError: boom"]
    assert raw.getvalue().decode().splitlines() == [
        "[1/3] fine: first step… all good ✓",
        "[2/3] wrong: ✗ the order is cancelled",
        "[3/3] crashes: ✗ ValueError: boom",
    ]


def test_console__falls_back_to_ascii_where_the_terminal_cannot_show_symbols():
    out, raw = console("ascii")
    out.part("[1/1] x: ")
    out.part(f"waiting{out.more} ")
    out.line(f"done {out.tick}")
    assert raw.getvalue() == b"[1/1] x: waiting... done ok\n"


def test_command__problems_make_a_command_error_that_names_them(monkeypatch):
    calls = []

    def fake_run(out, style, *, port, exit_after):
        calls.append((port, exit_after))
        return ["checkout: the order is cancelled"]

    monkeypatch.setattr("project.demo.run", fake_run)
    with pytest.raises(CommandError, match="- checkout: the order is cancelled"):
        call_command("durable_demo", "--exit", "--port", "0")
    assert calls == [(0, True)]


@pytest.mark.django_db(transaction=True)
def test_durable_demo__taken_port_fails_before_starting_anything():
    with socket.socket() as taken:
        taken.bind((processes.HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        stdout = io.StringIO()
        with pytest.raises(CommandError, match=f"Port {port} is taken"):
            call_command("durable_demo", "--exit", "--port", str(port), stdout=stdout)
    assert "admin user: created, username admin, password admin" in stdout.getvalue()
    assert "stopping" not in stdout.getvalue()


def test_pick_port__8000_when_free_else_any_free_port(monkeypatch):
    with socket.socket() as taken:
        taken.bind((processes.HOST, 0))
        monkeypatch.setattr(processes, "DEFAULT_PORT", taken.getsockname()[1])
        port = processes.pick_port(None)
        assert port not in (0, processes.DEFAULT_PORT)
    assert processes.pick_port(None) == processes.DEFAULT_PORT
    assert processes.pick_port(0) > 0


def test_service__that_exits_at_start_is_reported_with_its_output(tmp_path):
    env = processes.child_env()
    service = processes.Service("thing", ["no_such_command"], env, tmp_path / "thing.log", ready=lambda: False)
    try:
        with pytest.raises(processes.ServiceError, match=r"(?s)The thing \(no_such_command\) exited.*Unknown command"):
            service.wait_ready(timeout=60)
    finally:
        service.stop()
    assert not service.alive


@pytest.mark.django_db
def test_leave_waiting__the_viewer_has_an_event_wait_a_timer_and_a_paused_instance(drain):
    from project.demo.runner import leave_waiting

    left = leave_waiting("t1")
    drain()
    statuses = {what: durable.get_handle(instance_id).status for what, instance_id in left.items()}
    assert statuses == {
        "waiting for an event": "waiting_for_event",
        "waiting for a timer": "waiting_for_timer",
        "paused": "paused",
    }
    from durable import inspect

    assert inspect.summary(left["waiting for a timer"]).waiting_for["kind"] == "timer", "a sleep, not a retry"

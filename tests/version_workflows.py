"""Workflows whose code changes while instances run (ctx.patched), and that name what they do for the viewer.

`receipt` is the one workflow as three deployments would have it: which one runs is read at call
time, from `CODE["mode"]` in this process or, in a worker subprocess, from the environment
variable VERSION_TEST_MODE, so a test "deploys" by switching it (or by restarting the worker).
"""

from __future__ import annotations

import os

import durable
from tests.testapp.models import Ledger

OLD, PATCHED, DEPRECATED = "old", "patched", "deprecated"
CHANGE = "sms-receipt"
CODE = {"mode": OLD}


def mode() -> str:
    return os.environ.get("VERSION_TEST_MODE") or CODE["mode"]


@durable.activity(name="versiontest.note")
def note(ctx: durable.ActivityContext, what: str) -> str:
    Ledger.objects.create(instance_id=ctx.instance_id, step=what)
    return what


@durable.activity(name="versiontest.send_sms")
def send_sms(ctx: durable.ActivityContext, order: str) -> str:
    Ledger.objects.create(instance_id=ctx.instance_id, step="sms")
    return "sms"


@durable.workflow(name="versiontest.receipt")
def receipt(ctx: durable.WorkflowContext, order: str) -> dict:
    """Old code sends the receipt by email; the change sends it by SMS; each waits twice between."""
    running = mode()
    if running == OLD:
        sms = False
    elif running == PATCHED:
        sms = ctx.patched(CHANGE)
    else:
        ctx.deprecate_patch(CHANGE)
        sms = True
    channel = "sms" if sms else "email"
    # The change calls another activity: a history of one replayed by the other's code is caught.
    send_sms(ctx, order) if sms else note(ctx, "email")
    ctx.wait_event("versiontest.go", match={"order": order})
    note(ctx, f"{channel}-confirm")
    ctx.wait_event("versiontest.done", match={"order": order})
    return {"channel": channel, "mode": running}


@durable.workflow(name="versiontest.nap")
def nap(ctx: durable.WorkflowContext) -> str:
    """The change adds a step before a sleep that older instances may be in."""
    if mode() == PATCHED and ctx.patched("note-before-nap"):
        note(ctx, "before-nap")
    ctx.sleep(3600)
    return "rested"


@durable.workflow(name="versiontest.bad_patch")
def bad_patch(ctx: durable.WorkflowContext, change_id: object) -> bool:
    return ctx.patched(change_id)  # type: ignore[arg-type]  # the test passes what is not a change id


@durable.workflow(name="versiontest.bad_deprecate")
def bad_deprecate(ctx: durable.WorkflowContext, change_id: object) -> None:
    ctx.deprecate_patch(change_id)  # type: ignore[arg-type]


@durable.workflow(name="versiontest.progress")
def progress(ctx: durable.WorkflowContext, order: str) -> str:
    """Says what it is doing at each stage, and names its waits."""
    ctx.set_details("reserving stock")
    note(ctx, "reserve")
    ctx.set_details(f"order {order}: waiting for the manager")
    ctx.wait_event("versiontest.approved", match={"order": order}, timeout=3600, label="manager approval")
    ctx.set_details("shipping soon")
    ctx.sleep(3600, label="cooling-off period")
    return "shipped"


def start_progress(drain, settings, *started: tuple[str, str, str]) -> None:
    """Start `progress` instances, each (instance id, order, DURABLE_CODE_VERSION), and run them
    in this process until all wait for their manager's approval."""
    from durable.models import Status, WorkflowInstance

    for instance_id, order, version in started:
        settings.DURABLE_CODE_VERSION = version
        durable.start(progress, order, instance_id=instance_id)
    ids = [instance_id for instance_id, _, _ in started]
    drain(lambda: WorkflowInstance.objects.filter(id__in=ids, status=Status.WAITING_FOR_EVENT).count() == len(ids))


@durable.workflow(name="versiontest.bad_details")
def bad_details(ctx: durable.WorkflowContext, text: object) -> None:
    ctx.set_details(text)  # type: ignore[arg-type]


@durable.workflow(name="versiontest.bad_label")
def bad_label(ctx: durable.WorkflowContext, label: object) -> None:
    ctx.sleep(1, label=label)  # type: ignore[arg-type]


@durable.workflow(name="versiontest.started_by_event", on_event="versiontest.kickoff")
def started_by_event(ctx: durable.WorkflowContext, event: durable.ReceivedEvent) -> str:
    return event.type


@durable.workflow(name="versiontest.quick")
def quick(ctx: durable.WorkflowContext) -> str:
    return "done"

"""Workflows whose every piece of data carries a marker string, for the erasure tests (in-process and in workers)."""

from __future__ import annotations

import durable

QUICK = durable.RetryPolicy(max_attempts=3, initial_interval=0.05, backoff=1.0)


@durable.activity(name="erasure.look_up")
def look_up(ctx: durable.ActivityContext, email: str) -> dict:
    return {"email": email, "note": f"found {email}"}


@durable.activity(name="erasure.flaky", retry=QUICK)
def flaky(ctx: durable.ActivityContext, email: str) -> str:
    if ctx.attempt == 1:
        raise ValueError(f"{email} is not reachable yet")
    return f"reached {email}"


@durable.workflow(name="erasure.subject")
def subject(ctx: durable.WorkflowContext, email: str) -> dict:
    """An activity result, a retried activity's failure, a published value, an event received and one sent."""
    found = look_up(ctx, email)
    flaky(ctx, email)
    ctx.set_event("profile", {"email": email})
    event = ctx.wait_event("erasure.confirmed", match={"email": email}, timeout=300)
    ctx.send_event("erasure.sent", "/erasure", {"email": email})
    return {"found": found, "confirmed": event.data}


@durable.workflow(name="erasure.fails")
def fails(ctx: durable.WorkflowContext, email: str) -> None:
    look_up(ctx, email)
    raise ValueError(f"cannot handle {email}")


@durable.workflow(name="erasure.waits")
def waits(ctx: durable.WorkflowContext, topic: str) -> dict:
    """Waits for an event on a topic that several instances may share."""
    event = ctx.wait_event("erasure.shared", match={"topic": topic}, timeout=300)
    return {"got": event.data}


@durable.hook("failed", workflow=fails, retry=durable.RetryPolicy(max_attempts=1))
def complains(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
    """Fails with the instance's error in its message: the hook row's last error holds the data too."""
    raise RuntimeError(f"could not report: {instance.error}")


@durable.hook("erased")
def forget_elsewhere(ctx: durable.HookContext, instance: durable.InstanceInfo) -> None:
    """What a project does on erasure: forget its own data about the subject (here, note that it ran)."""
    from tests.testapp.models import Ledger

    Ledger.objects.create(instance_id=instance.id, step=f"erased:{instance.status}:{instance.result == '[erased]'}")

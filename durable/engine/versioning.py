"""Changing running workflows: patch markers (`patched`, `deprecate_patch`), and the viewer's words
a workflow gives itself (`set_details`, a wait's label), checked here so the context stays a facade.

A patch marker is a history step of kind "patch" named by the change id. `patched(id)` decides
once per execution which side of a change the instance is on, from what the history holds at
the call's position:

- the marker of that id: the instance took the new code there before (replay): True, consumed;
- any other step, or a wait or timer that older code left open there: the history was recorded
  before the change: False, nothing consumed, the position does not move, so the old branch
  replays the steps the old code recorded;
- nothing (the instance is past its recorded history): new code reached this point first: the
  marker is recorded and it is True from then on, on every replay.

Every other step keeps the strict check of the context (`WorkflowContext._next`): a marker where
the code calls something else is non-determinism, as any other drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from durable.engine.types import NewStep, StepKind
from durable.exceptions import InvalidArgument

if TYPE_CHECKING:
    from durable.engine.context import WorkflowContext

MAX_CHANGE_ID = 200  # a history step's name
MAX_DETAILS = 500
MAX_LABEL = 200


def _has_control(value: str, *, lines: bool = False) -> bool:
    """Whether `value` holds a control character (C0, DEL, C1); with `lines`, tabs and line breaks are fine."""
    allowed = "\t\n\r" if lines else ""
    return any((ord(c) < 32 and c not in allowed) or 127 <= ord(c) <= 159 for c in value)


def _plain(value: str, limit: int) -> bool:
    """A non-empty string on one line of at most `limit` characters, without control characters."""
    return bool(value.strip()) and len(value) <= limit and not _has_control(value)


def change_id(value: object, what: str) -> str:
    """A patch's change id, checked: a non-empty str of at most MAX_CHANGE_ID plain characters.

    Raises:
        InvalidArgument: anything else (nothing is recorded).
    """
    if not isinstance(value, str) or not _plain(value, MAX_CHANGE_ID):
        raise InvalidArgument(
            f"{what} needs a change id: a non-empty str of at most {MAX_CHANGE_ID} characters without control "
            f'characters, e.g. {what}("send-receipt-by-sms"), not {value!r}.'
        )
    return value


def patched(ctx: WorkflowContext, patch_id: object) -> bool:
    """Whether this execution takes the new code of change `patch_id` (see the module docstring).

    Decided at the first call of an execution and kept for its later calls with the same id, so
    one execution never takes both branches of a change.
    """
    name = change_id(patch_id, "patched")
    if ctx._halt is not None:
        raise ctx._halt
    if name in ctx._patches:
        return ctx._patches[name]
    step = ctx._history.get(ctx.position)
    if step is not None:
        taken = step.kind == StepKind.PATCH and step.name == name
        if taken:
            ctx._next(StepKind.PATCH, name)
    # Past the history, but older code may have opened a wait or a timer here that is still
    # pending (the instance was resumed while it waited): that branch is the old one.
    elif ctx._call(ctx._backend.waiting_at, ctx.position):
        taken = False
    else:
        position, _ = ctx._next(StepKind.PATCH, name)
        ctx._call(ctx._backend.record, NewStep(position=position, kind=StepKind.PATCH, name=name))
        taken = True
    ctx._patches[name] = taken
    return taken


def deprecate_patch(ctx: WorkflowContext, patch_id: object) -> None:
    """The new code of `patch_id`, once no instance recorded before the change is left.

    Nothing is recorded; a marker of that id at this position (an instance that took the new
    code while `patched` was still called) is consumed, so its history replays.
    """
    name = change_id(patch_id, "deprecate_patch")
    if ctx._halt is not None:
        raise ctx._halt
    step = ctx._history.get(ctx.position)
    if step is not None and step.kind == StepKind.PATCH and step.name == name:
        ctx._next(StepKind.PATCH, name)


def details(value: object) -> str:
    """`set_details` text, checked: a str of at most MAX_DETAILS characters ("" clears it).

    Raises:
        InvalidArgument: not a str, too long, or holding control characters other than line breaks.
    """
    if not isinstance(value, str):
        raise InvalidArgument(f"set_details takes a str (what the instance is doing now), not {type(value).__name__}.")
    if len(value) > MAX_DETAILS:
        raise InvalidArgument(
            f"set_details text has {len(value)} characters; the viewer shows at most {MAX_DETAILS}: shorten it."
        )
    if _has_control(value, lines=True):
        raise InvalidArgument("set_details text must not hold control characters (tabs and line breaks are fine).")
    return value


def set_details(ctx: WorkflowContext, value: object) -> None:
    """Hand the storage what the instance is doing now, unless a run before this one did already.

    Not a step: on replay (a step after this call is recorded) the call was persisted by the run
    that first made it, so it writes nothing; the storage keeps the latest value it was handed.
    """
    text = details(value)
    if ctx._halt is not None:
        raise ctx._halt
    if not ctx.is_replaying:
        ctx._call(ctx._backend.set_details, text)


def label(value: object, what: str) -> str | None:
    """A wait's label for the viewer ("manager approval"), checked; None when none is given.

    Raises:
        InvalidArgument: not None nor a non-empty str of at most MAX_LABEL plain characters.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not _plain(value, MAX_LABEL):
        raise InvalidArgument(
            f"{what} label must be a non-empty str of at most {MAX_LABEL} characters on one line, "
            f'e.g. label="manager approval", not {value!r}.'
        )
    return value

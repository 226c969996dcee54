"""Composition (SPEC 15): child workflows started and waited for as steps, and continue as new."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from durable.engine import codec
from durable.engine.registry import WorkflowDefinition, registry
from durable.engine.types import ChildSpec, NewStep, Step, StepKind, StepStatus
from durable.exceptions import ChildCancelled, ChildFailed, ContinueAsNew, InvalidArgument

if TYPE_CHECKING:
    from durable.engine.context import WorkflowContext

INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,199}$")
MAX_ID = 200
# Ids the HTTP API's routes would take for something else: /instances/bulk/... are bulk operations.
RESERVED_IDS = frozenset({"bulk"})
# What a child's end looks like in the parent's history (a child_result step's result["status"]).
COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
# The key of a start_child step's result that holds the child's end once it ended (the journal's
# CHILD_OUTCOME): what a gather or first over the handle reads.
OUTCOME = "outcome"


def check_instance_id(instance_id: object) -> None:
    """Refuse (InvalidArgument) an instance id outside INSTANCE_ID, or one of RESERVED_IDS."""
    if not isinstance(instance_id, str) or not INSTANCE_ID.match(instance_id):
        raise InvalidArgument(
            f"Instance id {instance_id!r} is invalid: use 1-200 letters, digits and . _ : @ + = -, "
            "starting with a letter or digit."
        )
    if instance_id in RESERVED_IDS:
        raise InvalidArgument(
            f"Instance id {instance_id!r} is reserved: /instances/{instance_id}/ is a route of the HTTP API "
            "of its own. Choose another id."
        )


class ChildHandle:
    """A child instance a workflow started with `ctx.start_child`; `result()` waits for it durably."""

    def __init__(self, ctx: WorkflowContext, instance_id: str, workflow_name: str, position: int, detached: bool):
        self._ctx = ctx
        self.instance_id = instance_id
        self.workflow_name = workflow_name
        self.position = position  # the start_child step's position in the parent
        self.detached = detached

    def __repr__(self) -> str:
        return f"<ChildHandle {self.instance_id} ({self.workflow_name})>"

    # What ctx.gather and ctx.first read (durable.engine.parallel.Joinable): the child's end, kept
    # on the start_child step at `position` once the child has ended.

    @property
    def owner_id(self) -> str:
        return self._ctx.instance_id

    def ended(self, step: Step | None) -> bool:
        return step is not None and step.kind == StepKind.CHILD and OUTCOME in (step.result or {})

    def value(self, ctx: WorkflowContext, step: Step) -> Any:
        return outcome_of(self, step.result[OUTCOME])

    def words(self) -> str:
        return f"child '{self.workflow_name}'"

    def result(self) -> Any:
        """Wait for the child to end (the parent's worker is released meanwhile) and return its result.

        A recorded step: on replay the child's recorded end is returned (or raised) again.

        Raises:
            ChildFailed: the child failed; `error` holds its error (type, message, traceback).
            ChildCancelled: the child was cancelled; `reason` says why.
        """
        return outcome_of(self, wait(self._ctx, self).result or {})


def start_child(
    ctx: WorkflowContext,
    workflow: WorkflowDefinition | str,
    args: tuple,
    kwargs: dict,
    *,
    instance_id: str | None,
    business_key: Any,
    detached: bool,
) -> ChildHandle:
    """Start a child instance as a recorded step; see WorkflowContext.start_child."""
    name = workflow.name if isinstance(workflow, WorkflowDefinition) else workflow
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"start_child needs a workflow or a workflow name, not {workflow!r}.")
    # Everything is checked before the step takes its position: a refused child writes nothing.
    definition = registry.workflow(name)
    if not isinstance(detached, bool):
        raise InvalidArgument(f"start_child's detached must be True or False, not {detached!r}.")
    position = ctx.position
    if instance_id is None:
        child_id = f"{ctx.instance_id}/{position}"
        if len(child_id) > MAX_ID:
            raise InvalidArgument(
                f"{ctx._where(position)}: the default child id '{child_id[:40]}...' is longer than {MAX_ID} "
                "characters; pass instance_id= to start_child."
            )
    else:
        check_instance_id(instance_id)
        child_id = instance_id
    where = f"{ctx._where(position)} input of child workflow '{definition.name}'"
    input_tree = codec.encode({"args": list(args), "kwargs": kwargs}, where=where)
    position, step = ctx._next(StepKind.CHILD, definition.name)
    if step is not None:
        record = step.result or {}
        return ChildHandle(ctx, record.get("id", child_id), definition.name, position, bool(record.get("detached")))
    spec = ChildSpec(position, definition.name, child_id, input_tree, business_key, detached)
    ctx._call(ctx._backend.start_child, spec)
    return ChildHandle(ctx, child_id, definition.name, position, detached)


def wait(ctx: WorkflowContext, handle: ChildHandle) -> Step:
    """The child_result step of a wait for `handle`: recorded, found ended now, or the run suspends.

    The journal call other waits (gather, first) can build on: one position per wait."""
    position, step = ctx._next(StepKind.CHILD_RESULT, handle.workflow_name)
    if step is None:
        step = ctx._call(ctx._backend.wait_child, position, handle.instance_id, handle.workflow_name)
        if step is None:
            ctx._suspend()
    assert step is not None
    return step


def outcome_of(handle: ChildHandle, record: dict[str, Any]) -> Any:
    """The child's result from the record of its end, or its failure or cancel raised."""
    status = record.get("status")
    what = f"Child {handle.instance_id} ({handle.workflow_name})"
    if status == COMPLETED:
        return codec.decode(record.get("result"))
    if status == CANCELLED:
        reason = str(record.get("reason") or "")
        raise ChildCancelled(
            f"{what} was cancelled" + (f": {reason}" if reason else "."),
            child_id=handle.instance_id,
            workflow_name=handle.workflow_name,
            reason=reason,
        )
    error = record.get("error")
    error = error if isinstance(error, dict) else {}
    raise ChildFailed(
        f"{what} failed: {error.get('type', 'Error')}: {error.get('message', '')}",
        child_id=handle.instance_id,
        workflow_name=handle.workflow_name,
        error=error,
    )


def continue_as_new(ctx: WorkflowContext, args: tuple, kwargs: dict) -> None:
    """End the run here and start the instance again from the top with these inputs."""
    position = ctx.position
    tree = codec.encode({"args": list(args), "kwargs": kwargs}, where=f"{ctx._where(position)} continue_as_new input")
    position, step = ctx._next(StepKind.CONTINUE_AS_NEW, ctx.workflow_name)
    if step is None:
        ctx._call(
            ctx._backend.record,
            NewStep(position, StepKind.CONTINUE_AS_NEW, ctx.workflow_name, result=tree, status=StepStatus.COMPLETED),
        )
    ctx._halt = ContinueAsNew(tree)
    raise ctx._halt

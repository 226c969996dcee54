"""Plain data: workflow instances, their history, waits, timers, events, deliveries and values."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.timezone import now as utc_now  # Schedule has a field named timezone

from durable import permissions
from durable.engine.types import StepKind, StepStatus, TimerPurpose, choices


def new_instance_id() -> str:
    return str(uuid.uuid4())


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING_FOR_EVENT = "waiting_for_event", "Waiting for event"
    WAITING_FOR_TIMER = "waiting_for_timer", "Waiting for timer"
    WAITING_FOR_CHILD = "waiting_for_child", "Waiting for child"
    COMPENSATING = "compensating", "Compensating"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
ACTIVE = frozenset(set(Status) - TERMINAL)
# Statuses a worker may claim from, when the instance is also due (run_after <= now).
CLAIMABLE = frozenset(
    {
        Status.PENDING,
        Status.RUNNING,
        Status.WAITING_FOR_EVENT,
        Status.WAITING_FOR_TIMER,
        Status.WAITING_FOR_CHILD,
        Status.COMPENSATING,
    }
)
# HistoryStep.run of the steps of the run going on; a run that continued as new keeps its number.
LIVE_RUN = 0
# Statuses of an instance a worker holds: a claim keeps `compensating`, and makes the others running.
HELD = frozenset({Status.RUNNING, Status.COMPENSATING})


class InstanceQuerySet(models.QuerySet):
    def claimable(self, now):
        """Due, not paused or ended, and held by nobody (or by a worker whose lease ran out)."""
        return self.filter(run_after__lte=now, status__in=CLAIMABLE).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        )

    def active(self):
        return self.exclude(status__in=TERMINAL)


class WorkflowInstance(models.Model):
    id = models.CharField(primary_key=True, max_length=200, default=new_instance_id)
    workflow_name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    input = models.JSONField(default=dict)
    # What the instance is about (SPEC 11): a free string or "<app_label>.<model>:<pk>"; many may share one.
    business_key = models.CharField(max_length=255, null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    status_reason = models.TextField(blank=True, default="")
    waiting_for = models.JSONField(null=True, blank=True)
    incidents = models.JSONField(default=list, blank=True)
    run_after = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error_streak = models.PositiveIntegerField(default=0)
    # Runs in a row that ended without recording anything: a database error, or a worker that died.
    failed_runs = models.PositiveIntegerField(default=0)
    wake_seq = models.PositiveIntegerField(default=0)
    # Sagas: while (and after) compensations run, {"after", "done", "skipped", "total"} and, for
    # a cancel, its "reason"; `compensated` once every one of them ran at the end of the instance.
    compensation = models.JSONField(null=True, blank=True)
    compensated = models.BooleanField(default=False)
    # Started with debounce= and not yet run: later calls for its workflow and key move it (SPEC 13).
    debounced = models.BooleanField(default=False)
    # The W3C trace context ({"traceparent", "tracestate"}) of the instance's trace (SPEC 18), when traced.
    trace = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Started by a schedule (SPEC 13): its name (kept if the schedule is deleted) and the slot, ctx.scheduled_at.
    schedule_name = models.CharField(max_length=150, null=True, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # Erasure (SPEC 16, durable.erasure): erase_reason is set (maybe to "") once an erasure began,
    # erased_at once it finished; both None for an instance whose data was never erased.
    erased_at = models.DateTimeField(null=True, blank=True)
    erase_reason = models.TextField(null=True, blank=True)
    # Versioning (SPEC 17): DURABLE_CODE_VERSION where it was started, and what its workflow last
    # said it is doing (ctx.set_details), for the viewer.
    code_version = models.CharField(max_length=200, null=True, blank=True)
    details = models.TextField(blank=True, default="")
    # Restart from a step (SPEC 17, durable.forking): the instance this one was forked from, by id
    # (no foreign key: retention may purge the original and the fork keeps its own history), and
    # how many of its steps were copied (positions 0..fork_position-1); both None otherwise.
    forked_from = models.CharField(max_length=200, null=True, blank=True)
    fork_position = models.PositiveIntegerField(null=True, blank=True)
    # Flow control (SPEC 14, durable.queues): the queue it runs in and its priority (-100..100,
    # higher first). In a queue with limits, `queue_state` is "delayed" (a delayed start not due
    # yet), "waiting" (in line, not runnable) or "admitted" (holding a slot until it ends, since
    # `admitted_at`); None in a queue without limits and once the instance has ended.
    queue = models.CharField(max_length=100, default="default")
    priority = models.SmallIntegerField(default=0)
    queue_state = models.CharField(max_length=10, null=True, blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    # Composition (SPEC 15, durable.children): the instance that started this one with
    # ctx.start_child (by id, no foreign key: either may be purged first) and whether a cancel of
    # that parent leaves it running; `run` counts the runs, one more at each ctx.continue_as_new.
    parent_id = models.CharField(max_length=200, null=True, blank=True)
    detached = models.BooleanField(default=False)
    run = models.PositiveIntegerField(default=1)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        db_table = "durable_instance"
        ordering = ["-created_at"]
        verbose_name = "workflow instance"
        permissions = [*permissions.OPERATIONS.values(), permissions.ERASE_INSTANCE]
        indexes = [
            models.Index(fields=["run_after"], condition=Q(run_after__isnull=False), name="durable_inst_runnable"),
            models.Index(fields=["status", "-created_at"], name="durable_inst_status"),
            models.Index(fields=["workflow_name", "-created_at"], name="durable_inst_workflow"),
            models.Index(fields=["-created_at"], name="durable_inst_created"),
            # Retention (SPEC 16): ended instances by status, oldest end first.
            models.Index(
                fields=["status", "finished_at"], condition=Q(finished_at__isnull=False), name="durable_inst_finished"
            ),
            models.Index(
                fields=["business_key", "-created_at"],
                condition=Q(business_key__isnull=False),
                name="durable_inst_business_key",
            ),
            models.Index(
                fields=["code_version", "-created_at"],
                condition=Q(code_version__isnull=False),
                name="durable_inst_code_version",
            ),
            # An instance's page lists its forks.
            models.Index(
                fields=["forked_from", "created_at"],
                condition=Q(forked_from__isnull=False),
                name="durable_inst_forked_from",
            ),
            # A queue's line: higher priority first, then start order (only the instances in line).
            models.Index(
                fields=["queue", "-priority", "created_at", "id"],
                condition=Q(queue_state="waiting"),
                name="durable_inst_queue_line",
            ),
            # One key's line, so the end of a keyed instance admits the next of its key at once.
            models.Index(
                fields=["queue", "business_key", "-priority", "created_at"],
                condition=Q(queue_state="waiting"),
                name="durable_inst_queue_key_line",
            ),
            # The slots held: as many rows as the limits allow, whatever waits in line.
            models.Index(
                fields=["queue", "business_key"], condition=Q(queue_state="admitted"), name="durable_inst_queue_busy"
            ),
            # The starts of a rate window.
            models.Index(
                fields=["queue", "admitted_at"], condition=Q(admitted_at__isnull=False), name="durable_inst_queue_rate"
            ),
            # An instance's page lists its children, and a cancel finds the active ones.
            models.Index(
                fields=["parent_id", "created_at"],
                condition=Q(parent_id__isnull=False),
                name="durable_inst_parent",
            ),
        ]
        constraints = [
            # One debounce window per workflow and key, however many processes call at once; it
            # closes as a worker claims the instance (the status moves on from pending).
            models.UniqueConstraint(
                fields=["workflow_name", "business_key"],
                condition=Q(status="pending", debounced=True),
                name="durable_inst_one_debounced",
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow_name} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class HistoryQuerySet(models.QuerySet):
    def live(self):
        """The steps of the run going on (earlier runs' steps are kept beside them)."""
        return self.filter(run=LIVE_RUN)


class HistoryStep(models.Model):
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="steps")
    # LIVE_RUN (0) for the run going on; n for the steps of run n once it continued as new
    # (ctx.continue_as_new), so every writer of the live history keeps writing the default.
    run = models.PositiveIntegerField(default=LIVE_RUN)
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=choices(StepKind))
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=choices(StepStatus), default=StepStatus.COMPLETED)
    input = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    failures = models.JSONField(default=list, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    # A parallel step (kind `parallel`) that has not ended: when a worker may take it next (at
    # once, after a retry's backoff, or when the lease of the worker running it runs out).
    due_at = models.DateTimeField(null=True, blank=True)
    # The worker running the parallel step's attempt now (its lease ends at due_at), or None.
    lease_owner = models.CharField(max_length=200, null=True, blank=True)

    objects = HistoryQuerySet.as_manager()

    class Meta:
        db_table = "durable_history"
        ordering = ["instance", "position"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "run", "position"], name="durable_history_one_per_position")
        ]
        indexes = [
            models.Index(fields=["due_at"], name="durable_history_due", condition=models.Q(due_at__isnull=False))
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} #{self.position} {self.kind} {self.name} ({self.status})"


class WaitQuerySet(models.QuerySet):
    def for_key(self, event_type: str, match_key: str):
        return self.filter(event_type=event_type, match_key=match_key)


class Wait(models.Model):
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="waits")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    event_type = models.CharField(max_length=255)
    match = models.JSONField(default=dict, blank=True)
    subject = models.CharField(max_length=500, null=True, blank=True)
    shape = models.CharField(max_length=64)
    match_key = models.CharField(max_length=64)
    timeout_at = models.DateTimeField(null=True, blank=True)
    # The viewer's name for the wait (wait_event(..., label=...)), or None.
    label = models.CharField(max_length=200, null=True, blank=True)
    # Inside a ctx.first: the index of the event item this wait is (its event decides the first).
    branch = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = WaitQuerySet.as_manager()

    class Meta:
        db_table = "durable_wait"
        constraints = [
            models.UniqueConstraint(fields=["instance", "position", "event_type"], name="durable_wait_one_per_type")
        ]
        indexes = [models.Index(fields=["event_type", "match_key"], name="durable_wait_lookup")]

    def __str__(self) -> str:
        return f"{self.instance_id} #{self.position} waits for {self.event_type}"


class ChildWait(models.Model):
    """A parent waiting at `position` for its child `child_id` to end (ChildHandle.result())."""

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="child_waits")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    child_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "durable_child_wait"
        constraints = [
            models.UniqueConstraint(fields=["instance", "position"], name="durable_child_wait_one_per_position")
        ]
        indexes = [models.Index(fields=["child_id"], name="durable_child_wait_child")]

    def __str__(self) -> str:
        return f"{self.instance_id} #{self.position} waits for child {self.child_id}"


class WaitShape(models.Model):
    """Which data paths some wait on an event type matches on; small, read on every delivery."""

    event_type = models.CharField(max_length=255)
    shape = models.CharField(max_length=64)
    paths = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "durable_wait_shape"
        constraints = [models.UniqueConstraint(fields=["event_type", "shape"], name="durable_wait_shape_unique")]

    def __str__(self) -> str:
        return f"{self.event_type} by {', '.join(self.paths) or 'type only'}"


class TimerQuerySet(models.QuerySet):
    def due(self, now):
        return self.filter(due_at__lte=now).order_by("due_at")


class Timer(models.Model):
    Purpose = TimerPurpose

    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="timers")
    position = models.PositiveIntegerField()
    purpose = models.CharField(max_length=10, choices=choices(TimerPurpose))
    name = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    # The viewer's name for the wait it ends (sleep(..., label=...), a labelled wait's timeout), or None.
    label = models.CharField(max_length=200, null=True, blank=True)
    # A ctx.first's timer: the index of the timer item (purpose `first`).
    branch = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TimerQuerySet.as_manager()

    class Meta:
        db_table = "durable_timer"
        constraints = [models.UniqueConstraint(fields=["instance", "position"], name="durable_timer_one_per_position")]
        indexes = [models.Index(fields=["due_at"], name="durable_timer_due")]

    def __str__(self) -> str:
        return f"{self.instance_id} #{self.position} {self.purpose} due {self.due_at.isoformat()}"


class Event(models.Model):
    seq = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=255)
    source = models.CharField(max_length=500)
    type = models.CharField(max_length=255)
    subject = models.CharField(max_length=500, null=True, blank=True)
    time = models.DateTimeField(null=True, blank=True)
    datacontenttype = models.CharField(max_length=200, null=True, blank=True)
    dataschema = models.CharField(max_length=500, null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    extensions = models.JSONField(default=dict, blank=True)
    target = models.ForeignKey(
        WorkflowInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="addressed_events"
    )
    received_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    duplicates = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "durable_event"
        ordering = ["-seq"]
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="durable_event_once_per_source")]
        indexes = [
            models.Index(fields=["type", "received_at"], name="durable_event_type"),
            models.Index(fields=["target", "seq"], name="durable_event_target"),
            models.Index(fields=["received_at"], name="durable_event_received"),
            models.Index(
                fields=["received_at"], condition=Q(dispatched_at__isnull=True), name="durable_event_undispatched"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} from {self.source}"


class EventKey(models.Model):
    """An event's key for one wait shape of its type, so a later wait finds it by index.

    Written when the event is routed, for every shape registered for its type then, and for
    the retained events of a type when a wait registers a new shape there.
    """

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="keys")
    shape = models.CharField(max_length=64)
    key = models.CharField(max_length=64)

    class Meta:
        db_table = "durable_event_key"
        constraints = [models.UniqueConstraint(fields=["event", "shape"], name="durable_event_key_one_per_shape")]
        indexes = [models.Index(fields=["shape", "key", "event"], name="durable_event_key_lookup")]

    def __str__(self) -> str:
        return f"event {self.event_id} key {self.key[:8]} for shape {self.shape[:8]}"


class Delivery(models.Model):
    class Kind(models.TextChoices):
        RESUMED = "resumed", "Resumed a waiting instance"
        CONSUMED = "consumed", "Consumed by a later wait"
        STARTED = "started", "Started an instance"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="deliveries")
    position = models.PositiveIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    delivered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "durable_delivery"
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["instance", "event"], name="durable_delivery_once_per_instance")]
        indexes = [models.Index(fields=["event"], name="durable_delivery_event")]

    def __str__(self) -> str:
        return f"event {self.event_id} {self.kind} {self.instance_id}"


class PublishedValue(models.Model):
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="values")
    key = models.CharField(max_length=200)
    value = models.JSONField(null=True, blank=True)
    position = models.PositiveIntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "durable_value"
        constraints = [models.UniqueConstraint(fields=["instance", "key"], name="durable_value_one_per_key")]

    def __str__(self) -> str:
        return f"{self.instance_id} {self.key}"


class WakeSignal(models.Model):
    """One row per queue: set when a drain task is on its way, so wake-ups coalesce."""

    name = models.CharField(primary_key=True, max_length=100)
    pending = models.BooleanField(default=False)
    requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "durable_wake"

    def __str__(self) -> str:
        return f"wake {self.name}: {'pending' if self.pending else 'idle'}"


class WorkerHeartbeat(models.Model):
    """One row per running `durable_worker`, renewed every DURABLE_HEARTBEAT_SECONDS by its timer loop.

    It tells operators (durable_status, the admin banner) that work is being picked up, and tells
    the event receiver that a runner hears the `runnable` channel, so no django-q2 drain is needed.
    """

    id = models.CharField(primary_key=True, max_length=200)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # What it runs: {"cluster": bool, "workers": int, "runner": bool, "channel": "postgresql" | ...}.
    runs = models.JSONField(default=dict, blank=True)
    # Its runner hears the runnable channel (a live LISTEN that answered its own probe).
    listening = models.BooleanField(default=False)

    class Meta:
        db_table = "durable_worker"
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["last_seen_at"], name="durable_worker_seen")]

    def __str__(self) -> str:
        return f"worker {self.host}:{self.pid} last seen {self.last_seen_at.isoformat()}"


class ScheduleSource(models.TextChoices):
    CODE = "code", "Code"
    RUNTIME = "runtime", "Runtime"


class ScheduleQuerySet(models.QuerySet):
    def due(self, now):
        """Schedules with a slot due (through the next_slot_at index), earliest first."""
        return self.filter(next_slot_at__lte=now, paused=False).order_by("next_slot_at")

    def buffered(self):
        """Schedules holding a buffered slot for when their running instance ends (few rows, own index)."""
        return self.filter(buffered_slot_at__isnull=False, paused=False)


class Schedule(models.Model):
    """A cron schedule (SPEC 13), from the code (written when durable_worker starts) or made at runtime."""

    name = models.CharField(primary_key=True, max_length=150)
    workflow_name = models.CharField(max_length=200)
    cron = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    overlap = models.CharField(max_length=20, default="skip")
    catchup = models.CharField(max_length=20, default="latest")
    catchup_window = models.DurationField(default=dt.timedelta(days=1))
    paused = models.BooleanField(default=False)
    source = models.CharField(max_length=10, choices=ScheduleSource.choices, default=ScheduleSource.RUNTIME)
    # The next slot to fire; NULL for a code schedule no longer in the code (retired_at says when).
    next_slot_at = models.DateTimeField(null=True, blank=True)
    last_slot_at = models.DateTimeField(null=True, blank=True)
    last_instance_id = models.CharField(max_length=200, null=True, blank=True)
    # overlap="buffer_one": the slot that waits for the running instance to end.
    buffered_slot_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=utc_now)
    updated_at = models.DateTimeField(default=utc_now)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        db_table = "durable_schedule"
        ordering = ["name"]
        permissions = list(permissions.SCHEDULE_OPERATIONS.values())
        indexes = [
            models.Index(fields=["next_slot_at"], condition=Q(next_slot_at__isnull=False), name="durable_sched_next"),
            models.Index(
                fields=["buffered_slot_at"], condition=Q(buffered_slot_at__isnull=False), name="durable_sched_buffered"
            ),
        ]

    def __str__(self) -> str:
        return f"schedule {self.name} ({self.cron} {self.timezone})"


class HookStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    FAILING = "failing", "Failing"
    SUCCEEDED = "succeeded", "Succeeded"
    GAVE_UP = "gave_up", "Gave up"


class HookRun(models.Model):
    """One run of a durable hook for one transition: written in the transition's transaction (an
    outbox), then run by a worker at least once, attempt after attempt, until it succeeds.

    `next_attempt_at` is when it is due: set to the lease's end while an attempt runs, so a hook
    whose worker died is due again once its lease expires.
    """

    id = models.CharField(primary_key=True, max_length=200, default=new_instance_id)
    instance = models.ForeignKey(WorkflowInstance, on_delete=models.CASCADE, related_name="hook_runs")
    workflow_name = models.CharField(max_length=200)
    hook_name = models.CharField(max_length=300)
    trigger = models.CharField(max_length=20)
    status = models.CharField(max_length=20, choices=HookStatus.choices, default=HookStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.JSONField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "durable_hook"
        ordering = ["-created_at"]
        verbose_name = "hook run"
        permissions = [permissions.RETRY_HOOK]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(next_attempt_at__isnull=False), name="durable_hook_due"
            ),
            models.Index(fields=["instance", "created_at"], name="durable_hook_instance"),
            models.Index(fields=["status", "-created_at"], name="durable_hook_status"),
        ]

    def __str__(self) -> str:
        return f"{self.hook_name} on {self.trigger} of {self.instance_id} ({self.status})"


class BulkStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BulkOperation(models.Model):
    """One operation over the instances a filter matched (SPEC 16), with its progress.

    The selection is frozen when it is requested: instances created up to `bound_at`, taken in
    (created_at, id) order; `cursor_at`/`cursor_id` mark the last one handled, so a job that a
    dying worker left half done carries on after it and changes no instance twice.
    """

    operation = models.CharField(max_length=20)
    filters = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, default="")
    requested_by = models.CharField(max_length=150, blank=True, default="")
    # The admin log's user for each change, when a user asked (the admin, the API).
    user_id = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=BulkStatus.choices, default=BulkStatus.QUEUED)
    background = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    bound_at = models.DateTimeField()
    cursor_at = models.DateTimeField(null=True, blank=True)
    cursor_id = models.CharField(max_length=200, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=utc_now)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=utc_now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "durable_bulk_operation"
        ordering = ["-created_at"]
        verbose_name = "bulk operation"
        indexes = [
            models.Index(
                fields=["status"], condition=Q(status__in=["queued", "running"]), name="durable_bulk_unfinished"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"bulk {self.operation} #{self.pk} ({self.status}, {self.done + self.skipped + self.failed}/{self.total})"
        )

    @property
    def handled(self) -> int:
        return self.done + self.skipped + self.failed


class ActivitySlot(models.Model):
    """One execution of an activity with limits (SPEC 14: @durable.activity(concurrency=, rate=)).

    Open (`ended_at` NULL) while the attempt runs; it counts against `concurrency` only while its
    instance's lease is still held by `owner`, so a dead worker's slot frees itself with the lease.
    Ended rows are kept for the rate window, then deleted by later acquisitions.
    """

    activity_name = models.CharField(max_length=200)
    instance_id = models.CharField(max_length=200)
    position = models.PositiveIntegerField()
    owner = models.CharField(max_length=100)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "durable_activity_slot"
        indexes = [
            models.Index(
                fields=["activity_name", "started_at"], condition=Q(ended_at__isnull=True), name="durable_slot_open"
            ),
            models.Index(fields=["activity_name", "started_at"], name="durable_slot_started"),
        ]

    def __str__(self) -> str:
        return f"{self.activity_name} at {self.instance_id} #{self.position} ({'ended' if self.ended_at else 'open'})"

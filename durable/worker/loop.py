"""The timer loop beside the cluster: fires each timer when due and runs the recovery sweep."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from typing import Any

from django.db import close_old_connections, connections

from durable import db, health, hooks, leases, notify, queues, slots, timers
from durable.conf import settings
from durable.run import executor
from durable.worker import collector

logger = logging.getLogger(__name__)

# The longest single wait, so a stop is seen within it even while a listener waits.
STOP_CHECK_SECONDS = 0.25
BUSY_RETRY_SECONDS = 0.005
# How far ahead of a timer's due time the loop starts firing it: what the firing transaction
# takes (learnt from each firing, between these bounds), so that only its commit, held back
# until the due time, is left then.
LEAD_SECONDS = 0.003
MAX_LEAD_SECONDS = 0.03
# The time to spare the loop aims for between the work's end and the due time.
SPARE_SECONDS = 0.0005
PURGE_SECONDS = 60.0
# The longest the loop gives way to its runner's thread as it hands a run over.
HANDOVER_SECONDS = 0.01


class TimerLoop:
    """Sleeps until the next timer is due; one loop serves any number of sleeping instances.

    With a wake-up channel it hears of each new timer due soon (its due time is the payload) and
    reads the timers table only when one falls due, after a reconnect, and every
    DURABLE_LISTEN_POLL seconds; without one it looks every DURABLE_TIMER_POLL seconds.
    """

    def __init__(
        self,
        stop: threading.Event | None = None,
        *,
        run_woken: bool = True,
        fired: Any = None,
        own_process: bool = False,
    ) -> None:
        """`run_woken` runs an instance its timer woke on a thread here; `fired` (a shared
        multiprocessing Value) counts the timers fired, for the parent process; `own_process`
        says the process is the loop's alone, so it may time the full garbage collections."""
        self.stop = stop or threading.Event()
        self.runner = Runner() if run_woken else None
        self.shared_fired = fired
        self.fired = 0
        self.looks = 0
        self.listener: notify.Listener | None = None
        self._next_due: dt.datetime | None = None
        self._look_at = 0.0
        self._beat_at = 0.0
        self._lead = LEAD_SECONDS
        self.hooks = HookWatch()
        self.collector = collector.Collector() if own_process else None

    def run(self) -> None:
        self.listener = self.open_listener()
        # The recovery sweep has a thread of its own: with many instances waiting it takes tens of
        # milliseconds, which a timer falling due meanwhile must not wait for.
        sweeper = threading.Thread(target=self.recover_until_stopped, name="durable-recovery", daemon=True)
        sweeper.start()
        if self.collector is not None:
            self.collector.start()
        try:
            while not self.stop.is_set():
                try:
                    self.beat()
                    pause = self.tick()
                    if self.collector is not None and self.collector.quiet(self.quiet_for(pause)):
                        pause = self.tick()
                except Exception:
                    logger.exception("timer loop iteration failed; retrying")
                    connections.close_all()
                    self._look_at = 0.0
                    pause = 1.0
                self.sleep(pause)
        finally:
            self.stop.set()
            sweeper.join(STOP_CHECK_SECONDS * 4)
            if self.collector is not None:
                self.collector.stop()
            self.close()

    def quiet_for(self, pause: float) -> float:
        """How long nothing is due: the pause before the next look, or less when a timer is known."""
        if self._next_due is None:
            return pause
        return min(pause + self.lead, max(0.0, (self._next_due - db.now()).total_seconds()))

    def recover_until_stopped(self) -> None:
        """Every DURABLE_RECOVERY_INTERVAL: the recovery sweep, hooks due later, and once a
        minute the retention purge (not urgent: purging once a minute keeps an idle loop quiet)."""
        next_purge = 0.0
        try:
            while not self.stop.is_set():
                purge = time.monotonic() >= next_purge
                try:
                    timers.recover(purge=purge)
                    self.hooks.look()
                except Exception:
                    logger.exception("recovery sweep failed; the next one tries again")
                    connections.close_all()
                else:
                    if purge:
                        next_purge = time.monotonic() + PURGE_SECONDS
                self.stop.wait(float(settings.RECOVERY_INTERVAL))
        finally:
            connections.close_all()

    def beat(self) -> None:
        """Renew this worker's heartbeat row when it is due; a failure is logged, never fatal."""
        if time.monotonic() < self._beat_at:
            return
        self._beat_at = time.monotonic() + float(settings.HEARTBEAT_SECONDS)
        channel = notify.transport()
        try:
            health.beat(runner=self.runner is not None, listening=self.hears_runnable, channel=channel)
        except Exception:
            logger.exception("writing the worker heartbeat failed; the next beat tries again")
            connections.close_all()

    @property
    def hears_runnable(self) -> bool:
        """Its idle runner takes what events wake, so the receiver need not ask django-q2 for a drain.

        Only on PostgreSQL, whose notifications are delivered with the commit to a live LISTEN
        that answered its own probe (not a deaf one behind a transaction pooler).
        """
        if self.runner is None or self.listener is None or not self.listener.healthy:
            return False
        return notify.transport() == "postgresql"

    def open_listener(self) -> notify.Listener | None:
        # With a runner, also hear of instances an event made runnable: an idle runner takes one.
        return notify.listen([notify.TIMERS, notify.RUNNABLE] if self.runner else [notify.TIMERS])

    def close(self) -> None:
        """Stop listening and wait for the run in progress on the runner's thread."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        if self.runner is not None:
            self.runner.finish()
        try:
            health.forget()
        except Exception:
            logger.exception("deleting the worker heartbeat failed; it goes stale within a minute")
        health.forget_listening()
        close_old_connections()

    def tick(self) -> float:
        """Fire what is due; return how long to sleep before the next look."""
        moment = db.now()
        known = self._next_due
        soon = known is not None and (known - moment).total_seconds() <= self.lead
        if time.monotonic() >= self._look_at or soon:
            fired = self._look(moment)
            if fired >= timers.FIRE_BATCH:
                return 0.0
            moment = db.now()
        wait = max(0.0, self._look_at - time.monotonic())
        if self._next_due is not None:
            until = (self._next_due - moment).total_seconds()
            # A timer still due after firing belongs to an instance busy elsewhere: try again soon.
            wait = min(wait, BUSY_RETRY_SECONDS if until <= 0 else max(0.0, until - self.lead))
        return wait

    @property
    def lead(self) -> float:
        """How early the loop looks, and starts firing, before a timer is due."""
        return self._lead

    def learn(self, slack: float | None) -> None:
        """Move the lead after a firing that waited for its due time: at once by what it came
        late, slowly down by what it had to spare, so the work just fits before the due time."""
        if slack is None:
            return
        error = SPARE_SECONDS - slack
        step = error if error > 0 else error / 4
        # SQLite's one writer is held back for no longer than timers.SQLITE_HOLD_SECONDS.
        most = MAX_LEAD_SECONDS if db.is_postgres() else timers.SQLITE_HOLD_SECONDS
        self._lead = min(most, max(LEAD_SECONDS, self._lead + step))

    def _look(self, moment: dt.datetime) -> int:
        """Read the earliest due time; fire what is due."""
        self.looks += 1
        fired = 0
        known = self._next_due
        # Woken for a timer we know is (all but) due: fire straight away (the read after firing
        # finds the next).
        ahead = moment + dt.timedelta(seconds=self.lead)
        due = known if known is not None and known <= ahead else timers.next_due()
        if due is not None and due <= ahead:
            at = max(due, moment)
            if self.runner is not None and self.runner.idle:
                owner = executor.owner_id()
                firing = timers.fire_and_take(owner=owner, at=at)
                if firing.taken is not None:
                    self.runner.start(firing.taken, owner)
            else:
                firing = timers.fire_and_take(at=at)
            fired = firing.fired
            self.learn(firing.slack)
            self.fired += fired
            if self.shared_fired is not None:
                with self.shared_fired.get_lock():
                    self.shared_fired.value += fired
            due = timers.next_due()
        due = self._fire_schedules(ahead, due)
        self._next_due = due
        self._look_at = time.monotonic() + notify.poll_interval(self.listener, float(settings.TIMER_POLL))
        return fired

    def _fire_schedules(self, ahead: dt.datetime, due: dt.datetime | None) -> dt.datetime | None:
        """Fire due cron slots and release buffered ones (index lookups when there are none);
        return the earlier of `due` and the next slot, so a slot wakes the loop like a timer."""
        slot = slots.look(ahead)
        due = slot if due is None or (slot is not None and slot < due) else due
        # A queue held by its rate limit admits when the window opens: that wakes the loop too.
        opens = queues.look()
        return opens if due is None or (opens is not None and opens < due) else due

    def sleep(self, pause: float) -> None:
        """Wait `pause` seconds, or less when a notification says a timer is due sooner."""
        if self.listener is None:
            self.stop.wait(pause)
            return
        deadline = time.monotonic() + pause
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for channel, payload in self.listener.wait(min(left, STOP_CHECK_SECONDS)):
                if not channel:  # reconnected: whatever was sent meanwhile is unknown
                    self._look_at = 0.0
                    if self.runner is not None:
                        db.request_run()  # an offered instance may have been missed: the workers look
                    return
                if channel == notify.RUNNABLE:
                    self._take_offered(payload)
                elif self._hear(payload):
                    return

    def _take_offered(self, payload: str) -> None:
        """Claim one of the instances an event just made runnable and run it, if the runner is idle.

        The claim is the workers' own (lease and all), so whoever comes first runs it and the
        other finds nothing. When the receiver asked no worker (the payload says it was handed
        over), what this runner cannot take it asks a worker for.
        """
        if self.runner is None:
            return
        ids = payload.split("\n")
        handed = ids[0] == notify.HANDED
        if handed:
            ids = ids[1:]
        if not self.runner.idle:
            if handed:
                db.request_run()
            return
        owner = executor.owner_id()
        try:
            for index, instance_id in enumerate(ids):
                row = leases.claim_one(instance_id, owner, float(settings.LEASE_SECONDS))
                if row is not None:
                    self.runner.start(row, owner)
                    if handed and index + 1 < len(ids):
                        db.request_run()  # the rest are the workers'
                    return
            if handed:
                # None of them could be claimed. Nobody else was asked for them, and one may only
                # look "not due yet" to this process's clock (measured against the database's to
                # within a round trip): a worker looks too, rather than the recovery sweep later.
                db.request_run()
        except Exception:
            logger.exception("taking an instance an event woke failed; a worker runs it")
            connections.close_all()
            if handed:
                db.request_run()

    def _hear(self, payload: str) -> bool:
        """Take in a timer's due time; True when it is sooner than the one we sleep towards."""
        try:
            due = dt.datetime.fromtimestamp(float(payload), tz=dt.UTC)
        except (ValueError, OverflowError, OSError):
            self._look_at = 0.0
            return True
        if self._next_due is None or due < self._next_due:
            self._next_due = due
            return True
        return False


class HookWatch:
    """Asks a worker to run hooks that fall due later (retries, a dead worker's lease): it reads
    the earliest due time every DURABLE_HOOK_POLL seconds and remembers it meanwhile, so an idle
    loop spends no query on hooks between. A new hook wakes a worker on its own (db.request_hooks)."""

    def __init__(self) -> None:
        self._due: dt.datetime | None = None
        self._look_at = 0.0

    def look(self) -> None:
        moment = db.now()
        if time.monotonic() < self._look_at and (self._due is None or self._due > moment):
            return
        due = hooks.next_due()
        self._look_at = time.monotonic() + float(settings.HOOK_POLL)
        if due is not None and due <= moment:
            db.request_hooks()
            due = None
        self._due = due


class Runner:
    """Runs, on threads of the timer loop's process, the instances the loop claimed as their
    timers fired or events woke: each resumes at once instead of after a trip through django-q2.
    Up to DURABLE_RUNNER_THREADS at a time (a run holds its thread until its next wait or its end, so a
    second thread takes the next wake-up while one run is busy); when all are busy, woken
    instances go to the cluster as usual. Each thread keeps its database connection between
    runs, as a django-q2 worker does."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or int(settings.RUNNER_THREADS)
        self._work: queue.SimpleQueue[tuple[dict, str] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._busy = 0
        self._began = threading.Event()
        self._pool: list[threading.Thread] = []

    @property
    def idle(self) -> bool:
        """Whether a thread is free to take a run now."""
        return self._busy < self.threads

    def start(self, row: dict, owner: str) -> None:
        """Hand the run over, and give way until it has begun: the thread that runs it would
        otherwise wait for the interpreter's lock while this one goes on (up to its switch interval)."""
        with self._lock:
            self._busy += 1
            if len(self._pool) < self._busy:
                thread = threading.Thread(target=self._serve, name=f"durable-timer-run-{len(self._pool)}", daemon=True)
                self._pool.append(thread)
                thread.start()
        self._began.clear()
        self._work.put((row, owner))
        self._began.wait(HANDOVER_SECONDS)

    def _serve(self) -> None:
        try:
            while (item := self._work.get()) is not None:
                row, owner = item
                self._began.set()
                executor.heartbeat.hold([row["id"]])
                try:
                    executor.run_claimed(row, owner)
                finally:
                    executor.heartbeat.drop(row["id"])
                    with self._lock:
                        self._busy -= 1
        finally:
            connections.close_all()

    def finish(self, grace: float | None = None) -> None:
        """Wait for the runs in progress (each ends at its next wait or its end, like any run)."""
        pool, self._pool = self._pool, []
        for _ in pool:
            self._work.put(None)
        for thread in pool:
            thread.join(grace)


def run_once() -> int:
    """One pass in this process: fire due timers, sweep, and run every due instance."""
    from durable.worker import wakeup

    timers.sweep()
    wakeup.clear()
    return executor.run_due()

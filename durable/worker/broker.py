"""durable_worker's broker: django-q2's ORM broker, woken by a notification instead of polling.

django-q2's pusher calls dequeue() in a loop; the ORM broker sleeps Q_CLUSTER["poll"] after each
empty look. This one waits on the TASKS channel instead (every ORM enqueue notifies it, see
`notify_enqueued`), and still looks every DURABLE_LISTEN_POLL seconds, or every "poll" while the
channel is down. Plain `qcluster` keeps django-q2's own broker and its polling.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from django.db import transaction
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf

from durable import notify

# The pusher checks for the cluster's stop between two dequeues.
STOP_CHECK_SECONDS = 1.0


class ListeningORM(ORM):
    """The ORM broker, minus the sleep between empty looks."""

    _listener: notify.Listener | None = None
    _listener_pid = 0
    # When to look without being woken (the safety net); 0 looks at the next dequeue.
    _look_at = 0.0

    def dequeue(self) -> list[tuple[int, str]] | None:
        listener = self._listen()
        if listener is None:
            taken = self.take()
            if not taken:
                time.sleep(Conf.POLL)
            return taken or None
        if time.monotonic() >= self._look_at:
            taken = self.take()
            if taken:
                return taken  # more may be ready: look again at the next call
            self._look_at = time.monotonic() + notify.poll_interval(listener, Conf.POLL)
        # Returns within STOP_CHECK_SECONDS so the pusher sees a stop, without a query each time.
        wait = min(max(0.0, self._look_at - time.monotonic()), STOP_CHECK_SECONDS)
        if listener.wait(wait):
            taken = self.take()
            if not taken:
                self._wait_for_skewed()
            else:
                # Notifications of a burst of enqueues coalesce into one wake-up, and a take holds
                # at most Q_CLUSTER["bulk"]: look again at the next call, not a poll interval later.
                self._look_at = 0.0
            return taken or None
        return None

    def _wait_for_skewed(self) -> None:
        """Woken, yet nothing to take: another cluster won it, or the enqueuing machine's clock
        is ahead of this one's and the task's lock is still in this clock's future. Wait for that."""
        now = timezone.now()
        soon = now + dt.timedelta(seconds=STOP_CHECK_SECONDS)
        upcoming = (
            self.get_connection()
            .filter(key=self.list_key, lock__gte=now, lock__lt=soon)
            .order_by("lock")
            .values_list("lock", flat=True)
            .first()
        )
        if upcoming is not None:
            time.sleep(max(0.0, (upcoming - timezone.now()).total_seconds()) + 0.001)

    def take(self) -> list[tuple[int, str]]:
        """Lock the tasks that are ready, as django-q2's ORM broker does (another cluster may win one)."""
        queue = self.get_connection()
        taken = []
        for task in queue.filter(key=self.list_key, lock__lt=timezone.now())[: Conf.BULK]:
            if queue.filter(id=task.id, lock=task.lock).update(lock=self.timeout(task)):
                taken.append((task.pk, task.payload))
        return taken

    def _listen(self) -> notify.Listener | None:
        # Made in the pusher's own process: a connection must not cross a fork.
        if self._listener_pid != os.getpid():
            self._listener = notify.listen([notify.TASKS])
            self._listener_pid = os.getpid()
        return self._listener


def for_cluster() -> Broker | None:
    """The broker durable_worker hands its cluster: a listening one in place of the ORM broker."""
    configured = get_broker()
    if type(configured) is ORM and notify.transport() is not None:
        return ListeningORM(list_key=configured.list_key)
    return None


def notify_enqueued(sender, instance, created: bool, using: str, **kwargs) -> None:
    """post_save of django-q2's OrmQ: wake the listening pushers once the task row commits."""
    if created:
        transaction.on_commit(lambda: notify.send(notify.TASKS), using=using, robust=True)

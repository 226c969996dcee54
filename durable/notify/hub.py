"""One listener per process for everyone blocked in get_event, woken per instance.

The listener (a LISTEN connection on PostgreSQL) exists only while someone waits: the first
waiter opens it, the last one to leave closes it, so an idle web process holds no connection and
a test run can drop its database right after its last wait.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from durable import notify

logger = logging.getLogger(__name__)

# How long a first waiter waits for the listener to be up before polling instead.
READY_SECONDS = 2.0
# How often the listening thread looks whether its waiters have all gone.
IDLE_CHECK_SECONDS = 0.1
LOOK = {"look": True}


class Watch:
    """What one blocked caller receives about one instance."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self._messages: list[dict[str, Any]] = []
        self._arrived = threading.Condition()

    def deliver(self, message: dict[str, Any]) -> None:
        with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()

    def wait(self, timeout: float) -> list[dict[str, Any]]:
        """The messages that came within `timeout` seconds: {"k", "v"} for a value ({"k"} alone
        for one too big to carry), LOOK after a reconnect (anything may have happened)."""
        with self._arrived:
            if not self._messages:
                self._arrived.wait(timeout)
            messages, self._messages = self._messages, []
        return messages


class _Listening:
    """One listening thread's life: started by a first waiter, told to stop by the last."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.pid = os.getpid()
        self.ready = threading.Event()
        self.done = threading.Event()
        self.healthy = False
        threading.Thread(target=self._serve, name="durable-notify-hub", daemon=True).start()

    def _serve(self) -> None:
        listener = None
        try:
            listener = notify.listen([notify.INSTANCES])
            self.healthy = listener is not None and listener.healthy
            self.ready.set()
            while listener is not None and not self.done.is_set():
                try:
                    received = listener.wait(IDLE_CHECK_SECONDS)
                except Exception:
                    logger.exception("the get_event listener failed; waiters poll meanwhile")
                    received = [("", "")]
                self.healthy = listener.healthy
                for channel, payload in received:
                    self.hub.dispatch(channel, payload)
        finally:
            self.healthy = False
            self.ready.set()
            if listener is not None:
                listener.close()


class Hub:
    """Hands each message on the INSTANCES channel to the watches of its instance."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[str, set[Watch]] = {}
        self._listening: _Listening | None = None

    @property
    def healthy(self) -> bool:
        listening = self._listening
        return listening is not None and listening.healthy

    @contextmanager
    def watch(self, instance_id: str) -> Iterator[Watch]:
        """Register for an instance's messages before reading it, so none falls between."""
        watch = Watch(instance_id)
        with self._lock:
            self._watches.setdefault(instance_id, set()).add(watch)
            listening = self._listening
            # A process forked while a thread listened has the object but not the thread.
            if listening is None or listening.done.is_set() or listening.pid != os.getpid():
                listening = self._listening = _Listening(self)
        listening.ready.wait(READY_SECONDS)
        try:
            yield watch
        finally:
            with self._lock:
                watches = self._watches.get(instance_id, set())
                watches.discard(watch)
                if not watches:
                    self._watches.pop(instance_id, None)
                if not self._watches and self._listening is not None:
                    self._listening.done.set()
                    self._listening = None

    def dispatch(self, channel: str, payload: str) -> None:
        if not channel:
            with self._lock:
                everyone = [w for watches in self._watches.values() for w in watches]
            for watch in everyone:
                watch.deliver(LOOK)
            return
        try:
            message = json.loads(payload)
            instance_id = message.pop("i")
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        with self._lock:
            watches = list(self._watches.get(instance_id, ()))
        for watch in watches:
            watch.deliver(message)


hub = Hub()

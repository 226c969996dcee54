"""LISTEN/NOTIFY: pg_notify inside the sender's transaction, and a listener on its own connection."""

from __future__ import annotations

import logging
import os
import time
import uuid

import psycopg
from django.db import connections
from psycopg import sql

from durable import db, statements

logger = logging.getLogger(__name__)

PREFIX = "durable_"
APPLICATION_NAME = "durable-listen"
# Parameters Django adds for its own cursors, not for a plain connection.
DJANGO_ONLY = {"context", "cursor_factory", "prepare_threshold", "server_side_binding", "pool"}
RECONNECT_SECONDS = 1.0
# How long a new LISTEN connection waits for its own probe, and how long a deaf one is left alone.
PROBE_SECONDS = 1.0
DEAF_RETRY_SECONDS = 60.0


def send(channel: str, payload: str) -> None:
    """pg_notify on the durable connection: delivered when (and only if) its transaction commits."""
    with connections[db.alias()].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [PREFIX + channel, payload])


def sending(channel: str, payload: str, condition: str) -> statements.Part:
    """`send` as a SELECT another statement carries, notifying only when `condition` holds."""
    return statements.Part(f"SELECT pg_notify(%s, %s) WHERE {condition}", [PREFIX + channel, payload])


def connect() -> psycopg.Connection:
    """A connection of its own, with the durable database's parameters, in autocommit."""
    params = {k: v for k, v in connections[db.alias()].get_connection_params().items() if k not in DJANGO_ONLY}
    # With the pid, so an operator (or a test) can tell whose listener a connection is.
    params["application_name"] = f"{APPLICATION_NAME} {os.getpid()}"
    return psycopg.connect(**params, autocommit=True)


class PostgresListener:
    """LISTENs on its channels; reconnects (and says so) after the connection drops."""

    def __init__(self, channels: list[str]) -> None:
        self.channels = [PREFIX + c for c in channels]
        self.connection: psycopg.Connection | None = None
        self.healthy = False
        self._retry_at = 0.0
        self._warned = False
        # What arrived while the probe waited, handed over by the next wait().
        self._early: list[tuple[str, str]] = []
        self._connect()

    def _connect(self) -> bool:
        self._drop()
        connection = None
        try:
            connection = connect()
            for channel in self.channels:
                connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            heard = self._probe(connection)
        except psycopg.Error as exc:
            if connection is not None:
                # Killed while it listened or probed: closed here, not left for the collector.
                connection.close()
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
            if not self._warned:
                logger.warning("cannot LISTEN for wake-ups (%s); polling until it can", exc)
                self._warned = True
            self.healthy = False
            return False
        if not heard:
            # A pooler in transaction mode (pgbouncer) takes LISTEN and never delivers.
            connection.close()
            self._retry_at = time.monotonic() + DEAF_RETRY_SECONDS
            if not self._warned:
                logger.warning(
                    "LISTEN on this database connection hears nothing (a pooler in transaction mode?): "
                    "polling instead. Point durable's database at the server or a session-mode pooler, "
                    "or set DURABLE_NOTIFY = False."
                )
                self._warned = True
            self.healthy = False
            return False
        self.connection = connection
        self.healthy = True
        self._warned = False
        return True

    def _probe(self, connection: psycopg.Connection) -> bool:
        """Send ourselves a notification over another connection; True once it arrives."""
        token = f"probe {uuid.uuid4().hex}"
        with connect() as sender:
            sender.execute("SELECT pg_notify(%s, %s)", [self.channels[0], token])
        deadline = time.monotonic() + PROBE_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            for note in connection.notifies(timeout=left, stop_after=1):
                if note.payload == token:
                    return True
                self._early.append((note.channel[len(PREFIX) :], note.payload))
        return False

    def wait(self, timeout: float) -> list[tuple[str, str]]:
        if not self.healthy:
            if time.monotonic() >= self._retry_at and self._connect():
                return [("", "")]
            time.sleep(timeout)
            return []
        assert self.connection is not None
        if self._early:
            early, self._early = self._early, []
            return early
        try:
            received = [
                (n.channel[len(PREFIX) :], n.payload) for n in self.connection.notifies(timeout=timeout, stop_after=1)
            ]
            if received:
                # Take whatever else arrived meanwhile, without waiting.
                received += [(n.channel[len(PREFIX) :], n.payload) for n in self.connection.notifies(timeout=0)]
            return received
        except psycopg.Error as exc:
            logger.warning("the LISTEN connection dropped (%s); polling until it is back", exc)
            self._warned = True
            self.healthy = False
            self._drop()
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
            return [("", "")]

    def _drop(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except psycopg.Error:
                pass
            self.connection = None

    def close(self) -> None:
        self._drop()
        self.healthy = False

"""Local wake-ups for a SQLite file: one Unix datagram socket per listener, in a directory per database.

SQLite lives on one machine, so every process that writes it can reach every listener there.
A sender writes one datagram to each listening socket of the channel; a socket whose process
has gone refuses it and is removed.
"""

from __future__ import annotations

import atexit
import errno
import functools
import hashlib
import itertools
import logging
import os
import select
import socket
import tempfile
import threading
from pathlib import Path

from django.db import connections

from durable import db

logger = logging.getLogger(__name__)

_sender: socket.socket | None = None
_sender_lock = threading.Lock()
_serial = itertools.count()


def directory() -> Path | None:
    """Where this database's listening sockets live; None for an in-memory database or no AF_UNIX."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    return _directory_of(str(connections[db.alias()].settings_dict["NAME"]))


@functools.lru_cache(maxsize=16)
def _directory_of(name: str) -> Path | None:
    # Every send asks (twice: transport() and send()); the path, hash and temp dir are per file.
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    digest = hashlib.sha256(os.path.realpath(name).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"durable-{os.getuid() if hasattr(os, 'getuid') else 0}-{digest}"


def send(channel: str, payload: str) -> None:
    """One datagram to every socket listening on `channel`; never raises."""
    folder = directory()
    if folder is None:
        return
    try:
        entries = [e.path for e in os.scandir(folder) if e.name.startswith(channel + ".")]
    except OSError:
        return
    data = payload.encode()
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            _sender.setblocking(False)
            atexit.register(_sender.close)
        for path in entries:
            try:
                _sender.sendto(data, path)
            except (ConnectionRefusedError, FileNotFoundError):
                _unlink(path)  # its listener has gone
            except OSError as exc:
                # A full buffer means the listener has plenty to wake it already.
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS):
                    logger.debug("a local wake-up was not sent: %s", exc)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class LocalListener:
    """A datagram socket per channel in the database's directory, bound by this process."""

    def __init__(self, channels: list[str]) -> None:
        self.healthy = False
        self.sockets: dict[socket.socket, str] = {}
        self.paths: list[str] = []
        folder = directory()
        if folder is None:
            return
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            for channel in channels:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                path = str(folder / f"{channel}.{os.getpid()}.{next(_serial)}")
                sock.bind(path)
                self.paths.append(path)
                sock.setblocking(False)
                self.sockets[sock] = channel
            atexit.register(self.close)
        except OSError as exc:
            logger.warning("cannot listen for local wake-ups in %s (%s); polling instead", folder, exc)
            self.close()
            return
        self.healthy = True

    def wait(self, timeout: float) -> list[tuple[str, str]]:
        if not self.healthy:
            select.select([], [], [], timeout)
            return []
        ready, _, _ = select.select(list(self.sockets), [], [], timeout)
        received = []
        for sock in ready:
            while True:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                received.append((self.sockets[sock], data.decode(errors="replace")))
        return received

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        for path in self.paths:
            _unlink(path)
        self.sockets, self.paths = {}, []
        self.healthy = False

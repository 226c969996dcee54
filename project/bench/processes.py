"""The subprocesses a benchmark drives: durable_worker processes and an HTTP server, and their RSS."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

WORKFLOW_MODULE = "project.bench.workflows"
READY_TEXT = b"durable worker running"
START_TIMEOUT = 60.0


class BenchError(Exception):
    """The benchmark cannot go on; the message says why and what to do."""


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a child: same settings and database, plus the bench workflows.

    DEBUG is off unless DJANGO_DEBUG is set explicitly, as in production: with DEBUG on Django
    keeps every query in memory, which costs time and skews the memory figures.
    """
    env = dict(os.environ)
    modules = [m for m in env.get("DURABLE_WORKFLOW_MODULES", "").split(",") if m]
    if WORKFLOW_MODULE not in modules:
        modules.append(WORKFLOW_MODULE)
    env["DURABLE_WORKFLOW_MODULES"] = ",".join(modules)
    env.setdefault("DJANGO_DEBUG", "0")
    env.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def django_command(*args: str) -> list[str]:
    """A command line running a management command with the same interpreter and settings."""
    return [sys.executable, "-m", "django", *args]


class Child:
    """One subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=os.getcwd()
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self, tail: int = 4000) -> str:
        text = self.log_path.read_text(errors="replace")
        return text[-tail:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, ready, what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive():
                raise BenchError(f"{self.name} exited while starting; its output ({self.log_path}):\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(
                    f"{self.name} did not become ready ({what}) within {timeout:.0f} s; see {self.log_path}"
                )
            time.sleep(0.05)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL the whole process group."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %s s; killing it", self.name, grace)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


class WorkerPool:
    """`count` durable_worker processes (each a django-q2 cluster plus the timer loop)."""

    def __init__(self, count: int, log_dir: Path) -> None:
        self.count = count
        self.log_dir = log_dir
        self.workers: list[Child] = []
        self.started = 0

    def start(self) -> WorkerPool:
        for _ in range(self.count):
            self.started += 1
            path = self.log_dir / f"worker-{self.started}.log"
            child = Child(f"durable_worker #{self.started}", django_command("durable_worker"), child_env(), path)
            self.workers.append(child)
        for child in self.workers:
            child.wait_ready(lambda c=child: READY_TEXT in c.log_path.read_bytes(), "its start banner")
        return self

    def check(self) -> None:
        for child in self.workers:
            if not child.alive():
                raise BenchError(f"{child.name} died; its output ({child.log_path}):\n{child.output()}")

    def stop(self) -> None:
        for child in self.workers:
            child.stop()
        self.workers = []

    def rss(self) -> dict[int, int]:
        """Resident set size in bytes of every process of every worker's process group."""
        sizes: dict[int, int] = {}
        for child in self.workers:
            sizes.update(group_rss(child.pid))
        return sizes


class HttpServer:
    """`manage.py runserver` on a free local port, accepting DURABLE_EVENT_TOKEN.

    Single-threaded (--nothreading) so it keeps one persistent database connection, as a
    production server's long-lived worker threads do; the benchmark posts one event at a time.
    """

    def __init__(self, token: str, log_dir: Path) -> None:
        self.token = token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/durable/"
        env = child_env(DURABLE_EVENT_TOKEN=token)
        argv = django_command("runserver", "--noreload", "--nothreading", f"127.0.0.1:{self.port}")
        self.child = Child("runserver", argv, env, log_dir / "runserver.log")
        self.child.wait_ready(self._accepting, "accepting connections")

    def _accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        self.child.stop(grace=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_rss(pgid: int) -> dict[int, int]:
    """RSS in bytes of each live process whose process group is `pgid` (Linux /proc)."""
    sizes: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            # Fields after the parenthesised command: state ppid pgrp ...
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[int(entry)] = int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return sizes

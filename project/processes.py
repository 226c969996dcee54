"""Management commands run as subprocesses (durable_worker, runserver) for the tests, the demo and the bench.

Each one runs in a session (process group) of its own with its output in a log file: Ctrl-C in
the terminal reaches the parent alone, which then stops the command and everything it forked
(django-q2's sentinel and workers) with SIGTERM, then SIGKILL to the whole group.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 8000
WORKER_BANNER = b"durable worker running"
# Loopback requests must not go through an http_proxy from the environment.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceError(Exception):
    """A subprocess did not start, or died."""


class Service:
    """One management command in a subprocess, its output appended to `log_path`.

    Args:
        name: what messages call it ("worker", "server").
        args: the command and its arguments, as they follow `manage.py`.
        env: its environment (see `child_env`).
        log_path: where its stdout and stderr go.
        ready: true once it is ready to use (see `log_contains` and `answers`).
    """

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log_path: Path, ready: Callable[[], bool]
    ) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.ready = ready
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            command_line(*args), env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        """Everything it has written so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def check(self) -> None:
        """Raise ServiceError when the subprocess has ended."""
        if not self.alive:
            raise ServiceError(
                f"The {self.name} ({' '.join(self.args)}) exited with status {self.proc.returncode}. "
                f"Its last output ({self.log_path}):\n{self.tail()}"
            )

    def wait_ready(self, timeout: float = 60.0) -> Service:
        """Wait until it is ready; raise ServiceError if it exits or `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            self.check()
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"The {self.name} was not ready after {timeout:.0f} s. Its last output ({self.log_path}):\n"
                    f"{self.tail()}"
                )
            time.sleep(0.05)
        return self

    def terminate(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL whatever is left of its process group."""
        self.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            # durable_worker's processes write their stacks on SIGUSR1 (faulthandler): keep them.
            try:
                os.killpg(self.proc.pid, signal.SIGUSR1)
                time.sleep(1.0)
            except (ProcessLookupError, PermissionError):
                pass
            logger.warning(
                "%s did not stop within %s s; killing it. Its last output:\n%s", self.name, grace, self.tail(80)
            )
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: the command and whatever it forked."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            logger.warning("%s (pid %s) outlived SIGKILL by 10 s", self.name, self.proc.pid)
        self._log.close()

    def rss(self) -> dict[int, int]:
        """Resident set size in bytes of each live process of its process group (Linux /proc)."""
        return group_rss(self.proc.pid)


def stop_all(services: Iterable[Service], grace: float = 30.0) -> None:
    """Stop several at once: SIGTERM to every one first, so their shutdowns overlap."""
    services = list(services)
    for service in services:
        service.terminate()
    for service in services:
        service.stop(grace)


def worker(env: dict[str, str], log_path: Path, name: str = "worker") -> Service:
    """`durable_worker` (the django-q2 cluster and the timer loop), ready once it prints its banner."""
    return Service(name, ["durable_worker"], env, log_path, log_contains(log_path, WORKER_BANNER))


def server(env: dict[str, str], log_path: Path, port: int, *, threading: bool = True) -> Service:
    """`runserver` on HOST:port without the autoreloader, ready once it answers HTTP.

    With `threading=False` it serves one request at a time on one persistent database
    connection, as a production server's long-lived worker threads keep theirs.
    """
    args = ["runserver", "--noreload", *([] if threading else ["--nothreading"]), f"{HOST}:{port}"]
    return Service("server", args, env, log_path, answers(f"http://{HOST}:{port}/admin/login/"))


def log_contains(log_path: Path, text: bytes) -> Callable[[], bool]:
    """Readiness: `text` has appeared in the log."""
    return lambda: text in log_path.read_bytes()


def answers(url: str) -> Callable[[], bool]:
    """Readiness: a GET of `url` gets an HTTP response, whatever its status."""

    def ready() -> bool:
        try:
            with LOCAL.open(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    return ready


def command_line(*args: str) -> list[str]:
    """How to run another management command of this project, however this process was started."""
    script = Path(sys.argv[0])
    if script.name == "manage.py" and script.exists():
        return [sys.executable, str(script.resolve()), *args]
    return [sys.executable, "-m", "django", *args]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment, plus what a child needs to load the same settings, plus `extra`."""
    # Under override_settings (pytest-django's `settings` fixture) SETTINGS_MODULE reads None.
    module = settings.SETTINGS_MODULE or os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        raise ServiceError("Child processes need a settings module: set DJANGO_SETTINGS_MODULE.")
    env = dict(os.environ, PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE=module)
    top = Path(import_module(module.partition(".")[0]).__file__ or "x").resolve()
    root = str(top.parent.parent if top.name == "__init__.py" else top.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def pick_port(requested: int | None) -> int:
    """The requested port (refused when taken), DEFAULT_PORT when None and free, else any free port (0)."""
    if requested:
        if not _is_free(requested):
            raise ServiceError(f"Port {requested} is taken; pass another --port, or --port 0 for any free port.")
        return requested
    if requested is None and _is_free(DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As runserver binds: a port that only has connections in TIME_WAIT is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


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

"""The demo's subprocesses: a real `durable_worker` and a real HTTP server, started and stopped cleanly."""

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
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8000
HOST = "127.0.0.1"
# Loopback requests must not go through an http_proxy from the environment.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServiceError(Exception):
    """A subprocess of the demo did not start or died."""


def pick_port(requested: int | None) -> int:
    """The requested port (refused when taken), 8000 when free, or else any free port."""
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


def command_line(*args: str) -> list[str]:
    """How to run another management command of this project, however the demo itself was started."""
    script = Path(sys.argv[0])
    if script.name == "manage.py" and script.exists():
        return [sys.executable, str(script.resolve()), *args]
    return [sys.executable, "-m", "django", *args]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment, plus what a child needs to load the same settings."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE=settings.SETTINGS_MODULE, **extra)
    top = Path(import_module(settings.SETTINGS_MODULE.partition(".")[0]).__file__ or "x").resolve()
    root = str(top.parent.parent if top.name == "__init__.py" else top.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class Service:
    """One management-command subprocess, its output in a log file.

    It runs in a session of its own: Ctrl-C in the terminal reaches the demo alone, which then
    stops the service and everything it forked (django-q2's sentinel and workers).
    """

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log_path: Path, ready: Callable[[], bool]
    ) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.ready = ready
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command_line(*args), env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check(self) -> None:
        """Raise ServiceError when the subprocess has ended."""
        if not self.alive:
            raise ServiceError(
                f"The {self.name} ({' '.join(self.args)}) exited with status {self.proc.returncode}. "
                f"Its last output ({self.log_path}):\n{self.tail()}"
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the service says it is ready."""
        started = time.monotonic()
        while not self.ready():
            self.check()
            if time.monotonic() - started > timeout:
                raise ServiceError(
                    f"The {self.name} was not ready after {timeout:.0f} s. Its last output ({self.log_path}):\n"
                    f"{self.tail()}"
                )
            time.sleep(0.05)

    def terminate(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL whatever is left of its process group."""
        self.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            logger.warning("the demo's %s did not stop within %s s; killing it", self.name, grace)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group: the command and whatever it forked."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(10)
        self._log.close()


def worker(env: dict[str, str], log_path: Path) -> Service:
    """`durable_worker`: the django-q2 cluster and the timer loop."""
    return Service(
        "worker", ["durable_worker"], env, log_path, lambda: b"durable worker running" in log_path.read_bytes()
    )


def server(env: dict[str, str], log_path: Path, port: int) -> Service:
    """`runserver`: the admin and durable's HTTP API (threaded, without the autoreloader)."""
    ready_url = f"http://{HOST}:{port}/admin/login/"
    return Service("server", ["runserver", "--noreload", f"{HOST}:{port}"], env, log_path, lambda: _answers(ready_url))


def _answers(url: str) -> bool:
    try:
        with LOCAL.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False

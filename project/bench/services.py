"""The bench's subprocesses, started through project.processes: durable_worker processes and an HTTP server."""

from __future__ import annotations

import os
from pathlib import Path

from project import processes
from project.processes import Service

WORKFLOW_MODULE = "project.bench.workflows"


def bench_env(**extra: str) -> dict[str, str]:
    """A child's environment (same settings and database), plus the bench workflows.

    DEBUG is off unless DJANGO_DEBUG is set explicitly, as in production: with DEBUG on Django
    keeps every query in memory, which costs time and skews the memory figures.
    """
    modules = [m for m in os.environ.get("DURABLE_WORKFLOW_MODULES", "").split(",") if m]
    if WORKFLOW_MODULE not in modules:
        modules.append(WORKFLOW_MODULE)
    defaults = {"DJANGO_DEBUG": "0", "DJANGO_LOG_LEVEL": "WARNING"}
    wanted = {k: v for k, v in defaults.items() if k not in os.environ}
    return processes.child_env(**{**wanted, "DURABLE_WORKFLOW_MODULES": ",".join(modules), **extra})


class WorkerPool:
    """`count` durable_worker processes (each a django-q2 cluster plus the timer loop)."""

    def __init__(self, count: int, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.count = count
        self.log_dir = log_dir
        self.env = env or {}
        self.workers: list[Service] = []
        self.started = 0

    def start(self) -> WorkerPool:
        """Start them all, then wait for each; if one fails to start, stop every one."""
        env = bench_env(**self.env)
        for _ in range(self.count):
            self.started += 1
            path = self.log_dir / f"worker-{self.started}.log"
            self.workers.append(processes.worker(env, path, name=f"worker #{self.started}"))
        try:
            for worker in self.workers:
                worker.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def check(self) -> None:
        """Raise ServiceError when a worker has died."""
        for worker in self.workers:
            worker.check()

    def stop(self) -> None:
        processes.stop_all(self.workers, grace=15.0)
        self.workers = []

    def pids(self) -> list[int]:
        """Every live process of every worker's process group."""
        return [pid for worker in self.workers for pid in worker.rss()]

    def rss(self) -> dict[int, int]:
        """Resident set size in bytes of every process of every worker's process group."""
        sizes: dict[int, int] = {}
        for worker in self.workers:
            sizes.update(worker.rss())
        return sizes


class HttpServer:
    """`manage.py runserver` on a free local port, accepting `token` as DURABLE_EVENT_TOKEN.

    Single-threaded so it keeps one persistent database connection, as a production server's
    long-lived worker threads do; the benchmark posts one event at a time.
    """

    def __init__(self, token: str, log_dir: Path) -> None:
        self.port = processes.pick_port(0)
        self.url = f"http://{processes.HOST}:{self.port}/durable/"
        env = bench_env(DURABLE_EVENT_TOKEN=token)
        self.service = processes.server(env, log_dir / "runserver.log", self.port, threading=False)
        try:
            self.service.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.service.stop(grace=10)

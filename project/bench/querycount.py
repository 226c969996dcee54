"""Counting a worker's queries for the idle scenario: each process writes its count to a file.

Installed by project.bench.workflows (which every bench worker imports) only when
DURABLE_BENCH_QUERY_DIR is set; every Django connection the process opens gets a wrapper that
counts its statements, and a thread writes the count to <dir>/<pid> twice a second.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from django.db.backends.signals import connection_created

ENV = "DURABLE_BENCH_QUERY_DIR"
_count = 0
_lock = threading.Lock()
_writer_pid = 0


def install() -> None:
    folder = os.environ.get(ENV)
    if folder:
        connection_created.connect(_counting, dispatch_uid="durable-bench-querycount")


def _counting(sender, connection, **kwargs) -> None:
    if _count_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_query)


def _count_query(execute, sql, params, many, context):
    global _count
    with _lock:
        _count += 1
    _ensure_writer()
    return execute(sql, params, many, context)


def _ensure_writer() -> None:
    global _writer_pid, _count
    if _writer_pid == os.getpid():
        return
    with _lock:
        if _writer_pid == os.getpid():
            return
        if _writer_pid:
            _count = 1  # a forked child: the parent's queries are not its own
        _writer_pid = os.getpid()
    threading.Thread(target=_write, args=(Path(os.environ[ENV]) / str(os.getpid()),), daemon=True).start()


def _write(path: Path) -> None:
    while True:
        path.write_text(str(_count))
        time.sleep(0.5)


def read(folder: Path) -> dict[int, int]:
    """Every process's count so far."""
    counts = {}
    for entry in folder.iterdir():
        try:
            counts[int(entry.name)] = int(entry.read_text() or 0)
        except (ValueError, OSError):
            continue
    return counts

"""project.processes, the one subprocess helper of the tests, the demo and the bench: readiness, RSS, stopping."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest

from project import processes


class NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_answers__any_http_status_is_an_answer_and_a_closed_port_is_not():
    server = http.server.HTTPServer((processes.HOST, 0), NotFound)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        assert processes.answers(f"http://{processes.HOST}:{server.server_port}/admin/login/")()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert not processes.answers(f"http://{processes.HOST}:{processes.pick_port(0)}/")()


def test_log_contains__waits_for_the_text(tmp_path):
    log = tmp_path / "out.log"
    log.write_bytes(b"starting\n")
    ready = processes.log_contains(log, processes.WORKER_BANNER)
    assert not ready()
    log.write_bytes(b"starting\n" + processes.WORKER_BANNER + b"\n")
    assert ready()


def test_child_env__loads_the_same_settings_with_extra_variables(settings):
    # pytest-django's `settings` fixture overrides settings, which hides SETTINGS_MODULE.
    env = processes.child_env(DURABLE_EVENT_TOKEN="t")
    assert env["DJANGO_SETTINGS_MODULE"] == "tests.settings"
    assert env["DURABLE_EVENT_TOKEN"] == "t" and env["PYTHONUNBUFFERED"] == "1"
    assert str(Path(__file__).resolve().parents[2]) in env["PYTHONPATH"].split(os.pathsep)


@pytest.mark.cluster
def test_worker__rss_covers_its_process_group_and_stop_ends_all_of_it(worker):
    sizes = worker.rss()
    # The main process with the timer loop, and django-q2's sentinel, pusher, monitor and workers.
    assert worker.pid in sizes and len(sizes) >= 3
    assert all(size > 1024 * 1024 for size in sizes.values())
    worker.stop(grace=40)
    assert not worker.alive
    assert processes.group_rss(worker.pid) == {}

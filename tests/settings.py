"""Test settings: the demo project's, plus the test app and the test workflows."""

import os

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
DURABLE_WORKFLOW_MODULES = [
    "tests.workflows",
    "tests.command_workflows",
    "tests.admin_workflows",
    "tests.fault_workflows",
    "tests.wakeup_workflows",
    "tests.saga_workflows",
    "tests.delay_workflows",
    "tests.schedule_workflows",
    "tests.hook_workflows",
    "tests.erasure_workflows",
    "tests.bulk_workflows",
    "tests.version_workflows",
    "tests.replay_workflows",
    "tests.fork_workflows",
    "tests.queue_workflows",
    "tests.child_workflows",
    "tests.parallel_workflows",
]
# Flow control (SPEC 14): the queues of tests/queue_workflows.py, here and in worker subprocesses.
DURABLE_QUEUES = {
    "q_two": {"concurrency": 2},
    "q_key": {"per_key": 1},
    "q_rate": {"rate": "5/s"},
    "q_one": {"concurrency": 1},
    "q_free": {},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if os.environ.get("DURABLE_PAUSE_AFTER_FAILED_RUNS"):
    DURABLE_PAUSE_AFTER_FAILED_RUNS = int(os.environ["DURABLE_PAUSE_AFTER_FAILED_RUNS"])

if os.environ.get("DURABLE_CODE_VERSION"):  # a worker subprocess of the versioning tests
    DURABLE_CODE_VERSION = os.environ["DURABLE_CODE_VERSION"]

if os.environ.get("DURABLE_RETENTION"):  # a manage.py subprocess of the retention tests
    import json

    DURABLE_RETENTION = json.loads(os.environ["DURABLE_RETENTION"])

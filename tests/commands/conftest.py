"""Running durable_* commands in-process (call_command) and as real manage.py subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from tests.conftest import ROOT, test_database_url


@pytest.fixture
def run():
    """call_command with string arguments, as the shell passes them; returns (stdout, stderr)."""

    def call(name: str, *args: str) -> tuple[str, str]:
        out, err = StringIO(), StringIO()
        call_command(name, *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    return call


@pytest.fixture
def manage():
    """`python manage.py ...` against the test database; returns the CompletedProcess (text)."""

    def shell(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        env = dict(os.environ, DATABASE_URL=test_database_url(), PYTHONUNBUFFERED="1")
        env.pop("DJANGO_SETTINGS_MODULE", None)
        return subprocess.run(
            [sys.executable, "manage.py", *args, "--settings", "tests.settings"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return shell

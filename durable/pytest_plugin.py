"""The pytest plugin (entry point `durable`, found by pytest once durable is installed): `durable_env`."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from durable.environment import WorkflowEnvironment

if importlib.util.find_spec("pytest_django") is not None:

    @pytest.fixture
    def durable_env(db: None) -> Iterator[WorkflowEnvironment]:
        """A durable.testing.WorkflowEnvironment for the test: workflows run in the test process, on
        the test database, without a worker, on a virtual clock; left (clock and mocks restored) at
        the end of the test.

        It asks for pytest-django's `db` fixture (by name, so that pytest-django sets the test
        database up for it), so a test needs no marker. A test that also asks for
        `transactional_db` (or is marked `django_db(transaction=True)`) gets real commits instead.
        """
        from durable.environment import WorkflowEnvironment

        with WorkflowEnvironment() as env:
            yield env

else:

    @pytest.fixture
    def durable_env() -> Iterator[WorkflowEnvironment]:
        """Without pytest-django there is no test database to run workflows on: a clear error."""
        raise pytest.UsageError(
            "durable_env needs pytest-django's test database: pip install pytest-django and set "
            "DJANGO_SETTINGS_MODULE (in pytest.ini, pyproject.toml or the environment)."
        )

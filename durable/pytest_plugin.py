"""The pytest plugin (entry point `durable`, found by pytest once durable is installed): `durable_env`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from durable.environment import WorkflowEnvironment


@pytest.fixture
def durable_env(request: pytest.FixtureRequest) -> Iterator[WorkflowEnvironment]:
    """A durable.testing.WorkflowEnvironment for the test: workflows run in the test process, on
    the test database, without a worker, on a virtual clock; left (clock and mocks restored) at
    the end of the test.

    It asks for pytest-django's `db` fixture, so a test needs no marker. A test that also asks for
    `transactional_db` (or is marked `django_db(transaction=True)`) gets real commits instead.
    """
    try:
        request.getfixturevalue("db")
    except pytest.FixtureLookupError:
        raise pytest.UsageError(
            "durable_env needs pytest-django's database fixtures: pip install pytest-django and set "
            "DJANGO_SETTINGS_MODULE (in pytest.ini, pyproject.toml or the environment)."
        ) from None
    from durable.environment import WorkflowEnvironment

    with WorkflowEnvironment() as env:
        yield env

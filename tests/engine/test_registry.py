"""Decorators validate at import and register stable names; RetryPolicy computes backoff."""

from __future__ import annotations

import pytest

import durable
from durable.engine.registry import registry


def test_workflow__registers_under_function_name_and_stays_callable():
    from tests import workflows

    assert registry.workflows["three_steps"] is workflows.three_steps
    assert workflows.three_steps.__name__ == "three_steps"
    assert workflows.three_steps.__doc__ is None or isinstance(workflows.three_steps.__doc__, str)


def test_workflow__nested_function_is_refused():
    with pytest.raises(durable.DefinitionError, match="inside a function"):

        @durable.workflow
        def nested(ctx):
            return None


def test_workflow__lambda_is_refused():
    with pytest.raises(durable.DefinitionError, match="lambda"):
        durable.workflow(lambda ctx: None)


def test_workflow__duplicate_name_is_refused():
    from tests.engine import definitions

    with pytest.raises(durable.DefinitionError, match="Two workflows are named 'registry_test.dup'"):
        durable.workflow(name="registry_test.dup")(definitions.other_function)


def test_workflow__same_function_may_register_again():
    from tests.engine import definitions

    again = durable.workflow(name="registry_test.dup")(definitions.dup)
    assert registry.workflows["registry_test.dup"] is again
    assert again(None, 3) == 3


def test_workflow__options_are_validated():
    from tests.engine import definitions

    with pytest.raises(durable.DefinitionError, match="pause_after_errors"):
        durable.workflow(pause_after_errors=0)(definitions.other_function)
    with pytest.raises(durable.DefinitionError, match="on_event"):
        durable.workflow(on_event="")(definitions.other_function)
    with pytest.raises(durable.DefinitionError, match="async"):
        durable.workflow(definitions.coroutine)
    with pytest.raises(durable.DefinitionError, match="context as its first argument"):
        durable.workflow(definitions.no_arguments)


def test_activity__called_outside_a_workflow_is_refused():
    from tests.engine import definitions

    with pytest.raises(durable.DefinitionError, match="call it from a workflow"):
        definitions.an_activity("not a context")


def test_activity__options_are_validated():
    from tests.engine import definitions

    with pytest.raises(durable.DefinitionError, match="RetryPolicy"):
        durable.activity(retry={"max_attempts": 3})(definitions.other_function)
    with pytest.raises(durable.DefinitionError, match="compensation"):
        durable.activity(compensation=print)(definitions.other_function)


def test_registry__unknown_workflow_lists_known_names():
    with pytest.raises(durable.WorkflowNotFound, match="No workflow named 'nope'"):
        registry.workflow("nope")


def test_retry_policy__backoff_is_capped():
    policy = durable.RetryPolicy(max_attempts=10, initial_interval=1, backoff=3, max_interval=20)
    assert [policy.delay(n) for n in range(1, 5)] == [1, 3, 9, 20]


def test_retry_policy__non_retryable_by_class_and_name():
    policy = durable.RetryPolicy(max_attempts=5, non_retryable=(KeyError, "ValueError"))
    assert not policy.retries(KeyError("x"), 1)
    assert not policy.retries(ValueError("x"), 1)
    assert policy.retries(RuntimeError("x"), 1)
    assert not policy.retries(RuntimeError("x"), 5)


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"initial_interval": -1}, {"backoff": 0.5}])
def test_retry_policy__invalid_values_are_refused(kwargs):
    with pytest.raises(durable.DefinitionError):
        durable.RetryPolicy(**kwargs)

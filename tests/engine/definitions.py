"""Module-level functions for the registry tests."""

import durable


def dup(ctx, x):
    return x


durable.workflow(name="registry_test.dup")(dup)


def other_function(ctx):
    return None


async def coroutine(ctx):
    return None


def no_arguments():
    return None


@durable.activity(name="registry_test.an_activity")
def an_activity(ctx):
    return None

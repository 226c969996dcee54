"""Hand-written statements for the hottest writes, built from the models' own fields.

Building an INSERT or DELETE through the ORM costs more on every event than the database takes
to run it; these are built once per model and database vendor, and take their values through
each field's own conversion, so a field added to a model is written here too. A `Part` is a
piece of SQL with its parameters that one module hands another to run inside its statement, so
an event's writes cost fewer round trips on PostgreSQL while each module keeps its own SQL.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class Part(NamedTuple):
    """SQL text and its parameters, in the order of its placeholders."""

    sql: str
    params: list[Any]


def table(model: type[models.Model], connection: BaseDatabaseWrapper) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[models.Model], name: str, connection: BaseDatabaseWrapper) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return connection.ops.quote_name(str(field.column))


@cache
def _fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, models.AutoField)))


def insert_into(model: type[models.Model], connection: BaseDatabaseWrapper) -> str:
    """The head of an INSERT of every field but an automatic primary key (`values` gives them)."""
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in _fields(model))
    return f"INSERT INTO {table(model, connection)} ({columns})"


def placeholders(model: type[models.Model]) -> str:
    return ", ".join(["%s"] * len(_fields(model)))


def values(row: models.Model, connection: BaseDatabaseWrapper) -> list[Any]:
    """The row's values for `insert_into`, each converted by its field as a save would."""
    return [f.get_db_prep_save(getattr(row, f.attname), connection) for f in _fields(type(row))]

"""Template filters of the viewer's pages: `{% load durable_viewer %}`."""

from __future__ import annotations

from django import template

from durable.admin.words import breakable as _breakable

register = template.Library()


@register.filter
def breakable(value):
    """Long names with break points (see durable.admin.words.breakable); empty values stay empty."""
    return _breakable(value) if value not in (None, "") else value

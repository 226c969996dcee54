"""A business key as the viewer shows it: a model instance's key links to that object's admin page."""

from __future__ import annotations

from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.sites import AdminSite
from django.contrib.admin.utils import quote
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from durable.admin.words import breakable
from durable.business_keys import model_reference


def object_url(request, site: AdminSite, key: str | None) -> str | None:
    """The change page of the object a key names, when `site` registers its model and the user may
    view it; None otherwise. Reads nothing: the object itself may be gone (the admin says so)."""
    reference = model_reference(key)
    if reference is None:
        return None
    model, pk = reference
    try:
        model_admin = site.get_model_admin(model)
    except NotRegistered:
        return None
    if not model_admin.has_view_permission(request):
        return None
    opts = model._meta
    try:
        return reverse(
            f"{site.name}:{opts.app_label}_{opts.model_name}_change", args=[quote(pk)], current_app=site.name
        )
    except NoReverseMatch:
        return None


def key_html(request, site: AdminSite, key: str | None) -> str:
    """The key as breakable text, a link when `object_url` finds a page; a dash without a key."""
    if key is None:
        return "—"
    url = object_url(request, site, key)
    if url is None:
        return breakable(key)
    return format_html('<a href="{}" class="durable-key">{}</a>', url, breakable(key))

"""API fixtures: users with exactly the permissions a test names, and DRF's test client."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

TOKEN = "s3cret-event-token"


@pytest.fixture
def make_client(db):
    def make(*codenames: str) -> APIClient:
        user = User.objects.create_user(f"user{User.objects.count()}", password="pw")
        for codename in codenames:
            app_label, _, name = codename.partition(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))
        api = APIClient()
        api.force_authenticate(user)
        return api

    return make


@pytest.fixture
def operator(make_client) -> APIClient:
    return make_client(
        "durable.view_workflowinstance",
        "durable.add_workflowinstance",
        "durable.cancel_workflowinstance",
        "durable.pause_workflowinstance",
        "durable.resume_workflowinstance",
        "durable.retry_workflowinstance",
        "durable.add_event",
    )


@pytest.fixture
def token_client(settings) -> APIClient:
    settings.DURABLE_EVENT_TOKEN = TOKEN
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return api

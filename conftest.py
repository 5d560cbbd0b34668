"""Fixtures every test suite may use: the fake Steam, one family of users, an overlay of the
owner's, a job context and recorders for what would go to the broker.

Helpers that are not fixtures (make_job, item_from_steam, ...) are in tests/support/helpers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from left4me.celery import app
from left4me.counters import counters_forget
from overlays.models import Overlay
from overlays.services import overlay_create
from tests.support.fakesteam import FakeSteam
from tests.support.helpers import FakeContext, SentMessages


@pytest.fixture
def steam(settings: Any) -> Iterator[FakeSteam]:
    """A fake Steam API and content server on loopback, with STEAM_API_BASE_URL pointing at it."""
    with FakeSteam() as fake:
        settings.STEAM_API_BASE_URL = fake.base_url
        yield fake


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """What earlier tests and this test's fixtures counted (Steam calls, bytes, job runs) is not
    stored by this test's first request (left4me.counters: a request stores what is pending)."""
    counters_forget()


# --- users -------------------------------------------------------------------------------


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    """A plain user: the one who owns `overlay` (and the jobs a test makes for them)."""
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def stranger(django_user_model: Any) -> Any:
    """Another plain user, who owns none of the owner's things."""
    return django_user_model.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    """A staff user (not a superuser) without permissions: opens the admin site, and in the app
    sees only their own things, like a plain user."""
    return django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)


@pytest.fixture
def operator(django_user_model: Any) -> Any:
    """A user (not staff) in the group "Operators": sees and acts on everyone's overlays and
    jobs, and the Storage page."""
    from django.contrib.auth.models import Group, Permission

    group, created = Group.objects.get_or_create(name="Operators")
    if created:  # made by a migration, so gone after a transactional test's flush
        codenames = ["manage_all_overlays", "view_storage", "manage_all_jobs", "manage_servers"]
        group.permissions.set(Permission.objects.filter(codename__in=codenames))
    user = django_user_model.objects.create_user("operator", password="pw-operator-123")
    user.groups.add(group)
    return user


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    """A staff superuser, for the admin site."""
    return django_user_model.objects.create_user(
        "root", password="pw-root-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def owner_client(client: Any, owner: Any) -> Any:
    """The test client, logged in as the owner."""
    client.force_login(owner)
    return client


# --- overlays and jobs -------------------------------------------------------------------


@pytest.fixture
def overlay(owner: Any) -> Overlay:
    return overlay_create(owner=owner, name="campaigns")


@pytest.fixture
def ctx() -> FakeContext:
    return FakeContext()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> SentMessages:
    """Messages the jobs would send to the broker, recorded instead of sent."""
    recorder = SentMessages()
    monkeypatch.setattr(app, "send_task", recorder)
    return recorder


@pytest.fixture
def revoked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Task ids the jobs would revoke, recorded instead of sent."""
    calls: list[str] = []
    monkeypatch.setattr(app.control, "revoke", lambda task_id, **kw: calls.append(task_id))
    return calls


@pytest.fixture
def private_roots(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> None:
    """Each unit test gets its own cache and overlays folders (a real worker keeps the defaults).
    The overlays and workshop suites use it for every test (see their conftest.py)."""
    if request.node.get_closest_marker("integration") is None:
        settings.WORKSHOP_CACHE_ROOT = tmp_path / "workshop_cache"
        settings.OVERLAYS_ROOT = tmp_path / "overlays"
        settings.WORKSHOP_RETRY_BACKOFF = 0.01
        settings.WORKSHOP_RETRY_BACKOFF_MAX = 0.02

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User

from jobs.models import Job
from left4me.celery import app
from overlays.models import Overlay


@dataclass
class SentMessages:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, name: str, **kwargs: Any) -> None:
        self.calls.append({"name": name, **kwargs})

    @property
    def job_ids(self) -> list[int]:
        return [call["args"][0] for call in self.calls]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> SentMessages:
    """Messages the jobs would send to the broker, recorded instead of sent."""
    recorder = SentMessages()
    monkeypatch.setattr(app, "send_task", recorder)
    return recorder


@pytest.fixture
def revoked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(app.control, "revoke", lambda task_id, **kw: calls.append(task_id))
    return calls


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def other_user(db: None) -> User:
    return User.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("root", password="pw-root-123", is_staff=True, is_superuser=True)


@pytest.fixture
def overlay(user: User) -> Overlay:
    return Overlay.objects.create(owner=user, name="coop")


def make_job(operation: str = "test_sleep", **fields: Any) -> Job:
    return Job.objects.create(operation=operation, **fields)

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from notices.models import Destination
from tests.support.receiver import NoticeReceiver


@pytest.fixture
def receiver(settings: Any) -> Iterator[NoticeReceiver]:
    """A local receiver, its host named in LEFT4ME_NOTIFY_PRIVATE_HOSTS; notices go at once."""
    settings.LEFT4ME_NOTIFY_PRIVATE_HOSTS = ["127.0.0.1"]
    settings.LEFT4ME_NOTIFY_DIGEST_SECONDS = 0
    with NoticeReceiver() as fake:
        yield fake


@pytest.fixture
def operator(django_user_model: Any) -> Any:
    """A superuser: holds every permission, the operators' too."""
    return django_user_model.objects.create_superuser("olga", password="pw-olga-123")


@pytest.fixture
def hook(operator: Any, receiver: NoticeReceiver) -> Destination:
    """An operator's JSON webhook to the local receiver, taking every event."""
    return Destination.objects.create(user=operator, name="hook", url=receiver.url)

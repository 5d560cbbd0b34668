from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from workshop import downloads, retry
from workshop.retry import retry_after_seconds, retry_delay


def test_downloads_and_the_api_share_one_retry_delay() -> None:
    assert downloads.retry_delay is retry.retry_delay


def test_retry_delay_is_celerys_backoff_with_full_jitter_capped(settings) -> None:
    settings.WORKSHOP_RETRY_BACKOFF = 1.0
    settings.WORKSHOP_RETRY_BACKOFF_MAX = 5.0
    assert retry_delay(2, retry_after=3.5) == 3.5
    assert retry_delay(2, retry_after=60) == 5.0
    delays = [retry_delay(3) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays) and len(set(delays)) > 10
    assert all(retry_delay(40) <= 5.0 for _ in range(20))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-4", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_numbers(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value) == seconds


def test_retry_after_http_dates() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after_seconds(later) or 0) <= 30
    assert retry_after_seconds(earlier) == 0.0
    assert retry_after_seconds("Wed, 99 Foo 2024 25:61:00 GMT") is None

"""How long to wait before another attempt at a request to Steam: one formula for the API calls
(workshop.steam) and the file downloads (workshop.downloads)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import requests
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based).

    The server's Retry-After when it sent one; else Celery's exponential backoff with full
    jitter (``retry_backoff``/``retry_jitter``): a random wait in [0, BACKOFF * 2**(attempt-1)].
    Both are capped at WORKSHOP_RETRY_BACKOFF_MAX. Computed in milliseconds because Celery's
    formula works in whole units.
    """
    cap = float(settings.WORKSHOP_RETRY_BACKOFF_MAX)
    if retry_after is not None:
        return min(retry_after, cap)
    factor_ms = int(settings.WORKSHOP_RETRY_BACKOFF * 1000)
    return get_exponential_backoff_interval(factor_ms, attempt - 1, int(cap * 1000), full_jitter=True) / 1000


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header as seconds from now (it is either a number or an HTTP date);
    None when absent or unreadable."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable


RETRY_AFTER_STATUSES = {429, 503}


def transient_wait(response: requests.Response) -> float | bool | None:
    """For an HTTP answer: False when another attempt would get the same (4xx other than 429);
    else the seconds Steam asked to wait (Retry-After of a 429 or 503), or None for the usual
    backoff. Shared by API calls and downloads."""
    status = response.status_code
    if status != 429 and status < 500:
        return False
    if status in RETRY_AFTER_STATUSES:
        return retry_after_seconds(response.headers.get("Retry-After"))
    return None

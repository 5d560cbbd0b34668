"""Errors to Sentry (sentry-sdk), only when a DSN is set: without one nothing is imported."""

from __future__ import annotations


def sentry_init(dsn: str, *, environment: str, traces_sample_rate: float) -> bool:
    """Start reporting the errors of Django views and Celery tasks to `dsn`; whether it started."""
    if not dsn:
        return False
    if not 0.0 <= traces_sample_rate <= 1.0:
        raise ValueError(f"SENTRY_TRACES_SAMPLE_RATE={traces_sample_rate} must be between 0 and 1")
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=traces_sample_rate,
        # No user names, addresses, cookies or request bodies leave the machine.
        send_default_pii=False,
    )
    return True

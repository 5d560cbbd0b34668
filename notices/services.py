"""Notices: each user's destinations (add, test, delete), the announcement of an event to the
destinations that take it, and their delivery by apprise (one job per destination).

Trust boundary: a destination's address must resolve to public addresses only, unless
LEFT4ME_NOTIFY_PRIVATE_HOSTS names it (the rule of the Steam-only fetcher, left4me.addresses),
checked when it is added and again before each delivery. The arbitrary-URL webhooks (json://,
form://, xml://) are for operators only."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from jobs.models import Job
from jobs.runner import JobContext, JobFailed, JobRetryable, JobWait
from jobs.services import job_enqueue
from left4me.addresses import private_address_of
from notices.events import OPERATOR_EVENTS, TEST, Event, events_for, is_operator
from notices.models import Destination, Notice
from notices.operations import DELIVER_NOTICES

# A user keeps at most this many destinations.
MAX_DESTINATIONS = 20
# Sent notices are kept this long (a page of recent news; a host down is told once per silence).
KEEP_SENT = timedelta(days=30)
# The webhooks that post anywhere: json://, form://, xml:// (and their TLS forms).
OPERATOR_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
NAME_MAX = 100
ERROR_MAX = 300


class NoticeError(ValueError):
    """A user-facing reason why a destination was refused."""


# --- destinations -------------------------------------------------------------------------


def destination_for_user(*, user: User, pk: int) -> Destination:
    """One of the user's own destinations; 404 when there is none, 403 for another user's
    (operators included: a destination's URL is its owner's secret)."""
    destination = get_object_or_404(Destination, pk=pk)
    if destination.user_id != user.pk:
        raise PermissionDenied("not your destination")
    return destination


def destination_add(*, user: User, name: str, url: str, events: Iterable[str]) -> Destination:
    """A new destination of `user`; `events` empty: every event they may take."""
    name, url = name.strip(), url.strip()
    if not name or len(name) > NAME_MAX:
        raise NoticeError(f"a name is required (at most {NAME_MAX} characters)")
    if Destination.objects.filter(user=user).count() >= MAX_DESTINATIONS:
        raise NoticeError(f"at most {MAX_DESTINATIONS} destinations per user")
    chosen = _events_checked(user, list(dict.fromkeys(events)))
    _url_check(user, url)
    return Destination.objects.create(user=user, name=name, url=url, events=chosen)


def _events_checked(user: User, events: list[str]) -> list[str]:
    allowed = {str(event) for event in events_for(user)}
    unknown = [event for event in events if event not in allowed]
    if unknown:
        raise NoticeError(f"not an event you may take: {', '.join(unknown)}")
    return [] if set(events) == allowed else events


def _url_check(user: User, url: str) -> None:
    import apprise  # its plugins take a second to load: only where a URL is read

    scheme = urlsplit(url).scheme.lower()
    if apprise.Apprise.instantiate(url) is None:
        raise NoticeError(f"{scheme or 'that'}:// is not an apprise URL left4me can send to")
    if scheme in OPERATOR_SCHEMES and not is_operator(user):
        raise NoticeError(f"only operators may add {scheme}:// destinations")
    refused = address_refused(url)
    if refused:
        raise NoticeError(refused)


def address_refused(url: str) -> str:
    """Why the URL's address may not be reached ("" when it may): a host it names resolves to
    a loopback or private address. A service at a fixed address of its own (Discord,
    Telegram...) carries tokens where a host would be: only the hosts a URL names are checked."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return "not an apprise URL"
    hosts = [] if isinstance(getattr(type(plugin), "notify_url", None), str) else [plugin.host]
    hosts.append(getattr(plugin, "smtp_host", None))
    for host in filter(None, hosts):
        address = private_address_of(
            str(host), int(plugin.port or 0), allowed=settings.LEFT4ME_NOTIFY_PRIVATE_HOSTS
        )
        if address:
            return (
                f"{host} resolves to a private address ({address}); LEFT4ME_NOTIFY_PRIVATE_HOSTS may name it"
            )
    return ""


@transaction.atomic
def destination_test(*, destination: Destination) -> Job:
    """Send a test notice now (no digest); a disabled destination is enabled again for it."""
    Destination.objects.filter(pk=destination.pk).update(disabled_at=None, failures=0)
    destination.disabled_at, destination.failures = None, 0
    Notice.objects.create(
        destination=destination,
        event=TEST,
        title="left4me: test notice",
        body=f"Notices of {destination.user.get_username()} reach {destination.name}.",
    )
    return _deliver_enqueue(destination, reason="test")


def destination_delete(*, destination: Destination) -> None:
    destination.delete()


# --- announcing -----------------------------------------------------------------------------


@transaction.atomic
def notice_announce(*, user: User | None, event: Event, title: str, body: str) -> int:
    """Tell `user` (None: every operator, for an operator event) through each of their enabled
    destinations that take `event`; returns how many will be told."""
    destinations = Destination.objects.filter(disabled_at__isnull=True).select_related("user")
    if user is not None:
        destinations = destinations.filter(user=user)
    told = 0
    for destination in destinations:
        if not destination.takes(event) or (event in OPERATOR_EVENTS and not is_operator(destination.user)):
            continue
        Notice.objects.create(destination=destination, event=event, title=title[:255], body=body)
        _deliver_enqueue(destination, reason=event.label.split(" (")[0].lower())
        told += 1
    return told


def _deliver_enqueue(destination: Destination, *, reason: str) -> Job:
    job, _created = job_enqueue(
        operation=DELIVER_NOTICES, subject=destination, owner=destination.user, reason=reason
    )
    return job


# --- delivery -------------------------------------------------------------------------------


def notices_deliver(*, destination: Destination, ctx: JobContext) -> None:
    """Send the destination's waiting notices as one message, once the first has waited
    LEFT4ME_NOTIFY_DIGEST_SECONDS (a burst becomes one digest; a test goes at once). A failure
    is retried as the operation says; when the last retry fails too the destination is disabled."""
    pending = list(destination.notices.filter(sent_at__isnull=True).order_by("id"))
    if not pending:
        ctx.log_stdout("no notice waiting")
        return
    due = pending[0].created_at + timedelta(seconds=settings.LEFT4ME_NOTIFY_DIGEST_SECONDS)
    if timezone.now() < due and all(notice.event != TEST for notice in pending):
        raise JobWait(f"collecting notices until {timezone.localtime(due):%H:%M:%S}", until=due)
    refused = address_refused(destination.url)
    if refused:
        _failed(destination, refused, disable=True)
        raise JobFailed(f"delivery refused: {refused}")
    title, body = digest(pending)
    why = _send(destination.url, title, body)
    if why:
        last = ctx.job.retries >= settings.JOB_RETRIES
        _failed(destination, why, disable=last)
        if last:
            raise JobFailed(f"delivery to {destination.name} failed: {why}; destination disabled")
        raise JobRetryable(f"delivery to {destination.name} failed: {why}")
    _sent(destination, pending)
    ctx.log_stdout(f"sent {len(pending)} notice(s) to {destination.name} in one message")


def digest(notices: list[Notice]) -> tuple[str, str]:
    """(title, body) of one message telling every notice."""
    if len(notices) == 1:
        return notices[0].title, notices[0].body
    body = "\n\n".join(f"{notice.title}\n{notice.body}" for notice in notices)
    return f"left4me: {len(notices)} notices", body


def _send(url: str, title: str, body: str) -> str:
    """ "" when apprise delivered the message, else why not (the URL never in it)."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "not an apprise URL"
    # apprise says why a send failed only in its log.
    with apprise.LogCapture(level=logging.WARNING) as log:  # type: ignore[no-untyped-call]
        delivered = notifier.notify(title=title, body=body)
    if delivered:
        return ""
    lines = [line.split(" - ", 2)[-1] for line in log.getvalue().splitlines() if line.strip()]
    why = lines[-1] if lines else "apprise reported a failure"
    return why.replace(url, "<destination>")[:ERROR_MAX]


def _failed(destination: Destination, why: str, *, disable: bool) -> None:
    values: dict[str, object] = {"failures": destination.failures + 1, "last_error": why[:ERROR_MAX]}
    if disable:
        values["disabled_at"] = timezone.now()
    Destination.objects.filter(pk=destination.pk).update(**values)


@transaction.atomic
def _sent(destination: Destination, notices: list[Notice]) -> None:
    now = timezone.now()
    Notice.objects.filter(pk__in=[notice.pk for notice in notices]).update(sent_at=now)
    destination.notices.filter(sent_at__lt=now - KEEP_SENT).delete()
    Destination.objects.filter(pk=destination.pk).update(failures=0, last_error="", last_sent_at=now)

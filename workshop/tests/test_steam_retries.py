"""API calls are retried while the failure may pass, through one session per process, within a
budget; messages say what failed without hosts or URLs."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
import responses

from tests.support.fakesteam import HTML_ERROR_PAGE, ApiStep, FakeSteam
from workshop import steam
from workshop.steam import (
    SteamAPIError,
    SteamBudget,
    SteamLimitError,
    api_session,
    expand_collections,
    fetch_collection_children,
    fetch_metadata_batch,
)
from workshop.tests.answers import BASE, DETAILS_URL, fixture


@pytest.fixture(autouse=True)
def fast(settings):
    settings.STEAM_API_BASE_URL = BASE
    settings.STEAM_API_ATTEMPTS = 4
    settings.WORKSHOP_RETRY_BACKOFF = 0.01
    settings.WORKSHOP_RETRY_BACKOFF_MAX = 10.0
    settings.WORKSHOP_CONNECT_TIMEOUT = 3.0
    settings.WORKSHOP_READ_TIMEOUT = 7.0
    return settings


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff waits, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(steam, "_wait", recorded.append)
    return recorded


@pytest.fixture
def fake(fast):
    with FakeSteam() as server:
        fast.STEAM_API_BASE_URL = server.base_url
        yield server


def budget(max_calls: int = 50, seconds: float = 60.0) -> SteamBudget:
    now = time.monotonic()
    return SteamBudget(max_calls=max_calls, deadline=now + seconds, started=now)


# --- retries -------------------------------------------------------------------------------------


@responses.activate
def test_502_502_200_succeeds_with_exactly_three_requests(waits: list[float]) -> None:
    responses.add(responses.POST, DETAILS_URL, status=502, body="bad gateway")
    responses.add(responses.POST, DETAILS_URL, status=502, body="bad gateway")
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_items.json"))

    (meta,) = fetch_metadata_batch(["123456789"])

    assert (meta.ok, meta.file_size) == (True, 283746123)
    assert len(responses.calls) == 3
    assert len(waits) == 2 and all(0 <= w <= 0.02 for w in waits)


def test_502_502_200_against_the_fake_steam(fake: FakeSteam) -> None:
    fake.add_item("101", size=10)
    fake.script_api(502, 502, method="GetPublishedFileDetails")

    (meta,) = fetch_metadata_batch(["101"])

    assert (meta.ok, meta.file_size, meta.problem) == (True, 10, "")
    assert fake.api_posts == {"GetPublishedFileDetails": 3}


def test_four_502s_give_up_with_four_requests(fake: FakeSteam) -> None:
    fake.add_item("101", size=10)
    fake.script_api(502, 502, 502, 502, 200)
    with pytest.raises(SteamAPIError) as caught:
        fetch_metadata_batch(["101"])
    assert str(caught.value) == "GetPublishedFileDetails: HTTP 502 after 4 attempts"
    assert fake.api_post_count == 4


def test_a_read_timeout_is_retried(fake: FakeSteam, fast) -> None:
    fast.WORKSHOP_READ_TIMEOUT = 0.2
    fake.add_item("101", size=10)
    fake.script_api(ApiStep(stall_seconds=2))

    (meta,) = fetch_metadata_batch(["101"])

    assert meta.ok
    assert fake.api_post_count == 2


def test_timeouts_give_up_naming_the_call(fake: FakeSteam, fast) -> None:
    fast.WORKSHOP_READ_TIMEOUT = 0.1
    fake.add_collection("900", ["101"])
    fake.script_api(*[ApiStep(stall_seconds=2)] * 4)
    with pytest.raises(SteamAPIError) as caught:
        expand_collections(["900"])
    assert str(caught.value) == "GetCollectionDetails: timed out after 4 attempts"
    assert fake.api_post_count == 4


def test_connection_refused_gives_up_without_naming_the_host(fast) -> None:
    with socket_closed_port() as port:
        fast.STEAM_API_BASE_URL = f"http://127.0.0.1:{port}"
        with pytest.raises(SteamAPIError) as caught:
            fetch_metadata_batch(["1"])
    assert str(caught.value) == "GetPublishedFileDetails: connection failed after 4 attempts"


class socket_closed_port:
    """A local port nothing listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


@responses.activate
def test_429_retry_after_in_seconds_is_honoured(waits: list[float]) -> None:
    responses.add(responses.POST, DETAILS_URL, status=429, headers={"Retry-After": "3"})
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_items.json"))

    assert fetch_metadata_batch(["123456789"])[0].ok
    assert waits == [3.0]
    assert len(responses.calls) == 2


@responses.activate
def test_429_retry_after_as_http_date_is_honoured_and_capped(waits: list[float], fast) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=6), usegmt=True)
    responses.add(responses.POST, DETAILS_URL, status=429, headers={"Retry-After": when})
    responses.add(responses.POST, DETAILS_URL, status=429, headers={"Retry-After": "3600"})
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_items.json"))

    assert fetch_metadata_batch(["123456789"])[0].ok
    assert 4.0 <= waits[0] <= 6.0
    assert waits[1] == 10.0  # WORKSHOP_RETRY_BACKOFF_MAX


def test_429_retry_after_from_the_fake_steam(fake: FakeSteam, waits: list[float]) -> None:
    fake.add_item("101", size=10)
    fake.script_api(ApiStep(status=429, retry_after="2"))
    assert fetch_metadata_batch(["101"])[0].ok
    assert waits == [2.0]


@responses.activate
def test_backoff_between_attempts_is_the_downloads_formula(waits: list[float], fast) -> None:
    fast.WORKSHOP_RETRY_BACKOFF = 1.0
    responses.add(responses.POST, DETAILS_URL, status=500)
    with pytest.raises(SteamAPIError):
        fetch_metadata_batch(["1"])
    assert len(waits) == 3
    assert [w <= limit for w, limit in zip(waits, (1.0, 2.0, 4.0), strict=True)] == [True] * 3


@responses.activate
def test_401_html_page_fails_after_one_request(waits: list[float], caplog: pytest.LogCaptureFixture) -> None:
    page = fixture("html_unauthorized.json")
    responses.add(
        responses.POST, DETAILS_URL, status=401, body=page["body"], content_type=page["content_type"]
    )
    with caplog.at_level(logging.WARNING, logger="workshop.steam"), pytest.raises(SteamAPIError) as caught:
        fetch_metadata_batch(["1"])
    assert str(caught.value) == "GetPublishedFileDetails: HTTP 401"
    assert len(responses.calls) == 1 and waits == []
    assert DETAILS_URL in caplog.text and "Unauthorized" in caplog.text


def test_401_html_page_from_the_fake_steam(fake: FakeSteam) -> None:
    page = fixture("html_unauthorized.json")
    fake.script_api(ApiStep(status=401, body=page["body"]), 200)
    with pytest.raises(SteamAPIError, match=r"^GetPublishedFileDetails: HTTP 401$"):
        fetch_metadata_batch(["1"])
    assert fake.api_post_count == 1


@responses.activate
def test_html_page_with_200_is_retried(waits: list[float]) -> None:
    page = fixture("html_error_page.json")
    responses.add(responses.POST, DETAILS_URL, body=page["body"], content_type=page["content_type"])
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_items.json"))

    assert fetch_metadata_batch(["123456789"])[0].ok
    assert len(responses.calls) == 2


def test_html_page_with_200_every_time_gives_up(fake: FakeSteam) -> None:
    fake.script_api(*[ApiStep(body=HTML_ERROR_PAGE)] * 4)
    with pytest.raises(SteamAPIError) as caught:
        fetch_metadata_batch(["1"])
    assert str(caught.value) == "GetPublishedFileDetails: answer is not JSON after 4 attempts"
    assert fake.api_post_count == 4


@responses.activate
def test_every_failed_attempt_is_logged_with_the_detail_and_the_message_has_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responses.add(
        responses.POST, DETAILS_URL, body=requests.ConnectionError("Errno 111 refused by steam.test")
    )
    with caplog.at_level(logging.WARNING, logger="workshop.steam"), pytest.raises(SteamAPIError) as caught:
        fetch_metadata_batch(["1"])
    message = str(caught.value)
    assert "steam.test" not in message and "http" not in message and "Errno" not in message
    attempts = [r for r in caplog.records if "attempt" in r.getMessage()]
    assert len(attempts) == 4
    assert all(r.levelno == logging.WARNING and DETAILS_URL in r.getMessage() for r in attempts)
    assert "Errno 111" in attempts[0].getMessage()


@responses.activate
def test_attempts_setting(fast, waits: list[float]) -> None:
    fast.STEAM_API_ATTEMPTS = 1
    responses.add(responses.POST, DETAILS_URL, status=502)
    with pytest.raises(SteamAPIError, match=r"^GetPublishedFileDetails: HTTP 502 after 1 attempt$"):
        fetch_metadata_batch(["1"])
    assert len(responses.calls) == 1 and waits == []


# --- the session ---------------------------------------------------------------------------------


def test_one_session_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    first = api_session()
    assert api_session() is first
    monkeypatch.setattr(steam.os, "getpid", lambda: -5)  # as in a forked Celery worker
    forked = api_session()
    assert forked is not first
    assert api_session() is forked


def test_api_calls_go_through_the_session(fake: FakeSteam, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_item("101", size=1)
    posts: list[str] = []
    session = api_session()
    real_post = session.post

    def spy(url: str, **kwargs: object) -> requests.Response:
        posts.append(url)
        return real_post(url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(session, "post", spy)
    monkeypatch.setattr(requests, "post", None)  # a bare requests.post would fail
    fetch_metadata_batch(["101"])
    fetch_collection_children(["101"])
    assert len(posts) == 2


# --- the budget ----------------------------------------------------------------------------------


@responses.activate
def test_budget_counts_calls_and_refuses_past_the_limit() -> None:
    responses.add(responses.POST, DETAILS_URL, json={"response": {"publishedfiledetails": []}})
    spent = budget(max_calls=2)
    ids = [str(1000 + i) for i in range(250)]  # three batches

    with pytest.raises(SteamLimitError) as caught:
        fetch_metadata_batch(ids, budget=spent)

    assert str(caught.value) == "too many Steam calls: more than 2 for one add"
    assert isinstance(caught.value, SteamAPIError)
    assert len(responses.calls) == 2 and spent.calls == 2


@responses.activate
def test_every_attempt_spends_from_the_budget(waits: list[float]) -> None:
    responses.add(responses.POST, DETAILS_URL, status=503)
    with pytest.raises(SteamLimitError, match="more than 3 for one add"):
        fetch_metadata_batch(["1"], budget=budget(max_calls=3))
    assert len(responses.calls) == 3


@responses.activate
def test_budget_past_its_deadline_asks_nothing() -> None:
    now = time.monotonic()
    late = SteamBudget(max_calls=50, deadline=now - 1, started=now - 21)
    with pytest.raises(SteamLimitError) as caught:
        fetch_metadata_batch(["1"], budget=late)
    assert str(caught.value) == "steam did not answer in time: more than 20 s"
    assert len(responses.calls) == 0


@responses.activate
def test_a_backoff_past_the_deadline_is_not_slept(waits: list[float]) -> None:
    responses.add(responses.POST, DETAILS_URL, status=429, headers={"Retry-After": "5"})
    started = time.monotonic()
    with pytest.raises(SteamLimitError, match=r"^steam did not answer in time: more than 0.5 s$"):
        fetch_metadata_batch(["1"], budget=budget(seconds=0.5))
    assert waits == [] and len(responses.calls) == 1
    assert time.monotonic() - started < 0.5


def test_deadline_with_real_waits(fake: FakeSteam, fast) -> None:
    fast.WORKSHOP_READ_TIMEOUT = 30.0
    fake.script_api(*[ApiStep(stall_seconds=5)] * 4)
    started = time.monotonic()
    with pytest.raises(SteamAPIError):
        fetch_metadata_batch(["1"], budget=budget(seconds=0.3))
    assert time.monotonic() - started < 2.0  # each request's timeout is cut to the time left


@responses.activate
def test_request_timeout_is_cut_to_the_time_left() -> None:
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_items.json"))
    fetch_metadata_batch(["1"], budget=budget(seconds=2.0))
    fetch_metadata_batch(["1"])
    connect, read = responses.calls[0].request.req_kwargs["timeout"]
    assert 1.0 < connect <= 2.0 and 1.0 < read <= 2.0
    assert responses.calls[1].request.req_kwargs["timeout"] == (3.0, 7.0)


def test_for_add_reads_the_settings(fast, monkeypatch: pytest.MonkeyPatch) -> None:
    fast.WORKSHOP_ADD_MAX_STEAM_CALLS = 7
    fast.WORKSHOP_ADD_DEADLINE_SECONDS = 3.5
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    spent = SteamBudget.for_add()
    assert (spent.max_calls, spent.calls, spent.deadline) == (7, 0, 1003.5)

    clock[0] = 1003.4
    spent.spend("GetPublishedFileDetails")
    spent.allow_wait(0.05)
    with pytest.raises(SteamLimitError, match=r"^steam did not answer in time: more than 3.5 s$"):
        spent.allow_wait(0.2)
    clock[0] = 1003.5
    with pytest.raises(SteamLimitError, match=r"^steam did not answer in time: more than 3.5 s$"):
        spent.spend("GetPublishedFileDetails")
    assert spent.calls == 1


def test_default_settings() -> None:
    from left4me import settings as defaults

    assert defaults.STEAM_API_ATTEMPTS == 4
    assert (defaults.WORKSHOP_ADD_MAX_STEAM_CALLS, defaults.WORKSHOP_ADD_DEADLINE_SECONDS) == (50, 20.0)
    assert (defaults.WORKSHOP_COLLECTION_MAX_DEPTH, defaults.WORKSHOP_COLLECTION_MAX_ITEMS) == (8, 2000)


def test_budget_spend_counts() -> None:
    spent = budget(max_calls=2)
    spent.spend("GetCollectionDetails")
    spent.spend("GetCollectionDetails")
    assert spent.calls == 2
    with pytest.raises(SteamLimitError):
        spent.spend("GetCollectionDetails")
    assert spent.calls == 2


def test_budget_reaches_collection_calls(fake: FakeSteam) -> None:
    for n in range(5):
        fake.add_collection(str(900 + n), [str(100 + n), (str(901 + n), 2)])
    with pytest.raises(SteamLimitError, match="more than 3 for one add"):
        fetch_collection_children(["900"], budget=budget(max_calls=3))
    assert fake.api_post_count == 3


# --- many calls at once ----------------------------------------------------------------------------


def _items(fake: FakeSteam, count: int) -> list[str]:
    ids = [str(50_000 + n) for n in range(count)]
    for steam_id in ids:
        fake.add_item(steam_id, size=1)
    return ids


def test_batches_are_asked_at_once_and_each_yielded_as_it_comes(fake: FakeSteam) -> None:
    ids = _items(fake, 450)
    fake.api_latency = 0.1
    fake.script_api(ApiStep(stall_seconds=0.3), for_id="50000")  # the first batch answers last

    answers = list(steam.fetch_metadata_batches(ids, concurrency=3))

    assert [a.number for a in answers][-1] == 1
    assert sorted(a.number for a in answers) == [1, 2, 3, 4, 5] and {a.total for a in answers} == {5}
    assert fake.api_peak == 3
    for answer in answers:
        assert answer.error is None and [m.steam_id for m in answer.metas] == answer.ids
    assert sorted(m.steam_id for a in answers for m in a.metas) == ids


def test_a_batch_that_fails_for_good_is_yielded_with_its_error_and_the_others_go_on(fake: FakeSteam) -> None:
    ids = _items(fake, 300)
    fake.script_api(*[502] * 4, for_id="50150")

    answers = {a.number: a for a in steam.fetch_metadata_batches(ids, concurrency=2)}

    assert str(answers[2].error) == "GetPublishedFileDetails: HTTP 502 after 4 attempts"
    assert answers[2].metas == [] and answers[2].ids == ids[100:200]
    assert all(answers[n].error is None and len(answers[n].metas) == 100 for n in (1, 3))


def test_a_retry_after_holds_every_call_not_only_the_one_told(fake: FakeSteam) -> None:
    ids = _items(fake, 600)
    fake.script_api(ApiStep(status=429, retry_after="0.5"), for_id="50000")

    answers = list(steam.fetch_metadata_batches(ids, concurrency=2))

    assert all(a.error is None for a in answers) and len(answers) == 6
    told = fake.api_times[0]
    held = [t - told for t in fake.api_times[1:] if 0.2 < t - told < 0.45]
    assert held == []  # without the shared hold, the other thread goes on asking at once
    assert len(fake.api_requests) == 7


def test_a_stop_ends_the_batches_and_the_waits_at_once(fake: FakeSteam) -> None:
    ids = _items(fake, 2000)
    fake.api_latency = 0.05
    fake.script_api(ApiStep(status=429, retry_after="10"), for_id="50000")  # holds every call 10 s
    stop_at = time.monotonic() + 0.3
    started = time.monotonic()

    answers = list(
        steam.fetch_metadata_batches(ids, concurrency=2, should_stop=lambda: time.monotonic() > stop_at)
    )

    assert time.monotonic() - started < 1.5
    assert 1 not in {a.number for a in answers} and len(fake.api_requests) < 5


def test_a_budget_counts_calls_from_many_threads_one_by_one() -> None:
    import threading

    shared = budget(max_calls=500)
    refused: list[int] = []

    def spend() -> None:
        for _ in range(100):
            try:
                shared.spend("GetPublishedFileDetails")
            except SteamLimitError:
                refused.append(1)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (shared.calls, len(refused)) == (500, 300)

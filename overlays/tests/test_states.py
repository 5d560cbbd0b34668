"""What an item shows, from a table of cases: what the rows recorded, what one stat of the cache
file found, what a running build says of it; and the SQL rules that say the recorded state."""

from __future__ import annotations

import pytest

from jobs.models import JobItem
from overlays.models import OverlayWorkshopItem
from overlays.states import (
    DOWNLOAD_ENDED,
    FILTER_CHOICES,
    FROM_BUILD,
    RECORDED,
    LinkState,
    looks_at_disk,
    recorded_q,
    shown,
)
from workshop.cache import CacheState
from workshop.downloads import DownloadStatus
from workshop.models import WorkshopItem

S, C, J = LinkState, CacheState, JobItem.State
T0 = 1_700_000_000
IN_THE_WAY = "addons/7.vpk is a file left4me did not make"

# (recorded, on disk, live, details) -> (state shown, its label)
CASES = [
    # What the rows recorded, the cache not looked at (it is on another host).
    (S.CACHED, None, None, {}, S.CACHED, "cached"),
    (S.WAITING, None, None, {}, S.WAITING, "waiting"),
    (S.UPDATE, None, None, {}, S.UPDATE, "update available"),
    (S.PINNED, None, None, {}, S.PINNED, "pinned"),
    (S.FAILED, None, None, {"why": "download failed: HTTP 404"}, S.FAILED, "failed: HTTP 404"),
    (S.SKIPPED, None, None, {"why": "steam result 9"}, S.SKIPPED, "skipped: steam result 9"),
    (S.SKIPPED, None, None, {}, S.SKIPPED, "skipped: steam serves no file"),
    (S.SKIPPED, None, None, {"conflict": IN_THE_WAY}, S.SKIPPED, f"not linked: {IN_THE_WAY}"),
    # The cache file corrects what the last download recorded.
    (S.CACHED, C.CACHED, None, {}, S.CACHED, "cached"),
    (S.CACHED, C.STALE, None, {}, S.UPDATE, "update available"),
    (S.CACHED, C.MISSING, None, {}, S.MISSING, "not in the cache"),
    (S.UPDATE, C.CACHED, None, {}, S.CACHED, "cached"),
    (S.UPDATE, C.STALE, None, {}, S.UPDATE, "update available"),
    (S.UPDATE, C.MISSING, None, {}, S.MISSING, "not in the cache"),
    (S.WAITING, C.MISSING, None, {}, S.WAITING, "waiting"),
    (S.WAITING, C.CACHED, None, {}, S.CACHED, "cached"),
    (S.WAITING, C.STALE, None, {}, S.UPDATE, "update available"),
    # ... but not what it does not say: a pin's upload is kept elsewhere, a failure or a skip stands.
    (S.PINNED, C.MISSING, None, {}, S.PINNED, "pinned"),
    (S.FAILED, C.CACHED, None, {"why": "download failed: timed out"}, S.FAILED, "failed: timed out"),
    (S.SKIPPED, C.CACHED, None, {"conflict": IN_THE_WAY}, S.SKIPPED, f"not linked: {IN_THE_WAY}"),
    # A running build's word comes first (the status JSON knows nothing else).
    (None, None, J.QUEUED, {}, S.WAITING, "waiting"),
    (None, None, J.DOWNLOADING, {"percent": 42}, S.DOWNLOADING, "downloading 42%"),
    (None, None, J.DONE, {"percent": 100}, S.CACHED, "cached"),
    (None, None, J.CACHED, {"percent": 100}, S.CACHED, "cached"),
    (None, None, J.FAILED, {"why": "HTTP 404"}, S.FAILED, "failed: HTTP 404"),
    (None, None, J.SKIPPED, {"why": "no file_url"}, S.SKIPPED, "skipped"),
    (
        S.FAILED,
        None,
        J.DOWNLOADING,
        {"percent": 0, "why": "download failed: x"},
        S.DOWNLOADING,
        "downloading 0%",
    ),
    (S.CACHED, C.MISSING, J.DOWNLOADING, {"percent": 7}, S.DOWNLOADING, "downloading 7%"),
    (S.PINNED, None, J.QUEUED, {}, S.WAITING, "waiting"),
]


@pytest.mark.parametrize(("recorded", "disk", "live", "details", "state", "label"), CASES)
def test_what_an_item_shows(recorded, disk, live, details, state, label):
    badge = shown(recorded, disk, live, **details)
    assert (badge.state, badge.label) == (state, label)


def test_the_cases_cover_every_recorded_state_disk_finding_and_build_state():
    assert {case[0] for case in CASES} - {None} == set(RECORDED)
    assert {case[1] for case in CASES} - {None} >= {C.CACHED, C.STALE, C.MISSING}
    assert {case[2] for case in CASES} - {None} == set(J)
    assert {case[4] for case in CASES} == set(S)


def test_the_disk_is_looked_at_only_when_it_can_change_what_shows():
    looked = {state for state in RECORDED if looks_at_disk(state, None)}
    assert looked == {S.CACHED, S.UPDATE, S.WAITING}
    assert not looks_at_disk(S.CACHED, J.DOWNLOADING)


def test_an_item_shows_something_said_of_it():
    with pytest.raises(ValueError):
        shown(None)


def test_every_build_item_state_and_download_end_has_its_word():
    assert set(FROM_BUILD) == set(J)
    assert set(DOWNLOAD_ENDED) == set(DownloadStatus)


def test_the_filter_offers_every_state_but_the_one_only_a_stat_says():
    assert [value for value, _ in FILTER_CHOICES] == [s.value for s in S if s != S.MISSING]
    assert dict(FILTER_CHOICES)["update"] == "update available"


@pytest.mark.parametrize("state", [S.DOWNLOADING, S.MISSING])
def test_the_rows_record_neither_a_download_nor_a_missing_file(state):
    with pytest.raises(ValueError):
        recorded_q(state)


# steam id, item fields, link fields -> the state the rows record
RECORDED_CASES = [
    ("1", {}, {}, S.CACHED),
    ("2", {"cached_version": 0}, {}, S.WAITING),
    ("3", {"time_updated": T0 + 60}, {}, S.UPDATE),
    ("4", {"time_updated": T0 + 60}, {"pinned_version": T0}, S.PINNED),
    ("5", {"last_error": "download failed: HTTP 404"}, {"pinned_version": T0}, S.FAILED),
    ("6", {"file_url": "", "last_error": "steam result 9"}, {}, S.SKIPPED),
    ("7", {}, {"conflict": IN_THE_WAY}, S.SKIPPED),
    ("8", {"cached_version": 0, "last_error": "download failed: x"}, {}, S.FAILED),
]


@pytest.mark.django_db
def test_the_sql_rules_say_each_recorded_state_once(overlay):
    for steam_id, item_fields, link_fields, _ in RECORDED_CASES:
        fields = {"file_url": f"https://cdn.example/{steam_id}", "time_updated": T0, "cached_version": T0}
        item = WorkshopItem.objects.create(steam_id=steam_id, **(fields | item_fields))
        OverlayWorkshopItem.objects.create(overlay=overlay, item=item, **link_fields)
    links = OverlayWorkshopItem.objects.filter(overlay=overlay)
    expected = {steam_id: state for steam_id, _, _, state in RECORDED_CASES}
    assert dict(links.with_state().values_list("item__steam_id", "state")) == expected
    for state in RECORDED:
        found = set(links.in_state(state).values_list("item__steam_id", flat=True))
        assert found == {sid for sid, s in expected.items() if s == state}
    health = links.health()
    assert (health.total, health.ready, health.failed, health.skipped) == (8, 2, 2, 2)

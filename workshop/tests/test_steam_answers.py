"""Every answer Steam gives for an item, recorded under fixtures/steam: what left4me makes of it."""

from __future__ import annotations

import logging

import pytest
import responses

from tests.support.fakesteam import FakeSteam
from workshop.steam import WorkshopMetadata, fetch_metadata_batch, result_text
from workshop.tests.answers import BASE, DETAILS_URL, fixture


@pytest.fixture(autouse=True)
def steam_settings(settings):
    settings.STEAM_API_BASE_URL = BASE
    return settings


@responses.activate
def test_real_items_with_string_and_int_file_size() -> None:
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_items.json"))

    first, second = fetch_metadata_batch(["123456789", "2345678901"])

    assert first == WorkshopMetadata(
        steam_id="123456789",
        title="Some Map",
        filename="myl4d2addons/some_map.vpk",
        file_url="https://steamusercontent-a.akamaihd.net/ugc/1000000000000000001/"
        "ABCDEF0123456789ABCDEF0123456789ABCDEF01/",
        file_size=283746123,
        time_updated=1700000000,
        preview_url="https://steamuserimages-a.akamaihd.net/ugc/1000000000000000002/"
        "0123456789ABCDEF0123456789ABCDEF01234567/",
        consumer_app_id=550,
        result=1,
        found=True,
        banned=False,
        invalid="",
    )
    assert (second.file_size, second.time_updated, second.banned) == (4096, 1400000000, False)
    assert (first.problem, second.problem) == ("", "")


@responses.activate
def test_every_result_steam_gives_has_its_problem() -> None:
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_problems.json"))
    ids = [str(n) for n in range(101, 112)]

    metas = {m.steam_id: m for m in fetch_metadata_batch(ids)}

    assert {steam_id: m.problem for steam_id, m in metas.items()} == {
        "101": "deleted or private",
        "102": "access denied",
        "103": "banned",
        "104": "steam result 2 (failed)",
        "105": "steam result 8 (invalid id)",
        "106": "steam result 16 (timed out)",
        "107": "steam result 77",
        "108": "another game (app 730)",
        "109": "no file",
        "110": "no file",
        "111": "not returned by steam",
    }
    # ok keeps its meaning: Steam knows the item (found, result 1)
    assert [steam_id for steam_id, m in metas.items() if m.ok] == ["103", "108", "109", "110"]
    assert metas["103"].banned and (metas["110"].file_size, metas["110"].file_url) == (3000, "")


@responses.activate
def test_hostile_ids_from_steam_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_hostile.json"))

    with caplog.at_level(logging.WARNING, logger="workshop.steam"):
        metas = fetch_metadata_batch(["100000", "1", "201", "202"])

    # "1e5" and 1e5 are not 100000, "/some/path" and the others are no id at all
    assert [(m.steam_id, m.found) for m in metas] == [
        ("100000", False),
        ("1", False),
        ("201", True),
        ("202", True),  # "0202" is 202, as a typed 0202 would be
    ]
    skipped = [r.getMessage() for r in caplog.records if "bad publishedfileid" in r.getMessage()]
    assert len(skipped) == 9
    for bad in (
        "'/some/path'",
        "'../x'",
        "'18446744073709551616'",
        "'0'",
        "'-1'",
        "'1e5'",
        "100000.0",
        "None",
    ):
        assert any(bad in line for line in skipped), bad


@responses.activate
def test_numbers_out_of_range_mark_the_record_invalid_without_raising() -> None:
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_hostile.json"))

    metas = {m.steam_id: m for m in fetch_metadata_batch(["201", "202", "203", "204", "205"])}

    assert metas["201"].invalid == "steam sent an invalid file_size"  # "10**25" as a string
    assert metas["202"].invalid == "steam sent an invalid file_size"  # 10**25 as a number
    assert metas["201"].file_size == metas["202"].file_size == 0
    assert metas["201"].problem == "steam sent an invalid file_size"
    assert (metas["203"].invalid, metas["203"].consumer_app_id) == (
        "steam sent an invalid consumer_app_id",
        0,
    )
    assert metas["203"].time_updated == 0  # -1, also out of range
    assert (metas["204"].invalid, metas["204"].result, metas["204"].problem) == (
        "steam sent an invalid result",
        0,
        "steam sent an invalid result",
    )
    assert metas["205"].invalid == "steam sent an invalid file_size"  # 5.5
    assert metas["205"].time_updated == 0  # "17e8"


@pytest.mark.parametrize(
    ("field", "value", "invalid"),
    [
        ("file_size", 2**63 - 1, ""),
        ("file_size", str(2**63 - 1), ""),
        ("file_size", 2**63, "steam sent an invalid file_size"),
        ("file_size", -1, "steam sent an invalid file_size"),
        ("file_size", "12 34", "steam sent an invalid file_size"),
        ("file_size", "9" * 5000, "steam sent an invalid file_size"),
        ("file_size", True, "steam sent an invalid file_size"),
        ("file_size", None, ""),  # missing: 0, as in a result-9 entry
        ("time_updated", 2**63, "steam sent an invalid time_updated"),
        ("consumer_app_id", 2**31 - 1, ""),
        ("consumer_app_id", 2**31, "steam sent an invalid consumer_app_id"),
        ("result", -9, "steam sent an invalid result"),
        ("result", [1], "steam sent an invalid result"),
    ],
)
@responses.activate
def test_number_ranges(field: str, value: object, invalid: str) -> None:
    entry = {"publishedfileid": "7", "result": 1, "consumer_app_id": 550, "file_url": "https://cdn.test/7/"}
    entry[field] = value
    responses.add(responses.POST, DETAILS_URL, json={"response": {"publishedfiledetails": [entry]}})
    (meta,) = fetch_metadata_batch(["7"])
    assert meta.invalid == invalid


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://steamuserimages-a.akamaihd.net/ugc/1/2/", True),
        ("HTTP://images.test/p.png", True),
        ("javascript:alert(document.cookie)", False),
        ("JavaScript://%0aalert(1)", False),
        ("data:image/svg+xml;base64,PHN2Zz4=", False),
        ("//images.test/p.png", False),
        ("https:evil", False),
        ("", False),
    ],
)
@responses.activate
def test_only_https_or_http_preview_urls_are_kept(url: str, kept: bool) -> None:
    entry = {"publishedfileid": "7", "result": 1, "consumer_app_id": 550, "preview_url": url}
    responses.add(responses.POST, DETAILS_URL, json={"response": {"publishedfiledetails": [entry]}})

    (meta,) = fetch_metadata_batch(["7"])

    assert meta.preview_url == (url if kept else "")


@pytest.mark.parametrize(
    ("value", "banned"),
    [(0, False), (1, True), (False, False), (True, True), ("1", True), ("0", False), (None, False)],
)
@responses.activate
def test_banned_as_int_bool_or_string(value: object, banned: bool) -> None:
    entry = {"publishedfileid": "7", "result": 1, "banned": value}
    responses.add(responses.POST, DETAILS_URL, json={"response": {"publishedfiledetails": [entry]}})
    assert fetch_metadata_batch(["7"])[0].banned is banned


def good(**fields: object) -> WorkshopMetadata:
    values: dict = {"steam_id": "7", "result": 1, "consumer_app_id": 550, "file_url": "https://cdn.test/7/"}
    values.update(fields)
    return WorkshopMetadata(**values)


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        (good(), ""),
        (good(found=False, result=0), "not returned by steam"),
        (good(result=9), "deleted or private"),
        (good(result=15), "access denied"),
        (good(banned=True), "banned"),
        (good(result=2), "steam result 2 (failed)"),
        (good(result=8), "steam result 8 (invalid id)"),
        (good(result=16), "steam result 16 (timed out)"),
        (good(result=0), "steam result 0"),
        (good(invalid="steam sent an invalid file_size"), "steam sent an invalid file_size"),
        (good(consumer_app_id=4000), "another game (app 4000)"),
        (good(consumer_app_id=222860), "another game (app 222860)"),
        (good(file_url=""), "no file"),
        # the precedence: the first reason wins
        (good(found=False, result=9, banned=True), "not returned by steam"),
        (good(result=9, banned=True, file_url=""), "deleted or private"),
        (good(result=15, banned=True), "access denied"),
        (good(banned=True, result=2), "banned"),
        (good(result=2, invalid="steam sent an invalid file_size"), "steam result 2 (failed)"),
        (
            good(invalid="steam sent an invalid time_updated", consumer_app_id=730),
            "steam sent an invalid time_updated",
        ),
        (good(consumer_app_id=730, file_url=""), "another game (app 730)"),
    ],
)
def test_problem_texts_and_their_precedence(meta: WorkshopMetadata, problem: str) -> None:
    assert meta.problem == problem


def test_result_text() -> None:
    assert result_text(2) == "steam result 2 (failed)"
    assert result_text(12345) == "steam result 12345"


def test_entries_from_the_fake_steam(steam: FakeSteam) -> None:
    steam.add_item("101", size=10)
    steam.add_item("102", size=10, file_size=10)  # an int, as before mid-2024
    steam.add_item("103", size=10, banned=1)
    steam.add_item("104", size=10, file_url="")
    steam.add_entry({"publishedfileid": "105", "result": 15})
    steam.add_entry({"publishedfileid": "106", "result": 1, "consumer_app_id": 550, "file_size": "9"})
    steam.missing.add("107")

    metas = fetch_metadata_batch([str(n) for n in range(101, 109)])

    assert [m.problem for m in metas] == [
        "",
        "",
        "banned",
        "no file",
        "access denied",
        "no file",
        "not returned by steam",
        "deleted or private",
    ]
    assert metas[1].file_size == 10


@responses.activate
def test_an_answer_without_its_list_is_a_failure_not_every_item_gone() -> None:
    from workshop.steam import SteamAPIError

    responses.add(responses.POST, DETAILS_URL, json={"response": {"result": 1, "resultcount": 0}})
    with pytest.raises(
        SteamAPIError, match="GetPublishedFileDetails: answer has no 'publishedfiledetails' list"
    ):
        fetch_metadata_batch(["123456789"])

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import requests
import responses

from workshop.parsing import WorkshopInputError
from workshop.steam import (
    SteamAPIError,
    WorkshopMetadata,
    expand_collections,
    fetch_collection_children,
    fetch_metadata_batch,
    require_game_items,
)

BASE = "https://steam.test"
DETAILS_URL = f"{BASE}/ISteamRemoteStorage/GetPublishedFileDetails/v1/"
COLLECTIONS_URL = f"{BASE}/ISteamRemoteStorage/GetCollectionDetails/v1/"


@pytest.fixture(autouse=True)
def steam_settings(settings):
    settings.STEAM_API_BASE_URL = BASE
    settings.WORKSHOP_CONNECT_TIMEOUT = 3.0
    settings.WORKSHOP_READ_TIMEOUT = 7.0
    return settings


def posted(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def posted_ids(call) -> list[str]:
    form = posted(call)
    return [form[f"publishedfileids[{i}]"] for i in range(len(form) - 1)]


def item(steam_id: str, **fields) -> dict:
    entry = {
        "publishedfileid": steam_id,
        "result": 1,
        "consumer_app_id": 550,
        "creator_app_id": 550,
        "title": f"Item {steam_id}",
        "filename": f"myl4d2addons/{steam_id}.vpk",
        "file_url": f"https://cdn.test/ugc/{steam_id}/",
        "file_size": "1000",
        "preview_url": f"https://cdn.test/preview/{steam_id}.jpg",
        "time_updated": 1700000000,
    }
    entry.update(fields)
    return entry


def details_answer(entries: list[dict]) -> dict:
    return {"response": {"result": 1, "resultcount": len(entries), "publishedfiledetails": entries}}


def answer_every_id(request):
    ids = [v[0] for k, v in parse_qs(request.body).items() if k.startswith("publishedfileids")]
    return 200, {}, json.dumps(details_answer([item(i) for i in ids]))


@responses.activate
def test_250_ids_take_three_requests_of_at_most_100() -> None:
    responses.add_callback(responses.POST, DETAILS_URL, callback=answer_every_id)
    ids = [str(1000 + i) for i in range(250)]

    metas = fetch_metadata_batch(ids)

    assert [m.steam_id for m in metas] == ids
    assert all(m.ok for m in metas)
    assert len(responses.calls) == 3
    assert [posted(c)["itemcount"] for c in responses.calls] == ["100", "100", "50"]
    assert [i for c in responses.calls for i in posted_ids(c)] == ids
    assert all(c.request.req_kwargs["timeout"] == (3.0, 7.0) for c in responses.calls)
    assert responses.calls[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"


@responses.activate
def test_record_fields_and_file_size_as_string_or_int() -> None:
    entries = [item("1", file_size="283746123"), item("2", file_size=4096, time_updated="1700000001")]
    responses.add(responses.POST, DETAILS_URL, json=details_answer(entries))

    first, second = fetch_metadata_batch(["1", "2"])

    assert first == WorkshopMetadata(
        steam_id="1",
        title="Item 1",
        filename="myl4d2addons/1.vpk",
        file_url="https://cdn.test/ugc/1/",
        file_size=283746123,
        time_updated=1700000000,
        preview_url="https://cdn.test/preview/1.jpg",
        consumer_app_id=550,
        result=1,
        found=True,
    )
    assert (second.file_size, second.time_updated) == (4096, 1700000001)


@responses.activate
def test_text_is_made_storable_nul_removed_and_cut_to_the_column() -> None:
    entries = [item("1", title="Bad\x00Title" + "x" * 400, filename=None, preview_url=17)]
    responses.add(responses.POST, DETAILS_URL, json=details_answer(entries))

    (meta,) = fetch_metadata_batch(["1"])

    assert meta.title == ("BadTitle" + "x" * 400)[:255]
    assert (meta.filename, meta.preview_url) == ("", "")  # 17 is no https or http URL


@responses.activate
def test_missing_ids_and_result_9_are_marked_not_dropped() -> None:
    entries = [item("1"), {"publishedfileid": "9", "result": 9}]
    responses.add(responses.POST, DETAILS_URL, json=details_answer(entries))

    metas = fetch_metadata_batch(["1", "9", "404"])

    assert [(m.steam_id, m.found, m.result, m.ok) for m in metas] == [
        ("1", True, 1, True),
        ("9", True, 9, False),
        ("404", False, 0, False),
    ]
    assert metas[2] == WorkshopMetadata(steam_id="404", found=False, result=0)
    assert (metas[1].file_url, metas[1].file_size, metas[1].title) == ("", 0, "")


@responses.activate
def test_duplicate_ids_are_asked_once_and_answered_each_time() -> None:
    responses.add_callback(responses.POST, DETAILS_URL, callback=answer_every_id)
    metas = fetch_metadata_batch(["5", "6", "5"])
    assert [m.steam_id for m in metas] == ["5", "6", "5"]
    assert posted_ids(responses.calls[0]) == ["5", "6"]


@responses.activate
def test_no_ids_no_request() -> None:
    assert fetch_metadata_batch([]) == []
    assert fetch_collection_children([]) == []
    assert len(responses.calls) == 0


def test_foreign_app_is_refused_naming_the_item() -> None:
    ok = WorkshopMetadata(steam_id="1", consumer_app_id=550, result=1)
    foreign = WorkshopMetadata(steam_id="123", consumer_app_id=4000, result=1)
    require_game_items([ok])
    with pytest.raises(WorkshopInputError) as caught:
        require_game_items([ok, foreign])
    assert str(caught.value) == "workshop item 123 is for another game (app 4000), not Left 4 Dead 2"


def test_every_foreign_item_is_named_and_failed_items_are_not_judged() -> None:
    metas = [
        WorkshopMetadata(steam_id="7", consumer_app_id=4000, result=1),
        WorkshopMetadata(steam_id="8", consumer_app_id=730, result=1),
        WorkshopMetadata(steam_id="9", consumer_app_id=0, result=9),
        WorkshopMetadata(steam_id="10", found=False),
    ]
    with pytest.raises(WorkshopInputError) as caught:
        require_game_items(metas)
    assert (
        str(caught.value) == "workshop items 7 (app 4000), 8 (app 730) are for other games, not Left 4 Dead 2"
    )


def test_the_server_app_id_is_not_the_game(settings) -> None:
    with pytest.raises(WorkshopInputError, match="app 222860"):
        require_game_items([WorkshopMetadata(steam_id="1", consumer_app_id=222860, result=1)])


@responses.activate
@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"status": 503, "body": "busy"}, "GetPublishedFileDetails: HTTP 503 after 4 attempts"),
        ({"body": "<html>oops</html>"}, "GetPublishedFileDetails: answer is not JSON after 4 attempts"),
        ({"body": requests.ConnectTimeout("slow")}, "GetPublishedFileDetails: timed out after 4 attempts"),
        ({"body": requests.ReadTimeout("slow")}, "GetPublishedFileDetails: timed out after 4 attempts"),
        (
            {"body": requests.ConnectionError("refused")},
            "GetPublishedFileDetails: connection failed after 4 attempts",
        ),
    ],
)
def test_transient_api_failures_are_tried_four_times(reply: dict, message: str) -> None:
    responses.add(responses.POST, DETAILS_URL, **reply)
    with pytest.raises(SteamAPIError) as caught:
        fetch_metadata_batch(["1"])
    assert str(caught.value) == message
    assert len(responses.calls) == 4


@responses.activate
@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ({"status": 403, "json": {"response": {}}}, "GetPublishedFileDetails: HTTP 403"),
        ({"status": 400, "body": "bad request"}, "GetPublishedFileDetails: HTTP 400"),
        ({"json": {"nothing": 1}}, "GetPublishedFileDetails: answer has no 'response' object"),
        ({"json": [1, 2]}, "GetPublishedFileDetails: answer has no 'response' object"),
        ({"json": {"response": "x"}}, "GetPublishedFileDetails: answer has no 'response' object"),
    ],
)
def test_permanent_api_failures_fail_at_once(reply: dict, message: str) -> None:
    responses.add(responses.POST, DETAILS_URL, **reply)
    with pytest.raises(SteamAPIError) as caught:
        fetch_metadata_batch(["1"])
    assert str(caught.value) == message
    assert len(responses.calls) == 1


@responses.activate
def test_collection_failure_raises_steam_api_error() -> None:
    responses.add(responses.POST, COLLECTIONS_URL, status=500)
    with pytest.raises(SteamAPIError, match=r"^GetCollectionDetails: HTTP 500 after 4 attempts$"):
        fetch_collection_children(["1"])


def collections_callback(collections: dict[str, list[tuple[str, int, int]]]):
    """Answers GetCollectionDetails from {id: [(child, sortorder, filetype)]}; other ids have no children."""

    def callback(request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        ids = [form[f"publishedfileids[{i}]"] for i in range(int(form["collectioncount"]))]
        details = []
        for cid in ids:
            entry = {"publishedfileid": cid, "result": 1}
            if cid in collections:
                entry["children"] = [
                    {"publishedfileid": c, "sortorder": s, "filetype": t} for c, s, t in collections[cid]
                ]
            details.append(entry)
        body = {"response": {"result": 1, "resultcount": len(details), "collectiondetails": details}}
        return 200, {}, json.dumps(body)

    return callback


@responses.activate
def test_collection_children_in_sortorder_with_a_nested_collection() -> None:
    collections = {
        "500": [("3", 3, 0), ("1", 1, 0), ("600", 2, 2), ("4", 4, 0)],
        "600": [("21", 1, 0), ("22", 2, 0), ("1", 3, 0)],
    }
    responses.add_callback(responses.POST, COLLECTIONS_URL, callback=collections_callback(collections))

    assert fetch_collection_children(["500"]) == ["1", "21", "22", "3", "4"]
    assert len(responses.calls) == 2  # one per nesting level
    assert posted(responses.calls[0]) == {"collectioncount": "1", "publishedfileids[0]": "500"}
    assert posted_ids(responses.calls[1]) == ["600"]


@responses.activate
def test_collection_loop_expands_each_collection_once() -> None:
    collections = {
        "500": [("1", 1, 0), ("600", 2, 2)],
        "600": [("2", 1, 0), ("700", 2, 2), ("500", 3, 2)],
        "700": [("3", 1, 0), ("600", 2, 2), ("700", 3, 2)],
    }
    responses.add_callback(responses.POST, COLLECTIONS_URL, callback=collections_callback(collections))

    assert fetch_collection_children(["500"]) == ["1", "2", "3"]
    assert [posted_ids(c) for c in responses.calls] == [["500"], ["600"], ["700"]]


@responses.activate
def test_ids_that_are_not_collections_contribute_nothing() -> None:
    collections = {"500": [("1", 1, 0), ("2", 2, 0), ("601", 3, 2)]}
    responses.add_callback(responses.POST, COLLECTIONS_URL, callback=collections_callback(collections))

    assert fetch_collection_children(["42", "500"]) == ["1", "2"]
    assert expand_collections(["42", "500", "43"]) == {"500": ["1", "2"]}

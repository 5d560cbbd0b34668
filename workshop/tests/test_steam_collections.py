"""Collections are walked level by level, without recursion, within a depth and a size bound."""

from __future__ import annotations

import json
import sys
from urllib.parse import parse_qs

import pytest
import responses

from tests.support.fakesteam import FakeSteam
from workshop.steam import (
    CollectionLimitError,
    SteamAPIError,
    expand_collections,
    fetch_collection_children,
    fetch_metadata_batch,
)
from workshop.tests.answers import BASE, COLLECTIONS_URL, DETAILS_URL, fixture


@pytest.fixture(autouse=True)
def steam_settings(settings):
    settings.STEAM_API_BASE_URL = BASE
    return settings


def asked(call) -> list[str]:
    form = {k: v[0] for k, v in parse_qs(call.request.body).items()}
    return [form[f"publishedfileids[{i}]"] for i in range(int(form["collectioncount"]))]


def chain_callback(length: int, first: int = 1_000_000):
    """Collection first+n holds item 10+n and collection first+n+1, for n < length."""

    def callback(request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        ids = [form[f"publishedfileids[{i}]"] for i in range(int(form["collectioncount"]))]
        details = []
        for cid in ids:
            n = int(cid) - first
            children = [{"publishedfileid": str(10 + n), "sortorder": 1, "filetype": 0}]
            if n + 1 < length:
                children.append({"publishedfileid": str(int(cid) + 1), "sortorder": 2, "filetype": 2})
            details.append({"publishedfileid": cid, "result": 1, "children": children})
        body = {"response": {"result": 1, "resultcount": len(details), "collectiondetails": details}}
        return 200, {}, json.dumps(body)

    return callback


# --- recorded answers ------------------------------------------------------------------------------


@responses.activate
def test_nested_collection_with_a_loop_and_a_bad_child_id() -> None:
    responses.add(responses.POST, COLLECTIONS_URL, json=fixture("collection_555.json"))
    responses.add(responses.POST, COLLECTIONS_URL, json=fixture("collection_556.json"))

    assert expand_collections(["555"]) == {"555": ["123456789", "2345678901", "301", "300"]}
    assert [asked(c) for c in responses.calls] == [["555"], ["556"]]


@responses.activate
def test_collection_with_dead_children() -> None:
    responses.add(responses.POST, COLLECTIONS_URL, json=fixture("collection_dead_children.json"))
    responses.add(responses.POST, COLLECTIONS_URL, json=fixture("collection_dead_children_level1.json"))
    responses.add(responses.POST, DETAILS_URL, json=fixture("details_dead_children.json"))

    children = fetch_collection_children(["557"])
    metas = fetch_metadata_batch(children)

    assert children == ["123456789", "101", "102"]  # the dead nested collection 999 adds nothing
    assert [m.problem for m in metas] == ["", "deleted or private", "deleted or private"]


@responses.activate
def test_a_plain_item_asked_as_a_collection_is_not_one() -> None:
    responses.add(responses.POST, COLLECTIONS_URL, json=fixture("collection_plain_item.json"))
    assert expand_collections(["123456789"]) == {}
    assert fetch_collection_children(["123456789"]) == []
    assert len(responses.calls) == 2


@responses.activate
def test_answers_for_ids_not_asked_are_ignored() -> None:
    answer = fixture("collection_555.json")
    responses.add(responses.POST, COLLECTIONS_URL, json=answer)
    assert expand_collections(["554"]) == {}


# --- depth ---------------------------------------------------------------------------------------------


@responses.activate
def test_a_1500_deep_chain_is_refused_naming_the_depth_within_ten_calls() -> None:
    responses.add_callback(responses.POST, COLLECTIONS_URL, callback=chain_callback(1500))

    with pytest.raises(CollectionLimitError) as caught:
        expand_collections(["1000000"])

    assert str(caught.value) == "collection 1000000 is nested more than 8 levels deep"
    assert isinstance(caught.value, SteamAPIError)
    assert len(responses.calls) <= 10
    assert [asked(c) for c in responses.calls] == [[str(1_000_000 + n)] for n in range(9)]


@responses.activate
def test_a_1500_deep_chain_within_the_bound_walks_without_recursion() -> None:
    responses.add_callback(responses.POST, COLLECTIONS_URL, callback=chain_callback(1500))
    assert sys.getrecursionlimit() < 1500 * 2

    expanded = expand_collections(["1000000"], max_depth=1500, max_children=3000)

    assert expanded == {"1000000": [str(10 + n) for n in range(1500)]}
    assert len(responses.calls) == 1500


@responses.activate
@pytest.mark.parametrize(("length", "refused"), [(9, False), (10, True)])
def test_depth_bound_is_exact(settings, length: int, refused: bool) -> None:
    """A chain of 9 collections nests 8 levels below the one given: the most allowed."""
    settings.WORKSHOP_COLLECTION_MAX_DEPTH = 8
    responses.add_callback(responses.POST, COLLECTIONS_URL, callback=chain_callback(length))
    if refused:
        with pytest.raises(CollectionLimitError, match="nested more than 8 levels deep"):
            expand_collections(["1000000"])
    else:
        assert len(expand_collections(["1000000"])["1000000"]) == length
    assert len(responses.calls) == 9


@responses.activate
def test_depth_setting_and_argument(settings) -> None:
    settings.WORKSHOP_COLLECTION_MAX_DEPTH = 2
    responses.add_callback(responses.POST, COLLECTIONS_URL, callback=chain_callback(5))
    with pytest.raises(CollectionLimitError, match=r"^collection 1000000 is nested more than 2 levels deep$"):
        fetch_collection_children(["1000000"])
    assert len(responses.calls) == 3
    assert len(expand_collections(["1000000"], max_depth=4)["1000000"]) == 5


def test_deep_chain_against_the_fake_steam(steam: FakeSteam) -> None:
    for n in range(1500):
        steam.add_collection(str(5000 + n), [str(100 + n), (str(5001 + n), 2)])
    steam.add_collection("42", ["7"])

    with pytest.raises(CollectionLimitError, match=r"^collection 5000 is nested more than 8 levels deep$"):
        expand_collections(["42", "5000"])

    assert steam.api_posts["GetCollectionDetails"] <= 10


def test_a_loop_is_not_depth(steam: FakeSteam, settings) -> None:
    settings.WORKSHOP_COLLECTION_MAX_DEPTH = 1
    steam.add_collection("900", ["1", ("901", 2)])
    steam.add_collection("901", ["2", ("900", 2), ("901", 2)])
    assert expand_collections(["900", "901"]) == {"900": ["1", "2"], "901": ["2", "1"]}
    assert steam.api_posts["GetCollectionDetails"] == 1  # both were asked at level 0


# --- size ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "refused"), [(2000, False), (2001, True)])
def test_children_bound(steam: FakeSteam, count: int, refused: bool) -> None:
    steam.add_collection("900", [str(10_000 + n) for n in range(count)] + [("901", 2)])
    steam.add_collection("901", ["10000"])
    if refused:
        with pytest.raises(CollectionLimitError) as caught:
            expand_collections(["900"])
        assert str(caught.value) == "collections hold more than 2000 items"
        assert steam.api_posts["GetCollectionDetails"] == 1  # the nested one is not asked
    else:
        steam.add_collection("900", [str(10_000 + n) for n in range(count - 1)] + [("901", 2)])
        assert len(expand_collections(["900"])["900"]) == count - 1
        assert steam.api_posts["GetCollectionDetails"] == 2


def test_children_bound_counts_distinct_children_of_every_collection(steam: FakeSteam, settings) -> None:
    settings.WORKSHOP_COLLECTION_MAX_ITEMS = 5
    steam.add_collection("900", ["1", "2", "3", ("901", 2)])
    steam.add_collection("901", ["1", "2", "3", "4"])  # 1-3 again: 5 distinct with 901 itself
    assert expand_collections(["900"]) == {"900": ["1", "2", "3", "4"]}
    steam.add_collection("901", ["1", "2", "3", "4", "5"])
    with pytest.raises(CollectionLimitError, match=r"^collections hold more than 5 items$"):
        expand_collections(["900"])
    assert len(expand_collections(["900"], max_children=6)["900"]) == 5

from __future__ import annotations

import hashlib
import time

import pytest
import requests

from tests.support.fakesteam import ITEM_TITLES, FakeFile, FakeSteam, Step, item_title, main

DETAILS = "/ISteamRemoteStorage/GetPublishedFileDetails/v1/"
COLLECTIONS = "/ISteamRemoteStorage/GetCollectionDetails/v1/"


@pytest.fixture
def steam():
    with FakeSteam() as server:
        yield server


def ids_form(count_field: str, ids: list[str]) -> dict[str, str]:
    return {count_field: str(len(ids))} | {f"publishedfileids[{i}]": v for i, v in enumerate(ids)}


def test_generated_files_are_deterministic_and_differ_per_item() -> None:
    one, again, other = FakeFile("1", size=200_000), FakeFile("1", size=200_000), FakeFile("2", size=200_000)
    assert one.content() == again.content()
    assert one.content() != other.content()
    assert one.read(150_000, 10**9) == one.content()[150_000:]
    assert one.sha256() == hashlib.sha256(one.content()).hexdigest()


def test_files_with_ranges(steam: FakeSteam) -> None:
    fake = steam.add_item("7", size=3 * 2**20 + 3)
    whole = requests.get(steam.file_url("7"), timeout=5)
    tail = requests.get(steam.file_url("7"), headers={"Range": "bytes=1000-"}, timeout=5)
    past_end = requests.get(steam.file_url("7"), headers={"Range": f"bytes={fake.size}-"}, timeout=5)

    assert (whole.status_code, whole.content) == (200, fake.content())
    assert (tail.status_code, tail.headers["Content-Range"]) == (
        206,
        f"bytes 1000-{fake.size - 1}/{fake.size}",
    )
    assert tail.content == fake.content()[1000:]
    assert (past_end.status_code, past_end.headers["Content-Range"]) == (416, f"bytes */{fake.size}")
    assert steam.get_count("7") == 3
    assert steam.range_headers["7"] == [None, "bytes=1000-", f"bytes={fake.size}-"]
    assert requests.get(steam.file_url("8"), timeout=5).status_code == 404


def test_failure_switches(steam: FakeSteam) -> None:
    steam.add_item("7", data=b"abc" * 1000, statuses=[503], steps=[Step(429, retry_after="3")])
    steam.files["7"].default = Step(truncate_after=10)

    assert requests.get(steam.file_url("7"), timeout=5).status_code == 503
    limited = requests.get(steam.file_url("7"), timeout=5)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(steam.file_url("7"), timeout=5)


def test_stall_and_rate_limit(steam: FakeSteam) -> None:
    steam.add_item("7", size=100_000, steps=[Step(stall_after=10, stall_seconds=5)], rate_limit=200_000)
    with pytest.raises(requests.exceptions.ConnectionError, match="Read timed out"):
        requests.get(steam.file_url("7"), timeout=(2, 0.2))
    started = time.monotonic()
    assert len(requests.get(steam.file_url("7"), timeout=5).content) == 100_000
    assert time.monotonic() - started >= 0.45


def test_api_answers_from_the_configured_dicts(steam: FakeSteam) -> None:
    steam.add_item("7", size=5)
    steam.add_item("8", size=5, consumer_app_id=4000, file_size=5)
    steam.missing.add("9")
    steam.add_collection("50", ["7", ("51", 2)])
    steam.add_collection("51", ["8"])

    details = requests.post(
        steam.base_url + DETAILS, data=ids_form("itemcount", ["7", "8", "9", "10"]), timeout=5
    )
    collections = requests.post(
        steam.base_url + COLLECTIONS, data=ids_form("collectioncount", ["50"]), timeout=5
    )

    entries = details.json()["response"]["publishedfiledetails"]
    assert [(e["publishedfileid"], e["result"]) for e in entries] == [("7", 1), ("8", 1), ("10", 9)]
    assert (entries[0]["file_size"], entries[0]["file_url"]) == ("5", steam.file_url("7"))
    assert (entries[1]["consumer_app_id"], entries[1]["file_size"]) == (4000, 5)
    children = collections.json()["response"]["collectiondetails"][0]["children"]
    assert [(c["publishedfileid"], c["sortorder"], c["filetype"]) for c in children] == [
        ("7", 1, 0),
        ("51", 2, 2),
    ]
    assert steam.api_posts == {"GetPublishedFileDetails": 1, "GetCollectionDetails": 1}
    assert steam.api_requests[0] == ("GetPublishedFileDetails", ["7", "8", "9", "10"])


def test_realistic_titles_and_previews() -> None:
    with FakeSteam(realistic=True) as steam:
        for steam_id in ("100000001", "100000002", "abc"):
            steam.add_item(steam_id, size=5)
        steam.add_collection("900000001", ["100000001", "100000002"])
        details = requests.post(
            steam.base_url + DETAILS, data=ids_form("itemcount", ["100000001", "100000002"]), timeout=5
        ).json()["response"]["publishedfiledetails"]
        one = requests.get(details[0]["preview_url"], timeout=5)
        again = requests.get(steam.preview_url("100000001"), timeout=5)
        other = requests.get(details[1]["preview_url"], timeout=5)
        unknown = requests.get(steam.preview_url("55"), timeout=5)

    titles = [entry["title"] for entry in details]
    assert titles == [item_title("100000001"), item_title("100000002")]
    assert len(set(titles)) == 2 and set(titles) <= set(ITEM_TITLES)
    assert item_title("abc") == item_title("abc") in ITEM_TITLES
    assert not steam.details["900000001"]["title"].startswith("Collection ")
    assert (one.status_code, one.headers["Content-Type"]) == (200, "image/svg+xml")
    assert one.content.startswith(b"<svg") and one.content == again.content != other.content
    initials = "".join(word[0] for word in titles[0].replace(":", " ").split()[:2]).upper()
    assert f">{initials}</text>".encode() in one.content
    assert unknown.status_code == 404


def test_plain_titles_by_default(steam: FakeSteam) -> None:
    steam.add_item("7", size=5)
    steam.add_collection("50", ["7"])
    assert (steam.details["7"]["title"], steam.details["50"]["title"]) == ("Item 7", "Collection 50")
    assert steam.details["7"]["preview_url"] == f"{steam.base_url}/previews/7.svg"


def test_api_failures_and_the_batch_limit(steam: FakeSteam) -> None:
    steam.api_statuses = [503]
    url = steam.base_url + DETAILS
    assert requests.post(url, data=ids_form("itemcount", ["1"]), timeout=5).status_code == 503
    assert requests.post(url, data=ids_form("itemcount", ["1"]), timeout=5).status_code == 200
    too_many = ids_form("itemcount", [str(i) for i in range(101)])
    assert requests.post(url, data=too_many, timeout=5).status_code == 400
    assert steam.api_post_count == 3


def test_standalone_arguments(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("tests.support.fakesteam.time.sleep", interrupt)
    main(["--port", "0", "--items", "2", "--size", "1K", "--fail-first", "503"])
    out = capsys.readouterr().out
    assert "items: 100000001 100000002" in out
    assert "collection 900000001" in out
    assert item_title("100000001") in out

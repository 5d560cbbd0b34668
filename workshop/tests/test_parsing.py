from __future__ import annotations

import pytest

from workshop.parsing import WorkshopInputError, parse_workshop_input, steam_id_from_steam


def test_plain_ids() -> None:
    assert parse_workshop_input("123456789") == ["123456789"]
    assert parse_workshop_input("  1 22 333  ") == ["1", "22", "333"]


def test_both_url_forms_and_extra_query_parameters() -> None:
    text = (
        "https://steamcommunity.com/sharedfiles/filedetails/?id=111\n"
        "https://steamcommunity.com/workshop/filedetails/?id=222\n"
        "https://steamcommunity.com/sharedfiles/filedetails/?id=333&searchtext=tank\n"
        "http://www.steamcommunity.com/sharedfiles/filedetails?l=english&id=444#comments\n"
        "steamcommunity.com/sharedfiles/filedetails/?id=555"
    )
    assert parse_workshop_input(text) == ["111", "222", "333", "444", "555"]


def test_mixed_separators() -> None:
    text = "1,2 3\n4\r\n5\t6 ,, 7,\n"
    assert parse_workshop_input(text) == ["1", "2", "3", "4", "5", "6", "7"]


def test_duplicates_fold_keeping_first_order() -> None:
    text = "3 1 https://steamcommunity.com/sharedfiles/filedetails/?id=3 2 1 0001"
    assert parse_workshop_input(text) == ["3", "1", "2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("123 abc", "not a workshop id or URL: 'abc'"),
        ("-5", "not a workshop id or URL: '-5'"),
        ("+5", "not a workshop id or URL: '+5'"),
        ("0", "not a workshop id or URL: '0'"),
        ("18446744073709551616", "not a workshop id or URL: '18446744073709551616'"),
        ("123456789012345678901", "not a workshop id or URL: '123456789012345678901'"),
        (
            "https://evil.example/sharedfiles/filedetails/?id=1",
            "not a workshop id or URL: 'https://evil.example/sharedfiles/filedetails/?id=1'",
        ),
        (
            "https://steamcommunity.com/sharedfiles/filedetails/?id=x1",
            "not a workshop id or URL: 'https://steamcommunity.com/sharedfiles/filedetails/?id=x1'",
        ),
        (
            "https://steamcommunity.com/sharedfiles/filedetails/?other=1",
            "not a workshop id or URL: 'https://steamcommunity.com/sharedfiles/filedetails/?other=1'",
        ),
        (
            "https://steamcommunity.com/id/someone/?id=1",
            "not a workshop id or URL: 'https://steamcommunity.com/id/someone/?id=1'",
        ),
        ("ftp://steamcommunity.com/sharedfiles/filedetails/?id=1", None),
    ],
)
def test_junk_is_refused_naming_the_entry(text: str, message: str | None) -> None:
    with pytest.raises(WorkshopInputError) as caught:
        parse_workshop_input(text)
    assert str(caught.value) == (message or f"not a workshop id or URL: {text!r}")


def test_very_long_junk_is_shortened_in_the_message() -> None:
    with pytest.raises(WorkshopInputError) as caught:
        parse_workshop_input("x" * 10_000)
    assert str(caught.value) == f"not a workshop id or URL: {'x' * 59 + '…'!r}"


@pytest.mark.parametrize("text", ["", "   ", "\n , \n", None])
def test_empty_input(text: str | None) -> None:
    with pytest.raises(WorkshopInputError, match=r"^enter at least one workshop id or URL$"):
        parse_workshop_input(text)  # type: ignore[arg-type]


def test_the_limit_counts_distinct_ids() -> None:
    assert len(parse_workshop_input(" ".join(str(i) for i in range(1, 4)), max_entries=3)) == 3
    assert parse_workshop_input("1 1 1 2", max_entries=2) == ["1", "2"]
    with pytest.raises(WorkshopInputError) as caught:
        parse_workshop_input("1 2 3 4", max_entries=3)
    assert str(caught.value) == "too many workshop ids: 4 (at most 3 at once)"


def test_the_default_limit_is_the_setting(settings) -> None:
    settings.WORKSHOP_MAX_ENTRIES = 2
    with pytest.raises(WorkshopInputError, match=r"at most 2 at once"):
        parse_workshop_input("1 2 3")
    settings.WORKSHOP_MAX_ENTRIES = 500
    ids = parse_workshop_input("\n".join(str(i) for i in range(1, 501)))
    assert len(ids) == 500
    with pytest.raises(WorkshopInputError, match=r"^too many workshop ids: 501 \(at most 500 at once\)$"):
        parse_workshop_input("\n".join(str(i) for i in range(1, 502)))


def test_links_the_steam_client_copies() -> None:
    text = (
        "steam://url/CommunityFilePage/111\n"
        "steam://url/CommunityFilePage/222/\n"
        "STEAM://URL/communityfilepage/0333\n"
        "steam://openurl/https://steamcommunity.com/sharedfiles/filedetails/?id=444\n"
        "steam://openurl/https://steamcommunity.com/workshop/filedetails/?id=555&searchtext=tank\n"
        "steam://openurl/http://www.steamcommunity.com/sharedfiles/filedetails?id=666#x\n"
        "steam://openurl/steamcommunity.com/sharedfiles/filedetails/?id=777"
    )
    assert parse_workshop_input(text) == ["111", "222", "333", "444", "555", "666", "777"]


@pytest.mark.parametrize(
    "text",
    [
        "steam://rungameid/550",
        "steam://url/CommunityFilePage/",
        "steam://url/CommunityFilePage/0",
        "steam://url/CommunityFilePage/18446744073709551616",
        "steam://url/CommunityFilePage/12/34",
        "steam://url/SteamIDPage/76561198000000001",
        "steam://openurl/",
        "steam://openurl/https://evil.example/sharedfiles/filedetails/?id=1",
        "steam://openurl/https://steamcommunity.com/id/someone/?id=1",
        "steam://openurl/steam://url/CommunityFilePage/1",
        "steam://openurl/ftp://steamcommunity.com/sharedfiles/filedetails/?id=1",
        "steam:url/CommunityFilePage/1",
        "steam://install/550",
    ],
)
def test_other_steam_links_are_refused_naming_the_entry(text: str) -> None:
    with pytest.raises(WorkshopInputError) as caught:
        parse_workshop_input(f"123 {text}")
    shown = text if len(text) <= 60 else text[:59] + "…"
    assert str(caught.value) == f"not a workshop id or URL: {shown!r}"


@pytest.mark.parametrize(
    ("value", "steam_id"),
    [
        ("123456789", "123456789"),
        (123456789, "123456789"),
        ("0042", "42"),
        (1, "1"),
        (2**64 - 1, str(2**64 - 1)),
        (str(2**64 - 1), str(2**64 - 1)),
        (2**64, None),
        (str(2**64), None),
        (0, None),
        ("0", None),
        (-1, None),
        ("-1", None),
        ("+1", None),
        ("1e5", None),
        (1e5, None),
        (100000.0, None),
        ("/some/path", None),
        ("../x", None),
        ("12 ", None),
        ("", None),
        ("\uff11\uff12\uff13", None),  # full-width digits
        (True, None),
        (None, None),
        (["1"], None),
        ("1" * 21, None),
    ],
)
def test_ids_from_steam_follow_the_rule_of_typed_ids(value: object, steam_id: str | None) -> None:
    assert steam_id_from_steam(value) == steam_id


# --- forms people paste ---------------------------------------------------------------------------

URL = "https://steamcommunity.com/sharedfiles/filedetails/?id=123"


@pytest.mark.parametrize(
    "text",
    [
        f"steam://openurl_external/{URL}",  # as Steam guides write it
        "https://steamcommunity.com/sharedfiles/filedetails/?l=english&amp;id=123",  # HTML-escaped
        "123\u200b",  # a zero-width space after the id
        "\u200b\u2060123",  # a zero-width space and a word joiner before it
        f"\ufeff{URL}\u200e",  # a BOM before the link and a left-to-right mark after it
        "https://steamcommunity.com/sharedfiles/filedetails/changelog/123",
        "https://steamcommunity.com/sharedfiles/filedetails/changelog/123/?l=german",
        f"<{URL}>",  # as Discord shows a link it does not preview
        f"<steam://openurl_external/{URL}>",
    ],
)
def test_pasted_forms_are_accepted(text: str) -> None:
    assert parse_workshop_input(text) == ["123"]


@pytest.mark.parametrize(
    "text",
    [
        "12\u200b3",  # an invisible character inside an id is not next to it
        "<123>",  # Discord wraps links, not numbers
        "<https://evil.example/sharedfiles/filedetails/?id=1>",
        f"<{URL}",
        "steam://openurl_external/https://evil.example/sharedfiles/filedetails/?id=1",
        "steam://openurl_internal/" + URL,
        "https://steamcommunity.com/sharedfiles/filedetails/changelog/x1",
        "https://steamcommunity.com/sharedfiles/filedetails/changelog/123?id=456",
        "https://steamcommunity.com/workshop/filedetails/changelog/123/extra",
        "https://steamcommunity.com/sharedfiles/filedetails/?l=english&amp;id=1&amp;id=2",
        "https://steamcommunity.com/sharedfiles/filedetails/?l=english&amp;ID=1",
    ],
)
def test_nothing_else_gets_looser(text: str) -> None:
    with pytest.raises(WorkshopInputError, match=r"^not a workshop id or URL: "):
        parse_workshop_input(text)

from __future__ import annotations

import pytest

from workshop.parsing import WorkshopInputError, parse_workshop_input


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

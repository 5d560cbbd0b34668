"""Sizes and counts read one way everywhere (left4me.units and its template filters), and sizes
typed as people write them."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from left4me.env import env_bytes
from left4me.units import SizeError, counted, human_bytes, human_duration, parse_bytes, typed_bytes


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1536, "1.5 KiB"), (8 * 2**20, "8.0 MiB"),
     (int(2.7 * 2**30), "2.7 GiB"), (3 * 2**40, "3.0 TiB"), (5 * 2**50, "5120.0 TiB")],
)  # fmt: skip
def test_sizes_use_binary_units_with_their_iec_names(count, shown):
    assert human_bytes(count) == shown


def test_counted_nouns_agree_with_their_number():
    assert [counted(n, "overlay") for n in (0, 1, 2)] == ["0 overlays", "1 overlay", "2 overlays"]
    assert counted(1, "entry", "entries") == "1 entry" and counted(3, "entry", "entries") == "3 entries"


def test_the_template_filters_are_built_into_every_template():
    template = Template('{{ size|bytes }} · {{ one|counted:"item" }} · {{ many|counted:"entry,entries" }}')
    assert (
        template.render(Context({"size": 8 * 2**20, "one": 1, "many": 4})) == "8.0 MiB · 1 item · 4 entries"
    )


@pytest.mark.parametrize(
    ("typed", "size"),
    [("10 GiB", 10 * 2**30), ("10GiB", 10 * 2**30), ("500 MiB", 500 * 2**20), ("10 GB", 10 * 10**9),
     ("1.5 TiB", int(1.5 * 2**40)), (" 123 ", 123), ("123 bytes", 123), ("64 kib", 64 * 1024), ("2 kB", 2000)],
)  # fmt: skip
def test_sizes_are_read_as_typed(typed, size):
    assert parse_bytes(typed) == size


@pytest.mark.parametrize("typed", ["", "ten GB", "10 GiBs", "-5 MiB", "1.5", "10 GB 2", "0x10"])
def test_what_is_not_a_size_is_refused_saying_what_is_accepted(typed):
    with pytest.raises(SizeError, match=r"500 MiB, 10 GiB or 10 GB|not a whole number of bytes"):
        parse_bytes(typed)


@pytest.mark.parametrize(
    ("size", "typed"),
    [(200 * 2**30, "200 GiB"), (500 * 2**20, "500 MiB"), (10 * 10**9, "10 GB"), (1234567, "1234567 bytes"), (0, "0 bytes")],
)  # fmt: skip
def test_a_stored_size_is_shown_as_typed_and_reads_back_exactly(size, typed):
    assert typed_bytes(size) == typed and parse_bytes(typed) == size


def test_durations_in_the_largest_whole_unit():
    assert [human_duration(s) for s in (180, 86400 * 7, 3600 * 36, 90, 1)] == [
        "3 minutes", "7 days", "36 hours", "90 seconds", "1 second",
    ]  # fmt: skip


def test_a_size_setting_takes_units_and_names_itself_when_wrong(monkeypatch):
    monkeypatch.setenv("LEFT4ME_QUOTA_BYTES", "50 GiB")
    assert env_bytes("LEFT4ME_QUOTA_BYTES", 1) == 50 * 2**30
    monkeypatch.setenv("LEFT4ME_QUOTA_BYTES", "lots")
    with pytest.raises(ValueError, match="LEFT4ME_QUOTA_BYTES='lots': 'lots' is not a size"):
        env_bytes("LEFT4ME_QUOTA_BYTES", 1)

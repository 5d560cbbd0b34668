from __future__ import annotations

import codecs
import re
import struct

import pytest

from tests.support.vpkfiles import addoninfo, build_vpk, many_empty_entries, mission
from workshop.vpk import (
    MAX_FILES,
    MAX_TREE_BYTES,
    NOT_A_VPK,
    NotAVpk,
    entry_name,
    paths_pack,
    paths_unpack,
    vpk_check,
    vpk_read,
)

CAMPAIGN = {
    "addoninfo.txt": addoninfo(
        "Helms Deep", version="2.1", author="Tolkien", flags=("campaign", "map", "script")
    ),
    "missions/helmsdeep.txt": mission(
        "helmsdeep",
        {"coop": ["hd_gate", "hd_wall", "hd_keep"], "versus": ["hd_gate_vs", "hd_keep_vs"]},
        title="Helms Deep Reborn",
    ),
    "maps/hd_gate.bsp": b"\x00" * 5000,
    "scripts/vscripts/hd_logic.nut": "printl(1)",
    "Materials/HD/Wall.VMT": "x",
}


@pytest.mark.parametrize("layout", ["single", "footer", "dir"])
def test_reads_addoninfo_campaigns_and_paths_in_every_layout(tmp_path, layout):
    path = build_vpk(tmp_path / "helms.vpk", CAMPAIGN, layout=layout)

    contents = vpk_read(path)

    assert (contents.title, contents.addon_version, contents.author) == ("Helms Deep", "2.1", "Tolkien")
    assert contents.flags == ["campaign", "map", "script"]
    assert [c.name for c in contents.campaigns] == ["Helms Deep Reborn"]
    assert contents.campaigns[0].modes == {
        "coop": ["hd_gate", "hd_wall", "hd_keep"],
        "versus": ["hd_gate_vs", "hd_keep_vs"],
    }
    assert contents.file_count == 5
    assert "materials/hd/wall.vmt" in contents.paths
    assert contents.has_vscripts


def test_maps_follow_the_chapter_numbers_not_the_file_order(tmp_path):
    chapters = "".join(
        f'"{n}"\n{{\n"Map" "{name}"\n}}\n' for n, name in [(2, "second"), (10, "tenth"), (1, "first")]
    )
    text = f'"mission"\n{{\n"Name" "x"\n"modes"\n{{\n"coop"\n{{\n{chapters}}}\n}}\n}}\n'
    path = build_vpk(tmp_path / "x.vpk", {"missions/x.txt": text})

    assert vpk_read(path).campaigns[0].modes == {"coop": ["first", "second", "tenth"]}


def test_a_malformed_missions_file_is_a_campaign_marked_unreadable(tmp_path):
    path = build_vpk(
        tmp_path / "x.vpk", {"addoninfo.txt": addoninfo("X"), "missions/bad.txt": '"mission" { "modes" {'}
    )

    contents = vpk_read(path)

    assert contents.title == "X"
    assert contents.campaigns[0].file == "missions/bad.txt"
    assert contents.campaigns[0].problem.startswith("missions/bad.txt unreadable:")


def test_no_addoninfo_is_a_problem_not_a_failure(tmp_path):
    contents = vpk_read(build_vpk(tmp_path / "x.vpk", {"models/a.mdl": "m"}))

    assert contents.addoninfo_problem == "no addoninfo.txt"
    assert contents.paths == ["models/a.mdl"] and not contents.has_vscripts


def test_bad_magic_is_not_a_vpk(tmp_path):
    path = tmp_path / "page.vpk"
    path.write_bytes(b"<!DOCTYPE html>" + b" " * 5000)

    with pytest.raises(NotAVpk, match=f"^{NOT_A_VPK}: bad magic"):
        vpk_check(path)


def test_a_tree_that_does_not_parse_is_not_a_vpk(tmp_path):
    path = tmp_path / "cut.vpk"
    path.write_bytes(struct.pack("<III", 0x55AA1234, 1, 40) + b"materials\x00" + b"\x07" * 40)

    with pytest.raises(NotAVpk, match=f"^{NOT_A_VPK}: the tree does not parse"):
        vpk_check(path)


def test_a_file_whose_data_lies_past_its_end_is_not_a_vpk(tmp_path):
    path = build_vpk(tmp_path / "x.vpk", {"maps/a.bsp": b"b" * 4000}, layout="footer")
    os_size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(os_size - 100)

    with pytest.raises(NotAVpk, match=r"maps/a\.bsp lies past the end of the file"):
        vpk_check(path)


def test_reading_never_loads_the_data_of_a_big_single_file(tmp_path):
    path = build_vpk(tmp_path / "big.vpk", CAMPAIGN, layout="footer", size=2**31)

    contents = vpk_read(path)

    assert contents.title == "Helms Deep" and contents.file_count == 5


def test_paths_pack_round_trips():
    paths = [f"materials/x/{n}.vmt" for n in range(1000)]
    blob = paths_pack(paths)

    assert paths_unpack(blob) == paths
    assert len(blob) < len("\n".join(paths)) // 5
    assert paths_unpack(b"") == []


# --- KeyValues as the game reads them ------------------------------------------------------------

ONE_LINE_MISSION = (
    '"mission" { "Name" "oneline" "DisplayTitle" "One Line" "modes" { "coop" { '
    '"1" { "Map" "c9m1_alleys" "DisplayName" "Alleys" } "2" { "Map" "c9m2_lots" "DisplayName" "Lots" } '
    "} } }"
)


def test_several_pairs_on_one_line_are_read_as_the_game_reads_them(tmp_path):
    path = build_vpk(
        tmp_path / "x.vpk",
        {
            "addoninfo.txt": '"AddonInfo" { addontitle "On One Line" addonversion 3 addonContent_Campaign 1 }',
            "missions/oneline.txt": ONE_LINE_MISSION,
        },
    )

    contents = vpk_read(path)

    assert (contents.title, contents.addon_version, contents.flags) == ("On One Line", "3", ["campaign"])
    assert contents.campaigns[0].name == "One Line" and not contents.campaigns[0].problem
    assert contents.campaigns[0].modes == {"coop": ["c9m1_alleys", "c9m2_lots"]}


def test_comments_conditions_and_any_key_case(tmp_path):
    text = (
        '// a comment\n"MISSION"\n{\n\t"displaytitle" "Cased" // trailing\n\t"MODES"\n\t{\n\t\t"Coop"\n\t\t{\n'
        '\t\t\t"1" { "MAP" "pc_1" }\n'
        '\t\t\t"2" [$X360] { "Map" "console_only" }\n'
        '\t\t\t"3" { "Map" "pc_3" [$WIN32] "Map" "console_3" [$X360] }\n'
        '\t\t\t"4" [!$X360] { "map" "pc_4" }\n'
        "\t\t}\n\t}\n}\n"
    )
    path = build_vpk(tmp_path / "x.vpk", {"missions/cased.txt": text})

    campaign = vpk_read(path).campaigns[0]

    assert campaign.name == "Cased" and not campaign.problem
    assert campaign.modes == {"coop": ["pc_1", "pc_3", "pc_4"]}


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode(),
        lambda text: codecs.BOM_UTF8 + text.encode(),
        lambda text: text.encode("utf-16"),  # with its BOM, as Windows' Notepad saves "Unicode"
        lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    ],
    ids=["utf-8", "utf-8 with BOM", "utf-16-le with BOM", "utf-16-be with BOM"],
)
def test_utf8_with_or_without_bom_and_utf16_with_bom(tmp_path, encode):
    info = addoninfo("Café Ñandú", flags=("map",))
    path = build_vpk(
        tmp_path / "x.vpk",
        {
            "addoninfo.txt": encode(info),
            "missions/m.txt": encode(mission("m", {"coop": ["m_1"]}, title="Été")),
        },
    )

    contents = vpk_read(path)

    assert (contents.title, contents.flags, contents.addoninfo_problem) == ("Café Ñandú", ["map"], "")
    assert contents.campaigns[0].name == "Été" and contents.campaigns[0].modes == {"coop": ["m_1"]}


def test_backslashes_are_text_as_in_the_game(tmp_path):
    path = build_vpk(tmp_path / "x.vpk", {"addoninfo.txt": '"AddonInfo" { addontitle "C:\\new\\tools" }'})

    assert vpk_read(path).title == "C:\\new\\tools"


def test_an_unreadable_addoninfo_is_a_problem_noted_on_the_item(tmp_path):
    path = build_vpk(
        tmp_path / "x.vpk",
        {"addoninfo.txt": b"\x00\xff\x13garbage { {", "missions/m.txt": mission("m", {"coop": ["m_1"]})},
    )

    contents = vpk_read(path)

    assert contents.addoninfo_problem.startswith("addoninfo.txt unreadable:")
    assert contents.campaigns[0].modes == {"coop": ["m_1"]}


# --- names are data; any tree in bounded memory ----------------------------------------------------


def _raw(name: bytes) -> str:
    """A name srctools writes byte for byte (it takes bytes that are not ASCII as surrogates)."""
    return name.decode("ascii", errors="surrogateescape")


def test_names_that_are_not_utf8_are_kept_escaped_and_utf8_names_as_they_are(tmp_path):
    files = {
        _raw(b"maps/m\xfe\xfd.bsp"): "bsp",
        _raw("materials/café/ñ.vmt".encode()): "vmt",
        _raw(b"models/back\\slash.mdl"): "mdl",
        _raw(b"sound/two\nlines.wav"): "wav",
        "addoninfo.txt": addoninfo("X"),
    }
    path = build_vpk(tmp_path / "x.vpk", files)

    contents = vpk_read(path)

    assert contents.paths == [
        "addoninfo.txt",
        "maps/m\\xfe\\xfd.bsp",
        "materials/café/ñ.vmt",
        "models/back\\\\slash.mdl",
        "sound/two\\x0alines.wav",
    ]
    assert paths_unpack(paths_pack(contents.paths)) == contents.paths


def _undone(name: str) -> bytes:
    escape = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")
    parts = escape.split(name)
    return b"".join(
        part.encode()
        if n % 2 == 0
        else b"\\"
        if part == "\\"
        else bytes([int(part[1:], 16)])
        if part[0] == "x"
        else chr(int(part[1:], 16)).encode()
        for n, part in enumerate(parts)
    )


@pytest.mark.parametrize(
    "raw",
    [b"m\xfe\xfd", b"a\\xfe", "\u00e9\u200b\u202e\u2028".encode(), b"tab\there", b"plain_name.vmt", b"\x85"],
)
def test_the_escaping_can_be_undone_and_shows_every_character(raw):
    escaped = entry_name(raw)

    assert escaped.isprintable()
    assert _undone(escaped) == raw


def test_a_tree_of_more_files_than_any_addon_is_refused_without_reading_it_all(tmp_path):
    path = many_empty_entries(tmp_path / "crafted.vpk", 3_000_000)
    assert path.stat().st_size < MAX_TREE_BYTES  # under the tree cap: the count is what stops it

    with pytest.raises(NotAVpk, match=f"^{NOT_A_VPK}: more than {MAX_FILES} files$"):
        vpk_check(path)


def test_a_tree_at_the_file_cap_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr("workshop.vpk.MAX_FILES", 1000)

    assert vpk_read(many_empty_entries(tmp_path / "x.vpk", 1000)).file_count == 1000
    with pytest.raises(NotAVpk, match="more than 1000 files"):
        vpk_read(many_empty_entries(tmp_path / "y.vpk", 1001))


def test_a_name_without_its_end_is_not_a_vpk(tmp_path):
    path = tmp_path / "x.vpk"
    tree = b"txt\0folder\0" + b"n" * 10_000
    path.write_bytes(struct.pack("<III", 0x55AA1234, 1, len(tree)) + tree)

    with pytest.raises(NotAVpk, match="the tree does not parse \\(a name longer than 4096 bytes\\)"):
        vpk_check(path)


def test_every_map_shipped_is_listed_and_only_map_names_are_taken(tmp_path):
    files = {
        "missions/x.txt": '"mission" { "modes" { "coop" { "1" { "Map" "x_1" } "2" { "Map" "x_2\nsv_cheats 1" } } } }',
        "maps/x_1.bsp": "bsp",
        "maps/Scav-Map.2.bsp": "bsp",
        "maps/sub/not_loaded.bsp": "bsp",
        "maps/has space.bsp": "bsp",
        "maps/x_1.nav": "nav",
    }
    contents = vpk_read(build_vpk(tmp_path / "x.vpk", files))

    assert contents.maps == ["scav-map.2", "x_1"]
    assert contents.campaigns[0].modes == {"coop": ["x_1"]}
    assert contents.maps_left_out == ["has space", "x_2\\x0asv_cheats 1"]

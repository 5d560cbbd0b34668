"""Every path the cache, lock and link code builds from an id stays in its folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from workshop.cache import UnsafePath, cache_path, inside, link_name, lock_path, partial_path

HOSTILE = ["../x", "/abs", "", "1/2", "..", ".", "1\x002", "١٢٣"]  # the last: non-ASCII digits


@pytest.mark.parametrize("steam_id", HOSTILE)
@pytest.mark.parametrize("build", [cache_path, partial_path, lock_path])
def test_a_path_from_a_hostile_id_is_refused(build, steam_id: str) -> None:
    with pytest.raises(UnsafePath):
        build(Path("/data/workshop_cache"), steam_id)


@pytest.mark.parametrize("steam_id", HOSTILE)
def test_a_link_name_from_a_hostile_id_is_refused(steam_id: str) -> None:
    with pytest.raises(UnsafePath):
        link_name(steam_id)


def test_workshop_ids_make_plain_names_in_their_folder() -> None:
    root = Path("/data/workshop_cache")
    assert cache_path(root, "123") == root / "123.vpk"
    assert partial_path(root, "123") == root / ".123.vpk.part"
    assert lock_path(root, "123") == root / ".locks" / "123.lock"
    assert link_name("123") == "123.vpk"


@pytest.mark.parametrize("name", ["..", "a/b", "/etc", "", "a\\b"])
def test_inside_refuses_names_that_leave_the_folder(name: str) -> None:
    with pytest.raises(UnsafePath):
        inside(Path("/data"), name)

"""Upgrading fills in the maps of every stored upload from its stored paths."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from tests.test_app_split_migration import Migrator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def migrator() -> Any:
    migrator = Migrator()
    yield migrator
    migrator.latest()


def test_the_maps_of_stored_uploads_are_filled_in(migrator):
    old = migrator.migrate([("workshop", "0006_item_contents")])
    item = old.get_model("workshop", "WorkshopItem").objects.create(steam_id="42")
    paths = ["addoninfo.txt", "maps/sv_a.bsp", "maps/bad name.bsp", "maps/sub/x.bsp", "maps/c1.nav"]
    old.get_model("workshop", "WorkshopItemContents").objects.create(
        item=item, version=1, paths=zlib.compress("\n".join(paths).encode())
    )

    new = migrator.migrate([("workshop", "0007_item_maps")])

    row = new.get_model("workshop", "WorkshopItemContents").objects.get()
    assert (row.maps, row.maps_left_out) == (["sv_a"], [])

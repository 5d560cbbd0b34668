"""Register a game server (the stand-in) in the browser, add an item to its overlay, and see the
server's line move to the new build without a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import Page, expect

from servers.models import GameServer
from tests.browser.conftest import PASSWORD, SPARE_ITEMS, log_in
from tests.browser.test_flow import _add, _create_overlay, _wait_for_job_state
from tests.support.gameserver import StandInGameServer

SERVER_URL = re.compile(r"/servers/(\d+)/$")


@pytest.fixture
def game() -> Iterator[StandInGameServer]:
    with StandInGameServer(password="rcon-pass", players=0, map="c2m1_highway") as server:
        yield server


@pytest.fixture
def operator_tab(page: Page, django_user_model: Any) -> Page:
    group, _ = Group.objects.get_or_create(name="Operators")
    group.permissions.add(*Permission.objects.filter(codename__in=["manage_servers", "manage_all_overlays"]))
    user = django_user_model.objects.create_user("op", password=PASSWORD)
    user.groups.add(group)
    log_in(page, "op", PASSWORD)
    return page


def test_register_a_server_and_see_it_apply_a_build(operator_tab: Page, game: StandInGameServer) -> None:
    page = operator_tab
    overlay_id = _create_overlay(page, "Versus overlay")

    page.goto("/servers/new/")
    page.get_by_label("Name", exact=True).fill("Versus #1")
    page.get_by_label("Overlay").select_option(str(overlay_id))
    page.get_by_label("Address").fill("127.0.0.1")
    page.get_by_label("Game port").fill(str(game.port))
    page.get_by_label("RCON password").fill("rcon-pass")
    page.get_by_label("Apply policy").select_option("now")
    page.get_by_role("button", name="Register server").click()
    expect(page).to_have_url(SERVER_URL)
    expect(page.locator("#server-line")).to_have_text("unknown · not polled yet · no build applied yet")
    server_url = page.url
    assert "rcon-pass" not in page.content()

    page.goto(f"/overlays/{overlay_id}/")
    _add(page, list(SPARE_ITEMS)[5], mode="items")
    _wait_for_job_state(page, "Succeeded")
    build = int(page.url.rstrip("/").rsplit("/", 1)[1])
    applied = f"up · c2m1_highway · 0/8 players · runs the addons of build {build}; up to date"

    page.goto(server_url)
    # The line follows the status JSON: the apply's answer shows without a reload.
    expect(page.locator("#server-line")).to_have_text(applied, timeout=30_000)
    assert game.commands == ["update_addon_paths", "mission_reload", "changelevel c2m1_highway"]
    assert GameServer.objects.get().applied_build == build
    page.goto(f"/overlays/{overlay_id}/")
    expect(page.locator(".server-line")).to_have_text(applied)

    # A second item, added in another tab: this overlay page, never reloaded, follows the server
    # to the next build.
    watcher = page.context.new_page()
    watcher.goto(f"/overlays/{overlay_id}/")
    watcher.evaluate("window.notReloaded = true")
    _add(page, list(SPARE_ITEMS)[6], mode="items")
    _wait_for_job_state(page, "Succeeded")
    second = int(page.url.rstrip("/").rsplit("/", 1)[1])
    expect(watcher.locator(".server-line")).to_have_text(
        applied.replace(f"build {build}", f"build {second}"), timeout=30_000
    )
    assert watcher.evaluate("window.notReloaded") is True

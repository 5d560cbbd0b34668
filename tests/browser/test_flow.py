"""What an overlay owner does in the browser, against the pages of the UI contract
(/work/ui-contract.md, issue 13): log in, create an overlay, add items and a collection and
watch the build, find items by search and pages, remove some, cancel a slow download, mistype,
delete, and all of it on a phone."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Dialog, Page, expect

from jobs.models import Job
from jobs.services import job_cancel
from overlays.items import items_add
from overlays.models import Overlay, OverlayWorkshopItem
from overlays.services import overlay_create
from tests.browser.conftest import (
    COLLECTION,
    COLLECTION_ITEMS,
    ITEMS,
    LIVE_ITEMS,
    SLOW_ITEM,
    SPARE_ITEMS,
    csp_violations,
    log_in,
    screenshot,
)
from tests.support.fakesteam import FakeSteam, collection_title, item_title
from tests.support.vpkfiles import addoninfo, mission, vpk_bytes
from tests.support.workers import wait_for
from workshop.models import WorkshopItem

BUILD_TIMEOUT = 60_000  # ms: a build of a few small items on the fake Steam takes seconds


# --- helpers -------------------------------------------------------------------------------


def _ends(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(path) + r"(\?.*)?$")


EMPTY = re.compile(r"^\s*[\u2013-]?\s*$")  # a timestamp not filled in: blank or a dash
JOB_URL = re.compile(r"/jobs/(\d+)/$")
OVERLAY_URL = re.compile(r"/overlays/(\d+)/$")


def _id_in(page: Page, pattern: re.Pattern[str]) -> int:
    match = pattern.search(page.url)
    assert match, f"{page.url} does not match {pattern.pattern}"
    return int(match.group(1))


def _messages(page: Page) -> Any:
    return page.locator("ul.messages")


def _create_overlay(page: Page, name: str) -> int:
    page.goto("/overlays/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create overlay").click()
    expect(page).to_have_url(OVERLAY_URL)
    return _id_in(page, OVERLAY_URL)


def _add(page: Page, text: str, mode: str = "auto") -> None:
    page.get_by_label("Workshop ids or URLs").fill(text)
    page.locator(f"input[name=input_mode][value={mode}]").check()
    page.get_by_role("button", name="Add", exact=True).click()


def _wait_for_job_state(page: Page, label: str) -> None:
    expect(page.locator("#job-state")).to_have_text(label, timeout=BUILD_TIMEOUT)


def _overlay_with_items(owner: Any, name: str, ids: list[str]) -> Overlay:
    """An overlay holding `ids` of the fake Steam, built by the worker (as an add through the
    page would, without the page)."""
    overlay = overlay_create(owner=owner, name=name)
    job = items_add(overlay=overlay, text=" ".join(ids), input_mode="auto", user=owner).job
    done = wait_for(lambda: Job.objects.filter(pk=job.pk, state__in=Job.FINAL_STATES).first(), timeout=60)
    assert done.state == "succeeded", done.error  # type: ignore[union-attr]
    return overlay


def _overlay_of_rows(owner: Any, name: str, titles: list[str], *, first_id: int) -> Overlay:
    """An overlay whose items are only rows (no files, no build): for search and paging."""
    overlay = overlay_create(owner=owner, name=name)
    items = WorkshopItem.objects.bulk_create(
        WorkshopItem(
            steam_id=str(first_id + n),
            title=title,
            file_size=1_000_000 + n,
            time_updated=1_700_000_000 + n,
            steam_result=1,
            consumer_app_id=550,
        )
        for n, title in enumerate(titles)
    )
    OverlayWorkshopItem.objects.bulk_create(OverlayWorkshopItem(overlay=overlay, item=item) for item in items)
    return overlay


def _item_row(page: Page, steam_id: str) -> Any:
    return page.locator(f"tr.item#item-{steam_id}")


def _thumbnails_loaded(page: Page, steam_ids: list[str]) -> None:
    for steam_id in steam_ids:
        thumb = _item_row(page, steam_id).locator("img.thumb")
        thumb.scroll_into_view_if_needed()  # loading=lazy: off-screen images wait
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())


# --- the tests -----------------------------------------------------------------------------


def test_log_in_create_an_overlay_add_items_and_a_collection_and_watch_the_builds(
    logged_in: Page, fake_steam: FakeSteam
) -> None:
    page = logged_in
    overlay_id = _create_overlay(page, "Campaign server #1")
    expect(page.locator("h1")).to_have_text("Campaign server #1")

    _add(page, "\n".join(ITEMS), mode="items")
    expect(page).to_have_url(JOB_URL)
    # The build takes a few seconds (the fake Steam's rate limit): the page sees it end live.
    first_state = page.locator("#job-state").inner_text()
    _wait_for_job_state(page, "Succeeded")
    assert first_state != "Succeeded", "the build ended before the page loaded: nothing was live"

    page.goto(f"/overlays/{overlay_id}/")
    _add(page, COLLECTION, mode="collection")
    expect(page).to_have_url(JOB_URL)
    _wait_for_job_state(page, "Succeeded")

    overlay = Overlay.objects.get(pk=overlay_id)
    assert {p.name for p in overlay.addons_path.iterdir()} == {
        f"{i}.vpk" for i in {**ITEMS, **COLLECTION_ITEMS}
    }


def test_create_and_add_say_what_they_did(logged_in: Page) -> None:
    page = logged_in
    _create_overlay(page, "Campaign server #2")
    expect(_messages(page)).to_contain_text("Overlay 'Campaign server #2' created.")

    _add(page, " ".join(list(SPARE_ITEMS)[16:19]), mode="items")
    expect(page).to_have_url(JOB_URL)
    expect(_messages(page)).to_contain_text("Added 3 items")


def test_the_job_page_follows_the_build_without_reloading(logged_in: Page) -> None:
    page = logged_in
    overlay_id = _create_overlay(page, "Campaign server #3")
    _add(page, " ".join(LIVE_ITEMS), mode="items")
    expect(page).to_have_url(JOB_URL)
    first_state = page.locator("#job-state").inner_text()
    page.evaluate("window.__sameDocument = true")
    _wait_for_job_state(page, "Succeeded")
    expect(page.locator("#job-finished")).not_to_have_text(EMPTY)
    assert first_state != "Succeeded", "the build ended before the page loaded: nothing was live"
    page.wait_for_timeout(1500)  # a page that reloads once the job ends does so now
    assert page.evaluate("window.__sameDocument === true"), "the job page reloaded"

    expect(page.locator("h1")).to_contain_text("Build 'Campaign server #3' · added 3 items")
    for filled in ("#job-started", "#job-finished"):
        expect(page.locator(filled)).not_to_have_text(EMPTY)
    expect(page.locator("#job-items")).to_contain_text("3")
    expect(page.locator("[id^=job-item-]")).to_have_count(3)
    lines = page.locator("#job-log").inner_text().strip().splitlines()
    assert lines and all(re.match(r"\d\d:\d\d:\d\d", line) for line in lines), lines
    expect(page.locator("#job-cancel")).to_have_count(0)  # nothing left to cancel
    screenshot(page, "job-page")

    page.goto(f"/overlays/{overlay_id}/")
    expect(page.locator("#overlay-build")).to_contain_text("3 of 3")


def test_the_overlay_list_shows_each_overlays_health(
    logged_in: Page, gamer: Any, fake_steam: FakeSteam
) -> None:
    _overlay_with_items(gamer, "Versus night", list(SPARE_ITEMS)[19:20])
    overlay_create(owner=gamer, name="Not yet")
    logged_in.goto("/overlays/")

    healthy = logged_in.locator("tr").filter(has=logged_in.get_by_role("link", name="Versus night"))
    expect(healthy.locator("td.health")).to_contain_text("1/1 ready")
    empty = logged_in.locator("tr").filter(has=logged_in.get_by_role("link", name="Not yet"))
    expect(empty.locator("td.health")).to_have_text("empty")
    screenshot(logged_in, "overlay-list")


def test_the_overlay_page_shows_titles_and_thumbnails(
    logged_in: Page, gamer: Any, fake_steam: FakeSteam
) -> None:
    ids = list(SPARE_ITEMS)[:4]
    overlay = _overlay_with_items(gamer, "Campaign server #1", [*ids, COLLECTION])
    every = [*ids, *COLLECTION_ITEMS]
    WorkshopItem.objects.filter(steam_id=ids[-1]).update(preview_url="")

    logged_in.goto(f"/overlays/{overlay.pk}/")

    expect(logged_in.locator("tr.item")).to_have_count(len(every))
    for steam_id in every:
        row = _item_row(logged_in, steam_id)
        expect(row.locator("a.title")).to_have_text(item_title(steam_id))
        expect(row.locator("a.title")).to_have_attribute(
            "href", re.compile(rf"steamcommunity\.com/.*{steam_id}")
        )
        expect(row.locator(".state")).to_have_text("cached")
        source = collection_title(COLLECTION) if steam_id in COLLECTION_ITEMS else "direct"
        expect(row).to_contain_text(source)
    _thumbnails_loaded(logged_in, [i for i in every if i != ids[-1]])
    for steam_id in ids[:-1]:
        expect(_item_row(logged_in, steam_id).locator("img.thumb")).to_have_attribute("loading", "lazy")
    expect(_item_row(logged_in, ids[-1]).locator(".thumb.placeholder")).to_have_count(1)
    expect(_item_row(logged_in, ids[-1]).locator("img.thumb")).to_have_count(0)
    for steam_id in ids[:2]:  # the picture shows a selection and its count
        logged_in.get_by_label(f"Select {item_title(steam_id)}").check()
    expect(logged_in.locator("#selected-count")).to_have_text(" · 2 selected")
    screenshot(logged_in, "overlay-detail")


def test_the_overlay_page_shows_campaigns_maps_and_a_conflict(
    logged_in: Page, gamer: Any, fake_steam: FakeSteam, tmp_path: Any
) -> None:
    survivor = "models/survivors/survivor_gambler.mdl"
    uploads = {
        "7790001": {
            "addoninfo.txt": addoninfo("Helms Deep Reborn", flags=("campaign", "map")),
            "missions/helmsdeep.txt": mission(
                "helmsdeep",
                {"coop": ["hd_gate", "hd_wall", "hd_keep"], "versus": ["hd_gate_vs", "hd_keep_vs"]},
                title="Helms Deep Reborn",
            ),
            survivor: "nick as a rohirrim",
        },
        "7790002": {
            "addoninfo.txt": addoninfo("Nick as Bill", flags=("survivor",)),
            survivor: "nick as bill",
            "scripts/vscripts/mapspawn_addon.nut": "hook",
        },
    }
    for steam_id, files in uploads.items():
        (tmp_path / steam_id).mkdir()
        fake_steam.add_item(steam_id, data=vpk_bytes(tmp_path / steam_id, files))
    overlay = _overlay_with_items(gamer, "Campaigns and a skin", list(uploads))

    logged_in.goto(f"/overlays/{overlay.pk}/")

    panel = logged_in.locator("#campaigns")
    expect(panel).to_contain_text("Helms Deep Reborn")
    expect(panel).to_contain_text("hd_gate, hd_wall, hd_keep")
    expect(panel.locator("#maps-coop")).to_have_value("hd_gate\nhd_wall\nhd_keep")
    expect(_item_row(logged_in, "7790002").locator(".badge.kind")).to_have_text("survivor model")
    conflicts = logged_in.locator("#conflicts")
    # named by the items' titles, their ids beside them
    expect(conflicts).to_contain_text(
        f"{item_title('7790001')} + {item_title('7790002')} (7790001, 7790002): 1 file"
    )
    panel.locator("details.map-list").first.evaluate("el => el.open = true")
    conflicts.locator("details").first.evaluate("el => el.open = true")
    expect(conflicts).to_contain_text(survivor)
    logged_in.set_viewport_size({"width": 1280, "height": 1000})
    logged_in.locator("#campaigns").evaluate("el => window.scrollTo(0, el.offsetTop - 90)")
    screenshot(logged_in, "overlay-contents", full_page=False)

    # The owner shares it with the players: the link opens without a login, names no host or owner.
    logged_in.get_by_role("button", name="Turn on the players' page").click()
    link = logged_in.locator("#share-link").inner_text()
    expect(logged_in.get_by_role("button", name="Copy the players' page link")).to_be_visible()
    logged_in.context.clear_cookies()
    logged_in.goto(link)
    expect(logged_in.locator("h1")).to_have_text("Campaigns and a skin")
    expect(logged_in.locator("#players")).to_contain_text("hd_gate, hd_wall, hd_keep")
    expect(logged_in.get_by_role("link", name=item_title("7790002"))).to_have_attribute(
        "href", re.compile(r"steamcommunity\.com/.*7790002")
    )
    expect(logged_in.locator("body")).not_to_contain_text(gamer.username)


def test_search_and_filter_the_items(logged_in: Page, gamer: Any) -> None:
    titles = ["Tank Run", "Tank Run 2", "Urban Flight", "Helms Deep Reborn", "Dead Before Dawn"]
    overlay = _overlay_of_rows(gamer, "Search", titles, first_id=7100001)
    logged_in.goto(f"/overlays/{overlay.pk}/")
    expect(logged_in.locator("tr.item")).to_have_count(len(titles))

    form = logged_in.locator("form#item-filter")
    form.get_by_label("Search").fill("tank")
    form.get_by_role("button", name="Apply").click()

    expect(logged_in).to_have_url(re.compile(r"[?&]q=tank"))
    expect(logged_in.locator("tr.item a.title")).to_have_text(["Tank Run", "Tank Run 2"])
    expect(form.get_by_label("Search")).to_have_value("tank")

    form.get_by_label("Search").fill("")
    form.get_by_label("Sort").select_option("-title")
    form.get_by_role("button", name="Apply").click()
    expect(logged_in.locator("tr.item a.title")).to_have_text(sorted(titles, reverse=True))

    form.get_by_label("State").select_option("failed")
    form.get_by_role("button", name="Apply").click()
    expect(logged_in.locator("tr.item")).to_have_count(0)


def test_a_long_overlay_comes_in_pages_of_a_hundred(logged_in: Page, gamer: Any) -> None:
    titles = [f"Survival Map {n:03d}" for n in range(230)] + ["Tank Run"]
    overlay = _overlay_of_rows(gamer, "Long", titles, first_id=7200001)
    page = logged_in
    page.goto(f"/overlays/{overlay.pk}/?q=survival&sort=title")

    pagination = page.locator("nav.pagination")
    expect(page.locator("tr.item")).to_have_count(100)
    expect(pagination).to_contain_text("Page 1 of 3")
    expect(page.locator("tr.item a.title").first).to_have_text("Survival Map 000")

    pagination.get_by_role("link", name="Next").click()
    expect(pagination).to_contain_text("Page 2 of 3")
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page).to_have_url(re.compile(r"q=survival"))
    expect(page.locator("tr.item a.title").first).to_have_text("Survival Map 100")

    # The count of what is chosen, this page's rows or every matching one, which Remove asks about.
    page.locator("#select-all").check()
    expect(page.locator("#selected-count")).to_have_text(" · 100 selected")
    page.get_by_label("select all 230 matching").check()
    expect(page.locator("#selected-count")).to_have_text(" · 230 selected")
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Remove selected").click()
    assert dialogs == ["Remove the 230 items from Long?"]
    assert OverlayWorkshopItem.objects.filter(overlay=overlay).count() == 231

    pagination.get_by_role("link", name="Page 3", exact=True).click()
    expect(pagination).to_contain_text("Page 3 of 3")
    expect(pagination.locator("[aria-current=page]")).to_have_text("3")
    expect(page.locator("tr.item")).to_have_count(30)
    expect(pagination.get_by_role("link", name="Next")).to_have_count(0)

    pagination.get_by_role("link", name="Previous").click()
    expect(pagination).to_contain_text("Page 2 of 3")


def test_remove_asks_first_and_removes_the_selected_items(
    logged_in: Page, gamer: Any, fake_steam: FakeSteam
) -> None:
    ids = list(SPARE_ITEMS)[4:8]
    overlay = _overlay_with_items(gamer, "Removals", ids)
    page = logged_in
    page.goto(f"/overlays/{overlay.pk}/")
    dialogs: list[str] = []

    # Dismissing the per-row confirm changes nothing.
    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name=f"Remove {item_title(ids[0])}", exact=True).click()
    expect(page).to_have_url(_ends(f"/overlays/{overlay.pk}/"))
    assert dialogs == [f"Remove {item_title(ids[0])} from Removals?"]
    expect(page.locator("tr.item")).to_have_count(len(ids))

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.get_by_label(f"Select {item_title(ids[0])}").check()
    page.get_by_label(f"Select {item_title(ids[1])}").check()
    expect(page.locator("#selected-count")).to_have_text(" · 2 selected")
    page.once("dialog", accept)
    page.get_by_role("button", name="Remove selected").click()

    expect(page).to_have_url(JOB_URL)
    assert dialogs[1] == "Remove the 2 items from Removals?"
    expect(_messages(page)).to_contain_text("Removed 2 items")
    _wait_for_job_state(page, "Succeeded")
    page.goto(f"/overlays/{overlay.pk}/")
    expect(page.locator("tr.item")).to_have_count(len(ids) - 2)
    expect(_item_row(page, ids[0])).to_have_count(0)
    expect(_item_row(page, ids[2])).to_have_count(1)


def test_cancel_a_slow_download(logged_in: Page, fake_steam: FakeSteam) -> None:
    page = logged_in
    _create_overlay(page, "Slow")
    _add(page, SLOW_ITEM, mode="items")
    expect(page).to_have_url(JOB_URL)
    job_id = _id_in(page, JOB_URL)
    expect(page.locator("#job-state")).to_have_text("Running", timeout=BUILD_TIMEOUT)
    wait_for(lambda: Job.objects.get(pk=job_id).bytes_done > 0, timeout=30)

    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.locator("#job-cancel").get_by_role("button", name="Cancel").click()

    _wait_for_job_state(page, "Cancelled")
    assert dialogs and dialogs[0].startswith("Cancel Build 'Slow'"), dialogs
    assert Job.objects.get(pk=job_id).state == "cancelled"


def test_the_overlay_page_follows_a_running_build(logged_in: Page, gamer: Any) -> None:
    overlay = overlay_create(owner=gamer, name="Busy")
    job = items_add(overlay=overlay, text=SLOW_ITEM, input_mode="items", user=gamer).job
    page = logged_in
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).bytes_done > 0, timeout=30)
        page.goto(f"/overlays/{overlay.pk}/")
        page.evaluate("window.__sameDocument = true")

        expect(page.locator("#overlay-build")).to_contain_text(re.compile("running", re.IGNORECASE))
        expect(page.locator("#overlay-build")).to_contain_text("0 of 1 item done")
        state = _item_row(page, SLOW_ITEM).locator(".state")
        expect(state).to_have_text(re.compile(r"^downloading \d+%$"))
        first = state.inner_text()
        expect(state).not_to_have_text(first, timeout=15_000)  # the poll moves it on
        assert page.evaluate("window.__sameDocument === true"), "the overlay page reloaded"
        # Adding stays possible during a build (it queues a build behind this one).
        expect(page.get_by_label("Workshop ids or URLs")).to_be_editable()
        expect(page.get_by_role("button", name="Add", exact=True)).to_be_enabled()
    finally:
        job_cancel(job=Job.objects.get(pk=job.pk))
        wait_for(lambda: Job.objects.get(pk=job.pk).state in Job.FINAL_STATES, timeout=60)


def test_bad_input_shows_the_error_and_keeps_the_text(logged_in: Page, gamer: Any) -> None:
    page = logged_in
    overlay_id = _create_overlay(page, "Typos")
    typed = "12345 not-a-workshop-id"

    with page.expect_response(lambda r: r.request.method == "POST" and "/items/" in r.url) as answer:
        _add(page, typed)
    assert answer.value.status == 400
    expect(page.locator("p.error[role=alert]")).to_be_visible()
    expect(page.locator("p.error[role=alert]")).to_contain_text("not-a-workshop-id")
    expect(page.get_by_label("Workshop ids or URLs")).to_have_value(typed)
    expect(page).to_have_url(_ends(f"/overlays/{overlay_id}/items/"))

    # Loading the address again (a GET, as after a restart or from the history) gives a page.
    reloaded = page.goto(page.url)
    assert reloaded is not None and reloaded.status == 200
    expect(page).to_have_url(_ends(f"/overlays/{overlay_id}/"))
    expect(page.locator("h1")).to_have_text("Typos")

    # The same name twice: the list page says why and keeps what was typed.
    page.goto("/overlays/")
    page.get_by_label("Name", exact=True).fill("Typos")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Create overlay").click()
    assert answer.value.status == 400
    expect(page.locator("p.error")).to_contain_text("Typos")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Typos")


def test_delete_asks_for_the_name_typed(logged_in: Page, gamer: Any) -> None:
    page = logged_in
    overlay_id = _create_overlay(page, "Old maps")
    confirm = page.get_by_label("Type the overlay's name to delete it")

    confirm.fill("old maps")
    page.get_by_role("button", name="Delete overlay").click()
    # The error sits in the delete box, at the overlay's address: a reload posts nothing.
    expect(page).to_have_url(re.compile(rf"/overlays/{overlay_id}/#delete-overlay$"))
    expect(page.locator("#delete-overlay #delete-error")).to_have_text(
        "Type the overlay's name exactly to delete it."
    )
    expect(page.locator("#delete-error")).to_be_in_viewport()
    expect(confirm).to_have_value("old maps")
    with page.expect_request(lambda r: True) as reload:
        page.reload()
    assert reload.value.method == "GET"
    expect(page.locator("#delete-error")).to_have_count(0)
    assert Overlay.objects.filter(pk=overlay_id, deleting=False).exists()

    page.get_by_label("Type the overlay's name to delete it").fill("Old maps")
    page.get_by_role("button", name="Delete overlay").click()
    expect(page).to_have_url(_ends("/overlays/"))
    expect(_messages(page)).to_contain_text("Overlay 'Old maps' deleted")
    expect(page.get_by_role("link", name="Old maps", exact=True)).to_have_count(0)
    wait_for(lambda: not Overlay.objects.filter(pk=overlay_id).exists(), timeout=60)


def test_on_a_phone_every_item_button_is_on_screen(
    logged_in: Page, gamer: Any, fake_steam: FakeSteam
) -> None:
    ids = list(SPARE_ITEMS)[8:12]
    overlay = _overlay_with_items(gamer, "Campaign server on the go", ids)
    WorkshopItem.objects.filter(steam_id=ids[0]).update(
        title="A Very Long Community Campaign Name That Goes On: Director's Cut Remastered Edition"
    )
    page = logged_in
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(f"/overlays/{overlay.pk}/")
    rows = page.locator("tr.item")
    expect(rows).to_have_count(len(ids))
    for steam_id in ids:
        buttons = _item_row(page, steam_id).get_by_role("button")
        # Pin and Remove (Roll back only shows when an earlier upload is kept).
        assert buttons.count() >= 2, f"item {steam_id} shows {buttons.count()} buttons"
        for button in buttons.all():
            button.scroll_into_view_if_needed()
            box = button.bounding_box()
            assert box is not None, f"{button.inner_text()!r} of {steam_id} is not shown"
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (steam_id, button.inner_text(), box)
    _no_sideways_scrolling(page)
    screenshot(page, "overlay-phone")

    for path in ("/overlays/", "/jobs/"):
        page.goto(path)
        _no_sideways_scrolling(page)
    page.goto(f"/jobs/{Job.objects.filter(user=gamer).order_by('-id').first().pk}/")  # type: ignore[union-attr]
    _no_sideways_scrolling(page)


def _no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, f"{page.url} scrolls sideways: {width}px wide at 390px"


def test_error_pages_use_the_layout(logged_in: Page) -> None:
    answer = logged_in.goto("/overlays/999999/")
    assert answer is not None and answer.status == 404
    expect(logged_in.locator("header.topbar")).to_be_visible()
    expect(logged_in.locator("h1")).to_have_text("Not found")
    expect(logged_in.get_by_role("link", name="Back to your overlays")).to_be_visible()


def test_pages_and_the_admin_send_a_csp_they_pass(page: Page, superuser: Any) -> None:
    """Every page carries a Content-Security-Policy with no inline script allowed; the admin's
    pages pass it (the fixture fails the test on any violation), and a violation is seen."""
    answer = page.goto("/accounts/login/")
    assert answer is not None
    policy = answer.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    log_in(page, "root", "pw-root-123")
    overlay = overlay_create(owner=superuser, name="csp")
    for path in (
        "/admin/",
        "/admin/overlays/overlay/",
        f"/admin/overlays/overlay/{overlay.pk}/change/",
        "/admin/auth/user/add/",
        "/admin/axes/accessattempt/",
        f"/overlays/{overlay.pk}/",
    ):
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        assert answer.headers["content-security-policy"] == policy
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=x onerror=alert(1)>')")
    expect(page.locator("body")).to_be_visible()
    page.wait_for_timeout(300)
    seen = csp_violations(page)
    assert seen and "script-src" in seen[0]  # the inline handler was refused, and it shows
    seen.clear()

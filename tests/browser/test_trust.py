"""Pages an owner can trust (issue 24): a destructive click asks first and says what it does in
numbers, an action that cannot apply is not offered (and answers 400 on the overlay page when it
comes anyway), a cancelled build can be finished, the live page agrees with itself, and every
page fits a phone."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import Dialog, Page, expect

from jobs.models import Job, JobItem
from jobs.services import job_cancel
from overlays.items import items_add
from overlays.models import OverlayWorkshopItem
from overlays.services import build_enqueue, overlay_create
from tests.browser.conftest import (
    COLLECTION,
    COLLECTION_ITEMS,
    FOLLOW_ITEMS,
    ITEMS,
    PASSWORD,
    SPARE_ITEMS,
    log_in,
)
from tests.browser.test_flow import (
    JOB_URL,
    _ends,
    _id_in,
    _item_row,
    _messages,
    _overlay_of_rows,
    _overlay_with_items,
    _wait_for_job_state,
)
from tests.support.fakesteam import collection_title, item_title
from workshop.cache import versions_dir
from workshop.models import WorkshopItem


def _answer(dialogs: list[str], *, accept: bool) -> Any:
    def handle(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    return handle


def test_unfollow_removing_items_asks_first_with_the_count_and_names_the_collection(
    logged_in: Page, gamer: Any
) -> None:
    overlay = _overlay_with_items(gamer, "Followed", [COLLECTION])
    page = logged_in
    page.goto(f"/overlays/{overlay.pk}/")
    title = collection_title(COLLECTION)
    row = page.locator(f"#collection-{COLLECTION}")
    row.get_by_label("remove the 3 items only it brought").check()
    dialogs: list[str] = []

    page.once("dialog", _answer(dialogs, accept=False))
    row.get_by_role("button", name=f"Unfollow {title}").click()
    expect(page).to_have_url(_ends(f"/overlays/{overlay.pk}/"))
    assert dialogs == [f"Unfollow {title} and remove the 3 items only this collection brought?"]
    assert OverlayWorkshopItem.objects.filter(overlay=overlay).count() == len(COLLECTION_ITEMS)

    page.once("dialog", _answer(dialogs, accept=True))
    row.get_by_role("button", name=f"Unfollow {title}").click()
    expect(page).to_have_url(JOB_URL)
    expect(_messages(page)).to_contain_text(f"Unfollowed {title} and removed the 3 items only it brought.")
    _wait_for_job_state(page, "Succeeded")
    assert not OverlayWorkshopItem.objects.filter(overlay=overlay).exists()


def _csrf(page: Page) -> str:
    return str(page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value"))


def test_roll_back_and_unpin_are_offered_only_where_they_apply_and_say_why_otherwise(
    logged_in: Page, gamer: Any
) -> None:
    ids = list(SPARE_ITEMS)[12:15]
    overlay = _overlay_with_items(gamer, "Versions", ids)
    page = logged_in
    page.goto(f"/overlays/{overlay.pk}/")
    first = _item_row(page, ids[0])
    expect(first.get_by_role("button", name=f"Pin {item_title(ids[0])}")).to_be_visible()
    # Only one upload of each is kept: nothing to roll back to, and nothing is pinned.
    expect(page.get_by_role("button", name=re.compile("^Roll back"))).to_have_count(0)
    expect(page.get_by_role("button", name="Unpin selected")).to_have_count(0)

    # A request that comes anyway answers 400 with the reason on the overlay page.
    answer = page.request.post(
        f"/overlays/{overlay.pk}/items/rollback/",
        form={"csrfmiddlewaretoken": _csrf(page), "steam_id": ids[0]},
        max_redirects=0,
    )
    assert answer.status == 400
    assert f"No earlier upload of workshop item {ids[0]} is kept." in answer.text()
    assert "<h1>Versions</h1>" in answer.text()

    # With one item pinned, "Unpin selected" on an unpinned one says so, on the overlay page.
    first.get_by_role("button", name=f"Pin {item_title(ids[0])}").click()
    expect(page).to_have_url(JOB_URL)
    expect(_messages(page)).to_contain_text(f"Pinned {item_title(ids[0])}")
    _wait_for_job_state(page, "Succeeded")
    page.goto(f"/overlays/{overlay.pk}/")
    # The pin names the upload it holds, and its badge reads in dark mode too.
    expect(_item_row(page, ids[0]).locator(".pinned-upload")).to_contain_text(
        re.compile(r"to the upload of \d{4}-")
    )
    page.emulate_media(color_scheme="dark")
    assert _contrast(page, f"#item-{ids[0]} .badge.pinned") >= 4.5
    page.emulate_media(color_scheme="light")
    page.get_by_label(f"Select {item_title(ids[1])}").check()
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Unpin selected").click()
    assert posted.value.status == 400
    expect(page.locator("p.error[role=alert]")).to_have_text(f"Workshop item {ids[1]} is not pinned.")
    expect(page.locator("h1")).to_have_text("Versions")
    expect(_item_row(page, ids[1]).get_by_role("button", name=re.compile("^Unpin"))).to_have_count(0)

    # An earlier upload kept in the cache: Roll back shows; it opens the item's history, which
    # lists both uploads and rolls back to the one chosen.
    kept = versions_dir(settings.WORKSHOP_CACHE_ROOT, ids[2])
    kept.mkdir(parents=True, exist_ok=True)
    (kept / "1500000000.vpk").write_bytes(b"an earlier upload")
    page.goto(f"/overlays/{overlay.pk}/")
    _item_row(page, ids[2]).get_by_role("link", name=f"Roll back {item_title(ids[2])}").click()
    expect(page).to_have_url(_ends(f"/overlays/{overlay.pk}/items/{ids[2]}/history/"))
    expect(page.locator("h1")).to_have_text(item_title(ids[2]))
    expect(page.locator("#history tbody tr")).to_have_count(2)
    expect(page.locator("#upload-1500000000")).to_contain_text("not read yet")
    newest = page.locator("#history tbody tr").first
    expect(newest).to_contain_text("newest")
    expect(newest).to_contain_text("the first upload read")
    page.get_by_role("button", name="Roll back to upload 1500000000").click()
    expect(page).to_have_url(JOB_URL)
    expect(_messages(page)).to_contain_text(f"Rolled back {item_title(ids[2])}")


# The contrast ratio (WCAG) of an element's text on its own background.
CONTRAST = """(selector) => {
  const el = document.querySelector(selector), style = getComputedStyle(el);
  const lum = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map((v) => {
    v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [a, b] = [lum(style.color), lum(style.backgroundColor)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def _contrast(page: Page, selector: str) -> float:
    return float(page.evaluate(CONTRAST, selector))


def test_a_cancelled_build_is_finished_with_build_now(logged_in: Page, gamer: Any) -> None:
    ids = list(COLLECTION_ITEMS)
    overlay = overlay_create(owner=gamer, name="Interrupted")
    with transaction.atomic():  # cancelled before any worker sees it, as a cancel mid-way leaves it
        job = items_add(overlay=overlay, text=" ".join(ids), input_mode="items", user=gamer).job
        job_cancel(job=job)
        JobItem.objects.bulk_create(JobItem(job=job, key=sid, title=item_title(sid)) for sid in ids)
    page = logged_in
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("#job-state")).to_have_text("Cancelled")
    expect(page.locator(f"#job-item-{ids[0]} .badge")).to_have_text("Not started (job cancelled)")

    page.goto(f"/overlays/{overlay.pk}/")
    page.get_by_role("button", name="Build now (resume)").click()
    expect(page).to_have_url(JOB_URL)
    assert _id_in(page, JOB_URL) != job.pk
    expect(_messages(page)).to_contain_text("Build of Interrupted queued")
    _wait_for_job_state(page, "Succeeded")
    page.goto(f"/overlays/{overlay.pk}/")
    expect(page.locator(".health")).to_contain_text("3/3 ready")


def test_retry_failed_items_and_retry_now(logged_in: Page, gamer: Any) -> None:
    steam_id = list(SPARE_ITEMS)[15]
    overlay = _overlay_with_items(gamer, "Flaky", [steam_id])
    WorkshopItem.objects.filter(steam_id=steam_id).update(last_error="download failed: HTTP 503")
    page = logged_in
    page.goto(f"/overlays/{overlay.pk}/")
    page.get_by_role("button", name="Retry 1 failed item").click()
    expect(page).to_have_url(JOB_URL)
    expect(_messages(page)).to_contain_text(f"Retrying {item_title(steam_id)}")
    _wait_for_job_state(page, "Succeeded")

    with transaction.atomic():  # a build that failed on something passing, waiting to retry in an hour
        job = build_enqueue(overlay=overlay, user=gamer, reason="refresh")
        Job.objects.filter(pk=job.pk).update(retries=1, retry_at=timezone.now() + timedelta(hours=1))
    page.goto(f"/overlays/{overlay.pk}/")
    expect(page.locator("#overlay-actions")).to_contain_text("waiting to retry at")
    page.goto(f"/jobs/{job.pk}/")
    page.get_by_role("button", name="Retry now").click()
    expect(page).to_have_url(_ends(f"/jobs/{job.pk}/"))
    expect(_messages(page)).to_contain_text("retrying now")
    _wait_for_job_state(page, "Succeeded")

    # Asked again once it ran: 400 with the reason on the job's page.
    answer = page.request.post(f"/jobs/{job.pk}/retry-now/", form={"csrfmiddlewaretoken": _csrf(page)})
    assert answer.status == 400
    assert "is not waiting to retry" in answer.text()


def test_the_live_overlay_page_redraws_whole_rows_and_the_header(logged_in: Page, gamer: Any) -> None:
    ids = list(FOLLOW_ITEMS)
    overlay = overlay_create(owner=gamer, name="Live")
    items_add(overlay=overlay, text=" ".join(ids), input_mode="items", user=gamer)
    page = logged_in
    page.goto(f"/overlays/{overlay.pk}/")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label(f"Select {item_title(ids[2])}").check()

    for steam_id in ids:  # each row turns cached with the buttons a cached item has
        row = _item_row(page, steam_id)
        expect(row.locator(".state")).to_have_text("cached", timeout=60_000)
        expect(row.get_by_role("button", name=f"Pin {item_title(steam_id)}")).to_be_visible()
    expect(page.locator("#overlay-health")).to_contain_text("3/3 ready")
    expect(page.locator("#overlay-build-state")).to_have_text("Succeeded")
    expect(page.locator("#overlay-build-items")).to_contain_text("3 of 3")
    expect(page.get_by_label(f"Select {item_title(ids[2])}")).to_be_checked()  # the choice survives
    assert page.evaluate("window.__sameDocument === true"), "the overlay page reloaded"


def test_a_user_changes_their_own_password_from_the_header(logged_in: Page) -> None:
    page = logged_in
    page.locator("header.topbar").get_by_role("link", name="Password").click()
    expect(page).to_have_url(_ends("/accounts/password/"))
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a much longer new passphrase")
    page.get_by_label("New password confirmation").fill("a much longer new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("h1")).to_have_text("Password changed")
    page.locator("header.topbar").get_by_role("button", name="Log out gamer").click()
    log_in(page, "gamer", "a much longer new passphrase")


# Elements of the page whose content is wider than they are (cut off, or scrolled inside them);
# the job log and text boxes scroll on purpose.
CUT_OFF = """() => Array.from(document.querySelectorAll("main *")).filter(el => {
  if (el.closest("pre.log, textarea, select") || !el.offsetParent) return false;
  const style = getComputedStyle(el);
  return ["auto", "scroll", "hidden"].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
}).map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + "." + el.className)"""


def _fits(page: Page, width: int) -> None:
    scrolled = page.evaluate("document.scrollingElement.scrollWidth")
    assert scrolled <= width, f"{page.url} scrolls sideways: {scrolled}px wide at {width}px"
    cut = page.evaluate(CUT_OFF)
    assert not cut, f"{page.url} cuts off {cut}"


def test_every_page_fits_a_phone_and_copy_buttons_cover_nothing(logged_in: Page, gamer: Any) -> None:
    overlay = _overlay_with_items(gamer, "Pocket", [COLLECTION])
    page = logged_in
    page.goto(f"/overlays/{overlay.pk}/#use-with-server")
    for block in page.locator(".copyable").all():  # at 1280 px: the button below the command
        code, button = block.locator("pre").bounding_box(), block.locator("button.copy").bounding_box()
        assert code and button and button["y"] >= code["y"] + code["height"], (code, button)
    _fits(page, 1280)

    page.set_viewport_size({"width": 390, "height": 844})
    job = Job.objects.filter(owner=gamer).order_by("-id").first()
    assert job is not None
    for path in (
        "/overlays/",
        f"/overlays/{overlay.pk}/",
        f"/overlays/{overlay.pk}/?q=zzz",
        "/jobs/",
        f"/jobs/{job.pk}/",
        "/accounts/password/",
    ):
        page.goto(path)
        _fits(page, 390)
        if "q=zzz" in path:  # an empty search: a way back, and no bulk action to press
            expect(page.get_by_role("button", name="Remove selected")).to_be_disabled()
            page.locator("tbody").get_by_role("link", name="Clear search").click()
            expect(page.locator("tr.item")).to_have_count(len(COLLECTION_ITEMS))
    expect(page.locator("header.topbar").get_by_role("link", name="Password")).to_be_in_viewport()
    page.locator("header.topbar").get_by_role("button", name="Log out gamer").click()
    page.goto("/accounts/login/")
    _fits(page, 390)


def test_collections_only_with_an_items_id_says_it_is_an_item(logged_in: Page, gamer: Any) -> None:
    overlay = overlay_create(owner=gamer, name="Strict")
    page = logged_in
    page.goto(f"/overlays/{overlay.pk}/")
    steam_id = next(iter(ITEMS))
    page.get_by_label("Workshop ids or URLs").fill(steam_id)
    page.locator("input[name=input_mode][value=collection]").check()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Add", exact=True).click()
    assert answer.value.status == 400
    expect(page.locator("p.error[role=alert]")).to_contain_text(
        f'{steam_id} ({item_title(steam_id)}) is a workshop item, not a collection: add it with "Detect" or "Items"'
    )


def test_the_admins_overlay_page_stays_short_and_links_its_items(page: Page, superuser: Any) -> None:
    overlay = _overlay_of_rows(superuser, "Big", [f"Map {n:03}" for n in range(350)], first_id=7770000)
    log_in(page, "root", "pw-root-123")
    page.goto(f"/admin/overlays/overlay/{overlay.pk}/change/")
    expect(page.locator(".field-items")).to_contain_text("350 items")
    height = page.evaluate("document.scrollingElement.scrollHeight")
    assert height < 2500, f"the admin's overlay page is {height}px tall"
    page.locator(".field-items").get_by_role("link", name="list them").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(100)
    expect(page.locator("#changelist")).to_contain_text("350 overlay workshop items")

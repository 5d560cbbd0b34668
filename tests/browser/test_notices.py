"""Notifications: an operator adds a destination from the header's link and presses its Test
button; the worker delivers the notice to a local receiver through apprise's JSON webhook."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, log_in
from tests.browser.test_flow import JOB_URL, _messages, _wait_for_job_state
from tests.support.receiver import NoticeReceiver
from tests.support.workers import wait_for


def test_a_destination_is_added_and_its_test_button_delivers(page: Page, django_user_model: Any) -> None:
    django_user_model.objects.create_superuser("olga", password=PASSWORD)
    log_in(page, "olga", PASSWORD)
    with NoticeReceiver() as receiver:
        page.get_by_role("link", name="Notifications").click()
        expect(page.locator("h1")).to_have_text("Notifications")
        page.get_by_label("Name").fill("Mod updates")
        page.get_by_label("Apprise URL").fill(receiver.url)
        page.get_by_label("Items updated (with what changed)").check()
        page.get_by_role("button", name="Add").click()
        expect(_messages(page)).to_contain_text("Destination 'Mod updates' added")
        row = page.locator("#destinations tbody tr")
        expect(row).to_contain_text("json://12….1/…")
        expect(row).to_contain_text("items_updated")
        assert "/hook" not in page.content()

        row.get_by_role("button", name="Test Mod updates").click()
        expect(page).to_have_url(JOB_URL)
        _wait_for_job_state(page, "Succeeded")
        wait_for(lambda: receiver.received, timeout=10)
        assert receiver.received[0]["title"] == "left4me: test notice"
        page.goto("/account/notifications/")
        expect(page.locator("#destinations tbody tr")).to_contain_text("ok")

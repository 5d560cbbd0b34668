"""The browser suite: Debian's chromium driven by Playwright against a live Django server, real
Celery workers, the session's private Redis and a fake Steam that looks like the Workshop.

Everything here runs in one process except the workers: the live server (pytest-django's, a
thread) and the test share the SQLite test database file, which the workers open by
``DATABASE_URL`` (tests.support.workers.worker_env). The fake Steam, the worker and the browser
start once for the package, and so does the browser tab (cookies cleared, size and page reset
after each test); each test gets a flushed database.

``LEFT4ME_SCREENSHOTS=DIR`` (``make screenshots``) saves the README's pictures into DIR as the
tests pass the pages they show.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test.utils import override_settings
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.support.fakesteam import FakeSteam
from tests.support.workers import running_worker

# make test names the binary (chromium's headless build where it can); the same choice here.
CHROMIUM = os.environ.get("LEFT4ME_CHROMIUM") or next(
    (path for path in ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium") if os.access(path, os.X_OK)),
    "/usr/bin/chromium-headless-shell",
)
PASSWORD = "correct horse battery"

# What the fake Steam holds (ids are picked so the titles differ; see fakesteam.item_title).
ITEMS = {"5550001": 600_000, "5550002": 400_000, "5550003": 300_000}
LIVE_ITEMS = {"5550201": 500_000, "5550202": 500_000, "5550203": 400_000}  # the job page test's own
FOLLOW_ITEMS = {"5550301": 500_000, "5550302": 500_000, "5550303": 400_000}  # the live overlay page's
COLLECTION = "5550090"
COLLECTION_ITEMS = {"5550011": 200_000, "5550012": 250_000, "5550013": 150_000}
SPARE_ITEMS = {str(5550120 + n): 100_000 + n * 1000 for n in range(20)}  # for tests that need their own
SLOW_ITEM, SLOW_SIZE, SLOW_RATE = "5550099", 40_000_000, 200_000  # over three minutes to download
ITEM_RATE = 200_000  # bytes/s: a build of ITEMS takes seconds, so the job page is seen running


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="package")
def fake_steam() -> Iterator[FakeSteam]:
    with FakeSteam(realistic=True) as steam:
        for steam_id, size in (ITEMS | LIVE_ITEMS | FOLLOW_ITEMS).items():
            steam.add_item(steam_id, size=size, rate_limit=ITEM_RATE)
        for steam_id, size in (COLLECTION_ITEMS | SPARE_ITEMS).items():
            steam.add_item(steam_id, size=size)
        steam.add_collection(COLLECTION, list(COLLECTION_ITEMS))
        steam.add_item(SLOW_ITEM, size=SLOW_SIZE, rate_limit=SLOW_RATE)
        yield steam


@pytest.fixture(scope="package")
def _steam_settings(fake_steam: FakeSteam) -> Iterator[None]:
    """The live server (this process) and the worker (from these settings) ask the fake Steam."""
    with override_settings(STEAM_API_BASE_URL=fake_steam.base_url):
        yield


@pytest.fixture(scope="package")
def worker(django_db_setup: None, _steam_settings: None) -> Iterator[Any]:
    """One real worker for the package, on the test database (django_db_setup named it)."""
    with running_worker(concurrency=2) as proc:
        yield proc


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        raise pytest.UsageError(
            f"{CHROMIUM} is missing: `make test` installs chromium-headless-shell with apt as root "
            "(or: sudo apt-get install chromium-headless-shell; LEFT4ME_CHROMIUM names another binary)"
        )
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the tests make
    # beside it are still plain synchronous code.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            yield chromium
            chromium.close()


VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
CSP_VIOLATION = "Content Security Policy"  # chromium's console message for each refusal
_VIOLATIONS: dict[int, list[str]] = {}


@pytest.fixture(scope="package")
def _tab(browser: Browser, live_server: Any) -> Iterator[tuple[Page, list[str], list[str]]]:
    """One tab for the package (a new one costs chromium a renderer: a third of a second), with
    the script errors and Content-Security-Policy violations it logs."""
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    violations: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: violations.append(msg.text) if CSP_VIOLATION in msg.text else None)
    _VIOLATIONS[id(tab)] = violations
    yield tab, errors, violations
    context.close()


@pytest.fixture
def page(
    _tab: tuple[Page, list[str], list[str]], live_server: Any, worker: Any, _steam_settings: None
) -> Iterator[Page]:
    """The tab on the live server, as a new one: no cookies (logged out), 1280x900 unless a test
    resizes it, no page open before. An uncaught script error or a Content-Security-Policy
    violation on any page fails the test (a test that wants one reads and clears
    ``csp_violations(tab)``)."""
    tab, errors, violations = _tab
    errors.clear()
    violations.clear()
    expect.set_options(timeout=10_000)
    yield tab
    tab.goto("about:blank")  # the page's polling ends before the database is emptied
    for other in tab.context.pages[1:]:
        other.close()
    tab.context.clear_cookies()
    tab.set_viewport_size(VIEWPORT)
    assert not errors, f"script errors on the page: {errors}"
    assert not violations, f"Content-Security-Policy violations on the page: {violations}"


def csp_violations(tab: Page) -> list[str]:
    """The violations the tab logged so far (the list the fixture checks at the end)."""
    return _VIOLATIONS[id(tab)]


@pytest.fixture
def gamer(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("gamer", password=PASSWORD)


@pytest.fixture
def logged_in(page: Page, gamer: Any) -> Page:
    """The tab, logged in as `gamer` through the login form."""
    log_in(page, "gamer", PASSWORD)
    return page


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/overlays/$"))


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Save the page as DIR/<name>.png when LEFT4ME_SCREENSHOTS=DIR (make screenshots)."""
    folder = os.environ.get("LEFT4ME_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    target = Path(folder) / f"{name}.png"
    scratch = target.with_suffix(".tmp.png")
    page.screenshot(path=str(scratch), full_page=full_page, animations="disabled")
    shutil.move(scratch, target)

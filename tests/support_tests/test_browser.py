"""The browser rig: the installed Chromium loads pages the bridge serves, screenshots are kept,
and console errors, uncaught exceptions and Content-Security-Policy refusals are caught."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.browser import PHONE, BrowserSession, WatchedPage, chromium_path
from tests.support.web import FunctionBridge
from tests.support_tests import web_app

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def rig() -> AsyncIterator[FunctionBridge]:
    async with FunctionBridge(web_app.functions()) as bridge:
        yield bridge


async def test_a_served_page_loads_and_a_screenshot_is_kept(
    rig: FunctionBridge, browser_page: WatchedPage
) -> None:
    page = browser_page.page
    response = await page.goto(rig.url("page/Adele"))
    assert response is not None and response.status == 200
    assert await page.title() == "Rig page"
    assert await page.locator("h1").inner_text() == "Hello Adele"
    shot = await browser_page.screenshot("page loaded")
    assert shot.name == "page-loaded.png"
    assert "test-artifacts" in shot.parts
    assert shot.read_bytes().startswith(PNG_MAGIC)
    browser_page.assert_clean()


async def test_a_form_post_from_the_page_reaches_the_function(
    rig: FunctionBridge, browser_page: WatchedPage
) -> None:
    page = browser_page.page
    await page.goto(rig.url("page"))
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Send").click()
    assert (await answer.value).status == 202
    queued = rig.last("post_thing").outputs["queue"].get()
    assert '"id": "7"' in queued
    browser_page.assert_clean()


async def test_console_errors_and_uncaught_exceptions_are_caught(
    rig: FunctionBridge, browser_page: WatchedPage
) -> None:
    await browser_page.page.goto(rig.url("noisy"))
    await browser_page.page.wait_for_load_state("load")
    assert [c.text for c in browser_page.console_errors] == ["boom from the page"]
    assert any("uncaught on purpose" in e for e in browser_page.page_errors)
    with pytest.raises(AssertionError, match="boom from the page"):
        browser_page.assert_clean()


async def test_a_csp_refusal_is_a_console_error(
    rig: FunctionBridge, browser_page: WatchedPage
) -> None:
    await browser_page.page.goto(rig.url("strict"))
    await browser_page.page.wait_for_load_state("load")
    assert await browser_page.page.evaluate("document.body.dataset.ran") is None
    assert any("Content Security Policy" in c.text for c in browser_page.console_errors)
    with pytest.raises(AssertionError):
        browser_page.assert_clean()


async def test_a_phone_sized_page(rig: FunctionBridge, browser: BrowserSession) -> None:
    phone = await browser.new_page(viewport=PHONE, is_mobile=True)
    await phone.page.goto(rig.url("page"))
    assert await phone.page.evaluate("window.innerWidth") == PHONE["width"]
    fits = await phone.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "the page scrolls sideways on a phone"
    assert (await phone.screenshot("phone")).exists()
    phone.assert_clean()


def test_a_missing_chromium_fails_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM_PATH", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception, match="CHROMIUM_PATH"):
        chromium_path()
